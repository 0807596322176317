// Training at long N (1024 … 8192): a step on a batch with a long sequence runs (the attention
// backward's rab histogram moves to global scratch above N = 4096) and its gradients move the
// loss down on a repeated batch.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createGpu, type Gpu } from '../kernels/gpu/index.js';
import { applyOverrides, defaultConfig } from '../model/config.js';
import { InteractionBuilder } from './data/builder.js';
import { train } from './train.js';

let gpu: Gpu;
beforeAll(async () => {
  gpu = await createGpu();
});
afterAll(() => gpu?.dispose());

/** One long user (len events), three short ones; 30 items. */
function data(len: number) {
  const b = new InteractionBuilder(false);
  for (let i = 0; i < len; i++) b.add('1', String(1 + ((i * 7) % 30)), i * 60, 0);
  for (let u = 2; u <= 4; u++) for (let i = 0; i < 6; i++) b.add(String(u), String(1 + ((u + i) % 30)), i * 3600, 0);
  return b.finish({ source: 'long', format: 'csv', formatNote: '', hasRatings: false });
}

describe('training at long N', () => {
  it.each([
    [1024, 1030], // longer than N: truncated to the most recent 1024
    [2048, 300],
    [4096, 300],
    [8192, 300],
  ])('N = %i, a %i-event history: finite losses that fall on the same batch', async (N, len) => {
    const c = applyOverrides(defaultConfig, { maxLen: N, dim: 16, numHeads: 2, numLayers: 1, numNegatives: 8, batchSize: 4, lr: 0.01, dropout: 0, epochs: 3, seed: 3 });
    const r = await train({ config: c, data: data(len), noEval: true, log: () => {}, gpu });
    expect(r.losses.length).toBe(3);
    expect(r.losses.every(Number.isFinite)).toBe(true);
    expect(r.losses[2]!).toBeLessThan(r.losses[0]!);
  }, 300_000);
});
