// The retrieval loss of one batch: every position predicts its next item with a sampled softmax
// over cosine logits (DESIGN §2). The R negatives are drawn uniformly from the real items
// (ids ≥ 1) once per batch and shared by all positions — one [R, d] block instead of [L, R, d],
// which keeps the item-gradient scatter at L + R rows on a CPU-class device. A negative equal to
// a row's positive is masked for that row.
import type { Gpu, Recorder, Tensor } from '../kernels/gpu/index.js';
import { gatherRows } from '../kernels/embedding/embedding.js';
import { sampledSoftmaxLoss, sampledSoftmaxBackward, sharedNegativeIds } from '../kernels/sampled_softmax/sampled_softmax.js';
import type { Config } from '../model/config.js';
import type { Encoder } from '../model/encoder.js';
import type { GpuBatch } from '../model/batch.js';

export interface RetrievalLoss {
  /** [1] mean cross-entropy over positions with a target. */
  loss: Tensor<'f32'>;
  /** [L, d] gradient w.r.t. the encoder output. */
  dOut: Tensor<'f32'>;
  /** Gradient rows for the item table ([itemIds.length, d]) and their ids: positives, then negatives. */
  itemGrads: Tensor<'f32'>;
  itemIds: Uint32Array;
  release(): void;
}

/** The step's shared negatives: uniform over the real items 1..tableRows−1 (never padding 0). */
export function batchNegatives(c: Config, step: number, tableRows: number): Uint32Array {
  return sharedNegativeIds((c.seed ^ Math.imul(step + 1, 0x27d4eb2d)) >>> 0, c.numNegatives, tableRows - 1).map((x) => x + 1);
}

export function recordRetrievalLoss(rec: Recorder, gpu: Gpu, enc: Encoder, out: Tensor<'f32'>, b: GpuBatch, targets: Uint32Array, c: Config, step: number): RetrievalLoss {
  const d = enc.items.dim;
  const P = Math.max(b.L, 1);
  const R = c.numNegatives;
  const numItems = enc.items.rows;
  const negIds = batchNegatives(c, step, numItems);
  const owned: Tensor[] = [];
  const t = <T extends Tensor>(x: T) => (owned.push(x), x);
  const posIds = t(gpu.u32(targets.length ? targets : [0], [P], 'loss:pos_ids'));
  const weights = t(gpu.f32(Float32Array.from(targets.length ? targets : [0], (x) => (x === 0 ? 0 : 1)), [P], 'loss:weights'));
  const neg = t(gpu.u32(negIds, [R], 'loss:neg_ids'));
  const posEmb = t(gpu.empty([P, d], 'f32', 'loss:pos_emb'));
  const negEmb = t(gpu.empty([R, d], 'f32', 'loss:neg_emb'));
  gatherRows(rec, enc.items, posIds, posEmb, b.L);
  gatherRows(rec, enc.items, neg, negEmb, R);
  const inputs = { u: out, posIds, negIds: neg, posEmb, negEmb, weights };
  const shape = { P, R, d, temperature: c.temperature, sharedNegatives: true };
  const rowLoss = t(gpu.empty([P], 'f32', 'loss:row_loss'));
  const loss = t(gpu.empty([1], 'f32', 'loss:loss'));
  sampledSoftmaxLoss(rec, inputs, shape, { rowLoss, loss });
  const dOut = t(gpu.empty([P, d], 'f32', 'loss:d_out'));
  const itemGrads = t(gpu.empty([P + R, d], 'f32', 'loss:item_grads'));
  const dPos = t(gpu.empty([P, d], 'f32', 'loss:d_pos'));
  const dNeg = t(gpu.empty([R, d], 'f32', 'loss:d_neg'));
  sampledSoftmaxBackward(rec, inputs, shape, { rowLoss }, { dU: dOut, dPos, dNeg }, { reuseForward: true });
  // Positive then negative gradient rows, lined up with itemIds for the table's scatter.
  rec.copy(dPos, itemGrads, b.L * d * 4);
  rec.copy(dNeg, itemGrads, R * d * 4, 0, b.L * d * 4);
  const itemIds = new Uint32Array(b.L + R);
  itemIds.set(targets.subarray(0, b.L), 0);
  itemIds.set(negIds, b.L);
  return { loss, dOut, itemGrads, itemIds, release: () => owned.forEach((x) => x.release()) };
}
