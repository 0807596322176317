// The kernel benchmark suite: compare mode's verdicts against noise (CPU), and every case built
// and checked at a tiny model shape (GPU): each kernel's output is verified before it is timed.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createGpu, type Gpu } from '../kernels/gpu/index.js';
import type { BenchRow } from '../kernels/testing/bench.js';
import { defaultConfig, type Config } from '../model/config.js';
import { buildCases } from './bench-suite-cases.js';
import { compareRows } from './bench-suite.js';

const row = (variant: string, ms: number, noise: number): BenchRow => ({ kernel: 'k', variant, shape: 's', ms, gflops: 0, gbps: 0, pct_ceiling: 0, noise });

describe('compare', () => {
  it('flags changes beyond max(min-change, sigma × noise) only', () => {
    const base = [row('a', 10, 0.05), row('b', 10, 0.4), row('c', 10, 0.02), row('d', 10, 0.02), row('gone', 1, 0)];
    const next = [row('a', 12, 0.05), row('b', 13, 0.3), row('c', 8, 0.02), row('d', 10.5, 0.02), row('new', 1, 0)];
    const v = Object.fromEntries(compareRows(base, next, 1, 0.1).map((r) => [r.variant, r.verdict]));
    expect(v).toEqual({ a: 'regression', b: 'same', c: 'improvement', d: 'same', new: 'new', gone: 'gone' });
    // A stricter sigma turns the noisy 'a' into noise.
    expect(compareRows(base, next, 5, 0.1).find((r) => r.variant === 'a')!.verdict).toBe('same');
  });
});

describe('cases at a tiny model shape', () => {
  let gpu: Gpu;
  beforeAll(async () => {
    gpu = await createGpu();
  });
  afterAll(() => gpu?.dispose());
  it.each(['hstu', 'sasrec'] as const)('%s: every case is checked and records', async (model) => {
    const config: Config = { ...defaultConfig, model, dim: 8, numHeads: 2, maxLen: 9, numNegatives: 6, batchSize: 4 };
    const offsets = Uint32Array.from([0, 9, 10, 14, 14 + 5]); // lengths 9 (= N), 1, 4, 5
    const built = await buildCases(gpu, { name: model, config, offsets, tableRows: 23 });
    try {
      const kernels = new Set(built.cases.map((c) => c.kernel));
      for (const k of ['matmul', model === 'hstu' ? 'hstu_attention' : 'softmax_attention', 'layer_norm', 'elementwise', 'sampled_softmax', 'embedding', 'optim', 'rank', 'reduce', ...(model === 'hstu' ? ['silu_split'] : [])]) expect(kernels.has(k), k).toBe(true);
      const rec = gpu.recorder('bench-suite-test');
      for (const c of built.cases) c.record(rec);
      await rec.submit();
    } finally {
      built.release();
    }
  });
});
