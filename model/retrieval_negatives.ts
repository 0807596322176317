// Which negatives a retrieval step scores, and with what logit correction (DESIGN §2). Item ids
// are table rows ≥ 1 (0 is padding); N = tableRows − 1 real items.
//   uniform (config numNegatives = Ru ≥ 1): every position draws Ru ids uniformly from 1..N
//     (kernels/sampled_softmax/negatives.ts), or, with negativeSampling 'shared', one draw of Ru
//     ids serves the whole batch.
//   in-batch (config inBatchNegatives = Rb ≥ 0, per-position only): every position also draws Rb
//     of the batch's targets (uniformly over the T positions that have one, so an item comes up
//     with probability count_b(i) / T). A row's negatives are then a mix whose per-draw
//     probability is Q(i) = (Ru/R)·(1/N) + (Rb/R)·count_b(i)/T (R = Ru + Rb), and popular items
//     are over-drawn. The log-Q correction (Yi et al. 2019, "Sampling-bias-corrected neural
//     modeling") subtracts log Q(i) from negative i's logit; we subtract log(N·Q(i)), i.e. relative
//     to uniform draws (a constant shift that keeps the uncorrected default's scale: with Rb = 0,
//     N·Q = 1 and the offset is 0). The positive's logit is not corrected: it is the label, not a
//     draw (as in sampled-softmax importance sampling, Bengio & Senécal 2008). The offset is
//     subtracted from the logit after its 1/τ scale, so it holds for cosine and dot logits alike
//     (config `similarity`): log Q is a correction of the sampler, not of the score.
import { sampleNegativeIds, samplePoolIndices, sharedNegativeIds } from '../kernels/sampled_softmax/negatives.js';
import type { Config } from './config.js';

export const stepSeed = (c: Config, step: number): number => (c.seed ^ Math.imul(step + 1, 0x27d4eb2d)) >>> 0;

/** Negatives per position: numNegatives uniform + inBatchNegatives from the batch. */
export function negativesPerPosition(c: Config): number {
  return c.numNegatives + (c.negativeSampling === 'per-position' ? c.inBatchNegatives : 0);
}

/** The step's shared negatives: uniform over the real items 1..tableRows−1 (never padding 0). */
export function batchNegatives(c: Config, step: number, tableRows: number): Uint32Array {
  return sharedNegativeIds(stepSeed(c, step), c.numNegatives, tableRows - 1).map((x) => x + 1);
}

export interface StepNegatives {
  /** [L, perRow] item ids, row-major: the uniform draws first, then the in-batch ones. */
  ids: Uint32Array;
  perRow: number;
  /** log(N·Q(id)) to subtract from a negative's logit; absent when every draw is uniform. */
  logitOffset?: (id: number) => number;
}

/** Every position's negatives as the step draws them (shared: the batch's draw repeated). The
 *  loss uses them, and the float64 reference checks against them. `targets` ([≥ L], 0 = no
 *  target) are needed for in-batch negatives. */
export function drawNegatives(c: Config, step: number, L: number, tableRows: number, targets?: ArrayLike<number>): StepNegatives {
  const Ru = c.numNegatives;
  if (c.negativeSampling === 'shared') {
    const neg = batchNegatives(c, step, tableRows);
    return { ids: Uint32Array.from({ length: L * Ru }, (_, i) => neg[i % Ru]!), perRow: Ru };
  }
  const N = tableRows - 1;
  const uniform = sampleNegativeIds(L, Ru, N, stepSeed(c, step));
  for (let i = 0; i < uniform.length; i++) uniform[i]! += 1;
  const Rb = c.inBatchNegatives;
  if (Rb === 0) return { ids: uniform, perRow: Ru };
  if (!targets || targets.length < L) throw new Error(`in-batch negatives: expected the batch's ${L} targets, got ${targets?.length ?? 'none'}. HINT: pass targets to drawNegatives.`);
  const pool: number[] = [];
  const counts = new Map<number, number>();
  for (let r = 0; r < L; r++) {
    const t = targets[r]!;
    if (t === 0) continue;
    pool.push(t);
    counts.set(t, (counts.get(t) ?? 0) + 1);
  }
  const R = Ru + Rb;
  const T = pool.length;
  const picks = samplePoolIndices(L, Rb, Math.max(T, 1), stepSeed(c, step));
  const ids = new Uint32Array(L * R);
  for (let r = 0; r < L; r++) {
    ids.set(uniform.subarray(r * Ru, (r + 1) * Ru), r * R);
    // With no targets in the batch no row has a loss: any valid id will do.
    for (let j = 0; j < Rb; j++) ids[r * R + Ru + j] = T > 0 ? pool[picks[r * Rb + j]!]! : 1;
  }
  const base = Ru / R;
  const logitOffset = (id: number) => Math.log(base + (T > 0 ? ((Rb / R) * N * (counts.get(id) ?? 0)) / T : 0));
  return { ids, perRow: R, logitOffset };
}

/** The ids of drawNegatives (kept for callers that need only them). */
export function positionNegatives(c: Config, step: number, L: number, tableRows: number, targets?: ArrayLike<number>): Uint32Array {
  return drawNegatives(c, step, L, tableRows, targets).ids;
}
