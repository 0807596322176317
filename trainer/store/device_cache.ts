// A device-resident cache of hot rows in front of a host-side EmbeddingStore (DESIGN §7). The
// model keeps seeing one EmbeddingTable, of `capacity` cache slots: before a step the batch's
// ids are made resident (ensure) and remapped to slots (toSlots); the kernels then gather,
// scatter and run row-wise Adam on slots exactly as on a whole table.
//
// Policy: LRU over slots (a doubly linked list; a step's rows move to the front, victims come from
// the back), exact and O(1) per row. Slot 0 is pinned to id 0 (the padding row). Write-back: a
// row updated on the device is dirty; it goes back to the store when evicted and at writeBack()
// (checkpoints, evaluation). Prefetch: prefetch(nextIds) starts the store read of the rows the
// next step misses while the current step runs on the device; the next ensure() uses it when no
// other ensure() came between (otherwise the rows are read again: never a stale row).
//
// Why the optimizer runs on the device for cached rows: the summed gradient rows are already
// there, so updating in place needs no per-step readback of gradients nor upload of updated
// rows, and it makes the host tier bit-identical to the device store (same kernels, same order).
// The host row-wise Adam (rowwise_adam.ts) serves stores updated without a cache (redis).
import type { EmbeddingTable } from '../../kernels/embedding/embedding.js';
import { readTableRows, writeTableRows } from './table_rows.js';
import { checkStoreIds, type EmbeddingStore, type RowBlock } from './store.js';

export interface CacheStats {
  hits: number;
  misses: number;
  evictions: number;
  writebacks: number;
  prefetched: number;
}

export class DeviceRowCache {
  readonly capacity: number;
  private readonly slotOf: Int32Array;
  private readonly idOf: Int32Array;
  private readonly dirty: Uint8Array;
  // LRU list over slots 1..capacity−1; index `capacity` is the sentinel (next = most recent).
  private readonly prev: Int32Array;
  private readonly next: Int32Array;
  private freeNext = 1;
  private epoch = 0;
  private pending?: { epoch: number; ids: Uint32Array; rows: Promise<RowBlock> };
  readonly stats: CacheStats = { hits: 0, misses: 0, evictions: 0, writebacks: 0, prefetched: 0 };

  constructor(readonly store: EmbeddingStore, readonly table: EmbeddingTable) {
    const C = table.rows;
    if (table.dim !== store.dim) throw new Error(`device cache: table dim ${table.dim} differs from the store's ${store.dim}`);
    if (table.storage !== store.storage) throw new Error(`device cache: table storage ${table.storage} differs from the store's ${store.storage}`);
    if (!table.hasOptimizerState) throw new Error('device cache: the slot table needs optimizer state. HINT: new EmbeddingTable(..., { optimizerState: true })');
    checkCacheRows(C, store.rows);
    this.capacity = C;
    this.slotOf = new Int32Array(store.rows).fill(-1);
    this.idOf = new Int32Array(C).fill(-1);
    this.dirty = new Uint8Array(C);
    this.prev = new Int32Array(C + 1).fill(-1);
    this.next = new Int32Array(C + 1).fill(-1);
    this.prev[C] = this.next[C] = C;
  }

  /** Loads row 0 (padding) into slot 0; call once before the first ensure. */
  async init(): Promise<void> {
    const b = await this.store.read(Uint32Array.of(0));
    writeTableRows(this.table, Uint32Array.of(0), b);
    this.slotOf[0] = 0;
    this.idOf[0] = 0;
  }

  private unlink(s: number): void {
    this.next[this.prev[s]!] = this.next[s]!;
    this.prev[this.next[s]!] = this.prev[s]!;
  }
  private pushFront(s: number): void {
    const S = this.capacity;
    this.next[s] = this.next[S]!;
    this.prev[s] = S;
    this.prev[this.next[S]!] = s;
    this.next[S] = s;
  }

  isResident(id: number): boolean {
    return this.slotOf[id]! >= 0;
  }

