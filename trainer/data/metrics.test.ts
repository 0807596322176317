import { describe, expect, it } from 'vitest';
import { formatMetrics, hitRate, MetricAccumulator, mrr, ndcg, rankOfTarget } from './metrics.js';
import { evaluatePopularity, evaluateScorer, itemCounts, StaticRanker } from './popularity.js';
import { buildSequences } from './sequences.js';
import { leaveLastOut } from './split.js';
import { DataRng } from './rng.js';
import { fromTriples } from './testing.js';

describe('metrics from a rank', () => {
  it('hand-computed values', () => {
    expect([hitRate(0, 1), hitRate(9, 10), hitRate(10, 10)]).toEqual([1, 1, 0]);
    expect(ndcg(0, 10)).toBe(1);
    expect(ndcg(1, 10)).toBeCloseTo(1 / Math.log2(3), 15); // 0.6309…
    expect(ndcg(2, 10)).toBe(0.5); // 1/log2(4)
    expect(ndcg(10, 10)).toBe(0);
    expect([mrr(0), mrr(3)]).toEqual([1, 0.25]);
  });

  it('accumulator means', () => {
    const acc = new MetricAccumulator([1, 3]);
    for (const r of [0, 2, 5]) acc.add(r);
    const m = acc.result();
    expect(m.count).toBe(3);
    expect(m.hr[1]).toBeCloseTo(1 / 3, 15);
    expect(m.hr[3]).toBeCloseTo(2 / 3, 15);
    expect(m.ndcg[3]).toBeCloseTo((1 + 0.5) / 3, 15);
    expect(m.mrr).toBeCloseTo((1 + 1 / 3 + 1 / 6) / 3, 15);
    expect(formatMetrics(m)).toBe('HR@1 0.3333 NDCG@1 0.3333 HR@3 0.6667 NDCG@3 0.5000 MRR 0.5000 (n=3)');
    expect(() => acc.add(-1)).toThrow(/expected a rank ≥ 0, got -1/);
  });
});

describe('rankOfTarget', () => {
  // ids:        0    1    2    3    4    5    6
  const scores = [99, 0.5, 0.9, 0.5, 0.1, 0.9, 0.5];
  it('strictly greater scores, plus ties with smaller ids; padding id 0 ignored', () => {
    expect(rankOfTarget(scores, 2)).toBe(0); // nobody above 0.9; tie with 5 has a larger id
    expect(rankOfTarget(scores, 5)).toBe(1); // tie with 2 (smaller id)
    expect(rankOfTarget(scores, 3)).toBe(3); // 2, 5 above; tie with 1 (smaller); 6 larger id
    expect(rankOfTarget(scores, 1)).toBe(2);
    expect(rankOfTarget(scores, 6)).toBe(4);
    expect(rankOfTarget(scores, 4)).toBe(5);
  });
  it('exclusions remove only items that would be ahead; target and 0 in the list are ignored', () => {
    expect(rankOfTarget(scores, 3, [2, 4])).toBe(2);
    expect(rankOfTarget(scores, 3, [0, 1, 3, 5, 6])).toBe(1);
    expect(() => rankOfTarget(scores, 3, [5, 2])).toThrow(/strictly ascending/);
    expect(() => rankOfTarget(scores, 0)).toThrow(/expected a target item id in \[1, 6\], got 0/);
    expect(() => rankOfTarget([0, NaN], 1)).toThrow(/got NaN/);
  });
  it('StaticRanker agrees with rankOfTarget on random scores with ties and exclusions', () => {
    const rng = new DataRng(1);
    for (let trial = 0; trial < 50; trial++) {
      const n = rng.int(2, 40);
      const sc = Array.from({ length: n }, () => rng.int(0, 5));
      const ranker = new StaticRanker(sc);
      const target = rng.int(1, n - 1);
      const excl = Array.from({ length: n }, (_, i) => i).filter(() => rng.next() < 0.3);
      expect(ranker.rank(target, excl)).toBe(rankOfTarget(sc, target, excl));
    }
  });
});

describe('popularity baseline', () => {
  it('hand-computed HR/NDCG/MRR with history filtering', () => {
    // items (raw = dense here: raw ids 1..5 all present). train counts after the split:
    // user 0: 1 1 2 | val 3 | test 4   user 1: 1 2 2 | val 5 | test 2   user 2: 3 5 1 | val 4 | test 1
    const x = fromTriples([
      [0, 1, 1], [0, 1, 2], [0, 2, 3], [0, 3, 4], [0, 4, 5],
      [1, 1, 1], [1, 2, 2], [1, 2, 3], [1, 5, 4], [1, 2, 5],
      [2, 3, 1], [2, 5, 2], [2, 1, 3], [2, 4, 4], [2, 1, 5],
    ]);
    expect(x.itemRawIds).toEqual(['<pad>', 1, 2, 3, 4, 5]);
    const sp = leaveLastOut(buildSequences(x));
    expect(Array.from(itemCounts(sp.train))).toEqual([0, 4, 3, 1, 0, 1]);
    // Ranking order by (count desc, id asc): 1, 2, 3, 5, 4.
    // test u0: target 4, excluded {1,2,3} → ahead: 5 → rank 1
    // test u1: target 2, excluded {1,5} (2 itself not excluded) → rank 0
    // test u2: target 1, excluded {3,4,5} → rank 0
    const t = evaluatePopularity(sp.train, sp.test, { ks: [1, 2] });
    expect(t.hr[1]).toBeCloseTo(2 / 3, 15);
    expect(t.hr[2]).toBe(1);
    expect(t.ndcg[2]).toBeCloseTo((1 / Math.log2(3) + 2) / 3, 15);
    expect(t.mrr).toBeCloseTo((0.5 + 2) / 3, 15);
    // validation u0: target 3, excl {1,2} → rank 0; u1: target 5, excl {1,2} → ahead: 3 → rank 1;
    // u2: target 4, excl {1,3,5} → ahead: 2 → rank 1
    const v = evaluatePopularity(sp.train, sp.validation, { ks: [1] });
    expect(v.hr[1]).toBeCloseTo(1 / 3, 15);
    expect(v.mrr).toBeCloseTo((1 + 0.5 + 0.5) / 3, 15);
    // The generic scorer harness gives the same numbers with popularity scores.
    const counts = itemCounts(sp.train);
    const g = evaluateScorer(sp.test, (_b, _k, out) => out.set(counts), { ks: [1, 2] });
    const { beyond: _lists, ...accuracy } = t; // the scorer harness computes no top-K lists
    expect(g).toEqual(accuracy);
  });
});
