// Whole-model gradient check: one training batch through the GPU model (encoder, sampled softmax,
// backward, item-gradient scatter) against the float64 reference model (model/reference), whose
// own gradients are checked by finite differences in model/reference/gradcheck.test.ts.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createGpu, type Gpu } from '../kernels/gpu/index.js';
import { expectClose } from '../kernels/testing/compare.js';
import { Rng } from '../kernels/testing/rng.js';
import { createEncoder } from '../model/encoder.js';
import { referenceLoss } from '../model/reference/model.js';
import { randomBatch, randomParams, tinyConfig } from '../model/reference/fixtures.js';
import { drawNegatives, type RetrievalLossOptions } from '../model/retrieval_loss.js';
import { lastOfEachSequence, recordGradients } from './train.js';

let gpu: Gpu;
beforeAll(async () => (gpu = await createGpu()));
afterAll(() => gpu?.dispose());

const NUM_ITEMS = 9; // real items 1..9, table rows 10

describe.each([
  ['hstu with rab', { model: 'hstu', attnAlpha: -1 }],
  ['hstu with rab, shared negatives', { model: 'hstu', attnAlpha: -1, negativeSampling: 'shared' }],
  // 9 items × 4 bytes × 4 rows: the batch's 13 positions run as 4 row chunks.
  ['hstu with rab, per-position negatives in row chunks', { model: 'hstu', attnAlpha: -1, sampledSoftmaxPath: 'catalogue' }, { denseChunkBytes: 9 * 4 * 4 }],
  // The same draws on the other path: only the drawn rows gathered (the tiny catalogue would
  // otherwise pick the catalogue path).
  ['hstu with rab, gathered path', { model: 'hstu', attnAlpha: -1, sampledSoftmaxPath: 'gathered' }],
  // dim 6 pads to 8 floats, a row has 4 slots, the 10-row table does not fit 256 bytes: compact
  // tables of up to 2·4 rows, so the 13 positions run as 7 chunks of ≤ 2 rows.
  ['hstu with rab, gathered path in row chunks', { model: 'hstu', attnAlpha: -1, sampledSoftmaxPath: 'gathered' }, { denseChunkBytes: 2 * 4 * 8 * 4 }],
  ['hstu with rab, in-batch negatives with log-Q correction', { model: 'hstu', attnAlpha: -1, inBatchNegatives: 3 }],
  ['hstu with rab, last token at the next event\'s time', { model: 'hstu', attnAlpha: -1, lastQueryTime: 'next' }],
  ['hstu without rab', { model: 'hstu', useRab: false }],
  ['sasrec', { model: 'sasrec', numHeads: 2, dim: 6 }],
  // Dot-product logits (similarity 'dot') on every loss path.
  ['hstu, dot logits, catalogue path', { model: 'hstu', attnAlpha: -1, similarity: 'dot', sampledSoftmaxPath: 'catalogue' }],
  ['hstu, dot logits, gathered path', { model: 'hstu', attnAlpha: -1, similarity: 'dot', sampledSoftmaxPath: 'gathered' }],
  ['hstu, dot logits, shared negatives', { model: 'hstu', attnAlpha: -1, similarity: 'dot', negativeSampling: 'shared' }],
  ['hstu, dot logits, in-batch negatives with log-Q correction', { model: 'hstu', attnAlpha: -1, similarity: 'dot', inBatchNegatives: 3 }],
  ['sasrec, dot logits', { model: 'sasrec', numHeads: 2, dim: 6, similarity: 'dot' }],
  // Positions anchored at the end (p_i = maxLen − n + i). maxLen 5 = the longest of the batch's
  // lengths [3, 0, 1, 5, 4]: every pos_emb row is used; maxLen 8: rows 3..7 only, so the
  // position gradient goes through the scatter's scratch rows into posGrad's rows 3..7.
  ['hstu with rab, positions anchored at the end', { model: 'hstu', attnAlpha: -1, positionAnchor: 'end' }],
  ['hstu with rab, positions anchored at the end, maxLen 8', { model: 'hstu', attnAlpha: -1, positionAnchor: 'end', maxLen: 8 }],
  ['sasrec, positions anchored at the end', { model: 'sasrec', numHeads: 2, dim: 6, positionAnchor: 'end' }],
  ['sasrec, positions anchored at the end, maxLen 8', { model: 'sasrec', numHeads: 2, dim: 6, positionAnchor: 'end', maxLen: 8 }],
] as [string, Record<string, unknown>, RetrievalLossOptions?][])('GPU model gradients equal the float64 reference: %s', (_name, overrides, lossOpts = {}) => {
  it('loss, every dense gradient and the item-table gradient', async () => {
    const c = tinyConfig({ ...overrides, temperature: 0.5 });
    const rng = new Rng(11);
    const params64 = randomParams(c, NUM_ITEMS, rng);
    const params = new Map([...params64].map(([k, v]) => [k, Float32Array.from(v)]));
    const ref0 = randomBatch(rng, [3, 0, 1, 5, 4], NUM_ITEMS, 1);
    const step = 3;
    const drawn = drawNegatives(c, step, ref0.items.length, NUM_ITEMS + 1, ref0.targets);
    const negatives = drawn.ids;
    const negativeLogitOffsets = drawn.logitOffset && Float64Array.from(negatives, drawn.logitOffset);
    // Each target's time: far from the inputs' so the last tokens' query times change buckets.
    const targetTimestamps = Uint32Array.from(ref0.items, () => rng.int(0, 2 ** 31));
    const nextTimestamps = lastOfEachSequence(Uint32Array.from(ref0.seqOffsets), targetTimestamps);
    // The reference sees the f32-rounded parameters the GPU sees.
    const ref = referenceLoss(c, new Map([...params].map(([k, v]) => [k, Float64Array.from(v)])), { ...ref0, negatives, negativeLogitOffsets, nextTimestamps });

    const enc = await createEncoder(gpu, c, NUM_ITEMS + 1, params);
    const tb = {
      seqOffsets: Uint32Array.from(ref0.seqOffsets),
      items: Uint32Array.from(ref0.items),
      timestamps: Uint32Array.from(ref0.timestamps!),
      targets: Uint32Array.from(ref0.targets),
      targetTimestamps,
    };
    const rec = gpu.recorder();
    const g = recordGradients(rec, gpu, enc, c, tb, step, NUM_ITEMS + 1, false, lossOpts);
    await rec.submit();
    const loss = (await gpu.read(g.loss))[0]!;
    expect(Math.abs(loss - ref.loss)).toBeLessThan(1e-4 * Math.max(1, Math.abs(ref.loss)));
    for (const p of enc.dense.byName.values()) {
      const want = ref.grads.get(p.name)!;
      const scale = Math.max(...Array.from(want, Math.abs), 1e-3);
      expectClose(`grad ${p.name}`, await gpu.read(p.g), want, { atol: 2e-4 * scale, rtol: 2e-3 });
    }
    const itemGrad = new Float64Array((NUM_ITEMS + 1) * c.dim);
    const rows = await gpu.read(g.itemGrad);
    g.plan.host.uniqueRows.forEach((r, u) => itemGrad.set(rows.subarray(u * c.dim, (u + 1) * c.dim), r * c.dim));
    const want = ref.grads.get('item_emb')!;
    const scale = Math.max(...Array.from(want, Math.abs));
    expectClose('grad item_emb', itemGrad, want, { atol: 2e-4 * scale, rtol: 2e-3 });
    g.release();
    enc.release();
  });
});
