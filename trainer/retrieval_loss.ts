// The retrieval loss of one batch: every position predicts its next item with a sampled softmax
// over cosine logits (DESIGN §2), negatives drawn uniformly from the real items (ids ≥ 1), a
// negative equal to a row's positive masked for that row. Two samplings (config
// `negativeSampling`):
//   per-position (default, the paper's research code): each position draws its own R negatives.
//     Computed as dense GEMMs against the whole catalogue's normalised rows (cos [L, items]),
//     with each row's loss and gradient reading only its drawn columns: on a CPU-class device
//     this beats gathering and scattering L·R item rows, and the item gradient stays one row per
//     item. Its memory is L × items floats per buffer, checked up front.
//   shared: one set of R negatives per batch, scored by every position ([R, d] instead of
//     [L, R, d]); each step then pushes down only R items.
import type { Gpu, Recorder, Tensor } from '../kernels/gpu/index.js';
import { gatherRows } from '../kernels/embedding/embedding.js';
import { sampledSoftmaxLoss, sampledSoftmaxBackward, sampleNegatives, sharedNegativeIds } from '../kernels/sampled_softmax/sampled_softmax.js';
import { sampleNegativesRef } from '../kernels/sampled_softmax/sampled_softmax.ref.js';
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

const stepSeed = (c: Config, step: number): number => (c.seed ^ Math.imul(step + 1, 0x27d4eb2d)) >>> 0;

/** The step's shared negatives: uniform over the real items 1..tableRows−1 (never padding 0). */
export function batchNegatives(c: Config, step: number, tableRows: number): Uint32Array {
  return sharedNegativeIds(stepSeed(c, step), c.numNegatives, tableRows - 1).map((x) => x + 1);
}

/** Every position's R negative ids ([L·R], row-major) as the step draws them, for the float64
 *  reference: the shared draw repeated, or the per-position draws of the GPU sampler. */
export function positionNegatives(c: Config, step: number, L: number, tableRows: number): Uint32Array {
  const R = c.numNegatives;
  if (c.negativeSampling === 'shared') {
    const neg = batchNegatives(c, step, tableRows);
    return Uint32Array.from({ length: L * R }, (_, i) => neg[i % R]!);
  }
  return sampleNegativesRef(L, R, tableRows - 1, stepSeed(c, step)).map((x) => x + 1);
}

/** Throws with a hint when the per-position path's [L, items] buffers would not fit the device. */
function checkDenseFits(gpu: Gpu, P: number, cols: number): void {
  const bytes = P * cols * 4;
  const limit = Math.min(gpu.device.limits.maxStorageBufferBindingSize, gpu.device.limits.maxBufferSize);
  if (bytes > limit) {
    throw new Error(
      `retrieval loss: per-position negatives score ${P} positions against all ${cols} items (${(bytes / 2 ** 20).toFixed(0)} MiB per buffer), ` +
        `over this device's ${(limit / 2 ** 20).toFixed(0)} MiB binding limit. HINT: use --negativeSampling=shared, or a smaller --batchSize / --maxLen.`,
    );
  }
}

export function recordRetrievalLoss(rec: Recorder, gpu: Gpu, enc: Encoder, out: Tensor<'f32'>, b: GpuBatch, targets: Uint32Array, c: Config, step: number): RetrievalLoss {
  const d = enc.items.dim;
  const P = Math.max(b.L, 1);
  const numItems = enc.items.rows;
  const perPosition = c.negativeSampling === 'per-position';
  // Shared columns: the R drawn negatives, or (per-position) every real item once.
  const negIds = perPosition ? Uint32Array.from({ length: numItems - 1 }, (_, j) => j + 1) : batchNegatives(c, step, numItems);
  const R = negIds.length;
  if (perPosition) checkDenseFits(gpu, P, R);
  const owned: Tensor[] = [];
  const t = <T extends Tensor>(x: T) => (owned.push(x), x);
  const posIds = t(gpu.u32(targets.length ? targets : [0], [P], 'loss:pos_ids'));
  const weights = t(gpu.f32(Float32Array.from(targets.length ? targets : [0], (x) => (x === 0 ? 0 : 1)), [P], 'loss:weights'));
  const neg = t(gpu.u32(negIds, [R], 'loss:neg_ids'));
  const posEmb = t(gpu.empty([P, d], 'f32', 'loss:pos_emb'));
  const negEmb = t(gpu.empty([R, d], 'f32', 'loss:neg_emb'));
  gatherRows(rec, enc.items, posIds, posEmb, b.L);
  gatherRows(rec, enc.items, neg, negEmb, R);
  let rowSamples: Tensor<'u32'> | undefined;
  if (perPosition) {
    // Column j of the shared set is item j + 1, so the sampler's ids in [0, R) are the columns.
    rowSamples = t(gpu.empty([P, c.numNegatives], 'u32', 'loss:row_samples'));
    sampleNegatives(rec, rowSamples, { P, R: c.numNegatives, numItems: R, seed: stepSeed(c, step) });
  }
  const inputs = { u: out, posIds, negIds: neg, posEmb, negEmb, weights, rowSamples };
  const shape = { P, R, d, temperature: c.temperature, sharedNegatives: true, samplesPerRow: perPosition ? c.numNegatives : undefined };
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
