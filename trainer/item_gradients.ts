// The item table's summed gradient of one step: the input rows' gradients (from the encoder's
// embedding lookup) plus the loss's rows (positives and negatives), one row per distinct id.
//
// When the gathered loss already covers the batch's input items (RetrievalLoss.coversIds: its
// itemIds are distinct, ascending and include them, its itemGrads summed per item), only the L
// input rows need summing: they are summed per input id and added into the loss's rows. That
// gives the same bits as the general path (one scatter over [input ids, loss ids]): both sum
// each row's input gradients in ascending position from +0, then add the loss's one row for it
// (a single f32 add, commutative). The general path's sort, copy and scatter over every loss
// row (≈ 410k rows per step at 1M items) are gone; the optimizer then walks the loss's rows.
// When the loss deferred its item gradient (fuseItemUpdate), fusedItemUpdate hands the summed
// input rows to the fused item gradient + Adam pass instead: the table's gradient rows are then
// never stored (kernels/optim/item_adam; same bits).
import type { Gpu, Recorder, Tensor } from '../kernels/gpu/index.js';
import { addRowsAt, planDistinct, planScatter, scatterAddRows, type ScatterPlan } from '../kernels/embedding/embedding.js';
import type { RetrievalLoss } from '../model/retrieval_loss.js';
import type { EmbeddingTable } from '../kernels/embedding/embedding.js';
import { itemGradAdam } from '../kernels/optim/item_adam.js';
import type { AdamOptions } from '../kernels/optim/optim.js';

export interface ItemGradients {
  /** Distinct rows touched (plan.host.uniqueRows ascending) and their summed gradients. */
  plan: ScatterPlan;
  itemGrad: Tensor<'f32'>;
  /** [plan.numUnique] Σ of each itemGrad row's squares, when the loss provided them (else absent:
   *  the divergence guard then sums the squares of itemGrad itself). */
  rowSquares?: Tensor<'f32'>;
  release(): void;
}

/** The batch's input rows summed per input id ([inputs, d]) and, for each, its row in the loss's
 *  ascending ids (`at`). */
function inputRowsInLoss(rec: Recorder, gpu: Gpu, inputIds: Uint32Array, dInputRows: Tensor<'f32'>, lossIds: Uint32Array, d: number, tableRows: number) {
  const inPlan = planScatter(gpu, inputIds, tableRows);
  const inSum = gpu.empty([Math.max(1, inPlan.numUnique), d], 'f32', 'train:input_grad');
  scatterAddRows(rec, inPlan, dInputRows, d, inSum);
  // Both id lists ascending: each input id's row in the loss's by binary search from the
  // previous one's (≈ 4k inputs against ≈ 410k loss rows at 1M items; a linear walk read them all).
  const at = new Uint32Array(inPlan.numUnique);
  for (let j = 0, u = 0; j < at.length; j++) {
    const id = inPlan.host.uniqueRows[j]!;
    for (let hi = lossIds.length; u < hi;) { const mid = (u + hi) >>> 1; if (lossIds[mid]! < id) u = mid + 1; else hi = mid; }
    if (lossIds[u] !== id) throw new Error(`item gradients: input item ${id} is missing from the loss's rows although it reported covering them. HINT: this is a bug in the gathered loss's plan (planGatheredSlots extraIds)`);
    at[j] = u;
  }
  return { inSum, at, release: () => { inSum.release(); inPlan.release(); } };
}

