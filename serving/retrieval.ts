// The retrieval stage of /v1/recommend: a retrieval checkpoint's encoder turns the history into a
// user vector (its last token's output), and exact top-K' by cosine over the whole catalogue
// (kernels/topk; item rows L2-normalised once at load) with the history's items excluded; for a
// checkpoint trained with similarity 'dot', by u·e over the raw item rows (as its loss scored).
import type { Gpu, Tensor } from '../kernels/gpu/index.js';
import { gatherDense } from '../kernels/embedding/dense_gather.js';
import { topK, PAD_ID } from '../kernels/topk/topk.js';
import { uploadBatch } from '../model/batch.js';
import { applyOverrides, defaultConfig, type Config } from '../model/config.js';
import { createEncoder, type Encoder } from '../model/encoder.js';
import { paramLayout } from '../model/params.js';
import { loadCheckpoint, type CheckpointData } from '../trainer/checkpoint.js';
import { checkShapes } from '../trainer/checkpoint_validate.js';
import { rankingItems } from '../trainer/eval.js';
import { GpuLock } from './batcher.js';
import { RequestError } from './errors.js';

import { HostTier, createHostItemStore } from '../trainer/store/host_tier.js';
import { itemRowsRef, restoreItemRows } from '../trainer/store/item_checkpoint.js';
import { fitsOneBuffer } from '../trainer/store/train_eval.js';
import { normalisedCopy, streamedTopK, type NormalisedChunks } from '../trainer/store/streamed_topk.js';

/** Catalogues over one device buffer (or host-tier checkpoints): the item table in a host store
 *  behind a device cache, and top-K streamed over normalised host chunks (trainer/store). */
interface StreamedItems {
  tier: HostTier;
  chunks: NormalisedChunks;
}

export class Retriever {
  private constructor(
    readonly gpu: Gpu,
    readonly config: Config,
    readonly encoder: Encoder,
    readonly itemRawIds: string[],
    private readonly items: Tensor<'f32'> | undefined,
    private readonly lock: GpuLock,
    private readonly streamed?: StreamedItems,
  ) {}

  static async load(gpu: Gpu, source: string | CheckpointData, lock = new GpuLock()): Promise<Retriever> {
    const where = typeof source === 'string' ? source : 'retrieval checkpoint';
    const ck = typeof source === 'string' ? loadCheckpoint(source) : source;
    if (ck.task !== 'retrieval') throw new Error(`${where}: holds a '${ck.task}' model, not a retrieval model. HINT: pass a ranking checkpoint as --ranking and a retrieval one as --retrieval.`);
    const config = applyOverrides(defaultConfig, ck.config, ` in ${where}`);
    checkShapes(ck, where);
    const numItems = ck.itemRawIds.length - 1;
    const blobs = new Map(ck.params.map((b) => [b.name, b.data as Float32Array]));
    if (itemRowsRef(ck) || !fitsOneBuffer(gpu, ck.itemRawIds.length, config.dim)) return Retriever.loadStreamed(gpu, ck, config, blobs, where, lock);
    for (const spec of paramLayout(config, numItems)) {
      if (!blobs.has(spec.name)) throw new Error(`${where}: lacks tensor ${spec.name}. HINT: the checkpoint was written for another config or an older version.`);
      const n = spec.shape.reduce((a, x) => a * x, 1), got = blobs.get(spec.name)!.length;
      if (got !== n) throw new Error(`${where}: tensor ${spec.name} holds ${got} values, its config needs ${n} ([${spec.shape.join(', ')}]). HINT: the checkpoint's config and tensors disagree (damaged or edited file); use another checkpoint.`);
    }
    const encoder = await createEncoder(gpu, config, ck.itemRawIds.length, blobs);
    const host = await rankingItems(encoder, config.similarity);
    const items = gpu.upload(host, [ck.itemRawIds.length, config.dim], 'f32', 'retrieval:items_ranking');
    return new Retriever(gpu, config, encoder, ck.itemRawIds, items, lock);
  }

  private static async loadStreamed(gpu: Gpu, ck: CheckpointData, config: Config, blobs: Map<string, Float32Array>, where: string, lock: GpuLock): Promise<Retriever> {
    const ref = itemRowsRef(ck);
    const host = createHostItemStore({ ...config, embeddingBf16: ref ? ref.storage === 'bf16' : config.embeddingBf16 }, ck.itemRawIds.length, { restoring: true });
    await restoreItemRows(ck, where, host.store);
    blobs.set('item_emb', new Float32Array(host.cacheRows * config.dim));
    const encoder = await createEncoder(gpu, config, host.cacheRows, blobs);
    const tier = await HostTier.attach(host.store, encoder);
    return new Retriever(gpu, config, encoder, ck.itemRawIds, undefined, lock, { tier, chunks: await normalisedCopy(host.store, undefined, config.similarity) });
  }

  get maxHistory(): number {
    return this.config.maxLen;
  }

