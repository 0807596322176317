// The top-K recommendation list of every evaluation example, for the beyond-accuracy metrics
// (trainer/data/beyond_accuracy.ts): exact top-K by the evaluation's scores (the user vector
// against the item rows evaluation ranks by: L2-normalised, or raw for similarity 'dot') on the GPU, the user's history and the padding id
// excluded, ties to the smaller id — the rank rule of trainer/data/metrics.ts — so a list holds
// the target exactly when its rank is < K (up to f32 summation order: the top-k kernel computes
// its own dot products). Only [batch, K] ids come back to the host.
// On CPU adapters (lavapipe) the selection kernels cost more than the whole rest of an
// evaluation (Amazon Beauty: 12k items, 22k users, ~3x the ranks-only time), while reading the
// batch's score matrix back is a memcpy: there `readTopLists` selects the same lists on the host
// from the evaluation's own scores (hostTopLists, same order rule).
import type { Gpu, Recorder, Tensor } from '../kernels/gpu/index.js';
import { topK } from '../kernels/topk/topk.js';
import { EMPTY_SLOT, type BeyondAccuracyAccumulator, type EvalBatch } from './data/index.js';

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

/**
 * Top-k of every row of `scores` [Q, n] (row-major), best first, ties to the smaller id, the ids
 * of `excl` (CSR per row; ids ≥ n ignored) and NaN scores never returned, short rows padded with
 * EMPTY_SLOT: the rule of the topk kernel, on the host. Returns [Q, k] ids.
 */
export function hostTopLists(scores: Float32Array, Q: number, n: number, excl: { offsets: Uint32Array; ids: Uint32Array }, k: number): Uint32Array {
  if (scores.length < Q * n) throw new Error(`hostTopLists: expected ≥ ${Q}·${n} scores, got ${scores.length}`);
  const out = new Uint32Array(Q * k).fill(EMPTY_SLOT);
  const topS = new Float64Array(k);
  const stamp = new Uint32Array(n); // stamp[id] = q + 1 when id is excluded for row q
  for (let q = 0; q < Q; q++) {
    for (let e = excl.offsets[q]!; e < excl.offsets[q + 1]!; e++) {
      const id = excl.ids[e]!;
      if (id < n) stamp[id] = q + 1;
    }
    const row = q * n, ids = out.subarray(q * k, (q + 1) * k);
    let m = 0;
    for (let i = 0; i < n; i++) {
      const s = scores[row + i]!;
      // Ascending ids: a later item equal to the k-th best loses the tie, so only strictly better ones enter.
      if (s !== s || (m === k && !(s > topS[k - 1]!)) || stamp[i] === q + 1) continue;
      let j = m < k ? m++ : k - 1;
      while (j > 0 && topS[j - 1]! < s) {
        topS[j] = topS[j - 1]!;
        ids[j] = ids[j - 1]!;
        j--;
      }
      topS[j] = s;
      ids[j] = i;
    }
  }
  return out;
}

/** The top lists of a batch selected on the host from its [Q, numItems] score matrix (read back
 *  after the recorder's submit; `scores` must stay alive until collect has run). */
export function readTopLists(gpu: Gpu, scores: Tensor<'f32'>, eb: EvalBatch, k: number): PendingTopLists {
  const [Q, n] = scores.shape as [number, number];
  return {
    async collect(acc) {
      const ids = hostTopLists(await gpu.read(scores), Q, n, listExclusions(eb), k);
      for (let q = 0; q < Q; q++) acc.add(ids.subarray(q * k, (q + 1) * k));
    },
    release() {},
  };
}
