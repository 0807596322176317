// The `device` EmbeddingStore: today's EmbeddingTable (all rows and row-wise Adam state in GPU
// buffers, sharded by the binding limit) behind the store interface. Training with this backend
// uses the table directly (the kernels gather, scatter and update it in place); the interface
// serves export, checkpoints, streamed evaluation and tests.
import type { Gpu } from '../../kernels/gpu/index.js';
import { EmbeddingTable, planScatter } from '../../kernels/embedding/embedding.js';
import { rowwiseAdam } from '../../kernels/optim/optim.js';
import { readTableRows, writeTableRows } from './table_rows.js';
import { checkBlock, checkStoreIds, type EmbeddingStore, type RowBlock, type RowStorage, type RowwiseAdamOptions } from './store.js';

export class DeviceEmbeddingStore implements EmbeddingStore {
  readonly kind = 'device' as const;
  private closed = false;

  /** Wraps `table` (built with { optimizerState: true }); close() does not dispose it unless `owns`. */
  constructor(readonly table: EmbeddingTable, private readonly owns = false) {
    if (!table.hasOptimizerState) throw new Error(`device store: table ${table.label} has no optimizer state. HINT: new EmbeddingTable(..., { optimizerState: true })`);
  }

  static create(gpu: Gpu, rows: number, dim: number, storage: RowStorage = 'f32', label = 'store'): DeviceEmbeddingStore {
    return new DeviceEmbeddingStore(new EmbeddingTable(gpu, rows, dim, label, { storage, optimizerState: true }), true);
  }

  get rows(): number {
    return this.table.rows;
  }
  get dim(): number {
    return this.table.dim;
  }
  get storage(): RowStorage {
    return this.table.storage;
  }

  private check(what: string): void {
    if (this.closed) throw new Error(`device store: ${what} after close()`);
  }

  async read(ids: Uint32Array): Promise<RowBlock> {
    this.check('read');
    checkStoreIds(ids, this.rows, 'device store read');
    return readTableRows(this.table, ids);
  }

  async write(b: RowBlock): Promise<void> {
    this.check('write');
    checkBlock(b, this.dim, 'device store write');
    checkStoreIds(b.ids, this.rows, 'device store write');
    writeTableRows(this.table, b.ids, b);
  }

  async applyRowwiseAdam(ids: Uint32Array, grads: Float32Array, opts: RowwiseAdamOptions): Promise<void> {
    this.check('applyRowwiseAdam');
    checkStoreIds(ids, this.rows, 'device store applyRowwiseAdam');
    const d = this.dim;
    if (grads.length !== ids.length * d) throw new Error(`device store applyRowwiseAdam: expected grads of ${ids.length}×${d} values, got ${grads.length}`);
    if (ids.length === 0) return;
    const gpu = this.table.gpu;
    // The kernel wants the plan's ascending unique rows with grads in that order.
    const plan = planScatter(gpu, ids, this.rows);
    const sorted = new Float32Array(ids.length * d);
    plan.host.order.forEach((i, k) => sorted.set(grads.subarray(i * d, (i + 1) * d), k * d));
    const g = gpu.upload(sorted, [ids.length, d], 'f32', 'device_store:grads');
    const rec = gpu.recorder('device_store:adam');
    rowwiseAdam(rec, this.table, plan, g, opts);
    await rec.submit();
    g.release();
    plan.release();
  }

  async *scan(chunkRows: number): AsyncIterable<RowBlock> {
    this.check('scan');
    if (!Number.isInteger(chunkRows) || chunkRows < 1) throw new Error(`device store scan: expected chunkRows ≥ 1, got ${chunkRows}`);
    for (let r0 = 0; r0 < this.rows; r0 += chunkRows) {
      const n = Math.min(chunkRows, this.rows - r0);
      yield await readTableRows(this.table, Uint32Array.from({ length: n }, (_, i) => r0 + i));
    }
  }

  async flush(): Promise<void> {
    this.check('flush');
    await this.table.gpu.sync();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.owns) this.table.dispose();
  }
}
