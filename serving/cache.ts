// The user-encoding cache of M-FALCON serving (DESIGN §3): an LRU bounded in bytes, keyed by
// user id + a digest of the history, with a per-user index so a request whose history extends a
// cached one can find that prefix and encode only the new events. Values own GPU memory, so the
// cache never frees a value itself: it calls `evict()` and the value frees its buffers once no
// in-flight GPU pass uses it (see UserEncoding in mfalcon.ts).
import { createHash, type Hash } from 'node:crypto';

/** One event sequence on the host (dense item ids, u32 seconds, action ids 1..numActions). */
export interface History {
  items: Uint32Array;
  timestamps: Uint32Array;
  actions: Uint32Array;
}

/** What the cache stores: a size and a way to hand back its memory. */
export interface CacheValue {
  /** Everything the value holds; the budget counts this. */
  readonly bytes: number;
  /** The GPU part of `bytes` (the rest is host memory); absent = all of it is GPU memory. */
  readonly gpuBytes?: number;
  /** Called once when the cache drops the value (eviction, replacement, clear). */
  evict(): void;
}

export interface CacheStats {
  /** Requests whose exact history was cached. */
  hits: number;
  /** Requests that found a cached prefix of their history and encoded only the new events. */
  extensions: number;
  /** Requests that found nothing usable and encoded the whole history. */
  misses: number;
  /** Values dropped to stay within the byte budget. */
  evictions: number;
  entries: number;
  /** Sum of the entries' bytes (≤ maxBytes): GPU buffers + host copies + JS bookkeeping. */
  bytes: number;
  /** The GPU-buffer part of `bytes`. */
  gpuBytes: number;
  /** The host part of `bytes` (histories, estimated JS objects). */
  hostBytes: number;
  maxBytes: number;
}

/** Hash state after `len` events, for the prefix digests of one history (one pass over it). */
function feed(h: Hash, hist: History, from: number, to: number): void {
  const row = new Uint32Array(3);
  for (let i = from; i < to; i++) {
    row[0] = hist.items[i]!;
    row[1] = hist.timestamps[i]!;
    row[2] = hist.actions[i]!;
    h.update(row);
  }
}

/** sha256 of the first `len` events (items, timestamps, actions), hex. */
export function historyDigest(hist: History, len = hist.items.length): string {
  const h = createHash('sha256');
  feed(h, hist, 0, len);
  return h.digest('hex');
}

/** Digests of the prefixes of `hist` of each length in `lengths` (one pass; lengths ≤ n). */
export function prefixDigests(hist: History, lengths: readonly number[]): Map<number, string> {
  const out = new Map<number, string>();
  const sorted = [...new Set(lengths)].sort((a, b) => a - b);
  const h = createHash('sha256');
  let done = 0;
  for (const len of sorted) {
    if (len > hist.items.length) break;
    feed(h, hist, done, len);
    done = len;
    out.set(len, h.copy().digest('hex'));
  }
  return out;
}

interface Slot<V> {
  userId: string;
  digest: string;
  length: number;
  value: V;
}

export const cacheKey = (userId: string, digest: string): string => `${userId}\u0000${digest}`;

/** LRU over CacheValues, bounded by the sum of their bytes. Map iteration order is insertion
 *  order, so re-inserting on every use keeps the least recently used entry first. */
export class EncodingCache<V extends CacheValue> {
  private readonly slots = new Map<string, Slot<V>>();
  private readonly byUser = new Map<string, Set<string>>();
  private bytes = 0;
  private gpuBytes = 0;
  readonly counters = { hits: 0, extensions: 0, misses: 0, evictions: 0 };

  constructor(readonly maxBytes: number) {
    if (!(Number.isFinite(maxBytes) && maxBytes >= 0)) throw new Error(`cache: expected a byte budget ≥ 0, got ${maxBytes}. HINT: pass --cacheBytes=<bytes> (0 disables the cache).`);
  }

  /**
   * The best cached encoding for (userId, history): the exact history (`hit`), else the longest
   * cached strict prefix of it (`extend`, `length` < n events), else none (`miss`). Counts the
   * outcome and marks the entry as recently used.
   */
  lookup(userId: string, hist: History): { kind: 'hit' | 'extend'; value: V; length: number } | { kind: 'miss' } {
    const keys = this.byUser.get(userId);
    const n = hist.items.length;
    if (keys && keys.size > 0) {
      const slots = [...keys].map((k) => this.slots.get(k)!).filter((s) => s.length <= n);
      const digests = prefixDigests(hist, slots.map((s) => s.length));
      let best: Slot<V> | undefined;
      for (const s of slots) if (digests.get(s.length) === s.digest && (!best || s.length > best.length)) best = s;
      if (best) {
        this.touch(best);
        const kind = best.length === n ? 'hit' : 'extend';
        this.counters[kind === 'hit' ? 'hits' : 'extensions']++;
        return { kind, value: best.value, length: best.length };
      }
    }
    this.counters.misses++;
    return { kind: 'miss' };
  }

  /** Stores a value for (userId, digest of a history of `length` events). Replaces an entry of the
   *  same key and drops `supersedes` (the prefix it extended). A value over the whole budget is
   *  not stored (returns false; the caller keeps ownership). */
  insert(userId: string, digest: string, length: number, value: V, supersedes?: V): boolean {
    if (value.bytes > this.maxBytes) return false;
    const key = cacheKey(userId, digest);
    this.remove(key);
    if (supersedes) for (const [k, s] of this.slots) if (s.value === supersedes) this.remove(k);
    while (this.bytes + value.bytes > this.maxBytes && this.slots.size > 0) {
      const [oldest] = this.slots.keys();
      this.remove(oldest!);
      this.counters.evictions++;
    }
    this.slots.set(key, { userId, digest, length, value });
    let set = this.byUser.get(userId);
    if (!set) this.byUser.set(userId, (set = new Set()));
    set.add(key);
    this.bytes += value.bytes;
    this.gpuBytes += value.gpuBytes ?? value.bytes;
    return true;
  }

  /** Drops everything (each value's evict() is called). */
  clear(): void {
    for (const k of [...this.slots.keys()]) this.remove(k);
  }

  stats(): CacheStats {
    return { ...this.counters, entries: this.slots.size, bytes: this.bytes, gpuBytes: this.gpuBytes, hostBytes: this.bytes - this.gpuBytes, maxBytes: this.maxBytes };
  }

  private touch(s: Slot<V>): void {
    const key = cacheKey(s.userId, s.digest);
    this.slots.delete(key);
    this.slots.set(key, s);
  }

  private remove(key: string): void {
    const s = this.slots.get(key);
    if (!s) return;
    this.slots.delete(key);
    const set = this.byUser.get(s.userId)!;
    set.delete(key);
    if (set.size === 0) this.byUser.delete(s.userId);
    this.bytes -= s.value.bytes;
    this.gpuBytes -= s.value.gpuBytes ?? s.value.bytes;
    s.value.evict();
  }
}
