// Beyond-accuracy metrics of the top-K lists a model would recommend (K = 10 by default), from the
// lists one example at a time — never a [users × items] matrix:
//   coverage@K  share of the catalogue's real items (ids 1..numItems−1) that appear in at least one
//               evaluated example's top-K list ("catalogue coverage"; eSASRec, arXiv 2508.06450,
//               reports accuracy against coverage because accuracy alone rewards popularity).
//   pop_pct@K   popularity bias: the mean, over examples, of the mean training-popularity
//               percentile of the example's top-K items, where an item's percentile is the share
//               of real items with strictly fewer training events (0 = least popular, → 1 = the
//               most popular). Always recommending the head of the catalogue gives ≈ 1.
//   arp@K       average recommendation popularity (the same mean of raw training-event counts),
//               which is scale-dependent but matches the common "ARP" definition.
// The lists use the evaluation's own rule: history items excluded, ties to the smaller id.
import { DataError } from './errors.js';

/** Default list length of the beyond-accuracy metrics. */
export const BEYOND_K = 10;

export interface ItemPopularity {
  /** Training events per item id (entry 0 unused). */
  counts: Float64Array;
  /** Share of real items with strictly fewer training events, per item id (entry 0 unused). */
  percentile: Float64Array;
}

/** Percentiles from per-item training counts (O(n log n), once per evaluation). */
export function itemPopularity(counts: Float64Array): ItemPopularity {
  const n = counts.length - 1;
  const sorted = Float64Array.from(counts.subarray(1)).sort();
  const percentile = new Float64Array(counts.length);
  for (let i = 1; i <= n; i++) {
    // lower bound: how many real items have a count < counts[i]
    let lo = 0, hi = n;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (sorted[mid]! < counts[i]!) lo = mid + 1;
      else hi = mid;
    }
    percentile[i] = n > 0 ? lo / n : 0;
  }
  return { counts, percentile };
}

export interface BeyondAccuracy {
  k: number;
  coverage: number;
  popPercentile: number;
  avgRecPopularity: number;
  /** Examples whose list was non-empty (the means are over these). */
  lists: number;
}

/** Marker of an empty slot in a top-K list (as the top-k kernel pads short rows). */
export const EMPTY_SLOT = 0xffffffff;

export class BeyondAccuracyAccumulator {
  private readonly seen: Uint8Array;
  private distinct = 0;
  private lists = 0;
  private pctSum = 0;
  private popSum = 0;
  constructor(private readonly pop: ItemPopularity, readonly k = BEYOND_K) {
    this.seen = new Uint8Array(pop.counts.length);
  }
  /** One example's list (best first); EMPTY_SLOT entries are skipped; only the first k count. */
  add(list: ArrayLike<number>): void {
    let n = 0, pct = 0, cnt = 0;
    for (let j = 0; j < Math.min(list.length, this.k); j++) {
      const id = list[j]!;
      if (id === EMPTY_SLOT) continue;
      if (!Number.isInteger(id) || id < 1 || id >= this.seen.length) throw new DataError(`beyond-accuracy: expected a recommended item id in [1, ${this.seen.length - 1}], got ${id}`);
      if (!this.seen[id]) {
        this.seen[id] = 1;
        this.distinct++;
      }
      n++;
      pct += this.pop.percentile[id]!;
      cnt += this.pop.counts[id]!;
    }
    if (n === 0) return;
    this.lists++;
    this.pctSum += pct / n;
    this.popSum += cnt / n;
  }
  result(): BeyondAccuracy {
    const d = Math.max(this.lists, 1);
    return { k: this.k, coverage: this.distinct / Math.max(this.seen.length - 1, 1), popPercentile: this.pctSum / d, avgRecPopularity: this.popSum / d, lists: this.lists };
  }
}

/** The metrics.jsonl / EvalRecord fields: coverage@K, pop_pct@K, arp@K. */
export function beyondRecord(b: BeyondAccuracy): Record<string, number> {
  return { [`coverage@${b.k}`]: b.coverage, [`pop_pct@${b.k}`]: b.popPercentile, [`arp@${b.k}`]: b.avgRecPopularity };
}
