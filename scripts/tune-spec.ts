// Tuning specs: a sweep spec (scripts/sweep-spec.ts: name, dataset, base, grid, points, seeds,
// metric) plus how to search and how much to spend. The search turns into an ordinary list of
// sweep points, so the sweep's runner, ids and resume apply unchanged.
//
//   {
//     "name": "tune-smoke",
//     "dataset": { "kind": "synthetic", ... },            // as in a sweep spec
//     "base":   { "epochs": 20, "earlyStopPatience": 3 }, // early stopping per run: the trainer's
//     "search": "grid" | "random",                        // default "grid"
//     "grid":   { "lr": [0.001, 0.003], "dim": [32, 64] },// grid: cartesian; random: choices
//     "ranges": { "lr": { "min": 1e-4, "max": 1e-2, "log": true },   // random only: continuous
//                 "numLayers": { "min": 1, "max": 4, "int": true } }, //   or integer draws
//     "samples": 12, "searchSeed": 1,                     // random only: configs drawn, seeded
//     "points": [ { "lr": 0.001 } ],                      // extra configs, run first-class
//     "seeds":  [1, 2, 3],
//     "metric": "ndcg@10",                                // picked on VALIDATION; default ndcg@10
//                                                         // (retrieval) or auc (ranking)
//     "budget": { "runs": 30, "minutes": 120 }            // optional; both may be given
//   }
import { DataRng } from '../trainer/data/rng.js';
import { metricOf, parseSpec, readSpecJson, type FitMetric, type SweepPoint, type SweepSpec } from './sweep-spec.js';

export interface Range {
  min: number;
  max: number;
  /** Draw uniformly in log space (both ends > 0). */
  log?: boolean;
  /** Draw an integer in [min, max]. */
  int?: boolean;
}

export interface TuneBudget {
  /** Stop once this many runs (configs × seeds) of the spec are finished, counting earlier invocations. */
  runs?: number;
  /** Start no new run after this many minutes of this invocation. */
  minutes?: number;
}

export interface TuneSpec {
  /** The sweep the search expands to (random search: its `points` are the drawn configs). */
  sweep: SweepSpec;
  search: 'grid' | 'random';
  budget: TuneBudget;
}

const TUNE_KEYS = ['search', 'ranges', 'samples', 'searchSeed', 'budget'];
const fail = (where: string, msg: string, hint: string): Error => new Error(`tune spec ${where}: ${msg}. HINT: ${hint}`);
const isObject = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null && !Array.isArray(x);

function parseRange(k: string, r: unknown, where: string): Range {
  if (!isObject(r)) throw fail(where, `expected ranges.${k} to be {"min", "max"[, "log"][, "int"]}, got ${JSON.stringify(r)}`, `e.g. "${k}": {"min": 0.0001, "max": 0.01, "log": true}`);
  const { min, max, log, int } = r;
  if (typeof min !== 'number' || typeof max !== 'number' || !Number.isFinite(min) || !Number.isFinite(max) || !(min <= max)) {
    throw fail(where, `expected ranges.${k} to have finite min ≤ max, got ${JSON.stringify(r)}`, 'swap or fix the ends');
  }
  if (log !== undefined && typeof log !== 'boolean') throw fail(where, `expected ranges.${k}.log to be true or false`, 'e.g. "log": true');
  if (int !== undefined && typeof int !== 'boolean') throw fail(where, `expected ranges.${k}.int to be true or false`, 'e.g. "int": true');
  if (log && !(min > 0)) throw fail(where, `ranges.${k} is log-uniform but min is ${min}`, 'a log range needs min > 0');
  if (int && !(Number.isInteger(min) && Number.isInteger(max))) throw fail(where, `ranges.${k} is an integer range with non-integer ends`, 'use integer min and max');
  return { min, max, log: log as boolean | undefined, int: int as boolean | undefined };
}

/** One draw from a range (4 significant digits for continuous ones, so ids and tables stay readable). */
export function drawRange(r: Range, rng: DataRng): number {
  if (r.int) return rng.int(r.min, r.max);
  const u = rng.next();
  const x = r.log ? Math.exp(Math.log(r.min) + u * (Math.log(r.max) - Math.log(r.min))) : r.min + u * (r.max - r.min);
  return Number(x.toPrecision(4));
}

