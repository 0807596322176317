// Full-ranking retrieval metrics from the 0-based rank of the target (DESIGN.md §2).
//
// Rank rule (stable and documented): among the real items 1..numItems−1 that are not excluded
// and are not the target, count those whose score is strictly greater than the target's, plus
// those with an equal score and a smaller item id. So ties are broken in favour of smaller ids,
// and rank 0 means the target is first.
import type { BeyondAccuracy } from './beyond_accuracy.js';
import { DataError } from './errors.js';

/** 1 if the target is in the top K. */
export function hitRate(rank: number, k: number): number {
  return rank < k ? 1 : 0;
}

/** 1/log2(rank + 2) if the target is in the top K, else 0 (one relevant item: IDCG = 1). */
export function ndcg(rank: number, k: number): number {
  return rank < k ? 1 / Math.log2(rank + 2) : 0;
}

/** Reciprocal rank 1/(rank + 1) (over the full ranking, no cut-off). */
export function mrr(rank: number): number {
  return 1 / (rank + 1);
}

/**
 * Rank of `target` under `scores` (indexed by item id; length = numItems; entry 0 ignored),
 * skipping the ids in `exclude` (strictly ascending; the target and 0 in it are ignored).
 * O(numItems + |exclude|).
 */
export function rankOfTarget(scores: ArrayLike<number>, target: number, exclude: ArrayLike<number> = []): number {
  const n = scores.length;
  if (!Number.isInteger(target) || target < 1 || target >= n) {
    throw new DataError(`rankOfTarget: expected a target item id in [1, ${n - 1}], got ${target}`);
  }
  const st = scores[target]!;
  if (Number.isNaN(st)) throw new DataError(`rankOfTarget: expected a score for target ${target}, got NaN`);
  const ahead = (j: number) => {
    const s = scores[j]!;
    return s > st || (s === st && j < target);
  };
  let rank = 0;
  for (let j = 1; j < n; j++) if (j !== target && ahead(j)) rank++;
  let prev = -1;
  for (let k = 0; k < exclude.length; k++) {
    const j = exclude[k]!;
    if (!(j > prev) || j >= n) {
      throw new DataError(`rankOfTarget: expected exclusion ids strictly ascending and < ${n}, got ${j} after ${prev}`);
    }
    prev = j;
    if (j !== 0 && j !== target && ahead(j)) rank--;
  }
  return rank;
}

export interface MetricResult {
  count: number;
  /** HR@K per K. */
  hr: Record<number, number>;
  /** NDCG@K per K. */
  ndcg: Record<number, number>;
  mrr: number;
  /** The 0-based rank of every example's target, in example order (paired comparisons of two
   *  models on the same users: scripts/compare-runs.ts). */
  ranks: Uint32Array;
  /** Coverage and popularity bias of the top-K lists, when the evaluation computed them. */
  beyond?: BeyondAccuracy;
}

/** Default cut-offs: the paper's HR@{10,50,200}, NDCG@{10,200} (we report NDCG at all three). */
export const DEFAULT_KS: readonly number[] = [10, 50, 200];

/** Sums per-example metrics; `result()` gives means. */
export class MetricAccumulator {
  private n = 0;
  private readonly hr: number[];
  private readonly nd: number[];
  private rr = 0;
  private ranks: number[] = [];
  constructor(readonly ks: readonly number[] = DEFAULT_KS) {
    this.hr = ks.map(() => 0);
    this.nd = ks.map(() => 0);
  }
  add(rank: number): void {
    if (!Number.isInteger(rank) || rank < 0) throw new DataError(`MetricAccumulator: expected a rank ≥ 0, got ${rank}`);
    this.n++;
    this.ks.forEach((k, i) => {
      this.hr[i]! += hitRate(rank, k);
      this.nd[i]! += ndcg(rank, k);
    });
    this.rr += mrr(rank);
    this.ranks.push(rank);
  }
  result(): MetricResult {
    const d = Math.max(this.n, 1);
    const hr: Record<number, number> = {};
    const nd: Record<number, number> = {};
    this.ks.forEach((k, i) => {
      hr[k] = this.hr[i]! / d;
      nd[k] = this.nd[i]! / d;
    });
    return { count: this.n, hr, ndcg: nd, mrr: this.rr / d, ranks: Uint32Array.from(this.ranks) };
  }
}

/** `HR@10 .2853 NDCG@10 .1603 … MRR .1234 (n=6040)` */
export function formatMetrics(m: MetricResult): string {
  const f = (x: number) => x.toFixed(4);
  const parts = Object.keys(m.hr).map((k) => `HR@${k} ${f(m.hr[Number(k)]!)} NDCG@${k} ${f(m.ndcg[Number(k)]!)}`);
  return `${parts.join(' ')} MRR ${f(m.mrr)} (n=${m.count})`;
}
