// The retrieval loss of one batch: every position predicts its next item with a sampled softmax
// over cosine logits (DESIGN §2; or dot-product logits, config `similarity`), negatives drawn as model/retrieval_negatives.ts says (uniform
// over the real items ids ≥ 1, optionally plus in-batch ones with the log-Q correction), a
// negative equal to a row's positive masked for that row. Samplings (config `negativeSampling`):
//   per-position (default, the paper's research code): each position draws its own R negatives,
//     scored on one of two paths that give the same loss and gradients for the same draws:
//     catalogue: dense GEMMs against the whole catalogue's normalised (dot: raw) rows ([L, items]), each
//       row's loss and gradient reading only its drawn columns; rows in chunks whose [rows, items]
//       buffers fit the device's binding limit. Cost O(L·items·d), at GEMM speed.
//     gathered (model/retrieval_loss_gathered.ts): only the drawn rows, O(L·R·d), at gather speed.
//     lossPathFor picks one by a cost rule (below); config sampledSoftmaxPath / env
//     HSTU_LOSS_PATH force either.
//   shared: one set of R negatives per batch, scored by every position ([R, d] instead of
//     [L, R, d]); each step then pushes down only R items.
import { flags, type Gpu, type Recorder, type Tensor } from '../kernels/gpu/index.js';
import { gatherRows } from '../kernels/embedding/embedding.js';
import { add } from '../kernels/elementwise/elementwise.js';
import { sampledSoftmaxLoss, sampledSoftmaxBackward, weightedMeanLoss } from '../kernels/sampled_softmax/sampled_softmax.js';
import type { Config } from './config.js';
import type { Encoder } from './encoder.js';
import type { GpuBatch } from './batch.js';
import { gatheredLoss, type DeferredItemUpdate } from './retrieval_loss_gathered.js';
import { perPositionLossPath, type LossPath } from './loss_path.js';
import { batchNegatives, drawNegatives } from './retrieval_negatives.js';

export { batchNegatives, drawNegatives, positionNegatives } from './retrieval_negatives.js';
export type { DeferredItemUpdate } from './retrieval_loss_gathered.js';

export interface RetrievalLoss {
  /** [1] mean cross-entropy over positions with a target. */
  loss: Tensor<'f32'>;
  /** [L, d] gradient w.r.t. the encoder output. */
  dOut: Tensor<'f32'>;
  /** Gradient rows for the item table ([itemIds.length, d]) and their ids: positives, then
   *  negatives. Absent when `deferred` is set (the item gradient is left to a fused update). */
  itemGrads?: Tensor<'f32'>;
  /** Set by the gathered path when the caller asked for fuseItemUpdate and it applies: the item
   *  gradient was not recorded; kernels/optim/item_adam computes it inside the table's update
   *  from these (valid until release()). itemIds are then distinct, ascending and cover coverIds. */
  deferred?: DeferredItemUpdate;
  itemIds: Uint32Array;
  /** Set by the gathered path when itemIds are distinct, ascending and include every id of
   *  `opts.coverIds`: itemGrads is then already summed per row. */
  coversIds?: boolean;
  /** With coversIds: [itemIds.length] Σ of each itemGrads row's squares (the divergence guard
   *  sums these instead of re-reading itemGrads; trainer/item_gradients keeps them current). */
  itemGradRowSquares?: Tensor<'f32'>;
  /** itemIds already on the device (the gathered path's upload), owned by this loss: the
   *  optimizer's plan borrows it instead of uploading the ids again. */
  itemIdsOnDevice?: Tensor<'u32'>;
  release(): void;
}

/** Bytes one buffer of the per-position paths may take: the device's binding limit (128 MiB on
 *  lavapipe), or less when a test forces row chunks. */
function denseBudget(gpu: Gpu, override?: number): number {
  const limit = Math.min(gpu.device.limits.maxStorageBufferBindingSize, gpu.device.limits.maxBufferSize);
  return Math.min(limit, override ?? Infinity);
}

