// The trainer's side of `embeddingStore: 'host'`: the item table lives in a HostEmbeddingStore,
// the encoder's item table is the device cache's slot table, and each step
//   1. makes every row it touches resident (input items, targets, negatives) and remaps the
//      batch's ids to slots (the model and the loss only ever see slots),
//   2. runs the usual kernels, row-wise Adam included, on the slots (device_cache.ts says why),
//   3. marks the touched rows dirty and, while the device works, prefetches the next batch's.
import type { Config } from '../../model/config.js';
import type { Encoder } from '../../model/encoder.js';
import { initSpecs, initStream, paramLayout } from '../../model/params.js';
import type { Gpu } from '../../kernels/gpu/index.js';
import { batchNegatives, drawNegatives, lossPathFor, type RetrievalLossOptions } from '../../model/retrieval_loss.js';
import { HostEmbeddingStore } from './host_store.js';
import { DeviceRowCache, autoCacheRows, checkCacheRows } from './device_cache.js';
import { checkStoreIds, type EmbeddingStore } from './store.js';

/** What a step needs of a batch (the fields of HostTrainBatch that hold item ids). */
export interface StepBatch {
  seqOffsets: Uint32Array;
  items: Uint32Array;
  timestamps: Uint32Array;
  targets: Uint32Array;
  targetTimestamps?: Uint32Array;
}

/** True when the configured loss scores every item each step (per-position negatives on the
 *  catalogue-GEMM path, model/retrieval_loss.ts lossPathFor): the host tier then needs a cache of
 *  the whole table. The gathered path touches only the drawn rows. */
export function touchesWholeCatalogue(c: Config, gpu: Gpu, tableRows: number): boolean {
  return c.negativeSampling === 'per-position' && lossPathFor(c, gpu, tableRows) === 'catalogue';
}

/** The distinct item ids (ascending, padding 0 excluded) one training step reads or updates:
 *  input items, targets and the step's negatives, drawn exactly as the loss draws them. The
 *  per-position catalogue-GEMM loss scores every item, so it touches all of them. */
export function stepItemIds(c: Config, gpu: Gpu, tb: StepBatch, step: number, tableRows: number): Uint32Array {
  if (touchesWholeCatalogue(c, gpu, tableRows)) return Uint32Array.from({ length: tableRows - 1 }, (_, j) => j + 1);
  const seen = new Uint8Array(tableRows);
  const mark = (ids: ArrayLike<number>, what: string) => {
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i]!;
      if (id >= tableRows) throw new Error(`${what}: item id ${id} at position ${i} is outside the item table (${tableRows} rows). HINT: the checkpoint or table was built for other data.`);
      seen[id] = 1;
    }
  };
  mark(tb.items, 'batch items');
  mark(tb.targets, 'batch targets');
  mark(c.negativeSampling === 'shared' ? batchNegatives(c, step, tableRows) : drawNegatives(c, step, Math.max(tb.items.length, 1), tableRows, tb.targets.length ? tb.targets : [0]).ids, 'negatives');
  seen[0] = 0;
  let n = 0;
  for (let i = 0; i < tableRows; i++) n += seen[i]!;
  const out = new Uint32Array(n);
  for (let i = 0, k = 0; i < tableRows; i++) if (seen[i]) out[k++] = i;
  return out;
}

export interface HostTierSetup {
  store: HostEmbeddingStore;
  cacheRows: number;
}

/** Training only: refuses a loss that touches every row with a cache smaller than the table, and
 *  in-batch negatives (drawn from targets already mapped to cache slots: not supported yet). */
export function checkHostTierTraining(c: Config, gpu: Gpu, cacheRows: number, tableRows: number): void {
  if (c.inBatchNegatives > 0) throw new Error('host store: in-batch negatives are not supported with --embeddingStore=host yet. HINT: use --inBatchNegatives=0.');
  if (touchesWholeCatalogue(c, gpu, tableRows) && cacheRows < tableRows) {
    throw new Error(`host store: negativeSampling 'per-position' scores the whole catalogue every step, so the device cache must hold all ${tableRows} rows (deviceCacheRows is ${cacheRows}). HINT: use --negativeSampling=shared, or --deviceCacheRows=${tableRows}.`);
  }
}

/** The host store of the item table, initialised chunk by chunk with exactly the values
 *  initParams gives the device table (zeros when `restoring`: a checkpoint fills it), and the
 *  cache size (deviceCacheRows, 0 = auto). */
