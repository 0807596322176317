// Popularity baseline: score = number of training events of the item; full ranking with history
// filtering. Also a generic harness to evaluate any per-example scorer the same way.
import { batchEvalExamples, type EvalBatch } from './batching.js';
import { BEYOND_K, BeyondAccuracyAccumulator, itemPopularity } from './beyond_accuracy.js';
import { DataError } from './errors.js';
import { DEFAULT_KS, MetricAccumulator, rankOfTarget, type MetricResult } from './metrics.js';
import type { EvalExamples } from './split.js';
import type { Sequences } from './types.js';

/** Training-set count per item id (length numItems; entry 0 = 0). */
export function itemCounts(train: Sequences): Float64Array {
  const c = new Float64Array(train.numItems);
  for (let k = 0; k < train.items.length; k++) c[train.items[k]!]!++;
  c[0] = 0;
  return c;
}

/**
 * Ranks with one fixed score vector in O(|exclude|) per example: items are ordered once by
 * (score desc, id asc) — the tie rule of metrics.ts — and the rank of the target is its position
 * minus the excluded items placed before it. Agrees with `rankOfTarget` exactly.
 */
export class StaticRanker {
  private readonly pos: Uint32Array;
  private readonly order: number[];
  constructor(private readonly scores: ArrayLike<number>) {
    const n = scores.length;
    const order = Array.from({ length: n - 1 }, (_, i) => i + 1);
    order.sort((a, b) => (scores[b]! - scores[a]!) || a - b);
    this.pos = new Uint32Array(n);
    order.forEach((item, p) => (this.pos[item] = p));
    this.order = order;
  }
  /** The k best items not in `exclude`, best first (fewer when the catalogue runs out). */
  top(k: number, exclude: ArrayLike<number>): number[] {
    const skip = new Set<number>();
    for (let j = 0; j < exclude.length; j++) skip.add(exclude[j]!);
    const out: number[] = [];
    for (let p = 0; p < this.order.length && out.length < k; p++) if (!skip.has(this.order[p]!)) out.push(this.order[p]!);
    return out;
  }
  rank(target: number, exclude: ArrayLike<number>): number {
    if (!Number.isInteger(target) || target < 1 || target >= this.scores.length) {
      throw new DataError(`StaticRanker: expected a target in [1, ${this.scores.length - 1}], got ${target}`);
    }
    const pt = this.pos[target]!;
    let r = pt;
    for (let k = 0; k < exclude.length; k++) {
      const j = exclude[k]!;
      if (j !== 0 && j !== target && this.pos[j]! < pt) r--;
    }
    return r;
  }
}

export interface EvalOptions {
  ks?: readonly number[];
  batchSize?: number;
}

/** HR/NDCG/MRR of the popularity baseline (counts from `train`) on `examples`, and the
 *  coverage / popularity bias of its top-K lists (the same list for everyone, minus history). */
export function evaluatePopularity(train: Sequences, examples: EvalExamples, opts: EvalOptions & { beyondK?: number } = {}): MetricResult {
  const counts = itemCounts(train);
  const ranker = new StaticRanker(counts);
  const acc = new MetricAccumulator(opts.ks ?? DEFAULT_KS);
  const beyond = new BeyondAccuracyAccumulator(itemPopularity(counts), opts.beyondK ?? BEYOND_K);
  for (const b of batchEvalExamples(examples, opts.batchSize ?? 256)) {
    for (let k = 0; k < b.targets.length; k++) {
      const exclude = b.excludeItems.subarray(b.excludeOffsets[k]!, b.excludeOffsets[k + 1]!);
      acc.add(ranker.rank(b.targets[k]!, exclude));
      beyond.add(ranker.top(beyond.k, exclude));
    }
  }
  return { ...acc.result(), beyond: beyond.result() };
}

/**
 * Evaluates any scorer: `score(batch, k, out)` fills `out` (length numItems, zero-filled before
 * each call) with scores of every item for example k of the batch; the rank uses `rankOfTarget`.
 */
export function evaluateScorer(
  examples: EvalExamples,
  score: (batch: EvalBatch, k: number, out: Float64Array) => void,
  opts: EvalOptions = {},
): MetricResult {
  const acc = new MetricAccumulator(opts.ks ?? DEFAULT_KS);
  const out = new Float64Array(examples.numItems);
  for (const b of batchEvalExamples(examples, opts.batchSize ?? 256)) {
    for (let k = 0; k < b.targets.length; k++) {
      out.fill(0);
      score(b, k, out);
      acc.add(rankOfTarget(out, b.targets[k]!, b.excludeItems.subarray(b.excludeOffsets[k]!, b.excludeOffsets[k + 1]!)));
    }
  }
  return acc.result();
}
