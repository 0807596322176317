// The top-K recommendation list of every evaluation example, for the beyond-accuracy metrics
// (trainer/data/beyond_accuracy.ts): exact top-K by the evaluation's cosine scores (the user
// vector against the L2-normalised item rows) on the GPU, the user's history and the padding id
// excluded, ties to the smaller id — the rank rule of trainer/data/metrics.ts — so a list holds
// the target exactly when its rank is < K (up to f32 summation order: the top-k kernel computes
// its own dot products). Only [batch, K] ids come back to the host.
import type { Gpu, Recorder, Tensor } from '../kernels/gpu/index.js';
import { topK } from '../kernels/topk/topk.js';
import type { BeyondAccuracyAccumulator, EvalBatch } from './data/index.js';

export interface PendingTopLists {
  /** After the recorder's submit: adds each example's list to `acc`. */
  collect(acc: BeyondAccuracyAccumulator): Promise<void>;
  release(): void;
}

/** History exclusions of a batch plus the padding id 0 per example (CSR). */
export function listExclusions(eb: Pick<EvalBatch, 'excludeOffsets' | 'excludeItems'>): { offsets: Uint32Array; ids: Uint32Array } {
  const Q = eb.excludeOffsets.length - 1;
  const offsets = new Uint32Array(Q + 1);
  const ids = new Uint32Array(eb.excludeItems.length + Q);
  let w = 0;
  for (let q = 0; q < Q; q++) {
    ids[w++] = 0;
    for (let e = eb.excludeOffsets[q]!; e < eb.excludeOffsets[q + 1]!; e++) ids[w++] = eb.excludeItems[e]!;
    offsets[q + 1] = w;
  }
  return { offsets, ids };
}

/** Records the top-k of `userVecs` [Q, d] against `items` [numItems, d] into `rec`. */
export function recordTopLists(rec: Recorder, gpu: Gpu, userVecs: Tensor<'f32'>, items: Tensor<'f32'>, eb: EvalBatch, k: number): PendingTopLists {
  const Q = eb.targets.length;
  const ex = listExclusions(eb);
  const exclOffsets = gpu.u32(ex.offsets, [Q + 1], 'eval:list_excl_offsets');
  const exclIds = gpu.u32(ex.ids, [ex.ids.length], 'eval:list_excl_ids');
  const topIds = gpu.empty([Q, k], 'u32', 'eval:top_ids');
  const topScores = gpu.empty([Q, k], 'f32', 'eval:top_scores');
  topK(rec, { queries: userVecs, items, exclOffsets, exclIds }, k, { topIds, topScores });
  return {
    async collect(acc) {
      const ids = await gpu.read(topIds);
      for (let q = 0; q < Q; q++) acc.add(ids.subarray(q * k, (q + 1) * k));
    },
    release() {
      [exclOffsets, exclIds, topIds, topScores].forEach((t) => t.release());
    },
  };
}
