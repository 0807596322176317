// Sweep specs: a JSON file naming a data set, a base config and the points to run — a grid
// (cartesian product), a list, or both — times a list of seeds. Each point runs for a fixed
// number of epochs or for a training-compute budget in FLOPs (turned into whole epochs once the
// data's epoch cost is known). Every config key is type-checked by model/config.ts.
//
//   {
//     "name": "smoke",
//     "dataset": { "kind": "synthetic", "synthetic": { "numUsers": 200 } }
//              | { "kind": "file", "paths": ["../shared/data/ml-100k/u.data"], "format": "ml-100k",
//                  "fallback": "synthetic" },
//     "base":   { "maxLen": 50, "earlyStopPatience": 0 },        // config keys
//     "grid":   { "model": ["hstu", "sasrec"], "numLayers": [1, 2], "epochs": [2, 4] },
//     "points": [ { "model": "hstu", "dim": 64, "computeBudget": 1e12 } ],
//     "seeds":  [1, 2],
//     "metric": "ndcg@10"          // fitted against compute; default ndcg@10, or ne for "task": "ranking" 
//   }
import { readFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { applyOverrides, defaultConfig, type Config } from '../model/config.js';
import type { SyntheticOptions } from '../trainer/data/index.js';

export type DatasetSpec =
  | { kind: 'synthetic'; synthetic?: Partial<SyntheticOptions> }
  | { kind: 'file'; paths: string[]; format: string; fallback?: 'synthetic'; synthetic?: Partial<SyntheticOptions> };

/** Keys of a point that are not config keys. */
const POINT_KEYS = ['computeBudget'] as const;

/** Metrics a sweep can fit, per task; `lowerIsBetter` ones are fitted as decreasing laws. */
export const RETRIEVAL_METRICS = ['hr@10', 'hr@50', 'hr@200', 'ndcg@10', 'ndcg@200', 'mrr'] as const;
export const RANKING_METRICS = ['ne', 'auc', 'logloss', 'rmse'] as const;
export const FIT_METRICS = [...RETRIEVAL_METRICS, ...RANKING_METRICS] as const;
export type FitMetric = (typeof FIT_METRICS)[number];
export const lowerIsBetter = (m: string): boolean => ['ne', 'logloss', 'rmse'].includes(m);

export interface SweepSpec {
  name: string;
  dataset: DatasetSpec;
  base: Record<string, unknown>;
  grid?: Record<string, unknown[]>;
  points?: Record<string, unknown>[];
  seeds: number[];
  /** Absent: ndcg@10 for retrieval sweeps, ne for ranking sweeps (set by expandSpec's caller via metricOf). */
  metric?: FitMetric;
}

/** The metric a sweep fits: the spec's, else NDCG@10 (retrieval) or NE (ranking). */
export function metricOf(spec: SweepSpec, points: SweepPoint[]): FitMetric {
  const task = points[0]?.config.task ?? 'retrieval';
  const m = spec.metric ?? (task === 'ranking' ? 'ne' : 'ndcg@10');
  const allowed: readonly string[] = task === 'ranking' ? RANKING_METRICS : RETRIEVAL_METRICS;
  if (!allowed.includes(m)) throw new Error(`sweep spec: metric '${m}' is not a ${task} metric. HINT: use one of ${allowed.join(', ')}`);
  return m;
}

/** One run of the sweep, fully resolved except for a compute budget's epoch count. */
export interface SweepPoint {
  /** Stable id: readable prefix + hash of everything that determines the run. */
  id: string;
  config: Config;
  /** Training FLOPs to spend; the runner sets config.epochs from it. */
  computeBudget?: number;
}

const fail = (where: string, msg: string, hint: string): Error => new Error(`sweep spec ${where}: ${msg}. HINT: ${hint}`);

function isObject(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

export function parseSpec(json: unknown, where: string): SweepSpec {
  if (!isObject(json)) throw fail(where, `expected a JSON object, got ${Array.isArray(json) ? 'an array' : typeof json}`, 'see scripts/sweeps/smoke.json');
  const known = ['name', 'dataset', 'base', 'grid', 'points', 'seeds', 'metric', 'description'];
  for (const k of Object.keys(json)) if (!known.includes(k)) throw fail(where, `unknown key '${k}'`, `known keys: ${known.join(', ')}`);
  const name = json.name ?? 'sweep';
  if (typeof name !== 'string' || !/^[\w.-]+$/.test(name)) throw fail(where, `expected "name" to be a word ([A-Za-z0-9_.-]), got ${JSON.stringify(name)}`, 'e.g. "name": "ml100k-default"');
  const dataset = parseDataset(json.dataset ?? { kind: 'synthetic' }, where);
  const base = json.base ?? {};
  if (!isObject(base)) throw fail(where, 'expected "base" to be an object of config keys', 'e.g. "base": {"maxLen": 50}');
  const grid = json.grid;
  if (grid !== undefined) {
    if (!isObject(grid)) throw fail(where, 'expected "grid" to be an object of key → list of values', 'e.g. "grid": {"dim": [16, 32]}');
    for (const [k, v] of Object.entries(grid)) {
      if (!Array.isArray(v) || v.length === 0) throw fail(where, `expected grid.${k} to be a non-empty list, got ${JSON.stringify(v)}`, `write "${k}": [value, ...]`);
    }
  }
  const points = json.points;
  if (points !== undefined && (!Array.isArray(points) || !points.every(isObject))) throw fail(where, 'expected "points" to be a list of objects', 'e.g. "points": [{"dim": 64}]');
  if (grid === undefined && points === undefined) throw fail(where, 'no "grid" and no "points": nothing to run', 'add "grid": {...} or "points": [...]');
  const seeds = json.seeds ?? [defaultConfig.seed];
  if (!Array.isArray(seeds) || seeds.length === 0 || !seeds.every((s) => Number.isInteger(s) && s >= 0)) {
    throw fail(where, `expected "seeds" to be a non-empty list of integers ≥ 0, got ${JSON.stringify(seeds)}`, 'e.g. "seeds": [1, 2]');
  }
  const metric = json.metric;
  if (metric !== undefined && !FIT_METRICS.includes(metric as FitMetric)) throw fail(where, `expected "metric" to be one of ${FIT_METRICS.join(', ')}, got ${JSON.stringify(metric)}`, 'the metric is fitted against compute');
  return { name, dataset, base, grid: grid as Record<string, unknown[]> | undefined, points: points as Record<string, unknown>[] | undefined, seeds: seeds as number[], metric: metric as FitMetric | undefined };
}

function parseDataset(d: unknown, where: string): DatasetSpec {
  if (!isObject(d)) throw fail(where, 'expected "dataset" to be an object', 'e.g. "dataset": {"kind": "synthetic"}');
  const synthetic = d.synthetic;
  if (synthetic !== undefined && !isObject(synthetic)) throw fail(where, 'expected dataset.synthetic to be an object of generator options', 'e.g. {"numUsers": 200}');
  if (d.kind === 'synthetic') return { kind: 'synthetic', synthetic: synthetic as Partial<SyntheticOptions> | undefined };
  if (d.kind === 'file') {
    const paths = typeof d.paths === 'string' ? [d.paths] : d.paths;
    if (!Array.isArray(paths) || paths.length === 0 || !paths.every((p) => typeof p === 'string')) throw fail(where, 'expected dataset.paths to be a list of candidate file paths', 'e.g. "paths": ["../shared/data/ml-100k/u.data"]');
    const format = d.format ?? 'auto';
    if (typeof format !== 'string') throw fail(where, 'expected dataset.format to be a string', 'e.g. "ml-100k"');
    if (d.fallback !== undefined && d.fallback !== 'synthetic') throw fail(where, `expected dataset.fallback to be "synthetic" or absent, got ${JSON.stringify(d.fallback)}`, 'without a fallback a missing file stops the sweep');
    return { kind: 'file', paths: paths as string[], format, fallback: d.fallback as 'synthetic' | undefined, synthetic: synthetic as Partial<SyntheticOptions> | undefined };
  }
  throw fail(where, `expected dataset.kind "synthetic" or "file", got ${JSON.stringify(d.kind)}`, 'see scripts/sweeps/default.json');
}

/** The JSON of a spec file (`what` names it in errors: "sweep spec", "tune spec"). */
export function readSpecJson(path: string, what = 'sweep spec', example = 'scripts/sweeps/smoke.json'): unknown {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new Error(`cannot read ${what} ${path}: ${(e as Error).message}. HINT: pass --spec ${example} or your own file`);
  }
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new Error(`${what} ${path} is not valid JSON: ${(e as Error).message}. HINT: check commas and quotes`);
  }
}

