// Evaluation batches are bounded by history tokens, not only by users: at N = 2048 (issue 17's
// Stochastic Length runs) 256 users' histories made HSTU's [L, 4d] activation 173 MB, over the
// 128 MiB storage binding, and `npm run eval` failed. The budget keeps every [L, tokenWidth]
// activation within one binding, and splitting batches by it leaves every rank unchanged.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createGpu, type Gpu } from '../kernels/gpu/index.js';
import { createEncoder } from '../model/encoder.js';
import { initParams } from '../model/params.js';
import { batchEvalExamples } from './data/index.js';
import { evalTokenBudget, evaluateRetrieval } from './eval.js';
import { tinyRunConfig, tinyRunData } from './tiny_run.js';
import { prepareSplit } from './train.js';

let gpu: Gpu;
beforeAll(async () => (gpu = await createGpu()));
afterAll(() => gpu?.dispose());

describe('evaluation token budget', () => {
  it('the widest activation of a full batch fits one binding, one more token would not', async () => {
    const limit = Math.min(gpu.device.limits.maxStorageBufferBindingSize, gpu.device.limits.maxBufferSize);
    for (const [model, dim, numHeads, width] of [['hstu', 64, 1, 256], ['hstu', 48, 2, 192], ['sasrec', 64, 2, 128]] as const) {
      const c = tinyRunConfig({ model, dim, numHeads, dqk: 0, dv: 0, maxLen: 16 });
      const enc = await createEncoder(gpu, c, 11, initParams(c, 10, 1));
      try {
        expect(enc.tokenWidth).toBe(width);
        const budget = evalTokenBudget(gpu, enc);
        expect(budget * width * 4).toBeLessThanOrEqual(limit);
        expect((budget + 1) * width * 4).toBeGreaterThan(limit);
      } finally {
        enc.release();
      }
    }
    // The failing case: 256 users × 2,048 tokens at d = 64 is far over the budget.
    expect(256 * 2048).toBeGreaterThan(evalTokenBudget(gpu, { tokenWidth: 256 }));
  });

  it('evaluateRetrieval with tiny token budgets: more batches, the same ranks', async () => {
    const c = tinyRunConfig();
    const data = tinyRunData();
    const split = prepareSplit(data, c);
    const enc = await createEncoder(gpu, c, data.numItems, initParams(c, data.numItems - 1, c.seed));
    try {
      const calls = (maxTokens?: number) => {
        const seen: number[] = [];
        return { seen, run: () => evaluateRetrieval(gpu, enc, split.test, { maxLen: c.maxLen, maxTokens, onProgress: (done) => seen.push(done) }) };
      };
      const whole = calls();
      const ranks = Array.from((await whole.run()).ranks);
      expect(whole.seen).toHaveLength(1);
      for (const maxTokens of [1, 7, c.maxLen + 3]) {
        const cut = calls(maxTokens);
        const r = await cut.run();
        expect(Array.from(r.ranks)).toEqual(ranks);
        const want = Array.from(batchEvalExamples(split.test, 256, maxTokens), (b) => b.exampleStart + b.users.length);
        expect(want.length).toBeGreaterThan(1);
        expect(cut.seen).toEqual(want);
      }
    } finally {
      enc.release();
    }
  });
});