  /** Ids of `ids` not resident now (what a step would read from the store). */
  missing(ids: Uint32Array): Uint32Array {
    return ids.filter((id) => this.slotOf[id]! < 0);
  }

  /** Starts reading the rows of `ids` that are not resident, to be used by the next ensure(). */
  prefetch(ids: Uint32Array): void {
    checkStoreIds(ids, this.store.rows, 'device cache prefetch');
    const miss = this.missing(ids);
    this.pending = { epoch: this.epoch, ids: miss, rows: this.store.read(miss) };
    // A failed prefetch is retried by ensure(); keep the rejection from going unhandled meanwhile.
    this.pending.rows.catch(() => undefined);
  }

  /** Makes every id of `ids` (distinct) resident, evicting least recently used rows (written
   *  back when dirty); ids resident already become most recently used. */
  async ensure(ids: Uint32Array): Promise<void> {
    checkStoreIds(ids, this.store.rows, 'device cache');
    const C = this.capacity;
    const want = ids.filter((id) => id !== 0);
    if (want.length > C - 1) {
      throw new Error(`device cache: one step touches ${want.length} rows but the cache holds ${C - 1} (deviceCacheRows ${C}, one slot is padding). HINT: raise --deviceCacheRows (≥ ${want.length + 1}), or lower --batchSize / --numNegatives.`);
    }
    const pending = this.pending;
    this.pending = undefined;
    this.epoch++;
    const miss: number[] = [];
    for (const id of want) {
      const s = this.slotOf[id]!;
      if (s >= 0) {
        this.unlink(s);
        this.pushFront(s);
        this.stats.hits++;
      } else miss.push(id);
    }
    if (miss.length === 0) return;
    this.stats.misses += miss.length;
    // Slots: never-used ones first (ascending, so uploads coalesce), then LRU victims.
    const slots = new Uint32Array(miss.length);
    const victimSlots: number[] = [], victimIds: number[] = [];
    for (let k = 0; k < miss.length; k++) {
      let s: number;
      if (this.freeNext < C) s = this.freeNext++;
      else {
        s = this.prev[C]!; // least recently used
        this.unlink(s);
        const old = this.idOf[s]!;
        this.slotOf[old] = -1;
        this.stats.evictions++;
        if (this.dirty[s]) {
          victimSlots.push(s);
          victimIds.push(old);
          this.dirty[s] = 0;
        }
      }
      slots[k] = s;
      this.pushFront(s);
    }
    if (victimSlots.length) {
      const back = await readTableRows(this.table, Uint32Array.from(victimSlots), Uint32Array.from(victimIds));
      await this.store.write(back);
      this.stats.writebacks += victimSlots.length;
    }
    const missIds = Uint32Array.from(miss);
    const rows = await this.rowsFor(missIds, pending);
    writeTableRows(this.table, slots, rows);
    for (let k = 0; k < miss.length; k++) {
      this.slotOf[miss[k]!] = slots[k]!;
      this.idOf[slots[k]!] = miss[k]!;
    }
  }

  /** The store rows of `ids` in that order: from a still-valid prefetch where it has them. */
  private async rowsFor(ids: Uint32Array, pending?: DeviceRowCache['pending']): Promise<RowBlock> {
    if (!pending || pending.epoch !== this.epoch - 1) return this.store.read(ids);
    let got: RowBlock;
    try {
      got = await pending.rows;
    } catch {
      return this.store.read(ids);
    }
    const at = new Map<number, number>();
    pending.ids.forEach((id, i) => at.set(id, i));
    const d = this.store.dim;
    const rest = ids.filter((id) => !at.has(id));
    const more = rest.length ? await this.store.read(rest) : undefined;
    const moreAt = new Map<number, number>();
    rest.forEach((id, i) => moreAt.set(id, i));
    const out: RowBlock = { ids: Uint32Array.from(ids), w: new Float32Array(ids.length * d), m: new Float32Array(ids.length * d), v: new Float32Array(ids.length) };
    ids.forEach((id, i) => {
      const j = at.get(id);
      const src = j !== undefined ? got : more!;
      const r = j !== undefined ? j : moreAt.get(id)!;
      out.w.set(src.w.subarray(r * d, (r + 1) * d), i * d);
      out.m.set(src.m.subarray(r * d, (r + 1) * d), i * d);
      out.v[i] = src.v[r]!;
    });
    this.stats.prefetched += ids.length - rest.length;
    return out;
  }

