// Sampled-softmax loss on cosine logits (DESIGN §2): for each token with target ≠ 0,
//   logits = [cos(u, e_target), cos(u, e_neg_1..R)] / tau, a negative equal to the target masked out,
//   CE = −log softmax(logits)[0]; loss = mean over tokens with a target (0 when there are none).
// u is already L2-normalised by the model; item embeddings are normalised here (eps 1e-6).
// Similarity 'dot' (config `similarity`): logits = [u·e_target, u·e_neg_1..R] / tau with u and
// the item rows as they are (the model then passes u unnormalised too).
// batch.negativeLogitOffsets (per negative slot) are subtracted from the negatives' logits after
// the 1/tau scale (the log-Q correction of in-batch negatives, model/retrieval_negatives.ts).
import type { RefBatch } from './batch.js';
import * as op from './ops.js';
import { constant, type Tensor } from './tape.js';

export const L2_EPS = 1e-6;

export function sampledSoftmaxLoss(u: Tensor, itemEmb: Tensor, batch: RefBatch, temperature: number, similarity: 'cosine' | 'dot' = 'cosine'): Tensor {
  const rowsOf = (ids: number[]): Tensor => (similarity === 'dot' ? op.gatherRows(itemEmb, ids) : op.l2Normalize(op.gatherRows(itemEmb, ids), L2_EPS));
  const L = u.shape[0]!;
  const R = L > 0 ? batch.negatives.length / L : 0;
  const rows: number[] = [], pos: number[] = [], neg: number[] = [], rep: number[] = [], off: number[] = [];
  for (let t = 0; t < L; t++) {
    const tg = batch.targets[t]!;
    if (tg === 0) continue;
    const p = rows.length;
    rows.push(t);
    pos.push(tg);
    for (let r = 0; r < R; r++) {
      neg.push(batch.negatives[t * R + r]!);
      rep.push(p);
      off.push(batch.negativeLogitOffsets?.[t * R + r] ?? 0);
    }
  }
  const P = rows.length;
  if (P === 0) return op.scale(op.sum(u), 0);
  const keep = new Uint8Array(P * (R + 1));
  for (let p = 0; p < P; p++) {
    keep[p * (R + 1)] = 1;
    for (let r = 0; r < R; r++) keep[p * (R + 1) + 1 + r] = neg[p * R + r] === pos[p] ? 0 : 1;
  }
  const up = op.gatherRows(u, rows);
  const ePos = rowsOf(pos);
  const posLogit = op.reshape(op.sumRows(op.mul(up, ePos)), [P, 1]);
  let logits = posLogit;
  if (R > 0) {
    const eNeg = rowsOf(neg);
    const negLogit = op.reshape(op.sumRows(op.mul(op.gatherRows(up, rep), eNeg)), [P, R]);
    logits = op.concatCols([posLogit, negLogit]);
  }
  let scaled = op.scale(logits, 1 / temperature);
  if (batch.negativeLogitOffsets) {
    const shift = new Float64Array(P * (R + 1));
    for (let p = 0; p < P; p++) for (let r = 0; r < R; r++) shift[p * (R + 1) + 1 + r] = -off[p * R + r]!;
    scaled = op.add(scaled, constant(shift, [P, R + 1]));
  }
  const logp = op.logSoftmaxRows(scaled, keep);
  return op.scale(op.sum(op.sliceCols(logp, 0, 1)), -1 / P);
}