  /** Top-k item dense ids by cosine(user, item) (similarity 'dot': by user·item, the score
   *  returned as that dot product), best first, history items and padding excluded.
   *  `requestTime` (u32 seconds) is the time of the event being predicted: HSTU's last history
   *  token queries rab_time at it (lastQueryTime 'next'); absent, at its own time. */
  async retrieve(hist: { items: Uint32Array; timestamps: Uint32Array }, k: number, requestTime?: number): Promise<{ ids: Uint32Array; scores: Float32Array }> {
    const n = hist.items.length, d = this.config.dim, numRows = this.itemRawIds.length;
    if (n === 0 || n > this.config.maxLen) throw new Error(`retrieval: expected 1..${this.config.maxLen} history events, got ${n}`);
    const kk = Math.max(1, Math.min(k, numRows));
    return this.lock.run(async () => {
      if (this.streamed) return this.retrieveStreamed(hist, kk, requestTime);
      const b = uploadBatch(this.gpu, { seqOffsets: Uint32Array.of(0, n), items: hist.items, timestamps: hist.timestamps, nextTimestamps: requestTime === undefined ? undefined : Uint32Array.of(requestTime) }, this.config.maxLen, numRows, this.config.positionAnchor);
      const rec = this.gpu.recorder('retrieval');
      const f = this.encoder.forward(rec, b, { train: false, seed: 0 });
      const exclude = Uint32Array.from(new Set([0, ...hist.items]));
      const t = {
        last: this.gpu.u32([n - 1], [1], 'retrieval:last'),
        user: this.gpu.empty([1, d], 'f32', 'retrieval:user'),
        exclOffsets: this.gpu.u32([0, exclude.length], [2], 'retrieval:excl_offsets'),
        exclIds: this.gpu.u32(exclude, [exclude.length], 'retrieval:excl_ids'),
        topIds: this.gpu.empty([1, kk], 'u32', 'retrieval:top_ids'),
        topScores: this.gpu.empty([1, kk], 'f32', 'retrieval:top_scores'),
      };
      try {
        gatherDense(rec, f.out, t.last, t.user, 1, d);
        topK(rec, { queries: t.user, items: this.items!, exclOffsets: t.exclOffsets, exclIds: t.exclIds }, kk, { topIds: t.topIds, topScores: t.topScores });
        await rec.submit();
        const ids = await this.gpu.read(t.topIds), scores = await this.gpu.read(t.topScores);
        // Cosine: the items are unit rows; divide by the user vector's norm on the host.
        const u = await this.gpu.read(t.user);
        // topk drops NaN scores as non-candidates: a NaN user vector would silently return nothing.
        if (!u.every(Number.isFinite)) throw new RequestError(500, 'non_finite_output', 'the retrieval model\'s user vector for this history is not finite (NaN/Inf), so no item can be ranked.', 'the model (or its item table) holds non-finite values: check GET /healthz and serve a checkpoint from a run that did not diverge.');
        const norm = this.userNorm(u);
        const keep = Array.from(ids.keys()).filter((i) => ids[i] !== PAD_ID);
        return { ids: Uint32Array.from(keep, (i) => ids[i]!), scores: Float32Array.from(keep, (i) => scores[i]! / norm) };
      } finally {
        Object.values(t).forEach((x) => x.release());
        f.release();
        b.release();
      }
    });
  }

  /** The streamed path: history rows made resident in the cache, then top-K over host chunks. */
  private async retrieveStreamed(hist: { items: Uint32Array; timestamps: Uint32Array }, kk: number, requestTime?: number): Promise<{ ids: Uint32Array; scores: Float32Array }> {
    const { tier, chunks } = this.streamed!;
    const n = hist.items.length, d = this.config.dim;
    const slots = await tier.slotsFor(hist.items);
    const b = uploadBatch(this.gpu, { seqOffsets: Uint32Array.of(0, n), items: slots, timestamps: hist.timestamps, nextTimestamps: requestTime === undefined ? undefined : Uint32Array.of(requestTime) }, this.config.maxLen, tier.cache.capacity, this.config.positionAnchor);
    const rec = this.gpu.recorder('retrieval');
    const f = this.encoder.forward(rec, b, { train: false, seed: 0 });
    const last = this.gpu.u32([n - 1], [1], 'retrieval:last');
    const user = this.gpu.empty([1, d], 'f32', 'retrieval:user');
    try {
      gatherDense(rec, f.out, last, user, 1, d);
      await rec.submit();
      const u = await this.gpu.read(user);
      const top = await streamedTopK(this.gpu, u, chunks, kk, [Uint32Array.from(new Set([0, ...hist.items]))]);
      const norm = this.userNorm(u);
      const keep = Array.from(top.ids.keys()).filter((i) => top.ids[i] !== PAD_ID);
      return { ids: Uint32Array.from(keep, (i) => top.ids[i]!), scores: Float32Array.from(keep, (i) => top.scores[i]! / norm) };
    } finally {
      [last, user].forEach((x) => x.release());
      f.release();
      b.release();
    }
  }

  /** What the top-k scores (u·item) are divided by: ‖u‖ for cosine (the items are unit rows), 1
   *  for dot (the score is u·e itself, the loss's logit times τ). */
  private userNorm(u: Float32Array): number {
    return this.config.similarity === 'dot' ? 1 : Math.max(Math.hypot(...u), 1e-6);
  }

  release(): void {
    this.items?.release();
    this.encoder.release();
    void this.streamed?.tier.store.close();
  }
}
