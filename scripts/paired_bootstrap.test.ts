import { describe, expect, it } from 'vitest';
import { DataRng } from '../trainer/data/rng.js';
import { auc } from '../trainer/ranking_metrics.js';
import { bootstrapDifference, expandClusters, pairedAucBootstrap, pairedBootstrap, userClusters } from './paired_bootstrap.js';

describe('paired bootstrap', () => {
  it('equal models: zero gap, p = 1; a constant gap: that gap, p = 0', () => {
    const a = Array.from({ length: 50 }, (_, i) => (i % 3 === 0 ? 1 : 0));
    const same = pairedBootstrap(a, a, 500);
    expect([same.diff, same.lo, same.hi, same.p, same.se]).toEqual([0, 0, 0, 1, 0]);
    const up = pairedBootstrap(a.map((x) => x + 0.25), a, 500);
    expect(up.diff).toBeCloseTo(0.25, 12);
    expect([up.lo, up.hi].map((x) => x.toFixed(12))).toEqual(['0.250000000000', '0.250000000000']);
    expect(up.p).toBe(0);
  });

  it('standard error and interval match the normal theory of a mean of n paired differences', () => {
    const rng = new DataRng(3);
    const n = 900;
    // Hit indicators of two correlated models: B hits 20% of users, A gains or loses some.
    const b = Array.from({ length: n }, () => (rng.next() < 0.2 ? 1 : 0));
    const a = b.map((x) => (rng.next() < 0.1 ? 1 - x : x));
    const d = a.map((x, i) => x - b[i]!);
    const mean = d.reduce((s, x) => s + x, 0) / n;
    const sd = Math.sqrt(d.reduce((s, x) => s + (x - mean) ** 2, 0) / n);
    const r = pairedBootstrap(a, b, 4000, 9);
    expect(r.diff).toBeCloseTo(mean, 12);
    expect(r.se / (sd / Math.sqrt(n))).toBeGreaterThan(0.9);
    expect(r.se / (sd / Math.sqrt(n))).toBeLessThan(1.1);
    expect(r.lo).toBeLessThan(mean);
    expect(r.hi).toBeGreaterThan(mean);
    expect(Math.abs((r.hi - r.lo) / (2 * 1.96 * r.se) - 1)).toBeLessThan(0.1);
    expect(pairedBootstrap(a, b, 4000, 9)).toEqual(r); // seeded
  });

  it('AUC gap: the full-set gap, p = 1 for identical scores, p ≈ 0 for a clearly better model', () => {
    const rng = new DataRng(4);
    const y = Array.from({ length: 400 }, () => (rng.next() < 0.5 ? 1 : 0));
    const good = y.map((v) => v + rng.next() * 0.8); // mostly separates the classes
    const noise = y.map(() => rng.next());
    const same = pairedAucBootstrap(noise, noise, y, 300);
    expect([same.diff, same.p]).toEqual([0, 1]);
    const r = pairedAucBootstrap(good, noise, y, 300, 2);
    expect(r.diff).toBeCloseTo(auc(good, y) - auc(noise, y), 12);
    expect(r.diff).toBeGreaterThan(0.3);
    expect(r.p).toBe(0);
    expect(r.lo).toBeGreaterThan(0.2);
  });

  it('user clusters: a user\'s candidates resample together; singletons reproduce the plain bootstrap', () => {
    const keys = ['7#0', '7#1', 'a#b#0', '3#0', 'a#b#1', '3#1'];
    expect(userClusters(keys, true).map((c) => Array.from(c))).toEqual([[0, 1], [2, 4], [3, 5]]);
    expect(userClusters(['x#1', 'x#2'], false)).toHaveLength(2); // ungrouped: '#' is part of the id
    expect(() => userClusters(['7'], true)).toThrow(/user#j/);
    expect(Array.from(expandClusters(userClusters(keys, true), Uint32Array.from([2, 0, 2])))).toEqual([3, 5, 0, 1, 3, 5]);
    const rng = new DataRng(4);
    const a = Float64Array.from({ length: 300 }, () => rng.next()), b = Float64Array.from(a, (x) => x + 0.1 * (rng.next() - 0.4));
    const mean = (x: Float64Array, idx: Uint32Array) => idx.reduce((s, i) => s + x[i]!, 0) / idx.length;
    const single = userClusters(Array.from(a, (_, i) => String(i)), false);
    const viaClusters = bootstrapDifference(single.length, (p) => {
      const idx = expandClusters(single, p);
      return mean(a, idx) - mean(b, idx);
    }, 2000, 9);
    const plain = pairedBootstrap(a, b, 2000, 9);
    for (const k of ['diff', 'lo', 'hi', 'p', 'se'] as const) expect(viaClusters[k]).toBeCloseTo(plain[k], 12);
  });

  it('rejects mismatched, empty or non-finite input', () => {
    expect(() => pairedBootstrap([1], [1, 2])).toThrow(/equally many users/);
    expect(() => pairedBootstrap([], [])).toThrow(/at least one user/);
    expect(() => pairedBootstrap([NaN], [1])).toThrow(/non-finite/);
    expect(() => pairedBootstrap([1], [1], 10)).toThrow(/samples ≥ 100/);
  });
});
