// The `host` EmbeddingStore: every row and its row-wise Adam state in host memory, as typed
// arrays in chunks of CHUNK_ROWS rows (a 10M × 64 table is ~40 arrays of 64 MiB per part, never
// one multi-GiB allocation). bf16 storage keeps w and m as the 16 high bits of the f32 rounded to
// nearest even (half the bytes); v is always f32. Bytes per row: f32 8·d + 4, bf16 4·d + 4.
import { bf16BitsToF32, f32ToBf16Bits } from '../../kernels/embedding/embedding.js';
import { rowwiseAdamHost } from './rowwise_adam.js';
import { checkBlock, checkStoreIds, type EmbeddingStore, type RowBlock, type RowStorage, type RowwiseAdamOptions } from './store.js';

/** Rows per chunk (a power of two: row → chunk is a shift). */
export const CHUNK_SHIFT = 18;
export const CHUNK_ROWS = 1 << CHUNK_SHIFT;

type Part = Float32Array | Uint16Array;

export interface HostStoreOptions {
  storage?: RowStorage;
  /** Fills initial weights chunk by chunk, in ascending row order (`w` is [n, dim] f32). Default: zeros. */
  init?: (w: Float32Array, firstRow: number) => void;
}

export class HostEmbeddingStore implements EmbeddingStore {
  readonly kind = 'host' as const;
  readonly storage: RowStorage;
  private readonly w: Part[] = [];
  private readonly m: Part[] = [];
  private readonly v: Float32Array[] = [];
  private closed = false;

  constructor(readonly rows: number, readonly dim: number, opts: HostStoreOptions = {}) {
    if (!Number.isInteger(rows) || rows < 1) throw new Error(`host store: expected rows ≥ 1, got ${rows}`);
    if (!Number.isInteger(dim) || dim < 1) throw new Error(`host store: expected dim ≥ 1, got ${dim}`);
    this.storage = opts.storage ?? 'f32';
    if (this.storage !== 'f32' && this.storage !== 'bf16') throw new Error(`host store: expected storage 'f32' or 'bf16', got ${String(this.storage)}`);
    const bf16 = this.storage === 'bf16';
    const scratch = opts.init ? new Float32Array(Math.min(rows, CHUNK_ROWS) * dim) : undefined;
    for (let r0 = 0; r0 < rows; r0 += CHUNK_ROWS) {
      const n = Math.min(CHUNK_ROWS, rows - r0);
      const make = (): Part => (bf16 ? new Uint16Array(n * dim) : new Float32Array(n * dim));
      const w = make();
      if (opts.init) {
        const s = scratch!.subarray(0, n * dim);
        opts.init(s, r0);
        if (bf16) for (let i = 0; i < s.length; i++) (w as Uint16Array)[i] = f32ToBf16Bits(s[i]!);
        else (w as Float32Array).set(s);
      }
      this.w.push(w);
      this.m.push(make());
      this.v.push(new Float32Array(n));
    }
  }

  /** Bytes of rows and state held (what the store costs in host memory). */
  get bytes(): number {
    return this.rows * ((this.storage === 'bf16' ? 4 : 8) * this.dim + 4);
  }

  private check(what: string): void {
    if (this.closed) throw new Error(`host store: ${what} after close()`);
  }

  async read(ids: Uint32Array): Promise<RowBlock> {
    this.check('read');
    checkStoreIds(ids, this.rows, 'host store read');
    const d = this.dim, n = ids.length;
    const out: RowBlock = { ids: Uint32Array.from(ids), w: new Float32Array(n * d), m: new Float32Array(n * d), v: new Float32Array(n) };
    for (let i = 0; i < n; i++) this.copyOut(ids[i]!, out, i);
    return out;
  }

  private copyOut(id: number, out: RowBlock, i: number): void {
    const d = this.dim, c = id >>> CHUNK_SHIFT, o = (id & (CHUNK_ROWS - 1)) * d;
    if (this.storage === 'bf16') {
      const w = this.w[c] as Uint16Array, m = this.m[c] as Uint16Array;
      for (let k = 0; k < d; k++) {
        out.w[i * d + k] = bf16BitsToF32(w[o + k]!);
        out.m[i * d + k] = bf16BitsToF32(m[o + k]!);
      }
    } else {
      out.w.set((this.w[c] as Float32Array).subarray(o, o + d), i * d);
      out.m.set((this.m[c] as Float32Array).subarray(o, o + d), i * d);
    }
    out.v[i] = this.v[c]![id & (CHUNK_ROWS - 1)]!;
  }

  async write(b: RowBlock): Promise<void> {
    this.check('write');
    checkBlock(b, this.dim, 'host store write');
    checkStoreIds(b.ids, this.rows, 'host store write');
    const d = this.dim;
    for (let i = 0; i < b.ids.length; i++) {
      const id = b.ids[i]!, c = id >>> CHUNK_SHIFT, o = (id & (CHUNK_ROWS - 1)) * d;
      if (this.storage === 'bf16') {
        const w = this.w[c] as Uint16Array, m = this.m[c] as Uint16Array;
        for (let k = 0; k < d; k++) {
          w[o + k] = f32ToBf16Bits(b.w[i * d + k]!);
          m[o + k] = f32ToBf16Bits(b.m[i * d + k]!);
        }
      } else {
        (this.w[c] as Float32Array).set(b.w.subarray(i * d, (i + 1) * d), o);
        (this.m[c] as Float32Array).set(b.m.subarray(i * d, (i + 1) * d), o);
      }
      this.v[c]![id & (CHUNK_ROWS - 1)] = b.v[i]!;
    }
  }

  async applyRowwiseAdam(ids: Uint32Array, grads: Float32Array, opts: RowwiseAdamOptions): Promise<void> {
    this.check('applyRowwiseAdam');
    const blk = await this.read(ids);
    rowwiseAdamHost(blk.w, blk.m, blk.v, this.dim, ids.length, (u) => u, grads, opts, this.storage);
    await this.write(blk);
  }

  async *scan(chunkRows: number): AsyncIterable<RowBlock> {
    this.check('scan');
    if (!Number.isInteger(chunkRows) || chunkRows < 1) throw new Error(`host store scan: expected chunkRows ≥ 1, got ${chunkRows}`);
    const d = this.dim;
    const cap = Math.min(chunkRows, this.rows);
    const buf: RowBlock = { ids: new Uint32Array(cap), w: new Float32Array(cap * d), m: new Float32Array(cap * d), v: new Float32Array(cap) };
    for (let r0 = 0; r0 < this.rows; r0 += chunkRows) {
      const n = Math.min(chunkRows, this.rows - r0);
      const blk: RowBlock = { ids: buf.ids.subarray(0, n), w: buf.w.subarray(0, n * d), m: buf.m.subarray(0, n * d), v: buf.v.subarray(0, n) };
      for (let i = 0; i < n; i++) {
        blk.ids[i] = r0 + i;
        this.copyOut(r0 + i, blk, i);
      }
      yield blk;
    }
  }

  async flush(): Promise<void> {
    this.check('flush');
  }

  async close(): Promise<void> {
    this.closed = true;
    this.w.length = this.m.length = this.v.length = 0;
  }
}
