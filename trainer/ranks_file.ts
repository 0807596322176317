// Per-user evaluation results of one model (`npm run eval -- … --ranks FILE`): what a paired
// comparison of two models on the same users needs (scripts/compare-runs.ts). Retrieval: each
// target's rank; ranking: each candidate's like label and P(like). JSON, one file per evaluated
// checkpoint; users are raw ids so files from separate runs pair up by user.
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import type { Config } from '../model/config.js';
import type { Interactions, MetricResult, Split } from './data/index.js';
import { firstExamples } from './store/streamed_eval.js';

export const RANKS_FORMAT = 'hstu-webgpu/ranks/1';
export const RANKING_PREDICTIONS_FORMAT = 'hstu-webgpu/ranking-predictions/1';

export interface SplitRanks {
  users: string[];
  /** 0-based rank of the target among all items, history filtered (trainer/data/metrics.ts). */
  ranks: number[];
}

export interface RanksFile {
  format: typeof RANKS_FORMAT;
  checkpoint: string;
  model: string;
  seed: number;
  /** Catalogue size (real items), so files from different datasets are not paired by mistake. */
  numItems: number;
  validation: SplitRanks;
  test: SplitRanks;
}

function splitRanks(data: Interactions, users: Uint32Array, m: MetricResult): SplitRanks {
  if (m.ranks.length !== users.length) throw new Error(`ranks: expected ${users.length} ranks, got ${m.ranks.length}`);
  return { users: Array.from(users, (u) => String(data.userRawIds[u])), ranks: Array.from(m.ranks) };
}

/** Writes the file atomically (write, then rename). */
export function writeRanksFile(
  path: string,
  r: { checkpoint: string; config: Config; data: Interactions; split: Split; validation: MetricResult; test: MetricResult },
): void {
  const out: RanksFile = {
    format: RANKS_FORMAT,
    checkpoint: r.checkpoint,
    model: r.config.model,
    seed: r.config.seed,
    numItems: r.data.numItems - 1,
    // With evalMaxUsers the metrics cover only the first examples (trainer/store/train_eval.ts).
    validation: splitRanks(r.data, firstExamples(r.split.validation, r.config.evalMaxUsers).users, r.validation),
    test: splitRanks(r.data, firstExamples(r.split.test, r.config.evalMaxUsers).users, r.test),
  };
  writeJsonAtomically(path, out);
}

/** Write, then rename: a reader never sees half a file. */
function writeJsonAtomically(path: string, value: unknown): void {
  const tmp = `${path}.tmp`;
  writeFileSync(tmp, JSON.stringify(value) + '\n');
  renameSync(tmp, path);
}

function readJson(path: string): { format?: unknown } {
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as { format?: unknown };
  } catch (e) {
    throw new Error(`${path}: cannot read a ranks file: ${(e as Error).message}. HINT: write one with npm run eval -- --checkpoint <ckpt> --data <path> --ranks ${path}`);
  }
}

/** Reads and checks a retrieval ranks file; errors name the file and what was expected. */
export function readRanksFile(path: string): RanksFile {
  return checkRanks(path, readJson(path));
}

function checkRanks(path: string, j: unknown): RanksFile {
  const f = j as Partial<RanksFile>;
  if (f.format !== RANKS_FORMAT) throw new Error(`${path}: expected format '${RANKS_FORMAT}', got ${JSON.stringify(f.format)}. HINT: write it with npm run eval -- … --ranks ${path}`);
  for (const s of ['validation', 'test'] as const) {
    const sr = f[s];
    if (!sr || !Array.isArray(sr.users) || !Array.isArray(sr.ranks) || sr.users.length !== sr.ranks.length) {
      throw new Error(`${path}: expected '${s}' with equally long 'users' and 'ranks' arrays`);
    }
    sr.ranks.forEach((r, i) => {
      if (!(Number.isInteger(r) && r >= 0 && r < (f.numItems ?? 0))) throw new Error(`${path}: ${s} rank ${i} is ${r}, expected an integer in [0, ${f.numItems})`);
    });
  }
  return f as RanksFile;
}

/** A ranking model's evaluation outputs per candidate: the `like` label and the predicted P(like),
 *  for paired AUC comparisons. */
export interface SplitPredictions {
  /** One key per candidate: the raw user id, or `user#j` when candidatesPerUser > 1. */
  users: string[];
  likes: number[];
  pLike: number[];
}

export interface RankingPredictionsFile {
  format: typeof RANKING_PREDICTIONS_FORMAT;
  checkpoint: string;
  model: string;
  seed: number;
  numItems: number;
  /** rankingEvalGroup of the run: candidates per user and split (absent in older files: 1). */
  candidatesPerUser?: number;
  validation: SplitPredictions;
  test: SplitPredictions;
}

export function writeRankingPredictionsFile(path: string, f: Omit<RankingPredictionsFile, 'format'>): void {
  writeJsonAtomically(path, { format: RANKING_PREDICTIONS_FORMAT, ...f });
}

/** Reads either kind of file written by `npm run eval -- … --ranks FILE`. */
export function readComparisonFile(path: string): RanksFile | RankingPredictionsFile {
  const j = readJson(path);
  if (j.format !== RANKING_PREDICTIONS_FORMAT) return checkRanks(path, j);
  const f = j as Partial<RankingPredictionsFile>;
  for (const s of ['validation', 'test'] as const) {
    const sp = f[s];
    const n = sp?.users?.length;
    if (!sp || !Array.isArray(sp.users) || !Array.isArray(sp.likes) || !Array.isArray(sp.pLike) || sp.likes.length !== n || sp.pLike.length !== n) {
      throw new Error(`${path}: expected '${s}' with equally long 'users', 'likes' and 'pLike' arrays`);
    }
    sp.pLike.forEach((p, i) => {
      if (!(p >= 0 && p <= 1)) throw new Error(`${path}: ${s} pLike ${i} is ${p}, expected a probability`);
    });
  }
  return f as RankingPredictionsFile;
}