export function loadSpec(path: string): SweepSpec {
  return parseSpec(readSpecJson(path), path);
}

function cartesian(grid: Record<string, unknown[]>): Record<string, unknown>[] {
  let out: Record<string, unknown>[] = [{}];
  for (const [k, values] of Object.entries(grid)) out = out.flatMap((p) => values.map((v) => ({ ...p, [k]: v })));
  return out;
}

/** Every point of the spec (grid points, then list points, each × seeds), validated, in run order. */
export function expandSpec(spec: SweepSpec): SweepPoint[] {
  const raw = [...(spec.grid ? cartesian(spec.grid) : []), ...(spec.points ?? [])];
  const out: SweepPoint[] = [];
  const seen = new Set<string>();
  for (const [i, p] of raw.entries()) {
    for (const seed of spec.seeds) {
      const merged: Record<string, unknown> = { ...spec.base, ...p, seed };
      const budget = merged.computeBudget;
      for (const k of POINT_KEYS) delete merged[k];
      if (budget !== undefined && !(typeof budget === 'number' && budget > 0)) throw new Error(`sweep spec point ${i}: expected computeBudget > 0 (FLOPs), got ${JSON.stringify(budget)}. HINT: e.g. "computeBudget": 1e12`);
      let config: Config;
      try {
        config = applyOverrides(defaultConfig, merged, ` in sweep point ${i}`);
      } catch (e) {
        throw new Error(`${(e as Error).message}${/HINT:/.test((e as Error).message) ? '' : '. HINT: fix that key in the spec\'s base, grid or points'}`);
      }
      if (out.length && out[0]!.config.task !== config.task) throw new Error(`sweep spec point ${i}: task '${config.task}' differs from the first point's '${out[0]!.config.task}'. HINT: one sweep fits one task's metric; split it into two specs`);
      const id = pointId(config, budget as number | undefined);
      if (seen.has(id)) continue; // the same run listed twice runs once
      seen.add(id);
      out.push({ id, config, computeBudget: budget as number | undefined });
    }
  }
  return out;
}

function pointId(c: Config, budget: number | undefined): string {
  const len = budget !== undefined ? `C${budget.toExponential(1).replace('+', '')}` : `e${c.epochs}`;
  const prefix = `${c.model}-l${c.numLayers}-d${c.dim}-h${c.numHeads}-n${c.maxLen}-${len}-s${c.seed}`;
  const hash = createHash('sha256').update(JSON.stringify({ c, budget })).digest('hex').slice(0, 8);
  return `${prefix}-${hash}`;
}
