// Full-ranking evaluation over a catalogue streamed from an EmbeddingStore in chunks: the user
// vectors are computed first (one forward per batch of examples, [users, d] on the host), then
// the table is read ONCE, chunk by chunk; each chunk's ranking rows (normalised; raw for
// similarity 'dot', see trainer/eval.ts) are scored against every
// query batch by one matmul and the items beating each target are counted (kernels/rank
// rankTargetsChunk) and summed over chunks. Exact: the sum of per-chunk counts is the rank; no
// [users × items] matrix exists anywhere (the largest buffer is [queryBatch, chunk + queryBatch]).
import type { Gpu, Tensor } from '../../kernels/gpu/index.js';
import { matmul } from '../../kernels/matmul/matmul.js';
import { prepareExclusions, RANK_NON_FINITE, rankTargetsChunk, uploadExclusions } from '../../kernels/rank/rank.js';
import { uploadBatch } from '../../model/batch.js';
import type { Similarity } from '../../model/config.js';
import type { Encoder } from '../../model/encoder.js';
import { batchEvalExamples, BeyondAccuracyAccumulator, MetricAccumulator, type EvalExamples, type ItemPopularity, type MetricResult } from '../data/index.js';
import { listExclusions } from '../eval_top_lists.js';
import type { EmbeddingStore } from './store.js';
import { streamedTopK } from './streamed_topk.js';
import { evalTokenBudget, recordLastTokenVectors } from '../eval.js';

/** Scales each row of `w` ([n, d]) to unit L2 norm in place (as trainer/eval normalisedItems). */
export function normaliseRows(w: Float32Array, d: number): Float32Array {
  const n = w.length / d;
  for (let r = 0; r < n; r++) {
    let s = 0;
    for (let c = 0; c < d; c++) s += w[r * d + c]! ** 2;
    const inv = 1 / Math.max(Math.sqrt(s), 1e-6);
    for (let c = 0; c < d; c++) w[r * d + c]! *= inv;
  }
  return w;
}

/** `w` as ranking scores it: normalised in place for cosine, untouched for dot. */
export function rankingRows(w: Float32Array, d: number, similarity: Similarity = 'cosine'): Float32Array {
  return similarity === 'dot' ? w : normaliseRows(w, d);
}

export interface StreamedEvalOptions {
  maxLen: number;
  /** Rows of the encoder's item table (the cache's slots for the host tier). */
  encoderRows: number;
  /** Maps history item ids to rows of the encoder's table (host tier: makes them resident). */
  mapItems?: (ids: Uint32Array) => Promise<Uint32Array>;
  /** Runs before the table is scanned (host tier: write dirty cache rows back). */
  beforeScan?: () => Promise<unknown>;
  ks?: readonly number[];
  /** Queries per matmul (default 256). */
  queryBatch?: number;
  /** Cap on rows per streamed chunk (default: what the binding limit allows; tests use tiny ones). */
  chunkRows?: number;
  onProgress?: (done: number, total: number) => void;
  /** Training popularity: when given, coverage and popularity bias of every top-`beyondK` list
   *  (trainer/data/beyond_accuracy.ts), from exact streamed top-K lists (one more scan of the
   *  store per `listQueries` examples). */
  popularity?: ItemPopularity;
  beyondK?: number;
  /** Examples per streamed top-K pass (default 1024: chunks of ≥ 32k rows at a 128 MiB binding). */
  listQueries?: number;
  /** The config's `similarity` (default 'cosine'): what the items are ranked by. */
  similarity?: Similarity;
}

/** [count, d] the encoder's output at each example's last history token. */
export async function userVectors(gpu: Gpu, enc: Encoder, ex: EvalExamples, o: StreamedEvalOptions): Promise<Float32Array> {
  const d = enc.items.dim;
  const out = new Float32Array(ex.count * d);
  for (const eb of batchEvalExamples(ex, o.queryBatch ?? 256, evalTokenBudget(gpu, enc))) {
    const items = o.mapItems ? await o.mapItems(eb.items) : eb.items;
    const b = uploadBatch(gpu, { seqOffsets: eb.seqOffsets, items, timestamps: eb.timestamps, nextTimestamps: eb.targetTimestamps }, o.maxLen, o.encoderRows, enc.positionAnchor);
    const rec = gpu.recorder('eval:users');
    const f = enc.forward(rec, b, { train: false, seed: 0 });
    const { last, userVecs: user } = recordLastTokenVectors(rec, gpu, f.out, eb, d);
    await rec.submit();
    out.set(await gpu.read(user), eb.exampleStart * d);
    [last, user].forEach((t) => t.release());
    f.release();
    b.release();
  }
  return out;
}