/** inputIds [L] and dInputRows [L, d]: the batch's input items and their gradient rows. */
export function itemTableGradients(rec: Recorder, gpu: Gpu, inputIds: Uint32Array, dInputRows: Tensor<'f32'>, lossOut: RetrievalLoss, d: number, tableRows: number): ItemGradients {
  const L = inputIds.length;
  if (!lossOut.itemGrads) throw new Error('item gradients: the loss deferred its item gradient (fuseItemUpdate). HINT: use fusedItemUpdate for such a loss.');
  if (lossOut.coversIds) {
    const plan = planDistinct(gpu, lossOut.itemIds, tableRows, lossOut.itemIdsOnDevice);
    const inputs = inputRowsInLoss(rec, gpu, inputIds, dInputRows, lossOut.itemIds, d, tableRows);
    const at = inputs.at;
    const atT = gpu.upload(at.length ? at : new Uint32Array(1), [Math.max(1, at.length)], 'u32', 'train:input_grad_rows');
    // The rows the inputs' gradients join get their squared norms rewritten after the add.
    addRowsAt(rec, inputs.inSum, atT, at, d, lossOut.itemGrads, lossOut.itemGradRowSquares);
    return {
      plan,
      itemGrad: lossOut.itemGrads,
      rowSquares: lossOut.itemGradRowSquares,
      release() {
        atT.release();
        inputs.release();
        plan.release();
      },
    };
  }
  // General path: one scatter over the input rows and the loss's rows (repeats allowed).
  const rows = lossOut.itemIds.length + L;
  const gradRows = gpu.empty([rows, d], 'f32', 'train:item_grad_rows');
  rec.copy(dInputRows, gradRows, L * d * 4);
  rec.copy(lossOut.itemGrads, gradRows, lossOut.itemIds.length * d * 4, 0, L * d * 4);
  const ids = new Uint32Array(rows);
  ids.set(inputIds, 0);
  ids.set(lossOut.itemIds, L);
  const plan = planScatter(gpu, ids, tableRows);
  const itemGrad = gpu.empty([plan.numUnique, d], 'f32', 'train:item_grad');
  scatterAddRows(rec, plan, gradRows, d, itemGrad);
  return {
    plan,
    itemGrad,
    release() {
      [gradRows, itemGrad].forEach((t) => t.release());
      plan.release();
    },
  };
}

/** The item table's update of a step whose loss deferred its item gradient (lossOut.deferred):
 *  recordUpdate records the fused item gradient + row-wise Adam pass (kernels/optim/item_adam)
 *  over the loss's rows with the input rows' gradients added; rowSquares [U] then holds each
 *  row's Σg² (non-finite where a row was left unchanged), for the divergence guard. */
export interface FusedItemUpdate {
  rowSquares: Tensor<'f32'>;
  recordUpdate(rec: Recorder, table: EmbeddingTable, adam: AdamOptions): void;
  release(): void;
}

export function fusedItemUpdate(rec: Recorder, gpu: Gpu, inputIds: Uint32Array, dInputRows: Tensor<'f32'>, lossOut: RetrievalLoss, d: number, tableRows: number): FusedItemUpdate {
  const deferred = lossOut.deferred;
  if (!deferred || !lossOut.coversIds) throw new Error('item gradients: fusedItemUpdate needs a loss that deferred its item gradient and covers the input items. HINT: pass fuseItemUpdate and coverIds to the loss, and check lossOut.deferred.');
  const ids = lossOut.itemIds;
  const U = ids.length;
  const inputs = inputRowsInLoss(rec, gpu, inputIds, dInputRows, ids, d, tableRows);
  // Per item: its table row and 1 + its input row (0: no input gradient joins it).
  const rowsHost = new Uint32Array(2 * U);
  for (let u = 0; u < U; u++) rowsHost[2 * u] = ids[u]!;
  inputs.at.forEach((u, j) => (rowsHost[2 * u + 1] = j + 1));
  const rows = gpu.upload(rowsHost, [U, 2], 'u32', 'train:item_rows');
  const rowSquares = gpu.empty([U], 'f32', 'train:item_grad_sq');
  return {
    rowSquares,
    recordUpdate(rec2, table, adam) {
      itemGradAdam(rec2, table, { ...deferred, rows, inSum: inputs.inSum, tableRows: ids }, rowSquares, adam);
    },
    release() {
      [rows, rowSquares].forEach((t) => t.release());
      inputs.release();
    },
  };
}
