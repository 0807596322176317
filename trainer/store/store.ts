// The EmbeddingStore interface (DESIGN §7): one way to gather rows, apply row-wise Adam to the
// touched rows, and export/import a table, whatever holds it. Backends:
//   device  all rows and row-wise Adam state in GPU buffers (kernels/embedding EmbeddingTable)
//   host    rows and state in host memory (f32 or bf16), a device cache of hot rows in front
//           (trainer/store/device_cache.ts)
//   redis   rows on a Redis Cluster (issue 19), the same device cache in front
// Everything here is host-side and async, so a network backend fits the same shape. Values cross
// the interface as f32: a bf16 store widens exactly on read and rounds to nearest even on write.
import type { AdamOptions } from '../../kernels/optim/optim.js';

export type StoreKind = 'device' | 'host' | 'redis';
export type RowStorage = 'f32' | 'bf16';

/** A set of rows with their row-wise Adam state. `w` and `m` are [n, dim] row-major, `v` is [n]
 *  (one second moment per row), row i belongs to ids[i]. */
export interface RowBlock {
  ids: Uint32Array;
  w: Float32Array;
  m: Float32Array;
  v: Float32Array;
}

/** Row-wise Adam hyper-parameters of one step (`step` is 1-based; the bias corrections use it). */
export type RowwiseAdamOptions = AdamOptions;

export interface EmbeddingStore {
  readonly kind: StoreKind;
  /** Table rows (ids 0..rows−1; row 0 is the padding row of item tables). */
  readonly rows: number;
  readonly dim: number;
  /** How w and m are stored (v is always f32). */
  readonly storage: RowStorage;
  /** The rows of `ids` (distinct, any order; an id ≥ rows throws naming it), in the order given. */
  read(ids: Uint32Array): Promise<RowBlock>;
  /** Overwrites rows (write-back from a cache, import); bf16 stores round w and m. */
  write(block: RowBlock): Promise<void>;
  /** One row-wise Adam step on the rows of `ids` (distinct), `grads` [ids.length, dim] holding
   *  each row's summed gradient. The math is rowwiseAdamHost's (trainer/store/rowwise_adam.ts),
   *  the device kernel's bit for bit in the f32 operations it performs. */
  applyRowwiseAdam(ids: Uint32Array, grads: Float32Array, opts: RowwiseAdamOptions): Promise<void>;
  /** Every row once, in ascending id ranges of at most `chunkRows` (export, checkpoint, streamed
   *  evaluation). Blocks may be reused by the next iteration: copy what you keep. */
  scan(chunkRows: number): AsyncIterable<RowBlock>;
  /** Makes every completed write durable / visible to other readers (no-op for memory stores). */
  flush(): Promise<void>;
  /** Releases the store's resources; later calls throw. */
  close(): Promise<void>;
}

/** Throws naming the first id outside [0, rows) (and, when `distinct`, the first repeat). */
export function checkStoreIds(ids: Uint32Array, rows: number, what: string, distinct = true): void {
  const seen = distinct && ids.length > 1 ? new Set<number>() : undefined;
  for (let i = 0; i < ids.length; i++) {
    const id = ids[i]!;
    if (id >= rows) throw new Error(`${what}: item id ${id} at position ${i} is outside the table (${rows} rows, ids 0..${rows - 1}). HINT: the data has more items than the table was built for; rebuild the table (or checkpoint) for this data.`);
    if (seen) {
      if (seen.has(id)) throw new Error(`${what}: id ${id} appears twice (position ${i}). HINT: deduplicate ids before reading or updating rows.`);
      seen.add(id);
    }
  }
}

/** Validates a RowBlock's shapes against a store's dim. */
export function checkBlock(b: RowBlock, dim: number, what: string): void {
  const n = b.ids.length;
  if (b.w.length !== n * dim || b.m.length !== n * dim || b.v.length !== n) {
    throw new Error(`${what}: expected w and m of ${n}×${dim} values and v of ${n}, got ${b.w.length}, ${b.m.length} and ${b.v.length}`);
  }
}