/** Ranks of each example's target among all store rows (rank.wgsl's rule), streaming the store. */
export async function streamedRanks(gpu: Gpu, users: Float32Array, ex: EvalExamples, store: EmbeddingStore, o: Pick<StreamedEvalOptions, 'queryBatch' | 'chunkRows' | 'onProgress' | 'similarity'> = {}): Promise<Uint32Array> {
  const d = store.dim, U = ex.count;
  const ranks = new Uint32Array(U);
  if (U === 0) return ranks;
  const Qb = Math.min(o.queryBatch ?? 256, U);
  const maxBinding = Math.min(gpu.device.limits.maxStorageBufferBindingSize, gpu.device.limits.maxBufferSize);
  const fit = Math.min(Math.floor(maxBinding / 4 / Qb), Math.floor(maxBinding / 4 / d)) - Qb;
  const chunkRows = Math.max(1, Math.min(fit, o.chunkRows ?? Infinity, store.rows));
  // Per query batch: its user vectors, targets, exclusions and running ranks stay resident.
  interface QB { q0: number; n: number; users: Tensor<'f32'>; targets: Tensor<'u32'>; excl: { offsets: Tensor<'u32'>; ids: Tensor<'u32'> }; ranks: Tensor<'u32'>; targetRows: Float32Array }
  const batches: QB[] = [];
  const owned: Tensor[] = [];
  try {
    for (const eb of batchEvalExamples(ex, Qb)) {
      const n = eb.users.length;
      for (const t of eb.targets) if (t >= store.rows) throw new Error(`eval: target item ${t} is outside the item table (${store.rows} rows). HINT: the model was trained on other data.`);
      const uniq = Uint32Array.from(new Set(eb.targets));
      const rows = await store.read(uniq);
      const at = new Map<number, number>();
      uniq.forEach((id, i) => at.set(id, i));
      const targetRows = new Float32Array(Qb * d); // rows past n stay zero (a short last batch)
      eb.targets.forEach((t, q) => targetRows.set(rows.w.subarray(at.get(t)! * d, (at.get(t)! + 1) * d), q * d));
      rankingRows(targetRows, d, o.similarity);
      const excl = uploadExclusions(gpu, prepareExclusions(eb.targets, { offsets: eb.excludeOffsets, ids: eb.excludeItems }, store.rows));
      const qb: QB = {
        q0: eb.exampleStart, n,
        users: gpu.upload(users.subarray(eb.exampleStart * d, (eb.exampleStart + n) * d), [n, d], 'f32', 'eval:users'),
        targets: gpu.u32(eb.targets, [n], 'eval:targets'),
        excl,
        ranks: gpu.u32(new Uint32Array(n), [n], 'eval:ranks'),
        targetRows,
      };
      owned.push(qb.users, qb.targets, excl.offsets, excl.ids, qb.ranks);
      batches.push(qb);
    }
    let done = 0;
    const host = new Float32Array((chunkRows + Qb) * d);
    // At most one chunk in flight: submit() returns before the GPU runs the work, and every
    // chunk's upload (33 MB at 10M items) is staged in host memory until it does; unthrottled,
    // the scan can run ahead of the GPU (10M-item eval: peak RSS 12.06 → 11.30 GB with this).
    let inFlight: Promise<void> | undefined;
    for await (const blk of store.scan(chunkRows)) {
      const n = blk.ids.length, base = blk.ids[0]!;
      host.set(blk.w);
      rankingRows(host.subarray(0, n * d), d, o.similarity);
      await inFlight;
      for (const qb of batches) {
        // The batch's own target rows go after the chunk's: column n + q scores q's target.
        host.set(qb.targetRows.subarray(0, qb.n * d), n * d);
        const items = gpu.upload(host.subarray(0, (n + qb.n) * d), [n + qb.n, d], 'f32', 'eval:item_chunk');
        const scores = gpu.empty([qb.n, n + qb.n], 'f32', 'eval:chunk_scores');
        const rec = gpu.recorder('eval:chunk');
        matmul(rec, qb.users, items, scores, { m: qb.n, n: n + qb.n, k: d, transB: true });
        rankTargetsChunk(rec, scores, qb.targets, qb.excl.offsets, qb.excl.ids, qb.ranks, { numQueries: qb.n, chunkItems: n, base });
        await rec.submit();
        items.release();
        scores.release();
      }
      inFlight = gpu.sync();
      done += n;
      o.onProgress?.(done, store.rows);
    }
    await inFlight;
    for (const qb of batches) ranks.set(await gpu.read(qb.ranks), qb.q0);
    const bad = ranks.indexOf(RANK_NON_FINITE);
    if (bad >= 0) throw new Error(`eval: example ${bad} (user ${ex.users[bad]}) scores NaN: the model's outputs or item embeddings are not finite, so no rank exists. HINT: the model diverged; retrain with a lower --lr (or --gradClipNorm) from a finite checkpoint.`);
  } finally {
    owned.forEach((t) => t.release());
  }
  return ranks;
}

