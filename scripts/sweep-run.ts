// Runs one sweep point through the trainer (trainer/train.ts train()) and turns the result into
// one runs.jsonl record: config, parameter counts, training FLOPs, wall time, tokens/s, every
// metric at the best-validation epoch, and the curves (per-step loss, validation per evaluation).
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import type { Gpu } from '../kernels/gpu/index.js';
import type { Config } from '../model/config.js';
import { flopShapeOf, paramCounts, rankingTrainingFlops, trainingFlops, type FlopBreakdown, type ParamCounts } from '../model/flops.js';
import { RANKING_TASKS } from '../model/ranking_params.js';
import { prepareRankingSplit, rankingTrainExamples } from '../trainer/ranking_data.js';
import { trainRanking } from '../trainer/ranking_train.js';
import { generateSynthetic, loadInteractions, seqLength, type DataFormat, type Interactions } from '../trainer/data/index.js';
import { prepareSplit, train, type EvalRecord } from '../trainer/train.js';
import type { DatasetSpec, SweepPoint } from './sweep-spec.js';

export interface LoadedDataset {
  data: Interactions;
  /** What was loaded, e.g. "ml-100k (../shared/data/ml-100k/u.data)" or "synthetic (…)". */
  name: string;
  /** Set when a file was asked for but the synthetic fallback was used. */
  fallbackNote?: string;
}

export async function loadDataset(d: DatasetSpec, log: (s: string) => void): Promise<LoadedDataset> {
  const synthetic = (why?: string): LoadedDataset => {
    const data = generateSynthetic(d.synthetic ?? {});
    return { data, name: `synthetic (${JSON.stringify(d.synthetic ?? {})})`, fallbackNote: why };
  };
  if (d.kind === 'synthetic') return synthetic();
  const path = d.paths.find((p) => existsSync(p));
  if (!path) {
    const why = `none of ${d.paths.join(', ')} exists, so this sweep runs on the synthetic default data set instead`;
    if (d.fallback !== 'synthetic') throw new Error(`sweep data: ${why.replace(/, so.*/, '')}. HINT: download the data set or add "fallback": "synthetic" to the spec's dataset`);
    log(`NOTE: ${why}`);
    return synthetic(why);
  }
  const data = await loadInteractions(path, d.format as DataFormat, { onInfo: (m: string) => log(`data: ${m}`) });
  return { data, name: `${d.format} (${path})` };
}

/** Training-sequence lengths of one epoch, as the batcher cuts them (epoch-independent). */
export function epochLengths(data: Interactions, c: Config): number[] {
  const split = prepareSplit(data, c);
  const out: number[] = [];
  for (let u = 0; u < split.train.numUsers; u++) {
    const n = seqLength(split.train, u);
    if (n >= 2) out.push(Math.min(n - 1, c.maxLen));
  }
  return out;
}

/** Training FLOPs of epoch `epoch` (ranking examples are cut at seeded per-epoch points). */
export function epochFlops(data: Interactions, c: Config, epoch: number, cache = new Map<string, number[]>()): FlopBreakdown {
  if (c.task === 'ranking') {
    const train = prepareRankingSplit(data, c).train;
    const ex = rankingTrainExamples(train, c, epoch).map((e) => [e.candEnd - e.histStart, e.candEnd - e.cut] as const);
    return rankingTrainingFlops(flopShapeOf(c), ex, { hidden: c.headHidden, tasks: RANKING_TASKS.length });
  }
  const key = `${c.maxLen}`;
  if (!cache.has(key)) cache.set(key, epochLengths(data, c));
  return trainingFlops(flopShapeOf(c), cache.get(key)!);
}

export interface RunRecord {
  id: string;
  sweep: string;
  family: string;
  dataset: string;
  device: string;
  config: Config;
  params: ParamCounts;
  task: string;
  /** Training FLOPs of the first epoch and of the whole run (epochs actually trained). */
  flops_per_epoch: FlopBreakdown;
  train_flops: number;
  compute_budget?: number;
  epochs: number;
  steps: number;
  best_epoch: number;
  train_tokens: number;
  train_tokens_per_s: number;
  wall_s: number;
  /** 1-minute load average at the start and the end of the run (the machine is often shared). */
  load_avg: [number, number];
  /** Metrics at the best-validation epoch. */
  validation: Record<string, number>;
  test: Record<string, number>;
  popularity_test?: Record<string, number>;
  /** Ranking: the trainer's baselines on the test set (item-mean, user+item-bias LR). */
  baselines_test?: Record<string, Record<string, number>>;
  /** Per optimizer step. */
  losses: number[];
  /** Validation metrics per evaluation (epoch and every metric). */
  validation_curve: Record<string, number>[];
  finished_at: string;
}

