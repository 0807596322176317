// The cost rule that picks the per-position retrieval loss's path (catalogue GEMMs or gathered
// rows), as a pure function of the config, the device class and the table size, so both the
// trainer (model/retrieval_loss.ts lossPathFor) and the planner (model/plan/plan.ts) apply the
// same rule. See lossPathFor for the derivation of GATHER_COST.
import type { Config } from './config.js';
import { negativesPerPosition } from './retrieval_negatives.js';

export type LossPath = 'catalogue' | 'gathered';

/** Multiply-adds of GEMM time one gathered element costs (measured on lavapipe: BENCHMARKS.md,
 *  "Gathered sampled softmax"; GPUs gather cheaply). */
export const GATHER_COST: Record<'cpu' | 'gpu', number> = { cpu: 6, gpu: 1 };

/** The path the cost rule picks (no env override): the config's sampledSoftmaxPath when forced,
 *  gathered with in-batch negatives, else gathered once items > GATHER_COST·(2/3)·(R+1). */
export function perPositionLossPath(c: Config, deviceClass: 'cpu' | 'gpu', tableRows: number): LossPath {
  if (c.sampledSoftmaxPath !== 'auto') return c.sampledSoftmaxPath;
  if (c.inBatchNegatives > 0) return 'gathered';
  const K = negativesPerPosition(c) + 1;
  return tableRows - 1 > GATHER_COST[deviceClass] * (2 / 3) * K ? 'gathered' : 'catalogue';
}
