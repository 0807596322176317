// Parameter layout of the ranking model (DESIGN §2 "Ranking"): the encoder's tensors (paramLayout:
// HSTU or SASRec, unchanged names and shapes) plus the action embedding and the MLP head. The GPU
// model (model/ranking.ts), the float64 reference (model/reference/ranking.ts) and checkpoints use
// exactly these names, shapes and values. Matrices are row-major and act on row vectors (y = x·W).
//
//   action_emb [numActions + 1, d]   row a = action id a; row 0 = "no action" (candidates): zero,
//                                    never read into a sum with a non-zero value, never updated
//   head.w1    [d, headHidden]       head.b1 [headHidden]
//   head.w2    [headHidden, T]       head.b2 [T]         T = RANKING_TASKS.length (one logit per task)
import { type Config } from './config.js';
import { type ParamSpec, initParams, initSpecs, paramLayout } from './params.js';

/** The head's outputs, in column order: `like` (logit of rating ≥ likeThreshold, BCE) and
 *  `rating` (regression, MSE): predicted rating = output + RATING_OFFSET. */
export const RANKING_TASKS = ['like', 'rating'] as const;
export type RankingTask = (typeof RANKING_TASKS)[number];
/** Column of each task in the head's output. */
export const TASK_LIKE = 0;
export const TASK_RATING = 1;
/** The rating head predicts rating − RATING_OFFSET (a fixed centre so a zero output means a
 *  middling rating on a 1–5 scale; the trainer also initialises head.b2 from the training data). */
export const RATING_OFFSET = 3;
/** Action id of candidate tokens (no action: their label is what we predict). */
export const NO_ACTION = 0;

/** The ranking tensors added to the encoder's (in a fixed order). */
export function rankingExtraLayout(c: Config): ParamSpec[] {
  const d = c.dim, hid = c.headHidden, T = RANKING_TASKS.length;
  return [
    { name: 'action_emb', shape: [c.numActions + 1, d], init: { kind: 'truncnormal', std: Math.sqrt(1 / d) }, zeroRow0: true },
    { name: 'head.w1', shape: [d, hid], init: { kind: 'xavier', fanIn: d, fanOut: hid } },
    { name: 'head.b1', shape: [hid], init: { kind: 'zeros' } },
    { name: 'head.w2', shape: [hid, T], init: { kind: 'xavier', fanIn: hid, fanOut: T } },
    { name: 'head.b2', shape: [T], init: { kind: 'zeros' } },
  ];
}

/** Every tensor of the ranking model: paramLayout (encoder) then rankingExtraLayout. */
export function rankingParamLayout(c: Config, numItems: number): ParamSpec[] {
  return [...paramLayout(c, numItems), ...rankingExtraLayout(c)];
}

/** Seeded initial values of every ranking tensor. The encoder's values equal initParams' (each
 *  tensor has its own seeded stream), so a retrieval and a ranking model of one config share them. */
export function initRankingParams(c: Config, numItems: number, seed: number = c.seed): Map<string, Float32Array> {
  const out = initParams(c, numItems, seed);
  for (const [name, values] of initSpecs(rankingExtraLayout(c), seed)) out.set(name, values);
  return out;
}