const metricsOf = (r: EvalRecord): Record<string, number> =>
  Object.fromEntries(Object.entries(r).filter(([k, v]) => k !== 'split' && typeof v === 'number')) as Record<string, number>;

/**
 * Trains one point from scratch in `runDir` (removed first, so an interrupted run restarts
 * cleanly) and returns its record. The checkpoint of the latest epoch is deleted afterwards
 * (best.hstu and metrics.jsonl stay).
 */
export async function runPoint(p: SweepPoint, ds: LoadedDataset, sweepName: string, runDir: string, gpu: Gpu, log: (s: string) => void): Promise<RunRecord> {
  const c: Config = { ...p.config };
  const first = epochFlops(ds.data, c, 0);
  if (p.computeBudget !== undefined) c.epochs = Math.max(1, Math.round(p.computeBudget / first.total));
  if (c.evalEvery > c.epochs) c.evalEvery = c.epochs;
  rmSync(runDir, { recursive: true, force: true });
  const load0 = loadavg()[0]!;
  const t0 = performance.now();
  const r = c.task === 'ranking' ? await trainRanking({ config: c, data: ds.data, outDir: runDir, gpu, log }) : await train({ config: c, data: ds.data, outDir: runDir, gpu, log });
  const wall = (performance.now() - t0) / 1000;
  if (!r.best || !r.test) throw new Error(`run ${p.id}: finished without a validation evaluation. HINT: set evalEvery ≤ epochs`);
  let trainFlops = 0, tokens = 0;
  for (let e = 0; e < r.epoch; e++) {
    trainFlops += e === 0 ? first.total : epochFlops(ds.data, c, e).total;
  }
  if (c.task === 'ranking') {
    const train = prepareRankingSplit(ds.data, c).train;
    for (let e = 0; e < r.epoch; e++) tokens += rankingTrainExamples(train, c, e).reduce((a, x) => a + x.candEnd - x.histStart, 0);
  } else tokens = epochLengths(ds.data, c).reduce((a, b) => a + b, 0) * r.epoch;
  const curve = readValidationCurve(join(runDir, 'metrics.jsonl'));
  rmSync(join(runDir, 'checkpoint.hstu'), { force: true });
  const baselines = 'baselines' in r && r.baselines ? Object.fromEntries(Object.entries(r.baselines).map(([k, v]) => [k, metricsOf(v as unknown as EvalRecord)])) : undefined;
  const popularity = 'popularity' in r && r.popularity ? metricsOf(r.popularity.test) : undefined;
  return {
    id: p.id,
    sweep: sweepName,
    family: c.model,
    task: c.task,
    dataset: ds.name,
    device: gpu.adapter.description,
    config: c,
    params: paramCounts(c, ds.data.numItems - 1),
    flops_per_epoch: first,
    train_flops: trainFlops,
    ...(p.computeBudget !== undefined ? { compute_budget: p.computeBudget } : {}),
    epochs: r.epoch,
    steps: r.step,
    best_epoch: r.best.epoch,
    train_tokens: tokens,
    train_tokens_per_s: r.trainTokensPerSec,
    wall_s: wall,
    load_avg: [round2(load0), round2(loadavg()[0]!)],
    validation: metricsOf(r.best as unknown as EvalRecord),
    test: metricsOf(r.test as unknown as EvalRecord),
    ...(popularity ? { popularity_test: popularity } : {}),
    ...(baselines ? { baselines_test: baselines } : {}),
    losses: r.losses,
    validation_curve: curve,
    finished_at: new Date().toISOString(),
  };
}

const round2 = (x: number) => Math.round(x * 100) / 100;

function readValidationCurve(path: string): RunRecord['validation_curve'] {
  if (!existsSync(path)) return [];
  return readFileSync(path, 'utf8')
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l) as Record<string, number | string>)
    .filter((m) => m.split === 'validation')
    .map((m) => Object.fromEntries(Object.entries(m).filter(([, v]) => typeof v === 'number')) as Record<string, number>);
}