export function createHostItemStore(c: Config, tableRows: number, o: { restoring?: boolean } = {}): HostTierSetup {
  const cacheRows = autoCacheRows(c.deviceCacheRows, tableRows);
  checkCacheRows(cacheRows, tableRows);
  const spec = paramLayout(c, tableRows - 1).find((s) => s.name === 'item_emb')!;
  const fill = initStream(spec, c.seed);
  // Rows about to be restored from a checkpoint need no init (640M normal draws at 10M × 64).
  const store = new HostEmbeddingStore(tableRows, c.dim, { storage: c.embeddingBf16 ? 'bf16' : 'f32', init: o.restoring ? undefined : (w) => fill(w) });
  return { store, cacheRows };
}

export class HostTier {
  readonly cache: DeviceRowCache;

  private constructor(readonly store: EmbeddingStore, private readonly enc: Encoder) {
    this.cache = new DeviceRowCache(store, enc.items);
  }

  /** Any EmbeddingStore behind the cache: host memory, or Redis (redis_tier.ts). */
  static async attach(store: EmbeddingStore, enc: Encoder): Promise<HostTier> {
    const t = new HostTier(store, enc);
    await t.cache.init();
    return t;
  }

  get tableRows(): number {
    return this.store.rows;
  }

  /** Makes the step's rows resident; returns the batch in slot ids and the loss's options. */
  async beforeStep(c: Config, tb: StepBatch, step: number): Promise<{ batch: StepBatch; tableRows: number; lossOpts: RetrievalLossOptions; touched: Uint32Array }> {
    const touched = stepItemIds(c, this.enc.gpu, tb, step, this.store.rows);
    await this.cache.ensure(touched);
    const cache = this.cache;
    const batch = { ...tb, items: cache.toSlots(tb.items), targets: cache.toSlots(tb.targets) };
    return { batch, tableRows: cache.capacity, touched, lossOpts: { catalogueRows: this.store.rows, mapIds: (ids) => cache.toSlots(ids) } };
  }

  /** After the step's submit: its rows are dirty; start reading the next step's rows. */
  afterSubmit(c: Config, touched: Uint32Array, next?: { tb: StepBatch; step: number }): void {
    this.cache.markDirty(touched);
    this.cache.markDirty([0]);
    if (next) this.cache.prefetch(stepItemIds(c, this.enc.gpu, next.tb, next.step, this.store.rows));
  }

  /** After optimizer step `stepsDone` (1-based count): every `everySteps` steps (0 = never), the
   *  dirty rows go back to the store, bounding how stale the store's copy is (redis_tier.ts). */
  async afterStep(stepsDone: number, everySteps: number): Promise<void> {
    if (everySteps > 0 && stepsDone % everySteps === 0) await this.cache.writeBack();
  }

  /** Adds 'item_emb' (every row, from the store after a write-back) to `params` when the table
   *  has at most MAX_RETURNED_ITEM_VALUES values; larger tables stay in the store. */
  async addItemParams(params: Map<string, Float32Array>): Promise<void> {
    await this.cache.writeBack();
    const d = this.store.dim;
    if (this.store.rows * d > MAX_RETURNED_ITEM_VALUES) return;
    const w = new Float32Array(this.store.rows * d);
    for await (const b of this.store.scan(1 << 16)) w.set(b.w, b.ids[0]! * d);
    params.set('item_emb', w);
  }

  /** Makes `ids` resident (evaluation / serving inputs) and returns their slots. */
  async slotsFor(ids: Uint32Array): Promise<Uint32Array> {
    checkStoreIds(ids, this.store.rows, 'item ids', false);
    const uniq = Uint32Array.from(new Set(ids));
    await this.cache.ensure(uniq);
    return this.cache.toSlots(ids);
  }
}

/** Initial parameters of an encoder whose item table is `cacheRows` cache slots: the dense
 *  tensors exactly as initParams makes them, the slot table zero (rows are loaded on demand), so
 *  no [tableRows, d] array is ever built. */
export function encoderInitForHostTier(c: Config, tableRows: number, cacheRows: number): Map<string, Float32Array> {
  const dense = paramLayout(c, tableRows - 1).filter((s) => s.name !== 'item_emb');
  const init = initSpecs(dense, c.seed);
  init.set('item_emb', new Float32Array(cacheRows * c.dim));
  return init;
}

/** Yields [item, next item or undefined]: the trainer prefetches the next batch's rows. */
export function* withNext<T>(it: Iterable<T>): Generator<[T, T | undefined]> {
  let prev: { v: T } | undefined;
  for (const v of it) {
    if (prev) yield [prev.v, v];
    prev = { v };
  }
  if (prev) yield [prev.v, undefined];
}

/** Item tables up to this many values are returned whole in TrainResult.params (tests). */
export const MAX_RETURNED_ITEM_VALUES = 1 << 26;
