import { afterEach, describe, expect, it } from 'vitest';
import { setFlags, type Gpu } from '../kernels/gpu/index.js';
import { sampleNegativesRef } from '../kernels/sampled_softmax/sampled_softmax.ref.js';
import { applyOverrides, defaultConfig, validateConfig } from './config.js';
import { lossPathFor } from './retrieval_loss.js';
import { drawNegatives, stepSeed } from './retrieval_negatives.js';

const cpu = { deviceClass: 'cpu' } as Gpu;

describe('retrieval negatives', () => {
  afterEach(() => setFlags({ lossPath: '' }));

  it('uniform per-position draws are the reference sampler shifted past padding, without offsets', () => {
    const c = applyOverrides(defaultConfig, { numNegatives: 5 });
    const got = drawNegatives(c, 3, 7, 12);
    expect(got.perRow).toBe(5);
    expect(got.logitOffset).toBeUndefined();
    expect([...got.ids]).toEqual([...sampleNegativesRef(7, 5, 11, stepSeed(c, 3))].map((x) => x + 1));
  });

  it('in-batch draws come from the batch targets, after the uniform ones, with log(N·Q) offsets', () => {
    const c = applyOverrides(defaultConfig, { numNegatives: 3, inBatchNegatives: 2 });
    const targets = [4, 4, 0, 9, 4, 0];
    const N = 20;
    const got = drawNegatives(c, 1, targets.length, N + 1, targets);
    expect(got.perRow).toBe(5);
    const uniform = drawNegatives(applyOverrides(c, { inBatchNegatives: 0 }), 1, targets.length, N + 1).ids;
    for (let r = 0; r < targets.length; r++) {
      expect([...got.ids.subarray(r * 5, r * 5 + 3)]).toEqual([...uniform.subarray(r * 3, r * 3 + 3)]);
      for (const id of got.ids.subarray(r * 5 + 3, r * 5 + 5)) expect([4, 9]).toContain(id);
    }
    // Q(i) = (3/5)/N + (2/5)·count(i)/4 is a distribution over the N items: Σ exp(offset)/N = 1.
    const off = got.logitOffset!;
    let total = 0;
    for (let id = 1; id <= N; id++) total += Math.exp(off(id)) / N;
    expect(total).toBeCloseTo(1, 12);
    expect(off(4)).toBeCloseTo(Math.log(3 / 5 + (2 / 5) * N * (3 / 4)), 12);
    expect(off(7)).toBeCloseTo(Math.log(3 / 5), 12);
  });

  it('in-batch negatives need the targets, per-position sampling and the gathered path', () => {
    const c = applyOverrides(defaultConfig, { inBatchNegatives: 2 });
    expect(() => drawNegatives(c, 0, 3, 10)).toThrow(/targets.*HINT/);
    expect(() => validateConfig(applyOverrides(c, { negativeSampling: 'shared' }))).toThrow(/inBatchNegatives.*HINT/);
    expect(() => validateConfig(applyOverrides(c, { sampledSoftmaxPath: 'catalogue' }))).toThrow(/sampledSoftmaxPath.*HINT/);
    expect(lossPathFor(c, cpu, 50)).toBe('gathered');
  });

  it('loss path: the cost rule by catalogue size, overridden by config and by HSTU_LOSS_PATH', () => {
    const c = defaultConfig; // R = 128: the rule switches at 6·(2/3)·129 = 516 items
    expect(lossPathFor(c, cpu, 517)).toBe('catalogue');
    expect(lossPathFor(c, cpu, 518)).toBe('gathered');
    expect(lossPathFor(c, cpu, 1683)).toBe('gathered');
    expect(lossPathFor(applyOverrides(c, { sampledSoftmaxPath: 'catalogue' }), cpu, 1683)).toBe('catalogue');
    expect(lossPathFor(applyOverrides(c, { sampledSoftmaxPath: 'gathered' }), cpu, 10)).toBe('gathered');
    setFlags({ lossPath: 'catalogue' });
    expect(lossPathFor(applyOverrides(c, { sampledSoftmaxPath: 'gathered' }), cpu, 1683)).toBe('catalogue');
    setFlags({ lossPath: 'dense' });
    expect(() => lossPathFor(c, cpu, 10)).toThrow(/HSTU_LOSS_PATH.*HINT/);
  });
});