export interface RetrievalLossOptions {
  /** Cap on one per-position buffer in bytes (default: the device limit); smaller values split
   *  the rows into more chunks (tests use it to exercise chunking). */
  denseChunkBytes?: number;
  /** Item ids the negatives are drawn from (1..catalogueRows−1); default enc.items.rows. Set when
   *  enc.items is a device cache of slots in front of a larger table (trainer/store). */
  catalogueRows?: number;
  /** Maps drawn negative ids to rows of enc.items (cache slots); targets arrive mapped already. */
  mapIds?: (ids: Uint32Array) => Uint32Array;
  /** Rows of enc.items the caller will update too (the batch's input items): the gathered path
   *  adds them to its item set (zero loss gradient where no slot names them), so its per-row
   *  gradients cover every touched row and the caller needs no scatter over them. */
  coverIds?: Uint32Array;
  /** The caller updates the item table with the fused pass (kernels/optim/item_adam) when it can:
   *  the gathered path then leaves the item gradient out and returns `deferred` instead (one chunk
   *  covering coverIds, itemAdamSupported). Otherwise ignored: itemGrads as usual. */
  fuseItemUpdate?: boolean;
}

/**
 * Cost rule of the per-position loss (like the matmul variant choice, a fact of the device
 * class). The catalogue path does three GEMMs of L·items·d multiply-adds; the gathered path
 * touches L·(R+1) item rows twice (score + item gradient), each a d-long gather whose loads cost
 * far more than a GEMM's (on lavapipe a storage load runs lane by lane). Per position:
 *   catalogue ∝ 3·items·d,   gathered ∝ GATHER_COST · 2·(R+1)·d
 * so the gathered path wins once items > GATHER_COST·(2/3)·(R+1). GATHER_COST (multiply-adds of
 * GEMM time one gathered element costs) was measured on lavapipe (BENCHMARKS.md, "Gathered
 * sampled softmax"); GPUs gather cheaply, so there the rule picks gathered from small sizes on.
 */
export { GATHER_COST, type LossPath } from './loss_path.js';

export function lossPathFor(c: Config, gpu: Gpu, tableRows: number): LossPath {
  const forced = flags().lossPath || (c.sampledSoftmaxPath !== 'auto' ? c.sampledSoftmaxPath : '');
  if (forced) {
    if (forced !== 'catalogue' && forced !== 'gathered') throw new Error(`HSTU_LOSS_PATH: expected 'catalogue' or 'gathered', got '${forced}'. HINT: unset it to let the cost rule choose.`);
    if (forced === 'catalogue' && c.inBatchNegatives > 0) throw new Error('retrieval loss: the catalogue path has no log-Q correction for in-batch negatives. HINT: unset HSTU_LOSS_PATH or use sampledSoftmaxPath=gathered.');
    return forced;
  }
  return perPositionLossPath(c, gpu.deviceClass, tableRows);
}

export function recordRetrievalLoss(rec: Recorder, gpu: Gpu, enc: Encoder, out: Tensor<'f32'>, b: GpuBatch, targets: Uint32Array, c: Config, step: number, opts: RetrievalLossOptions = {}): RetrievalLoss {
  if (c.negativeSampling !== 'per-position') return sharedLoss(rec, gpu, enc, out, b, targets, c, step, opts);
  const rows = opts.catalogueRows ?? enc.items.rows;
  if (lossPathFor(c, gpu, rows) === 'gathered') {
    // In-batch negatives come from `targets`, which a device cache has already mapped to slots:
    // the host tier refuses them (trainer/store/host_tier.ts checkHostTierTraining).
    if (opts.mapIds && c.inBatchNegatives > 0) throw new Error('retrieval loss: in-batch negatives are not supported with a device cache in front of the table yet. HINT: use --inBatchNegatives=0 with --embeddingStore=host.');
    const neg = drawNegatives(c, step, Math.max(b.L, 1), rows, targets.length ? targets : [0]);
    const inCache = opts.mapIds ? { ...neg, ids: opts.mapIds(neg.ids) } : neg;
    return gatheredLoss(rec, gpu, enc, out, b, targets, c, inCache, denseBudget(gpu, opts.denseChunkBytes), opts.coverIds, opts.fuseItemUpdate);
  }
  return perPositionLoss(rec, gpu, enc, out, b, targets, c, step, opts);
}

