// Input-embedding plumbing shared by HSTU and SASRec: position rows, x0 = items·√d + positions,
// and the position-embedding gradient.
import type { Gpu, Recorder, Tensor } from '../kernels/gpu/index.js';
import { axpby, dropout, fill, scale } from '../kernels/elementwise/elementwise.js';
import { gatherDense } from '../kernels/embedding/dense_gather.js';
import { gatherRows, planScatter, scatterAddRows, type EmbeddingTable, type ScatterPlan } from '../kernels/embedding/embedding.js';
import type { GpuBatch } from './batch.js';

export { gatherDense };

/** y = a·s + b. */
export function scaleAdd(rec: Recorder, a: Tensor<'f32'>, s: number, b: Tensor<'f32'>, y: Tensor<'f32'>): void {
  axpby(rec, s, a, 1, b, y);
}

/** posGrad [N, d] = Σ over tokens of dEmb rows by position. Every position between the batch's
 *  lowest and highest occurs (anchored at the start: 0..U−1, every position below the longest
 *  sequence; at the end: N−U..N−1, every one from the longest's first token on), so the scatter's
 *  unique rows are one contiguous run u0..u0+U−1. Returns the plan (and any scratch), to be
 *  released after the submit. */
export function scatterPositions(rec: Recorder, gpu: Gpu, b: GpuBatch, dEmb: Tensor<'f32'>, posGrad: Tensor<'f32'>, N: number, d: number): ScatterPlan {
  fill(rec, posGrad, 0);
  const plan = planScatter(gpu, b.hostPositions, N);
  const u = plan.host.uniqueRows;
  const u0 = u.length > 0 ? u[0]! : 0;
  if (u.length > 0 && u[u.length - 1] !== u0 + u.length - 1) throw new Error(`internal: positions are not contiguous (${u0}..${u[u.length - 1]}, ${u.length} distinct)`);
  if (u0 === 0) {
    // The scatter writes row u of its output for unique row u: posGrad's own rows.
    scatterAddRows(rec, plan, dEmb, d, posGrad);
    return plan;
  }
  // End-anchored: the sums land in a [U, d] scratch, copied to posGrad's rows u0.. (the other
  // rows stay zero from the fill).
  const rows = gpu.empty([u.length, d], 'f32', 'embedding:pos_grad_rows');
  scatterAddRows(rec, plan, dEmb, d, rows);
  rec.copy(rows, posGrad, u.length * d * 4, 0, u0 * d * 4);
  return { ...plan, release() { plan.release(); rows.release(); } };
}

/** x0 = Dropout(item_emb[items]·√d + pos_emb[p] [+ b.extraInput]), shared by HSTU and SASRec.
 *  `alloc` makes [L, d] tensors the caller owns and releases. The gradient w.r.t. extraInput
 *  equals dItemRows / √d (see embeddingBackward). */
export function embeddingForward(
  rec: Recorder,
  b: GpuBatch,
  items: EmbeddingTable,
  posEmb: Tensor<'f32'>,
  o: { dropout: number; seed: number; d: number; alloc: (label: string) => Tensor<'f32'> },
): Tensor<'f32'> {
  const itemRows = o.alloc('item_rows');
  const posRows = o.alloc('pos_rows');
  const emb = o.alloc('emb');
  gatherRows(rec, items, b.items, itemRows, b.L);
  gatherDense(rec, posEmb, b.positions, posRows, b.L, o.d);
  scaleAdd(rec, itemRows, Math.sqrt(o.d), posRows, emb);
  let sum = emb;
  if (b.extraInput) {
    sum = o.alloc('emb_extra');
    axpby(rec, 1, emb, 1, b.extraInput, sum);
  }
  if (o.dropout === 0) return sum;
  const x = o.alloc('emb_dropout');
  dropout(rec, sum, x, o.dropout, o.seed);
  return x;
}

/** Backward of x0 = Dropout(item_rows·√d + pos_rows), shared by HSTU and SASRec: writes the
 *  position-embedding gradient and returns the gradient w.r.t. the gathered item rows. `alloc`
 *  makes tensors the caller releases; the returned release() frees the position scatter plan. */
export function embeddingBackward(
  rec: Recorder,
  gpu: Gpu,
  b: GpuBatch,
  dx0: Tensor<'f32'>,
  o: { dropout: number; seed: number; posGrad: Tensor<'f32'>; N: number; d: number; alloc: (label: string) => Tensor<'f32'> },
): { dItemRows: Tensor<'f32'>; release(): void } {
  let dEmb = dx0;
  if (o.dropout > 0) {
    dEmb = o.alloc('demb');
    dropout(rec, dx0, dEmb, o.dropout, o.seed);
  }
  const posPlan = scatterPositions(rec, gpu, b, dEmb, o.posGrad, o.N, o.d);
  const dItemRows = o.alloc('ditem_rows');
  scale(rec, dEmb, Math.sqrt(o.d), dItemRows);
  return { dItemRows, release: () => posPlan.release() };
}
