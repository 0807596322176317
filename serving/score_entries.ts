// One candidate's entry of a /v1/score or /v1/recommend response, from the engine's head outputs.
// A candidate whose outputs are NaN or ±Inf (a broken item embedding, a diverged model) gets a
// per-item `error` (the ErrorResponse shape: error, code, hint) instead of numbers: JSON would
// print NaN as null and a client would read a silent 200. The other candidates are unaffected:
// M-FALCON's mask keeps candidates from seeing each other (kernels/hstu_attention skips masked keys).
import { RATING_OFFSET, TASK_LIKE, TASK_RATING } from '../model/ranking_params.js';
import { NUM_TASKS } from '../model/ranking.js';

export interface ScoreEntry {
  item_id: string;
  p_like?: number;
  rating?: number;
  like_logit?: number;
  error?: { error: string; code: string; hint: string };
}

const sigmoid = (z: number) => 1 / (1 + Math.exp(-z));

/** The entry of candidate j (row j of the [m, NUM_TASKS] outputs). */
export function scoreEntry(itemId: string, scores: Float32Array, j: number): ScoreEntry {
  const z = scores[j * NUM_TASKS + TASK_LIKE]!, r = scores[j * NUM_TASKS + TASK_RATING]!;
  if (!Number.isFinite(z) || !Number.isFinite(r)) {
    return {
      item_id: itemId,
      error: {
        error: `the model's outputs for item ${itemId} are not finite (like logit ${z}, rating ${r}): it cannot be scored.`,
        code: 'non_finite_score',
        hint: "the item's embedding (or the model) holds NaN/Inf: retrain or fix the checkpoint; the other candidates' scores are unaffected.",
      },
    };
  }
  return { item_id: itemId, p_like: sigmoid(z), rating: r + RATING_OFFSET, like_logit: z };
}
