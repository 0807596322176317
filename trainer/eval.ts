// Full-ranking retrieval evaluation on the GPU: every example's target is ranked against ALL
// items by cosine (the user's output vs L2-normalised item embeddings), or with similarity 'dot'
// by u·e over the raw item rows (the loss's logit; the user's norm changes no ranking, so u is
// never normalised), with the user's other history items excluded (history filtering). Metrics:
// HR@K, NDCG@K, MRR (trainer/data/metrics).
import type { Gpu, Recorder, Tensor } from '../kernels/gpu/index.js';
import { matmul } from '../kernels/matmul/matmul.js';
import { gatherDense } from '../kernels/embedding/dense_gather.js';
import { prepareExclusions, RANK_NON_FINITE, rankTargets, uploadExclusions } from '../kernels/rank/rank.js';
import { uploadBatch } from '../model/batch.js';
import type { Similarity } from '../model/config.js';
import type { Encoder } from '../model/encoder.js';
import { batchEvalExamples, BeyondAccuracyAccumulator, MetricAccumulator, type EvalBatch, type EvalExamples, type ItemPopularity, type MetricResult } from './data/index.js';
import { readTopLists, recordTopLists } from './eval_top_lists.js';

/** Item table rows L2-normalised on the CPU (done once per evaluation; rows are few and small). */
export async function normalisedItems(enc: Encoder): Promise<Float32Array> {
  const w = await enc.items.read('w');
  const d = enc.items.dim;
  for (let r = 0; r < enc.items.rows; r++) {
    let s = 0;
    for (let c = 0; c < d; c++) s += w[r * d + c]! ** 2;
    const inv = 1 / Math.max(Math.sqrt(s), 1e-6);
    for (let c = 0; c < d; c++) w[r * d + c]! *= inv;
  }
  return w;
}

/** The item rows ranking scores the user vector against: L2-normalised for cosine, the raw rows
 *  for dot (u·e, so an item's norm counts, as in the loss). */
export async function rankingItems(enc: Encoder, similarity: Similarity = 'cosine'): Promise<Float32Array> {
  return similarity === 'dot' ? enc.items.read('w') : normalisedItems(enc);
}

/** Most history tokens one evaluation batch may hold: the encoder's widest [L, ·] activation
 *  must fit one storage binding (256 users of 2,048 tokens at d = 64 would not). */
export function evalTokenBudget(gpu: Gpu, enc: Pick<Encoder, 'tokenWidth'>): number {
  const limit = Math.min(gpu.device.limits.maxStorageBufferBindingSize, gpu.device.limits.maxBufferSize);
  return Math.max(1, Math.floor(limit / 4 / enc.tokenWidth));
}

/** Records the gather of each example's last history token from the encoder's output `out`
 *  ([tokens, d]) into `userVecs` [Q, d] (the user vector both evaluation paths score). */
export function recordLastTokenVectors(rec: Recorder, gpu: Gpu, out: Tensor<'f32'>, eb: Pick<EvalBatch, 'seqOffsets' | 'exampleStart'>, d: number): { last: Tensor<'u32'>; userVecs: Tensor<'f32'> } {
  const Q = eb.seqOffsets.length - 1;
  const lastIdx = new Uint32Array(Q);
  for (let q = 0; q < Q; q++) {
    if (eb.seqOffsets[q + 1] === eb.seqOffsets[q]) throw new Error(`eval: example ${eb.exampleStart + q} has an empty history`);
    lastIdx[q] = eb.seqOffsets[q + 1]! - 1;
  }
  const last = gpu.u32(lastIdx, [Q], 'eval:last');
  const userVecs = gpu.empty([Q, d], 'f32', 'eval:user');
  gatherDense(rec, out, last, userVecs, Q, d);
  return { last, userVecs };
}