export function parseTuneSpec(json: unknown, where: string): TuneSpec {
  if (!isObject(json)) throw fail(where, `expected a JSON object, got ${Array.isArray(json) ? 'an array' : typeof json}`, 'see scripts/sweeps/tune-smoke.json');
  const search = json.search ?? 'grid';
  if (search !== 'grid' && search !== 'random') throw fail(where, `expected "search" to be "grid" or "random", got ${JSON.stringify(search)}`, 'grid runs every combination; random draws "samples" configs');
  const budget = json.budget ?? {};
  if (!isObject(budget) || Object.keys(budget).some((k) => k !== 'runs' && k !== 'minutes')) throw fail(where, `expected "budget" to be {"runs"?, "minutes"?}, got ${JSON.stringify(budget)}`, 'e.g. "budget": {"runs": 20}');
  if (budget.runs !== undefined && !(Number.isInteger(budget.runs) && (budget.runs as number) > 0)) throw fail(where, `expected budget.runs to be an integer > 0, got ${JSON.stringify(budget.runs)}`, 'e.g. "runs": 20');
  if (budget.minutes !== undefined && !(typeof budget.minutes === 'number' && budget.minutes > 0)) throw fail(where, `expected budget.minutes > 0, got ${JSON.stringify(budget.minutes)}`, 'e.g. "minutes": 90');
  const rest = Object.fromEntries(Object.entries(json).filter(([k]) => !TUNE_KEYS.includes(k)));
  if (search === 'grid') {
    for (const k of ['ranges', 'samples', 'searchSeed']) if (json[k] !== undefined) throw fail(where, `"${k}" is for random search`, 'add "search": "random" or remove it');
    return { sweep: parseSpec(rest, where), search, budget: budget as TuneBudget };
  }
  const ranges = json.ranges ?? {};
  if (!isObject(ranges)) throw fail(where, 'expected "ranges" to be an object of key → {min, max}', 'e.g. "ranges": {"lr": {"min": 1e-4, "max": 1e-2, "log": true}}');
  const parsedRanges = Object.fromEntries(Object.entries(ranges).map(([k, r]) => [k, parseRange(k, r, where)]));
  const samples = json.samples;
  if (!(Number.isInteger(samples) && (samples as number) > 0)) throw fail(where, `random search needs "samples" (an integer > 0), got ${JSON.stringify(samples)}`, 'e.g. "samples": 12');
  const searchSeed = json.searchSeed ?? 1;
  if (!Number.isInteger(searchSeed)) throw fail(where, `expected "searchSeed" to be an integer, got ${JSON.stringify(searchSeed)}`, 'e.g. "searchSeed": 1');
  const grid = (json.grid ?? {}) as Record<string, unknown[]>;
  if (!isObject(grid) || Object.values(grid).some((v) => !Array.isArray(v) || v.length === 0)) throw fail(where, 'expected "grid" to be an object of key → non-empty list of choices', 'e.g. "grid": {"dim": [32, 64]}');
  for (const k of Object.keys(parsedRanges)) if (k in grid) throw fail(where, `'${k}' is both a grid choice and a range`, 'keep one of the two');
  if (!Object.keys(grid).length && !Object.keys(parsedRanges).length) throw fail(where, 'random search with no "grid" choices and no "ranges": nothing to vary', 'add "ranges": {...} or "grid": {...}');
  // Seeded, in a fixed key order: the same spec draws the same configs, so a rerun resumes.
  const rng = new DataRng(searchSeed as number);
  const drawn: Record<string, unknown>[] = [];
  for (let i = 0; i < (samples as number); i++) {
    const p: Record<string, unknown> = {};
    for (const k of Object.keys(grid).sort()) p[k] = grid[k]![Math.floor(rng.next() * grid[k]!.length)];
    for (const k of Object.keys(parsedRanges).sort()) p[k] = drawRange(parsedRanges[k]!, rng);
    drawn.push(p);
  }
  const { grid: _choices, ...sweepKeys } = rest;
  const points = [...((sweepKeys.points as Record<string, unknown>[] | undefined) ?? []), ...drawn];
  return { sweep: parseSpec({ ...sweepKeys, points }, where), search, budget: budget as TuneBudget };
}

export function loadTuneSpec(path: string): TuneSpec {
  return parseTuneSpec(readSpecJson(path, 'tune spec', 'scripts/sweeps/tune-smoke.json'), path);
}

/** The validation metric a tune picks by: the spec's, else NDCG@10 (retrieval) or AUC (ranking). */
export function selectionMetric(spec: SweepSpec, points: SweepPoint[]): FitMetric {
  const task = points[0]?.config.task ?? 'retrieval';
  return metricOf({ ...spec, metric: spec.metric ?? (task === 'ranking' ? 'auc' : 'ndcg@10') }, points);
}
