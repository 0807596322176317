// The item table's gradient when the gathered loss covers the input items (trainer/item_gradients)
// must be the general path's bits: same rows, same sums in the same order.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectClose } from '../kernels/testing/compare.js';
import { createGpu, type Gpu } from '../kernels/gpu/index.js';
import { Rng } from '../kernels/testing/rng.js';
import { createEncoder } from '../model/encoder.js';
import { randomBatch, randomParams, tinyConfig } from '../model/reference/fixtures.js';
import { recordGradients } from './train.js';

let gpu: Gpu;
beforeAll(async () => (gpu = await createGpu()));
afterAll(() => gpu?.dispose());

describe('item-table gradient: loss rows covering the input items', () => {
  // 9 items: every row is drawn; 3000 items: most input items are not among the loss's rows.
  it.each([9, 3000])('%i items: covered path equals the general scatter bit for bit', async (numItems) => {
    const c = tinyConfig({ model: 'hstu', attnAlpha: -1, sampledSoftmaxPath: 'gathered', numNegatives: 4, temperature: 0.5 });
    const rng = new Rng(numItems);
    const params = new Map([...randomParams(c, numItems, rng)].map(([k, v]) => [k, Float32Array.from(v)]));
    const ref0 = randomBatch(rng, [5, 0, 2, 5, 4, 5], numItems, 1);
    // Repeated input items (a row summed from several positions) and item 0's padding row.
    const items = Uint32Array.from(ref0.items);
    items[3] = items[1]!;
    items[7] = items[1]!;
    const tb = { seqOffsets: Uint32Array.from(ref0.seqOffsets), items, timestamps: Uint32Array.from(ref0.timestamps!), targets: Uint32Array.from(ref0.targets) };
    const enc = await createEncoder(gpu, c, numItems + 1, params);
    const run = async (lossOpts: { coverIds?: Uint32Array; denseChunkBytes?: number }) => {
      const rec = gpu.recorder();
      const g = recordGradients(rec, gpu, enc, c, tb, 2, numItems + 1, false, lossOpts);
      await rec.submit();
      const out = {
        label: g.itemGrad.label, rows: Array.from(g.plan.host.uniqueRows), grad: new Uint32Array((await gpu.read(g.itemGrad)).slice(0, g.plan.numUnique * c.dim).buffer),
        rowSq: g.itemGradRowSquares && (await gpu.read(g.itemGradRowSquares)).slice(0, g.plan.numUnique),
      };
      g.release();
      return out;
    };
    const general = await run({ coverIds: undefined });
    const covered = await run({});
    // The covered path hands on the loss's own rows (its item-gradient output, written over its
    // normalised rows); the general one scatters into a new tensor.
    expect([covered.label, general.label]).toEqual(['sampled_softmax_gathered:d_items', 'train:item_grad']);
    expect(covered.rows).toEqual(general.rows);
    for (const id of items) expect(covered.rows).toContain(id);
    expect(covered.grad.length).toBe(general.grad.length);
    let diff = 0;
    for (let i = 0; i < general.grad.length; i++) if (covered.grad[i] !== general.grad[i]) diff++;
    expect(diff).toBe(0);
    // Not vacuous: the gradient rows are non-zero.
    expect(Array.from(new Float32Array(covered.grad.buffer)).some((x) => x !== 0)).toBe(true);
    // The covered path also hands on each final row's Σg² (input rows added): the guard's probe.
    expect(general.rowSq).toBeUndefined();
    const g32 = new Float32Array(covered.grad.buffer);
    const wantSq = covered.rows.map((_, u) => g32.subarray(u * c.dim, (u + 1) * c.dim).reduce((a, v) => a + v * v, 0));
    expectClose('row squares', covered.rowSq!, wantSq, { atol: 1e-12, rtol: 1e-5 });
    enc.release();
  });

  it('a budget that fits the loss rows but not the input items too: falls back to the general path, same bits', async () => {
    const numItems = 3000;
    const c = tinyConfig({ model: 'hstu', attnAlpha: -1, sampledSoftmaxPath: 'gathered', numNegatives: 4, temperature: 0.5 });
    const rng = new Rng(5);
    const params = new Map([...randomParams(c, numItems, rng)].map(([k, v]) => [k, Float32Array.from(v)]));
    const ref0 = randomBatch(rng, [5, 2, 5, 4, 5], numItems, 1);
    const tb = { seqOffsets: Uint32Array.from(ref0.seqOffsets), items: Uint32Array.from(ref0.items), timestamps: Uint32Array.from(ref0.timestamps!), targets: Uint32Array.from(ref0.targets) };
    const enc = await createEncoder(gpu, c, numItems + 1, params);
    const grads = async (lossOpts: Record<string, unknown>) => {
      const rec = gpu.recorder();
      const g = recordGradients(rec, gpu, enc, c, tb, 2, numItems + 1, false, lossOpts);
      await rec.submit();
      const out = { label: g.itemGrad.label, bits: Array.from(new Uint32Array((await gpu.read(g.itemGrad)).slice(0, g.plan.numUnique * c.dim).buffer)) };
      g.release();
      return out;
    };
    // 21 positions × 5 slots: ≤ 105 loss rows, ≤ 21 more input rows; a compact row is 8 floats
    // (32 bytes). Budgets from 60 to 130 rows cross both thresholds.
    const labels = new Set<string>();
    for (let rows = 60; rows <= 130; rows += 2) {
      const covered = await grads({ denseChunkBytes: rows * 32 });
      const general = await grads({ denseChunkBytes: rows * 32, coverIds: undefined });
      expect(covered.bits, `budget ${rows} rows`).toEqual(general.bits);
      labels.add(covered.label);
    }
    expect([...labels].sort()).toEqual(['sampled_softmax_gathered:d_items', 'train:item_grad']);
    enc.release();
  });
});