export async function evaluateRetrieval(
  gpu: Gpu,
  enc: Encoder,
  examples: EvalExamples,
  o: {
    maxLen: number;
    ks?: readonly number[];
    onProgress?: (done: number, total: number) => void;
    /** Training popularity: when given, coverage and popularity bias of every top-`beyondK` list
     *  are computed too (MetricResult.beyond; trainer/data/beyond_accuracy.ts). */
    popularity?: ItemPopularity;
    beyondK?: number;
    /** Cap on history tokens per batch below evalTokenBudget (tests use tiny ones). */
    maxTokens?: number;
    /** Where the top lists are selected: 'device' (the topk kernel) or 'host' (from the read-back
     *  score matrix); default host on CPU adapters, device on GPUs (eval_top_lists.ts). */
    topLists?: 'device' | 'host';
    /** The config's `similarity` (default 'cosine'): what the items are ranked by. */
    similarity?: Similarity;
  },
): Promise<MetricResult> {
  const numItems = enc.items.rows;
  const d = enc.items.dim;
  const acc = new MetricAccumulator(o.ks);
  const beyond = o.popularity ? new BeyondAccuracyAccumulator(o.popularity, o.beyondK) : undefined;
  const result = (): MetricResult => (beyond ? { ...acc.result(), beyond: beyond.result() } : acc.result());
  if (examples.count === 0) return result();
  const itemsHost = await rankingItems(enc, o.similarity);
  const items = gpu.upload(itemsHost, [numItems, d], 'f32', 'eval:items');
  // Keep the score matrix of one batch within a storage binding.
  const maxBinding = gpu.device.limits.maxStorageBufferBindingSize;
  const batchSize = Math.max(1, Math.min(256, Math.floor(maxBinding / 4 / numItems)));
  try {
    for (const eb of batchEvalExamples(examples, batchSize, Math.min(o.maxTokens ?? Infinity, evalTokenBudget(gpu, enc)))) {
      const Q = eb.users.length;
      const b = uploadBatch(gpu, { seqOffsets: eb.seqOffsets, items: eb.items, timestamps: eb.timestamps, nextTimestamps: eb.targetTimestamps }, o.maxLen, numItems, enc.positionAnchor);
      const rec = gpu.recorder('eval');
      const f = enc.forward(rec, b, { train: false, seed: 0 });
      const { last, userVecs } = recordLastTokenVectors(rec, gpu, f.out, eb, d);
      const scores = gpu.empty([Q, numItems], 'f32', 'eval:scores');
      matmul(rec, userVecs, items, scores, { m: Q, n: numItems, k: d, transB: true });
      const excl = uploadExclusions(gpu, prepareExclusions(eb.targets, { offsets: eb.excludeOffsets, ids: eb.excludeItems }, numItems));
      const targets = gpu.u32(eb.targets, [Q], 'eval:targets');
      const ranks = gpu.empty([Q], 'u32', 'eval:ranks');
      rankTargets(rec, scores, targets, excl.offsets, excl.ids, ranks, { numQueries: Q, numItems });
      const onHost = (o.topLists ?? (gpu.deviceClass === 'cpu' ? 'host' : 'device')) === 'host';
      const lists = beyond && (onHost ? readTopLists(gpu, scores, eb, beyond.k) : recordTopLists(rec, gpu, userVecs, items, eb, beyond.k));
      await rec.submit();
      if (lists) {
        await lists.collect(beyond!);
        lists.release();
      }
      const r = await gpu.read(ranks);
      r.forEach((rank, q) => {
        if (rank === RANK_NON_FINITE) throw new Error(`eval: example ${eb.exampleStart + q} (user ${eb.users[q]}) scores NaN: the model's outputs or item embeddings are not finite, so no rank exists. HINT: the model diverged; retrain with a lower --lr (or --gradClipNorm) from a finite checkpoint.`);
        acc.add(rank);
      });
      [last, userVecs, scores, excl.offsets, excl.ids, targets, ranks].forEach((t) => t.release());
      f.release();
      b.release();
      o.onProgress?.(eb.exampleStart + Q, examples.count);
    }
  } finally {
    items.release();
  }
  return result();
}
