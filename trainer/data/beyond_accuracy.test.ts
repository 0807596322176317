// Beyond-accuracy metrics (coverage@K, popularity percentile, ARP) against hand-computed values,
// on the accumulator directly and through the popularity baseline's top-K lists.
import { describe, expect, it } from 'vitest';
import { BeyondAccuracyAccumulator, beyondRecord, EMPTY_SLOT, itemPopularity } from './beyond_accuracy.js';
import { evaluatePopularity, itemCounts, StaticRanker } from './popularity.js';
import { buildSequences } from './sequences.js';
import { leaveLastOut } from './split.js';
import { fromTriples } from './testing.js';

describe('item popularity percentiles', () => {
  it('share of real items with strictly fewer training events; ties share a percentile', () => {
    // ids 1..5 with counts 4, 3, 1, 0, 1 (id 0 is padding and does not count)
    const p = itemPopularity(Float64Array.from([99, 4, 3, 1, 0, 1]));
    expect(Array.from(p.percentile.subarray(1))).toEqual([4 / 5, 3 / 5, 1 / 5, 0, 1 / 5]);
  });
});

describe('BeyondAccuracyAccumulator', () => {
  const pop = itemPopularity(Float64Array.from([0, 4, 3, 1, 0, 1]));
  it('coverage, mean percentile and ARP of hand-made lists (per-list mean, then mean over lists)', () => {
    const acc = new BeyondAccuracyAccumulator(pop, 2);
    acc.add([1, 2]); // pct (0.8 + 0.6)/2 = 0.7, counts (4 + 3)/2 = 3.5
    acc.add([2, 4, 5]); // only the first k = 2 count: pct (0.6 + 0)/2 = 0.3, counts 1.5
    acc.add([3, EMPTY_SLOT]); // a short list: pct 0.2, count 1
    acc.add([EMPTY_SLOT, EMPTY_SLOT]); // empty: left out of the means
    const r = acc.result();
    expect(r.coverage).toBe(4 / 5); // {1, 2, 3, 4} of 5 real items
    expect(r.popPercentile).toBeCloseTo((0.7 + 0.3 + 0.2) / 3, 15);
    expect(r.avgRecPopularity).toBeCloseTo((3.5 + 1.5 + 1) / 3, 15);
    expect(r.lists).toBe(3);
    expect(beyondRecord(r)).toEqual({ 'coverage@2': 4 / 5, 'pop_pct@2': r.popPercentile, 'arp@2': r.avgRecPopularity });
  });
  it('rejects the padding id and ids outside the catalogue, and NaN', () => {
    const acc = new BeyondAccuracyAccumulator(pop, 2);
    expect(() => acc.add([0])).toThrow(/recommended item id/);
    expect(() => acc.add([6])).toThrow(/recommended item id/);
    expect(() => acc.add([NaN])).toThrow(/recommended item id/);
  });
  it('no lists: zeros, not NaN', () => {
    const r = new BeyondAccuracyAccumulator(pop).result();
    expect([r.coverage, r.popPercentile, r.avgRecPopularity, r.lists]).toEqual([0, 0, 0, 0]);
  });
});

describe('popularity baseline lists', () => {
  // The data of metrics.test.ts: train counts [0, 4, 3, 1, 0, 1]; order by (count desc, id asc):
  // 1, 2, 3, 5, 4; percentiles 1: .8, 2: .6, 3: .2, 4: 0, 5: .2.
  const x = fromTriples([
    [0, 1, 1], [0, 1, 2], [0, 2, 3], [0, 3, 4], [0, 4, 5],
    [1, 1, 1], [1, 2, 2], [1, 2, 3], [1, 5, 4], [1, 2, 5],
    [2, 3, 1], [2, 5, 2], [2, 1, 3], [2, 4, 4], [2, 1, 5],
  ]);
  const sp = leaveLastOut(buildSequences(x));
  it('StaticRanker.top skips the history', () => {
    const r = new StaticRanker(itemCounts(sp.train));
    expect(r.top(2, [1, 2, 3])).toEqual([5, 4]);
    expect(r.top(9, [2])).toEqual([1, 3, 5, 4]);
  });
  it('hand-computed coverage@K and popularity bias on the test split', () => {
    // test u0: excl {1,2,3} → top2 [5, 4]; u1: excl {1,5} → [2, 3]; u2: excl {3,4,5} → [1, 2]
    const t2 = evaluatePopularity(sp.train, sp.test, { ks: [2], beyondK: 2 }).beyond!;
    expect(t2.coverage).toBe(1);
    expect(t2.popPercentile).toBeCloseTo((0.1 + 0.4 + 0.7) / 3, 15);
    expect(t2.avgRecPopularity).toBeCloseTo((0.5 + 2 + 3.5) / 3, 15);
    // top 1: [5], [2], [1]
    const t1 = evaluatePopularity(sp.train, sp.test, { ks: [1], beyondK: 1 }).beyond!;
    expect(t1.coverage).toBeCloseTo(3 / 5, 15);
    expect(t1.popPercentile).toBeCloseTo((0.2 + 0.6 + 0.8) / 3, 15);
    expect(t1.avgRecPopularity).toBeCloseTo((1 + 3 + 4) / 3, 15);
    expect(evaluatePopularity(sp.train, sp.test).beyond!.k).toBe(10);
  });
});
