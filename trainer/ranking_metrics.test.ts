// Ranking metrics against their definitions: AUC = pairwise count (ties ½), NE of the base-rate
// predictor = 1, hand-computed log loss and RMSE.
import { describe, expect, it } from 'vitest';
import { Rng } from '../kernels/testing/rng.js';
import { auc, bernoulliEntropy, logloss, rankingMetrics, rmse } from './ranking_metrics.js';

function pairwiseAuc(s: number[], y: number[]): number {
  let num = 0, den = 0;
  for (let i = 0; i < s.length; i++) for (let j = 0; j < s.length; j++) {
    if (y[i] === 1 && y[j] === 0) { den++; num += s[i]! > s[j]! ? 1 : s[i] === s[j] ? 0.5 : 0; }
  }
  return num / den;
}

describe('ranking metrics', () => {
  it('AUC equals the pairwise definition, ties counted ½ (random scores with many ties)', () => {
    const rng = new Rng(5);
    for (const n of [2, 7, 101]) {
      const s = Array.from({ length: n }, () => rng.int(0, 5) / 5);
      const y = Array.from({ length: n }, (_, i) => (i < 2 ? i : rng.int(0, 1)));
      expect(auc(s, y)).toBeCloseTo(pairwiseAuc(s, y), 12);
    }
    expect(auc([0.1, 0.9], [0, 1])).toBe(1);
    expect(auc([0.9, 0.1], [0, 1])).toBe(0);
    expect(auc([0.5, 0.5], [0, 1])).toBe(0.5);
    expect(auc([0.2, 0.3], [1, 1])).toBeNaN();
  });

  it('log loss, entropy, NE and RMSE by hand', () => {
    expect(logloss([0.8, 0.3], [1, 0])).toBeCloseTo(-(Math.log(0.8) + Math.log(0.7)) / 2, 12);
    expect(logloss([1, 0], [0, 1])).toBeCloseTo(-Math.log(1e-7), 6); // clipped, finite
    expect(bernoulliEntropy(0.5)).toBeCloseTo(Math.log(2), 12);
    const likes = [1, 1, 1, 0], base = 0.75;
    const m = rankingMetrics([base, base, base, base], [3, 3, 3, 3], likes, [5, 4, 4, 1]);
    expect(m.ne).toBeCloseTo(1, 12); // the base-rate predictor has NE 1
    expect(m.like_rate).toBe(0.75);
    expect(m.rmse).toBeCloseTo(Math.sqrt((4 + 1 + 1 + 4) / 4), 12);
    expect(rmse([1, 2], [1, 4])).toBeCloseTo(Math.sqrt(2), 12);
    const better = rankingMetrics([0.9, 0.9, 0.9, 0.1], [5, 4, 4, 1], likes, [5, 4, 4, 1]);
    expect(better.ne).toBeLessThan(1);
    expect(better.auc).toBe(1);
    expect(better.rmse).toBe(0);
    expect(() => rankingMetrics([], [], [], [])).toThrow(/at least one/);
  });
});