function uploadLossInputs(rec: Recorder, gpu: Gpu, enc: Encoder, b: GpuBatch, targets: Uint32Array, negIds: Uint32Array) {
  const d = enc.items.dim;
  const P = Math.max(b.L, 1);
  const R = negIds.length;
  const owned: Tensor[] = [];
  const t = <T extends Tensor>(x: T) => (owned.push(x), x);
  const posIds = t(gpu.u32(targets.length ? targets : [0], [P], 'loss:pos_ids'));
  const weightsHost = Float32Array.from(targets.length ? targets : [0], (x) => (x === 0 ? 0 : 1));
  const weights = t(gpu.f32(weightsHost, [P], 'loss:weights'));
  const neg = t(gpu.u32(negIds, [R], 'loss:neg_ids'));
  const posEmb = t(gpu.empty([P, d], 'f32', 'loss:pos_emb'));
  const negEmb = t(gpu.empty([R, d], 'f32', 'loss:neg_emb'));
  gatherRows(rec, enc.items, posIds, posEmb, b.L);
  gatherRows(rec, enc.items, neg, negEmb, R);
  return { d, P, R, t, owned, posIds, weightsHost, weights, neg, posEmb, negEmb };
}

function sharedLoss(rec: Recorder, gpu: Gpu, enc: Encoder, out: Tensor<'f32'>, b: GpuBatch, targets: Uint32Array, c: Config, step: number, opts: RetrievalLossOptions = {}): RetrievalLoss {
  const drawn = batchNegatives(c, step, opts.catalogueRows ?? enc.items.rows);
  const negIds = opts.mapIds ? opts.mapIds(drawn) : drawn;
  const { d, P, R, t, owned, posIds, weights, neg, posEmb, negEmb } = uploadLossInputs(rec, gpu, enc, b, targets, negIds);
  const inputs = { u: out, posIds, negIds: neg, posEmb, negEmb, weights };
  const shape = { P, R, d, temperature: c.temperature, similarity: c.similarity, sharedNegatives: true };
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

/**
 * Per-position negatives on the catalogue path: the shared columns are every real item once (column j = item j + 1) and
 * row r reads its R drawn columns. Rows run in chunks small enough for one [chunk, items] buffer;
 * each chunk's backward is scaled by its share of Σw (so the sum is the one-call gradient) and
 * the chunks' item-column gradients are summed in chunk order (deterministic).
 */
function perPositionLoss(rec: Recorder, gpu: Gpu, enc: Encoder, out: Tensor<'f32'>, b: GpuBatch, targets: Uint32Array, c: Config, step: number, opts: RetrievalLossOptions): RetrievalLoss {
  const rows = opts.catalogueRows ?? enc.items.rows;
  const allItems = Uint32Array.from({ length: rows - 1 }, (_, j) => j + 1);
  const negIds = opts.mapIds ? opts.mapIds(allItems) : allItems;
  const { d, P, R, t, owned, posIds, weightsHost, weights, neg, posEmb, negEmb } = uploadLossInputs(rec, gpu, enc, b, targets, negIds);
  const S = c.numNegatives;
  const chunkRows = Math.floor(denseBudget(gpu, opts.denseChunkBytes) / (4 * R));
  if (chunkRows < 1) {
    throw new Error(`retrieval loss: per-position negatives need one row of all ${R} items in a buffer, over this device's limit. HINT: use --negativeSampling=shared.`);
  }
  const chunks = Math.ceil(P / chunkRows);
  const samples = drawNegatives(c, step, P, rows).ids.map((id) => id - 1);
  const totalW = weightsHost.reduce((a, w) => a + w, 0);
  const rowLoss = t(gpu.empty([P], 'f32', 'loss:row_loss'));
  const loss = t(gpu.empty([1], 'f32', 'loss:loss'));
  const dOut = t(gpu.empty([P, d], 'f32', 'loss:d_out'));
  const itemGrads = t(gpu.empty([P + R, d], 'f32', 'loss:item_grads'));
  const whole = chunks === 1;
  // Running sum of the chunks' [R, d] item-column gradients (ping-pong: a dispatch cannot read
  // and write one buffer).
  let dNegSum = t(gpu.empty([R, d], 'f32', 'loss:d_neg'));
  let dNegNext = whole ? dNegSum : t(gpu.empty([R, d], 'f32', 'loss:d_neg_next'));
  for (let k = 0; k < chunks; k++) {
    const r0 = k * chunkRows, n = Math.min(chunkRows, P - r0);
    // One chunk: the batch's own tensors; more: row slices copied into chunk tensors.
    const slice = <T extends 'f32' | 'u32'>(src: Tensor<T>, width: number, dtype: T, role: string): Tensor<T> => {
      if (whole) return src;
      const dst = t(gpu.empty(width === 1 ? [n] : [n, width], dtype, `loss:${role}_chunk`)) as Tensor<T>;
      rec.copy(src, dst, n * width * 4, r0 * width * 4);
      return dst;
    };
    const wSlice = weightsHost.subarray(r0, r0 + n);
    const inputs = {
      u: slice(out, d, 'f32', 'u'),
      posIds: slice(posIds, 1, 'u32', 'pos_ids'),
      negIds: neg,
      posEmb: slice(posEmb, d, 'f32', 'pos_emb'),
      negEmb,
      weights: slice(weights, 1, 'f32', 'weights'),
      rowSamples: t(gpu.u32(samples.subarray(r0 * S, (r0 + n) * S), [n, S], 'loss:row_samples')),
    };
    const shape = { P: n, R, d, temperature: c.temperature, similarity: c.similarity, sharedNegatives: true, samplesPerRow: S };
    const chunkLoss = whole ? rowLoss : t(gpu.empty([n], 'f32', 'loss:row_loss_chunk'));
    sampledSoftmaxLoss(rec, inputs, shape, { rowLoss: chunkLoss, loss: t(gpu.empty([1], 'f32', 'loss:chunk_loss')) });
    const dU = whole ? dOut : t(gpu.empty([n, d], 'f32', 'loss:d_out_chunk'));
    const dPos = t(gpu.empty([n, d], 'f32', 'loss:d_pos'));
    const dNeg = k === 0 ? dNegSum : t(gpu.empty([R, d], 'f32', 'loss:d_neg_chunk'));
    // The chunk's backward normalises by its own Σw; dLoss rescales that to the batch's.
    const chunkW = wSlice.reduce((a, w) => a + w, 0);
    const dLoss = totalW > 0 ? chunkW / totalW : 0;
    sampledSoftmaxBackward(rec, inputs, shape, { rowLoss: chunkLoss }, { dU, dPos, dNeg }, { reuseForward: true, dLoss });
    if (!whole) {
      rec.copy(chunkLoss, rowLoss, n * 4, 0, r0 * 4);
      rec.copy(dU, dOut, n * d * 4, 0, r0 * d * 4);
    }
    // Rows r ≥ b.L (only the placeholder row of an empty batch) carry no target: skip them.
    const live = Math.max(0, Math.min(n, b.L - r0));
    rec.copy(dPos, itemGrads, live * d * 4, 0, r0 * d * 4);
    if (k > 0) {
      add(rec, dNegSum, dNeg, dNegNext);
      [dNegSum, dNegNext] = [dNegNext, dNegSum];
    }
  }
  rec.copy(dNegSum, itemGrads, R * d * 4, 0, b.L * d * 4);
  weightedMeanLoss(rec, rowLoss, weights, loss);
  const itemIds = new Uint32Array(b.L + R);
  itemIds.set(targets.subarray(0, b.L), 0);
  itemIds.set(negIds, b.L);
  return { loss, dOut, itemGrads, itemIds, release: () => owned.forEach((x) => x.release()) };
}
