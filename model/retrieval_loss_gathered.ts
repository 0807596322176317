// The gathered path of the per-position retrieval loss: only the rows each position drew are
// touched, so a step costs O(L·R·d) whatever the catalogue size (DESIGN §7). Per chunk of
// positions: the distinct items of its positives and negatives are gathered from the (sharded)
// item table into a compact [U, d] table, scored, and their gradient summed per item on the
// device (kernels/sampled_softmax/sampled_softmax_gathered: sort-by-item CSR, segmented sums,
// no atomics). The table's own scatter (trainer) then adds the chunks' rows per item.
import type { Gpu, Recorder, Tensor } from '../kernels/gpu/index.js';
import { weightedMeanLoss } from '../kernels/sampled_softmax/sampled_softmax.js';
import { defaultGatheredVariant, planGatheredSlots, sampledSoftmaxGathered, gatheredRowStride, type DeferredItemGrad, type GatheredPlan } from '../kernels/sampled_softmax/sampled_softmax_gathered.js';
import { itemAdamSupported } from '../kernels/optim/item_adam.js';
import type { Config } from './config.js';
import type { Encoder } from './encoder.js';
import type { GpuBatch } from './batch.js';
import type { StepNegatives } from './retrieval_negatives.js';

/** What the fused item update (kernels/optim/item_adam) reads of a gathered loss whose item
 *  gradient was deferred: û, the items' (n, k), the slots' coefficients and the CSR in one buffer. */
export interface DeferredItemUpdate extends DeferredItemGrad {
  csr: Tensor<'u32'>;
  /** Slots per row. */
  K: number;
}

export interface GatheredLossResult {
  loss: Tensor<'f32'>;
  dOut: Tensor<'f32'>;
  itemGrads?: Tensor<'f32'>;
  deferred?: DeferredItemUpdate;
  itemIds: Uint32Array;
  /** True when itemIds are distinct, ascending and include every id of `coverIds` (one chunk):
   *  itemGrads is then already the summed loss gradient per row (see trainer/item_gradients). */
  coversIds?: boolean;
  /** With coversIds: [itemIds.length] Σ of each itemGrads row's squares (the guard's probe). */
  itemGradRowSquares?: Tensor<'f32'>;
  /** itemIds on the device (one chunk: the gather's upload), for the optimizer's plan. */
  itemIdsOnDevice?: Tensor<'u32'>;
  release(): void;
}

/** Plans the positions in chunks whose buffers all fit `budget` bytes: the slots and
 *  coefficients (n·K u32/f32), the normalised outputs (n·stride) and the compact table (U rows of
 *  stride). A chunk that turns out to touch too many distinct items is split in halves. */
function planChunks(ids: Uint32Array, weights: Float32Array, P: number, K: number, stride: number, tableRows: number, shardRows: number, budget: number, coverIds?: Uint32Array): { r0: number; n: number; plan: GatheredPlan; covers: boolean }[] {
  const maxRows = Math.min(Math.floor(budget / (4 * K)), Math.floor(budget / (4 * stride)));
  if (maxRows < 1 || stride * 4 > budget) throw new Error(`retrieval loss: one position's ${K} slots do not fit a ${budget}-byte buffer. HINT: lower numNegatives.`);
  const out: { r0: number; n: number; plan: GatheredPlan; covers: boolean }[] = [];
  const plan = (r0: number, n: number, extra: ArrayLike<number> = []): void => {
    const p = planGatheredSlots(ids.subarray(r0 * K, (r0 + n) * K), K, tableRows, weights.subarray(r0, r0 + n), shardRows, extra);
    if (p.uniqueIds.length * stride * 4 <= budget) out.push({ r0, n, plan: p, covers: extra.length > 0 });
    else if (extra.length) plan(r0, n); // the cover is only worth having in one chunk
    else if (n === 1) throw new Error(`retrieval loss: one position's ${p.uniqueIds.length} items do not fit a ${budget}-byte buffer. HINT: lower numNegatives.`);
    else { const h = Math.ceil(n / 2); plan(r0, h); plan(r0 + h, n - h); }
  };
  if (coverIds && P <= maxRows) plan(0, P, coverIds);
  else for (let r0 = 0; r0 < P; r0 += maxRows) plan(r0, Math.min(maxRows, P - r0));
  return out;
}