  /** Slots of `ids` (each must be resident: ensure() them first). */
  toSlots(ids: ArrayLike<number>): Uint32Array {
    const out = new Uint32Array(ids.length);
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i]!;
      const s = id < this.slotOf.length ? this.slotOf[id]! : -1;
      if (s < 0) throw new Error(`device cache: item id ${id} is not resident${id >= this.store.rows ? ` (the table has ${this.store.rows} rows)` : ''}. HINT: internal: ensure() every id a step touches before remapping.`);
      out[i] = s;
    }
    return out;
  }

  /** Item ids of resident `slots` (the inverse of toSlots). */
  idsOfSlots(slots: ArrayLike<number>): Uint32Array {
    const out = new Uint32Array(slots.length);
    for (let i = 0; i < slots.length; i++) {
      const id = this.idOf[slots[i]!]!;
      if (id < 0) throw new Error(`device cache: slot ${slots[i]} holds no row. HINT: internal: map only slots of resident rows`);
      out[i] = id;
    }
    return out;
  }

  /** Forgets every resident row but the padding row (no write-back: there must be no dirty row),
   *  so the next ensure() reads them again: other writers (workers) changed the store. */
  invalidate(): void {
    const C = this.capacity;
    for (let s = 1; s < C; s++) {
      if (this.dirty[s]) throw new Error('device cache: invalidate() with dirty rows would lose their updates. HINT: internal: writeBack() first');
      const id = this.idOf[s]!;
      if (id >= 0) this.slotOf[id] = -1;
      this.idOf[s] = -1;
    }
    this.prev.fill(-1);
    this.next.fill(-1);
    this.prev[C] = this.next[C] = C;
    this.freeNext = 1;
    this.pending = undefined;
    this.epoch++;
  }

  /** Marks the slots of `ids` as updated on the device (written back on eviction / writeBack). */
  markDirty(ids: ArrayLike<number>): void {
    for (const s of this.toSlots(ids)) this.dirty[s] = 1;
  }

  /** Writes every dirty row back to the store (before a checkpoint or a scan of the store). */
  async writeBack(): Promise<number> {
    const slots: number[] = [], ids: number[] = [];
    for (let s = 0; s < this.capacity; s++) {
      if (this.dirty[s]) {
        slots.push(s);
        ids.push(this.idOf[s]!);
        this.dirty[s] = 0;
      }
    }
    // Bounded batches: a writeBack of a large cache never stages it all at once.
    const B = 1 << 16;
    for (let k = 0; k < slots.length; k += B) {
      const back = await readTableRows(this.table, Uint32Array.from(slots.slice(k, k + B)), Uint32Array.from(ids.slice(k, k + B)));
      await this.store.write(back);
    }
    this.stats.writebacks += slots.length;
    await this.store.flush();
    return slots.length;
  }
}

/** Refuses a cache larger than the table or too small to hold anything. */
export function checkCacheRows(cacheRows: number, tableRows: number): void {
  if (!Number.isInteger(cacheRows) || cacheRows < 2) throw new Error(`device cache: expected deviceCacheRows ≥ 2 (one slot is padding), got ${cacheRows}. HINT: --deviceCacheRows=0 picks a size.`);
  if (cacheRows > tableRows) throw new Error(`device cache: deviceCacheRows ${cacheRows} is larger than the table (${tableRows} rows). HINT: use --deviceCacheRows ≤ ${tableRows}, or 0 (auto), or --embeddingStore=device for a table this small.`);
}

/** deviceCacheRows 0 = auto: every row for tables up to 2^16 rows, else max(2^16, 10% of rows). */
export function autoCacheRows(requested: number, tableRows: number): number {
  if (requested !== 0) return requested;
  return Math.min(tableRows, Math.max(1 << 16, Math.ceil(tableRows / 10)));
}
