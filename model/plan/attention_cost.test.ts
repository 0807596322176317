import { describe, expect, it } from 'vitest';
import { attentionFeatures, attentionIterations, attentionSeconds, fitAttentionCost, type AttentionCost } from './attention_cost.js';

describe('attention cost per workgroup iteration (hand-computed)', () => {
  it('iterations of each pass for one head of one sequence', () => {
    // n = 10: query/key blocks 0 and 1 (8 rows each, the second with 2 real rows).
    //   fwd:  block 0 loops keys < 8, block 1 keys < min(10, 16) = 10        → 8 + 10 = 18
    //   dkdv: block 0 loops queries 0..9, block 1 queries 8..9               → 10 + 2 = 12
    //   dq:   block 0 one tile of 8 keys, block 1 two tiles (keys 0..15)     → 8 + 16 = 24
    expect(attentionIterations(10)).toEqual({ fwd: 18, dkdv: 12, dq: 24 });
    expect(attentionIterations(8)).toEqual({ fwd: 8, dkdv: 8, dq: 8 });
    // One token: one block; the dQ pass still runs the whole tile of 8.
    expect(attentionIterations(1)).toEqual({ fwd: 1, dkdv: 1, dq: 8 });
    expect(attentionIterations(0)).toEqual({ fwd: 0, dkdv: 0, dq: 0 });
    // n = 24: fwd 8 + 16 + 24 = 48, dkdv 24 + 16 + 8 = 48, dq 8 + 16 + 24 = 48.
    expect(attentionIterations(24)).toEqual({ fwd: 48, dkdv: 48, dq: 48 });
  });

  it('features: heads multiply, width = dqk + dv, unaligned operands, staged dQ only above N = 512', () => {
    // Lengths 10 and 8: 18 + 12 + 24 + 8 + 8 + 8 = 78 iterations per head; 2 heads → 156.
    const f = attentionFeatures([10, 8], { H: 2, dqk: 25, dv: 32, N: 600 });
    expect(f).toEqual({ iterations: 156, widthIterations: 156 * 57, unalignedIterations: 156, stagedIterations: 2 * (24 + 8) });
    const g = attentionFeatures([10, 8], { H: 2, dqk: 24, dv: 50, N: 512 });
    expect(g).toEqual({ iterations: 156, widthIterations: 156 * 74, unalignedIterations: 156, stagedIterations: 0 });
    expect(attentionFeatures([10, 8], { H: 1, dqk: 26, dv: 26, N: 50 }).unalignedIterations).toBe(78 * 2);
  });

  it('seconds = Σ feature × coefficient', () => {
    const c: AttentionCost = { baseNs: 10, perWidthNs: 0.5, unalignedNs: 3, stagedHistNs: 7, fit: 'hand' };
    const f = attentionFeatures([10, 8], { H: 2, dqk: 25, dv: 32, N: 600 });
    // 156 × 10 + 156 × 57 × 0.5 + 156 × 3 + 64 × 7 = 1560 + 4446 + 468 + 448 = 6922 ns
    expect(attentionSeconds(f, c)).toBeCloseTo(6922e-9, 18);
  });

  it('the fit recovers the coefficients that generated exact timings, non-negative', () => {
    const truth: AttentionCost = { baseNs: 12, perWidthNs: 0.2, unalignedNs: 4, stagedHistNs: 30, fit: '' };
    const shapes = [
      { lens: [200, 180, 150], H: 1, dqk: 32, dv: 32, N: 200 },
      { lens: [100, 100], H: 2, dqk: 32, dv: 32, N: 100 },
      { lens: [200], H: 1, dqk: 64, dv: 64, N: 200 },
      { lens: [1024, 1024], H: 1, dqk: 32, dv: 32, N: 1024 },
      { lens: [200, 90], H: 1, dqk: 50, dv: 50, N: 200 },
      { lens: [100, 60], H: 4, dqk: 16, dv: 16, N: 100 },
    ];
    const points = shapes.map((s) => {
      const features = attentionFeatures(s.lens, s);
      return { features, seconds: attentionSeconds(features, truth) };
    });
    const fit = fitAttentionCost(points);
    expect(fit.baseNs).toBeCloseTo(12, 6);
    expect(fit.perWidthNs).toBeCloseTo(0.2, 8);
    expect(fit.unalignedNs).toBeCloseTo(4, 6);
    expect(fit.stagedHistNs).toBeCloseTo(30, 6);
    expect(fit.fit).toMatch(/worst residual 0\.0%/);
    // No long case: the staged coefficient has nothing to fit and stays 0; no NaN anywhere.
    const short = fitAttentionCost(points.filter((_, i) => i !== 3));
    expect(short.stagedHistNs).toBe(0);
    expect(Number.isFinite(short.baseNs + short.perWidthNs + short.unalignedNs)).toBe(true);
    // Timings that would need a negative coefficient are fitted with it clamped to 0.
    const odd = fitAttentionCost(points.map((p, i) => ({ ...p, seconds: i === 4 ? p.seconds * 0.5 : p.seconds })));
    for (const v of [odd.baseNs, odd.perWidthNs, odd.unalignedNs, odd.stagedHistNs]) expect(v).toBeGreaterThanOrEqual(0);
    expect(() => fitAttentionCost([])).toThrow(/HINT/);
  });
});