export function gatheredLoss(
  rec: Recorder, gpu: Gpu, enc: Encoder, out: Tensor<'f32'>, b: GpuBatch, targets: Uint32Array, c: Config,
  neg: StepNegatives, budget: number, coverIds?: Uint32Array, fuseItemUpdate = false,
): GatheredLossResult {
  const d = enc.items.dim;
  const tableRows = enc.items.rows;
  const P = Math.max(b.L, 1);
  const R = neg.perRow;
  const K = R + 1;
  const owned: { release(): void }[] = [];
  const t = <T extends Tensor>(x: T) => (owned.push(x), x);
  const weightsHost = new Float32Array(P);
  for (let r = 0; r < b.L; r++) weightsHost[r] = targets[r] === 0 ? 0 : 1;
  const totalW = weightsHost.reduce((a, w) => a + w, 0);
  // Slot 0 of a row: its target (0 for the placeholder row of an empty batch), then R negatives.
  const ids = new Uint32Array(P * K);
  for (let r = 0; r < b.L; r++) {
    ids[r * K] = targets[r]!;
    ids.set(neg.ids.subarray(r * R, (r + 1) * R), r * K + 1);
  }
  const chunks = planChunks(ids, weightsHost, P, K, gatheredRowStride(d), tableRows, enc.items.shardRows, budget, coverIds);
  const whole = chunks.length === 1;
  // Only when the one chunk's plan kept the extras (a tight budget drops them).
  const coversIds = coverIds !== undefined && whole && (chunks[0]!.covers || coverIds.length === 0);
  // The fused update needs the one chunk's CSR and the per-item gradient of the whole table.
  const defer = fuseItemUpdate && coversIds && defaultGatheredVariant(gpu) === 'subgroup' && itemAdamSupported(gpu, enc.items);
  let deferred: DeferredItemUpdate | undefined;
  const weights = t(gpu.f32(weightsHost, [P], 'loss:weights'));
  const rowLoss = t(gpu.empty([P], 'f32', 'loss:row_loss'));
  const loss = t(gpu.empty([1], 'f32', 'loss:loss'));
  const dOut = t(gpu.empty([P, d], 'f32', 'loss:d_out'));
  const totalU = chunks.reduce((a, ch) => a + ch.plan.uniqueIds.length, 0);
  // One chunk: its own output is the batch's (written over its normalised rows where it can).
  let itemGrads = whole ? undefined : t(gpu.empty([totalU, d], 'f32', 'loss:item_grads'));
  // One chunk: its plan's ids are the batch's (no copy).
  const itemIds = whole ? chunks[0]!.plan.uniqueIds : new Uint32Array(totalU);
  let itemIdsOnDevice: Tensor<'u32'> | undefined;
  // The per-row squared norms come with the gradient rows when those are the table's gradient.
  const itemGradRowSquares = coversIds && !defer ? t(gpu.empty([totalU], 'f32', 'loss:item_grads_sq')) : undefined;
  let u0 = 0;
  for (const { r0, n, plan } of chunks) {
    const U = plan.uniqueIds.length;
    if (!whole) itemIds.set(plan.uniqueIds, u0);
    const idsT = t(gpu.upload(plan.uniqueIds, [U], 'u32', 'loss:unique_ids'));
    if (whole) itemIdsOnDevice = idsT;
    const slice = (src: Tensor<'f32'>, width: number, role: string): Tensor<'f32'> => {
      if (whole) return src;
      const dst = t(gpu.empty(width === 1 ? [n] : [n, width], 'f32', `loss:${role}_chunk`));
      rec.copy(src, dst, n * width * 4, r0 * width * 4);
      return dst;
    };
    const inputs = {
      u: slice(out, d, 'u'),
      items: { table: enc.items, ids: idsT, shardStarts: plan.shardStarts },
      slots: t(gpu.upload(plan.slots, [n, K], 'u32', 'loss:slots')),
      weights: slice(weights, 1, 'weights'),
      ...(defer ? {} : {
        order: t(gpu.upload(plan.order.length ? plan.order : new Uint32Array(1), [Math.max(1, plan.order.length)], 'u32', 'loss:order')),
        segOffsets: t(gpu.upload(plan.segOffsets, [U + 1], 'u32', 'loss:seg_offsets')),
      }),
      logitOffsets: neg.logitOffset ? t(gpu.upload(Float32Array.from(plan.uniqueIds, neg.logitOffset), [U], 'f32', 'loss:logit_offsets')) : undefined,
    };
    const chunkW = weightsHost.subarray(r0, r0 + n).reduce((a, w) => a + w, 0);
    const outs = {
      rowLoss: whole ? rowLoss : t(gpu.empty([n], 'f32', 'loss:row_loss_chunk')),
      dU: whole ? dOut : t(gpu.empty([n, d], 'f32', 'loss:d_out_chunk')),
      dItemsSq: itemGradRowSquares,
    };
    // Each chunk normalises by its own Σw; dLoss rescales that to the batch's.
    const shape = { P: n, K, U, d, temperature: c.temperature, similarity: c.similarity };
    const dLoss = totalW > 0 ? chunkW / totalW : 0;
    if (defer) {
      const run = sampledSoftmaxGathered(rec, inputs, shape, { rowLoss: outs.rowLoss, dU: outs.dU }, { dLoss, deferItemGrad: true });
      owned.push(run);
      // segOffsets then order: the fused pass binds one buffer for both.
      const csr = new Uint32Array(U + 1 + Math.max(1, plan.order.length));
      csr.set(plan.segOffsets);
      csr.set(plan.order, U + 1);
      deferred = { ...run.deferred, csr: t(gpu.upload(csr, [csr.length], 'u32', 'loss:csr')), K };
      u0 += U;
      continue;
    }
    const run = sampledSoftmaxGathered(rec, inputs, shape, outs, { dLoss });
    owned.push(run);
    const dItems = t(run.dItems);
    if (whole) itemGrads = dItems;
    else {
      rec.copy(outs.rowLoss, rowLoss, n * 4, 0, r0 * 4);
      rec.copy(outs.dU, dOut, n * d * 4, 0, r0 * d * 4);
      rec.copy(dItems, itemGrads!, U * d * 4, 0, u0 * d * 4);
    }
    u0 += U;
  }
  weightedMeanLoss(rec, rowLoss, weights, loss);
  return { loss, dOut, itemGrads, deferred, itemIds, coversIds, itemGradRowSquares, itemIdsOnDevice, release: () => owned.splice(0).forEach((x) => x.release()) };
}
