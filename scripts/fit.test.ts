// The scaling-law fits (scripts/fit.ts): Student-t quantiles against tabulated values, exact
// recovery of known laws from noiseless data, intervals that cover the truth on noisy data, the
// choice between the two forms, and clear errors on data that cannot be fitted in log space.
import { describe, expect, it } from 'vitest';
import { fitPowerLaw, fitSaturating, fitScaling, invert, predict, studentTQuantile } from './fit.js';

/** Deterministic N(0, 1) draws (Box–Muller over a small LCG). */
function normals(n: number, seed: number): number[] {
  let s = seed >>> 0;
  const u = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) + 0.5) / 4294967296;
  return Array.from({ length: n }, () => Math.sqrt(-2 * Math.log(u())) * Math.cos(2 * Math.PI * u()));
}
const logspace = (lo: number, hi: number, n: number) => Array.from({ length: n }, (_, i) => 10 ** (lo + ((hi - lo) * i) / (n - 1)));

describe('Student t', () => {
  it.each([
    [0.975, 1, 12.7062],
    [0.975, 2, 4.3027],
    [0.975, 10, 2.2281],
    [0.95, 30, 1.6973],
    [0.995, 5, 4.0321],
  ])('quantile(%f, %i) = %f', (p, nu, want) => {
    expect(studentTQuantile(p, nu)).toBeCloseTo(want, 3);
    expect(studentTQuantile(1 - p, nu)).toBeCloseTo(-want, 3);
  });
});

describe('power law y = a·C^b', () => {
  it('recovers a and b exactly from noiseless data, R² = 1', () => {
    const C = logspace(9, 12, 7);
    const f = fitPowerLaw(C, C.map((c) => 3e-4 * c ** 0.15));
    expect(f.b).toBeCloseTo(0.15, 10);
    expect(f.a / 3e-4).toBeCloseTo(1, 8);
    expect(f.r2).toBeCloseTo(1, 12);
    expect(f.intervals.b.hi - f.intervals.b.lo).toBeLessThan(1e-8);
    expect(predict(f, 1e10)).toBeCloseTo(3e-4 * 1e10 ** 0.15, 10);
  });

  it('95% intervals on noisy data cover the true exponent in about 95% of 200 seeded trials', () => {
    const C = logspace(9, 11.5, 10);
    let covered = 0;
    for (let t = 0; t < 200; t++) {
      const z = normals(C.length, 1000 + t);
      const f = fitPowerLaw(C, C.map((c, i) => 0.01 * c ** 0.2 * Math.exp(0.1 * z[i]!)));
      if (f.intervals.b.lo <= 0.2 && 0.2 <= f.intervals.b.hi) covered++;
      expect(f.r2).toBeLessThan(1);
    }
    expect(covered / 200).toBeGreaterThan(0.9);
    expect(covered / 200).toBeLessThan(0.99);
  });

  it('rejects data that log space cannot hold, with a hint', () => {
    expect(() => fitPowerLaw([1, 2, 3], [0.1, 0, 0.2])).toThrow(/HINT/);
    expect(() => fitPowerLaw([1, 2], [0.1, 0.2])).toThrow(/≥ 3 points/);
    expect(() => fitPowerLaw([1, 2, 3], [0.1, 0.2])).toThrow(/as many/);
    expect(() => fitPowerLaw([5, 5, 5], [0.1, 0.2, 0.3])).toThrow(/same compute/);
  });
});

describe('saturating y = a − b·C^(−c)', () => {
  it('recovers a, b, c from noiseless data and is preferred there', () => {
    const C = logspace(9, 12, 9);
    const y = C.map((c) => 0.3 - 40 * c ** -0.25);
    const f = fitSaturating(C, y)!;
    expect(f).toBeDefined();
    expect(f.a).toBeCloseTo(0.3, 5);
    expect(f.c).toBeCloseTo(0.25, 4);
    expect(f.b / 40).toBeCloseTo(1, 3);
    expect(f.r2).toBeGreaterThan(0.999999);
    expect(f.intervals.c.lo).toBeLessThanOrEqual(f.c);
    expect(fitScaling(C, y).best).toBe('saturating');
  });

  it('recovers a falling law y = a + b·C^(−c) (lower is better, e.g. NE)', () => {
    const C = logspace(9, 12, 9);
    const y = C.map((c) => 0.8 + 30 * c ** -0.2);
    const f = fitSaturating(C, y, 0.95, true)!;
    expect(f.sign).toBe(1);
    expect(f.a).toBeCloseTo(0.8, 4);
    expect(f.c).toBeCloseTo(0.2, 3);
    expect(predict(f, 1e10)).toBeCloseTo(0.8 + 30 * 1e10 ** -0.2, 6);
    expect(fitScaling(C, y, 0.95, true).best).toBe('saturating');
  });

  it('is not preferred over a pure power law', () => {
    const C = logspace(9, 12, 9);
    const z = normals(9, 7);
    expect(fitScaling(C, C.map((c, i) => 1e-3 * c ** 0.12 * Math.exp(0.02 * z[i]!))).best).toBe('power');
  });
});

it('invert: 3×3 inverse and singular matrices', () => {
  const A = [[4, 1, 2], [1, 3, 0], [2, 0, 5]];
  const inv = invert(A)!;
  for (let i = 0; i < 3; i++) for (let j = 0; j < 3; j++) expect(A[i]!.reduce((s, v, k) => s + v * inv[k]![j]!, 0)).toBeCloseTo(i === j ? 1 : 0, 12);
  expect(invert([[1, 2], [2, 4]])).toBeUndefined();
});
