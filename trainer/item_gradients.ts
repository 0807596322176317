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
import type { Gpu, Recorder, Tensor } from '../kernels/gpu/index.js';
import { addRowsAt, planDistinct, planScatter, scatterAddRows, type ScatterPlan } from '../kernels/embedding/embedding.js';
import type { RetrievalLoss } from '../model/retrieval_loss.js';

export interface ItemGradients {
  /** Distinct rows touched (plan.host.uniqueRows ascending) and their summed gradients. */
  plan: ScatterPlan;
  itemGrad: Tensor<'f32'>;
  /** [plan.numUnique] Σ of each itemGrad row's squares, when the loss provided them (else absent:
   *  the divergence guard then sums the squares of itemGrad itself). */
  rowSquares?: Tensor<'f32'>;
  release(): void;
}

/** inputIds [L] and dInputRows [L, d]: the batch's input items and their gradient rows. */
export function itemTableGradients(rec: Recorder, gpu: Gpu, inputIds: Uint32Array, dInputRows: Tensor<'f32'>, lossOut: RetrievalLoss, d: number, tableRows: number): ItemGradients {
  const L = inputIds.length;
  if (lossOut.coversIds) {
    const plan = planDistinct(gpu, lossOut.itemIds, tableRows, lossOut.itemIdsOnDevice);
    const inPlan = planScatter(gpu, inputIds, tableRows);
    const inSum = gpu.empty([Math.max(1, inPlan.numUnique), d], 'f32', 'train:input_grad');
    scatterAddRows(rec, inPlan, dInputRows, d, inSum);
    // Both id lists ascending: each input id's row in the loss's by binary search from the
    // previous one's (≈ 4k inputs against ≈ 410k loss rows at 1M items; a linear walk read them all).
    const at = new Uint32Array(inPlan.numUnique);
    const ids = lossOut.itemIds;
    for (let j = 0, u = 0; j < at.length; j++) {
      const id = inPlan.host.uniqueRows[j]!;
      for (let hi = ids.length; u < hi;) { const mid = (u + hi) >>> 1; if (ids[mid]! < id) u = mid + 1; else hi = mid; }
      if (ids[u] !== id) throw new Error(`item gradients: input item ${id} is missing from the loss's rows although it reported covering them. HINT: this is a bug in the gathered loss's plan (planGatheredSlots extraIds)`);
      at[j] = u;
    }
    const atT = gpu.upload(at.length ? at : new Uint32Array(1), [Math.max(1, at.length)], 'u32', 'train:input_grad_rows');
    // The rows the inputs' gradients join get their squared norms rewritten after the add.
    addRowsAt(rec, inSum, atT, at, d, lossOut.itemGrads, lossOut.itemGradRowSquares);
    return {
      plan,
      itemGrad: lossOut.itemGrads,
      rowSquares: lossOut.itemGradRowSquares,
      release() {
        [inSum, atT].forEach((t) => t.release());
        [plan, inPlan].forEach((p) => p.release());
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
