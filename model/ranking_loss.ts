// The ranking loss on the host (float64): the head's outputs of the candidate rows are read back
// (a few KB per step), the loss and its gradient computed here and uploaded for the backward.
//   loss = mean_c [softplus(y_c,like) − like_c·y_c,like] + w · mean_c (y_c,rating + RATING_OFFSET − rating_c)²
// A separate kernel would save one sync per step, which on this stack costs ~0.1 ms against
// seconds of encoder work.
import { RATING_OFFSET, TASK_LIKE, TASK_RATING } from './ranking_params.js';

export interface RankingLossResult {
  /** Total loss (BCE + w·MSE). */
  loss: number;
  bce: number;
  mse: number;
  /** [rows, T] gradient of the loss w.r.t. every head output (zero on non-candidate rows). */
  dLogits: Float32Array;
}

/**
 * logits [rows, T] of every token; candidateRows the rows scored; likes/ratings per candidate.
 * Returns the mean loss over candidates (0 with no candidates) and dLoss/dLogits.
 */
export function rankingLossHost(logits: ArrayLike<number>, T: number, candidateRows: ArrayLike<number>, likes: ArrayLike<number>, ratings: ArrayLike<number>, ratingWeight: number): RankingLossResult {
  const C = candidateRows.length;
  if (likes.length !== C || ratings.length !== C) throw new Error(`ranking loss: expected ${C} likes and ratings (one per candidate), got ${likes.length} and ${ratings.length}`);
  const dLogits = new Float32Array(logits.length);
  let bce = 0, mse = 0;
  for (let c = 0; c < C; c++) {
    const row = candidateRows[c]!;
    const z = logits[row * T + TASK_LIKE]!, e = logits[row * T + TASK_RATING]! + RATING_OFFSET - ratings[c]!;
    if (!Number.isFinite(z) || !Number.isFinite(e)) throw new Error(`ranking loss: non-finite head output at row ${row} (${z}, ${e}). HINT: lower --lr.`);
    bce += Math.max(z, 0) + Math.log1p(Math.exp(-Math.abs(z))) - likes[c]! * z;
    mse += e * e;
    dLogits[row * T + TASK_LIKE] = (1 / (1 + Math.exp(-z)) - likes[c]!) / C;
    dLogits[row * T + TASK_RATING] = (2 * ratingWeight * e) / C;
  }
  if (C === 0) return { loss: 0, bce: 0, mse: 0, dLogits };
  return { loss: bce / C + (ratingWeight * mse) / C, bce: bce / C, mse: mse / C, dLogits };
}
