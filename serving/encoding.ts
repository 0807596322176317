// A user's cached history encoding: per HSTU layer the K and V rows of every history token (what a
// later token's attention reads), plus the history itself on the host (timestamps feed rab_time;
// items and actions let an extended history be checked and re-encoded from the right row).
// GPU buffers are freed when the cache has dropped the entry AND no pass in flight uses it.
//
// Memory accounting (issue 16 item 7): the K/V buffers are allocated at their exact size outside
// the shared buffer pool and destroyed when freed. Pooled, they were rounded up to a power of two
// (up to 2×) and, once evicted, parked in the pool's free lists, which never shrink — so a full
// cache of B bytes held several times B. `bytes` counts what the entry really holds: the GPU
// buffers' sizes, the host copy of the history, and a fixed estimate of its JS objects and keys.
import { STORAGE_USAGE, Tensor, type Gpu } from '../kernels/gpu/index.js';
import type { CacheValue, History } from './cache.js';

/** Estimated JS heap per cache entry beyond its typed arrays: the entry and tensor objects, the
 *  cache slot, map entries and key strings (user id + 64-hex digest, stored in two maps). */
export const ENTRY_OVERHEAD_BYTES = 2048;

/** Bytes of the host-side history copy. */
export function historyBytes(h: History): number {
  return h.items.byteLength + h.timestamps.byteLength + h.actions.byteLength;
}

export class UserEncoding implements CacheValue {
  readonly k: Tensor<'f32'>[] = [];
  readonly v: Tensor<'f32'>[] = [];
  /** Everything the entry holds (gpuBytes + hostBytes); what the cache's budget counts. */
  readonly bytes: number;
  /** GPU buffer bytes (K and V of every layer, exact sizes). */
  readonly gpuBytes: number;
  /** Host bytes: the history's typed arrays plus ENTRY_OVERHEAD_BYTES. */
  readonly hostBytes: number;
  private refs = 0;
  private dropped = false;
  private freed = false;

  constructor(gpu: Gpu, readonly history: History, dims: { numLayers: number; kWidth: number; vWidth: number }) {
    const n = history.items.length, rows = Math.max(n, 1);
    const exact = (width: number, label: string): Tensor<'f32'> => {
      const buffer = gpu.device.createBuffer({ label, size: Math.max(4, rows * width * 4), usage: STORAGE_USAGE });
      return new Tensor(buffer, [rows, width], 'f32', label); // no pool: release() destroys it
    };
    for (let l = 0; l < dims.numLayers; l++) {
      this.k.push(exact(dims.kWidth, `mfalcon:cache:l${l}:k`));
      this.v.push(exact(dims.vWidth, `mfalcon:cache:l${l}:v`));
    }
    this.gpuBytes = [...this.k, ...this.v].reduce((a, t) => a + t.buffer.size, 0);
    this.hostBytes = historyBytes(history) + ENTRY_OVERHEAD_BYTES;
    this.bytes = this.gpuBytes + this.hostBytes;
  }

  get length(): number {
    return this.history.items.length;
  }

  /** Marks the entry as used by a pass being recorded; pair with unpin() after that pass's readback. */
  pin(): this {
    if (this.freed) throw new Error('internal: a freed user encoding was pinned');
    this.refs++;
    return this;
  }

  unpin(): void {
    this.refs--;
    this.maybeFree();
  }

  /** The cache dropped it (or it was never cached): free once unpinned. */
  evict(): void {
    this.dropped = true;
    this.maybeFree();
  }

  private maybeFree(): void {
    if (this.dropped && this.refs === 0 && !this.freed) {
      this.freed = true;
      [...this.k, ...this.v].forEach((t) => t.release());
    }
  }
}