/** Full-ranking metrics of `ex` with the item table streamed from `store`. */
export async function evaluateStreamed(gpu: Gpu, enc: Encoder, ex: EvalExamples, store: EmbeddingStore, o: StreamedEvalOptions): Promise<MetricResult> {
  const acc = new MetricAccumulator(o.ks);
  const beyond = o.popularity ? new BeyondAccuracyAccumulator(o.popularity, o.beyondK) : undefined;
  const result = (): MetricResult => (beyond ? { ...acc.result(), beyond: beyond.result() } : acc.result());
  if (ex.count === 0) return result();
  const users = await userVectors(gpu, enc, ex, o);
  await o.beforeScan?.();
  for (const r of await streamedRanks(gpu, users, ex, store, o)) acc.add(r);
  if (beyond) await addTopLists(gpu, users, ex, store, beyond, o.listQueries ?? 1024, o.chunkRows, o.similarity);
  return result();
}

/** Each example's exact top-K list (history and the padding id excluded, ties to the smaller id:
 *  the one-matrix path's rule, trainer/eval_top_lists.ts) added to `beyond`, `group` examples per
 *  scan of the store. */
async function addTopLists(gpu: Gpu, users: Float32Array, ex: EvalExamples, store: EmbeddingStore, beyond: BeyondAccuracyAccumulator, group: number, chunkRows?: number, similarity?: Similarity): Promise<void> {
  const d = store.dim, k = beyond.k;
  for (const eb of batchEvalExamples(ex, group)) {
    const Q = eb.users.length;
    const lx = listExclusions(eb);
    const exclude = Array.from({ length: Q }, (_, q) => lx.ids.subarray(lx.offsets[q]!, lx.offsets[q + 1]!));
    const top = await streamedTopK(gpu, users.subarray(eb.exampleStart * d, (eb.exampleStart + Q) * d), store, k, exclude, { chunkRows, similarity });
    for (let q = 0; q < Q; q++) beyond.add(top.ids.subarray(q * k, (q + 1) * k));
  }
}

/** The first `n` examples of `ex` (evaluation on a fixed sample of users; 0 = all). */
export function firstExamples(ex: EvalExamples, n: number): EvalExamples {
  if (n <= 0 || n >= ex.count) return ex;
  const h = ex.historyOffsets[n]!;
  return {
    ...ex,
    count: n,
    users: ex.users.slice(0, n),
    targets: ex.targets.slice(0, n),
    targetTimestamps: ex.targetTimestamps.slice(0, n),
    targetRatings: ex.targetRatings.slice(0, n),
    historyOffsets: ex.historyOffsets.slice(0, n + 1),
    historyItems: ex.historyItems.slice(0, h),
    historyTimestamps: ex.historyTimestamps.slice(0, h),
    historyRatings: ex.historyRatings.slice(0, h),
    targetPositions: ex.targetPositions.slice(0, n),
  };
}
