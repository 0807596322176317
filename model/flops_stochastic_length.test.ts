// Stochastic Length and target masks in the analytic FLOP count (model/flops.ts), by hand.
import { describe, expect, it } from 'vitest';
import { exampleTrainingFlops, expectedExampleFlops, rankingExampleFlops, stochasticLengthOutcomes } from './flops.js';

const s = { model: 'hstu' as const, numLayers: 2, dim: 8, numHeads: 2, dqk: 4, dv: 4, numNegatives: 16 };

describe('Stochastic Length', () => {
  it('N = 1024, α = 1.5: m = ⌊1024^0.75⌋ = 181; n = 512 kept whole with p = 1024^1.5 / 512² = 1/8', () => {
    const o = stochasticLengthOutcomes(512, 1024, 1.5);
    expect(o).toEqual([{ length: 512, prob: 0.125 }, { length: 181, prob: 0.875 }]);
    const e = expectedExampleFlops(s, 512, 1024, 1.5);
    expect(e.total).toBeCloseTo(0.125 * exampleTrainingFlops(s, 512).total + 0.875 * exampleTrainingFlops(s, 181).total, 3);
    expect(e.tokens).toBeCloseTo(0.125 * 512 + 0.875 * 181, 9);
  });

  it('off (α = 0), or a history no longer than N^(α/2), changes nothing', () => {
    expect(stochasticLengthOutcomes(300, 1024, 0)).toEqual([{ length: 300, prob: 1 }]);
    expect(stochasticLengthOutcomes(181, 1024, 1.5)).toEqual([{ length: 181, prob: 1 }]);
    // n² ≤ N^α: kept whole with probability 1 (α = 2 never subsamples a history of ≤ N).
    expect(stochasticLengthOutcomes(1024, 1024, 2)).toEqual([{ length: 1024, prob: 1 }]);
    expect(expectedExampleFlops(s, 300, 1024, 0).total).toBe(exampleTrainingFlops(s, 300).total);
  });

  it('the expected attention work is O(N^α): ≈ 2·N^α pairs·… for long histories', () => {
    // For n ≫ N^(α/2): E[pairs] = p·n(n+1)/2 + (1−p)·m(m+1)/2 ≈ N^α/2 + N^α/2 = N^α.
    const N = 4096, alpha = 1.6, n = 4096;
    const o = stochasticLengthOutcomes(n, N, alpha);
    const pairs = o.reduce((a, { length, prob }) => a + (prob * length * (length + 1)) / 2, 0);
    expect(pairs / N ** alpha).toBeGreaterThan(0.9);
    expect(pairs / N ** alpha).toBeLessThan(1.1);
  });

  it('rejects α outside (0, 2] and bad lengths', () => {
    expect(() => stochasticLengthOutcomes(10, 100, 2.5)).toThrow(/α/);
    expect(() => stochasticLengthOutcomes(10, 100, -1)).toThrow(/α/);
    expect(() => stochasticLengthOutcomes(1.5, 100, 1)).toThrow(/length/);
  });

  it('ranking: candidates are never dropped, SL subsamples the history only (target mask kept)', () => {
    const head = { hidden: 4, tasks: 2 };
    const k = 8, n = 1000 + k;
    const e = expectedExampleFlops(s, n, 1024, 1.5, { candidates: k, head });
    const [whole, cut] = stochasticLengthOutcomes(1000, 1024, 1.5);
    const want = whole!.prob * rankingExampleFlops(s, 1000 + k, k, head).total + cut!.prob * rankingExampleFlops(s, cut!.length + k, k, head).total;
    expect(e.total).toBeCloseTo(want, 3);
    expect(e.loss).toBe(0);
  });
});
