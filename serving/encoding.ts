// A user's cached history encoding: per HSTU layer the K and V rows of every history token (what a
// later token's attention reads), plus the history itself on the host (timestamps feed rab_time;
// items and actions let an extended history be checked and re-encoded from the right row).
// GPU buffers are freed when the cache has dropped the entry AND no pass in flight uses it.
import type { Gpu, Tensor } from '../kernels/gpu/index.js';
import type { CacheValue, History } from './cache.js';

export class UserEncoding implements CacheValue {
  readonly k: Tensor<'f32'>[] = [];
  readonly v: Tensor<'f32'>[] = [];
  readonly bytes: number;
  private refs = 0;
  private dropped = false;
  private freed = false;

  constructor(gpu: Gpu, readonly history: History, dims: { numLayers: number; kWidth: number; vWidth: number }) {
    const n = history.items.length, rows = Math.max(n, 1);
    for (let l = 0; l < dims.numLayers; l++) {
      this.k.push(gpu.empty([rows, dims.kWidth], 'f32', `mfalcon:cache:l${l}:k`));
      this.v.push(gpu.empty([rows, dims.vWidth], 'f32', `mfalcon:cache:l${l}:v`));
    }
    this.bytes = dims.numLayers * rows * (dims.kWidth + dims.vWidth) * 4;
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
