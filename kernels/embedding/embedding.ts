// Host for embedding tables: sharded storage (f32 or packed bf16, with optional row-wise Adam
// state sharded the same way), row gather, and the deterministic sort-based scatter-add.
import { readFileSync } from 'node:fs';
import { Params, type Gpu, type KernelSource, type Recorder, type Tensor } from '../gpu/index.js';

const WGSL = readFileSync(new URL('./embedding.wgsl', import.meta.url), 'utf8');
const WG = 256;
/** Columns per invocation of the chunked gather / segmented scatter (register blocking). */
const CH = 8;

/** Splits a multi-kernel WGSL file into `prelude + section` per "// ==== kernel: NAME ====" line.
 *  Exported so kernels/optim can use the same layout for its file. */
export function wgslSections(text: string): Map<string, string> {
  const parts = text.split(/^\/\/ ==== kernel: (\w+) ====$/m);
  const prelude = parts[0]!;
  const out = new Map<string, string>();
  for (let i = 1; i < parts.length; i += 2) out.set(parts[i]!, prelude + parts[i + 1]!);
  return out;
}
const SECTIONS = wgslSections(WGSL);

function kernel(name: 'gather' | 'scatter_seg' | 'scatter_naive' | 'add_rows_at' | 'add_rows_at_sq', defines: Record<string, string | number | boolean> = {}): KernelSource {
  return { name: `embedding_${name}`, wgsl: SECTIONS.get(name)!, defines: { WG, ...defines } };
}

// ---------------------------------------------------------------------------------------------
// bf16 helpers (round-to-nearest-even on the f32 bit pattern; NaN stays a quiet NaN)

const f32buf = new Float32Array(1);
const u32buf = new Uint32Array(f32buf.buffer);

/** The 16 high bits of x rounded to nearest, ties to even (what the WGSL does). */
export function f32ToBf16Bits(x: number): number {
  f32buf[0] = x;
  const bits = u32buf[0]!;
  if ((bits & 0x7f800000) === 0x7f800000 && (bits & 0x007fffff) !== 0) return 0x7fc0;
  return ((bits + 0x7fff + ((bits >>> 16) & 1)) >>> 16) & 0xffff;
}
export function bf16BitsToF32(h: number): number {
  u32buf[0] = (h & 0xffff) << 16;
  return f32buf[0]!;
}
/** x rounded to the nearest bf16 (ties to even), as a number. */
export function roundBf16(x: number): number {
  return bf16BitsToF32(f32ToBf16Bits(x));
}

// ---------------------------------------------------------------------------------------------
// Tables

export type EmbeddingStorage = 'f32' | 'bf16';

export interface EmbeddingTableOptions {
  /** Rows per shard; default: as many as fit in maxStorageBufferBindingSize (tests force tiny shards). */
  maxShardRows?: number;
  /** Storage of weights (and of the first moment m when `optimizerState`): f32, or bf16 packed two per u32. */
  storage?: EmbeddingStorage;
  /** Also allocate row-wise Adam state, sharded like the weights: m (rows × dim, `storage`) and
   *  v (one f32 per row). Both start at zero. */
  optimizerState?: boolean;
}

export interface EmbeddingShard {
  /** First table row held by this shard. */
  rowBase: number;
  rows: number;
  /** Weights, `rows × rowWords` u32 words. */
  w: GPUBuffer;
  /** Row-wise Adam first moment (same layout as w), when optimizerState. */
  m?: GPUBuffer;
  /** Row-wise Adam second moment, one f32 per row, when optimizerState. */
  v?: GPUBuffer;
}

export type TablePart = 'w' | 'm' | 'v';

export class EmbeddingTable {
  readonly storage: EmbeddingStorage;
  /** u32 words per row in a shard: dim (f32) or ceil(dim / 2) (bf16). */
  readonly rowWords: number;
  readonly shardRows: number;
  readonly shards: EmbeddingShard[] = [];
  readonly hasOptimizerState: boolean;
  private disposed = false;

  constructor(
    readonly gpu: Gpu,
    readonly rows: number,
    readonly dim: number,
    readonly label: string,
    opts: EmbeddingTableOptions = {},
  ) {
    if (!Number.isInteger(rows) || rows < 1) throw new Error(`EmbeddingTable ${label}: expected rows ≥ 1, got ${rows}`);
    if (!Number.isInteger(dim) || dim < 1) throw new Error(`EmbeddingTable ${label}: expected dim ≥ 1, got ${dim}`);
    this.storage = opts.storage ?? 'f32';
    if (this.storage !== 'f32' && this.storage !== 'bf16') throw new Error(`EmbeddingTable ${label}: expected storage 'f32' or 'bf16', got ${String(this.storage)}`);
    this.hasOptimizerState = opts.optimizerState ?? false;
    this.rowWords = this.storage === 'f32' ? dim : Math.ceil(dim / 2);
    const limits = gpu.device.limits;
    const maxBytes = Math.min(limits.maxStorageBufferBindingSize, limits.maxBufferSize);
    const fit = Math.floor(maxBytes / (this.rowWords * 4));
    if (fit < 1) throw new Error(`EmbeddingTable ${label}: one row of ${this.rowWords * 4} bytes exceeds maxStorageBufferBindingSize ${maxBytes}`);
    if (opts.maxShardRows !== undefined && (!Number.isInteger(opts.maxShardRows) || opts.maxShardRows < 1)) {
      throw new Error(`EmbeddingTable ${label}: expected maxShardRows ≥ 1, got ${opts.maxShardRows}`);
    }
    this.shardRows = Math.min(opts.maxShardRows ?? fit, fit, rows);
    const usage = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;
    const make = (what: string, s: number, bytes: number) =>
      gpu.device.createBuffer({ label: `embedding:${label}:${what}${s}`, size: Math.max(4, bytes), usage });
    for (let rowBase = 0, s = 0; rowBase < rows; rowBase += this.shardRows, s++) {
      const n = Math.min(this.shardRows, rows - rowBase);
      const shard: EmbeddingShard = { rowBase, rows: n, w: make('w', s, n * this.rowWords * 4) };
      if (this.hasOptimizerState) {
        shard.m = make('m', s, n * this.rowWords * 4);
        shard.v = make('v', s, n * 4);
      }
      this.shards.push(shard);
    }
  }

  /** Index of the shard holding `row`. */
  shardOf(row: number): number {
    return Math.floor(row / this.shardRows);
  }

  /** Bytes per row of weights plus optimizer state (f32: 8·d + 4; bf16: 4·d + 4 with state). */
  get bytesPerRow(): number {
    const wordBytes = this.rowWords * 4;
    return this.hasOptimizerState ? 2 * wordBytes + 4 : wordBytes;
  }

  private buffer(part: TablePart, s: number): GPUBuffer {
    this.check();
    const shard = this.shards[s]!;
    const b = shard[part];
    if (!b) throw new Error(`EmbeddingTable ${this.label}: has no optimizer state '${part}' (construct with { optimizerState: true })`);
    return b;
  }

  /** Writes `rows × dim` values (row-major) into the weights, or into m; v takes `rows` values.
   *  bf16 storage rounds to nearest even. */
  upload(data: Float32Array, part: TablePart = 'w'): void {
    const perRow = part === 'v' ? 1 : this.dim;
    if (data.length !== this.rows * perRow) {
      throw new Error(`EmbeddingTable ${this.label}.upload(${part}): expected ${this.rows * perRow} values (${this.rows} rows × ${perRow}), got ${data.length}`);
    }
    this.shards.forEach((shard, s) => {
      const buf = this.buffer(part, s);
      const slice = data.subarray(shard.rowBase * perRow, (shard.rowBase + shard.rows) * perRow);
      const words = part === 'v' || this.storage === 'f32' ? Float32Array.from(slice) : packBf16Rows(slice, this.dim, this.rowWords);
      this.gpu.device.queue.writeBuffer(buf, 0, words.buffer as ArrayBuffer, 0, words.byteLength);
    });
  }

  /** The raw u32 words of a part, shard after shard (bitwise checks). */
  async readRaw(part: TablePart = 'w'): Promise<Uint32Array> {
    const perRowWords = part === 'v' ? 1 : this.rowWords;
    const out = new Uint32Array(this.rows * perRowWords);
    for (let s = 0; s < this.shards.length; s++) {
      const shard = this.shards[s]!;
      const words = await readBuffer(this.gpu, this.buffer(part, s), shard.rows * perRowWords * 4);
      out.set(words, shard.rowBase * perRowWords);
    }
    return out;
  }

  /** A part as `rows × dim` f32 values (v: `rows` values); bf16 storage is widened exactly. */
  async read(part: TablePart = 'w'): Promise<Float32Array> {
    const raw = await this.readRaw(part);
    if (part === 'v' || this.storage === 'f32') return new Float32Array(raw.buffer);
    return unpackBf16Rows(raw, this.rows, this.dim, this.rowWords);
  }

  private check(): void {
    if (this.disposed) throw new Error(`EmbeddingTable ${this.label}: used after dispose()`);
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    for (const s of this.shards) [s.w, s.m, s.v].forEach((b) => b?.destroy());
  }
}

/** Packs row-major `dim`-wide rows into bf16 pairs, `rowWords` u32 per row. */
export function packBf16Rows(data: Float32Array, dim: number, rowWords: number): Uint32Array {
  const rows = data.length / dim;
  const out = new Uint32Array(rows * rowWords);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < dim; c++) {
      const h = f32ToBf16Bits(data[r * dim + c]!);
      out[r * rowWords + (c >> 1)]! |= (c & 1 ? h << 16 : h) >>> 0;
    }
  }
  return out;
}

export function unpackBf16Rows(words: Uint32Array, rows: number, dim: number, rowWords: number): Float32Array {
  const out = new Float32Array(rows * dim);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < dim; c++) {
      const w = words[r * rowWords + (c >> 1)]!;
      out[r * dim + c] = bf16BitsToF32(c & 1 ? w >>> 16 : w & 0xffff);
    }
  }
  return out;
}

async function readBuffer(gpu: Gpu, buffer: GPUBuffer, bytes: number): Promise<Uint32Array> {
  if (bytes === 0) return new Uint32Array(0);
  const staging = gpu.device.createBuffer({ label: `${buffer.label}:readback`, size: bytes, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
  const enc = gpu.device.createCommandEncoder({ label: `${buffer.label}:readback` });
  enc.copyBufferToBuffer(buffer, 0, staging, 0, bytes);
  gpu.device.queue.submit([enc.finish()]);
  await staging.mapAsync(GPUMapMode.READ);
  const out = new Uint32Array(staging.getMappedRange().slice(0));
  staging.unmap();
  staging.destroy();
  return out;
}

// ---------------------------------------------------------------------------------------------
// Validation

/** Throws naming the first id ≥ rows and its position. */
export function checkIds(ids: ArrayLike<number>, rows: number, what = 'ids', n = ids.length): void {
  for (let i = 0; i < n; i++) {
    const id = ids[i]!;
    if (!(Number.isInteger(id) && id >= 0 && id < rows)) {
      throw new Error(`${what}: expected row ids in [0, ${rows}), got ${id} at position ${i}`);
    }
  }
}

/** Validates `ids` against the table and uploads them (the normal way to get gather's ids). */
export function uploadIds(gpu: Gpu, ids: Uint32Array, rows: number, label = 'embedding:ids'): Tensor<'u32'> {
  checkIds(ids, rows, label);
  return gpu.upload(ids, [ids.length], 'u32', label);
}

function checkTensor(op: string, t: Tensor, dtype: string, minNumel: number, role: string): void {
  if (t.dtype !== dtype) throw new Error(`${op}: expected ${role} as ${dtype}, got ${t.label} as ${t.dtype}`);
  if (t.numel < minNumel) throw new Error(`${op}: expected ${role} with ≥ ${minNumel} elements, got ${t.label} with ${t.numel}`);
}

function checkCount(op: string, name: string, n: number): void {
  if (!Number.isInteger(n) || n < 0) throw new Error(`${op}: expected ${name} to be a non-negative integer, got ${n}`);
}

// ---------------------------------------------------------------------------------------------
// Gather

/**
 * out[i, :] = table[ids[i], :] for i < count (out is f32 `[≥count, dim]`, bf16 tables are widened).
 * Pass `hostIds` (the same ids on the CPU) to validate them here; ids uploaded with `uploadIds`
 * are already validated. An out-of-range id that slips through yields a NaN row, never another row.
 * 'chunked' (default): one invocation per 8 columns of a row; 'naive': one per element.
 */
export type GatherVariant = 'chunked' | 'naive';

export function gatherRows(
  rec: Recorder, table: EmbeddingTable, ids: Tensor<'u32'>, out: Tensor<'f32'>, count: number,
  hostIds?: ArrayLike<number>, variant: GatherVariant = 'chunked',
): void {
  const op = `gatherRows(${table.label})`;
  checkCount(op, 'count', count);
  checkTensor(op, ids, 'u32', count, 'ids');
  checkTensor(op, out, 'f32', count * table.dim, `out [${count}, ${table.dim}]`);
  if (hostIds) {
    if (hostIds.length < count) throw new Error(`${op}: expected ≥ ${count} hostIds, got ${hostIds.length}`);
    checkIds(hostIds, table.rows, `${op} ids`, count);
  }
  if (variant !== 'chunked' && variant !== 'naive') throw new Error(`${op}: expected variant 'chunked' or 'naive', got ${String(variant)}`);
  if (count === 0) return;
  const ch = variant === 'chunked' ? CH : 1;
  const k = kernel('gather', { BF16: table.storage === 'bf16', CH: ch });
  const invocations = count * Math.ceil(table.dim / ch);
  table.shards.forEach((shard, s) => {
    const params = new Params().u32(count).u32(table.dim).u32(shard.rowBase).u32(shard.rows).u32(table.rows).u32(table.rowWords).u32(s === 0 ? 1 : 0).done();
    rec.dispatch(k, [shard.w, ids, out], Math.ceil(invocations / WG), params);
  });
}

// ---------------------------------------------------------------------------------------------
// Scatter

/** Where each id's gradient goes: built on the CPU (the batch's ids are there anyway). */
export interface ScatterPlan {
  /** Distinct row ids, ascending ([numUnique]). */
  uniqueRows: Tensor<'u32'>;
  numUnique: number;
  /** Segment offsets into `order` per unique row ([numUnique + 1]). */
  segOffsets: Tensor<'u32'>;
  /** Positions i sorted by ids[i], stable ([count]). */
  order: Tensor<'u32'>;
  /** The same three on the CPU (uniqueRows is what the optimizer needs to know per shard). */
  host: { uniqueRows: Uint32Array; segOffsets: Uint32Array; order: Uint32Array };
  count: number;
  /** Releases the three tensors. */
  release(): void;
}

/** CPU half of planScatter: stable sort of positions by row id. An LSD radix sort on typed
 *  arrays (digits of ≤ 16 bits, as many passes as the ids' bit width needs): O(count) whatever
 *  the table size, where a comparison sort of ~400k ids per step cost hundreds of ms. */
export function planScatterHost(ids: ArrayLike<number>, rows: number): { uniqueRows: Uint32Array; segOffsets: Uint32Array; order: Uint32Array } {
  checkIds(ids, rows, 'planScatter ids');
  if (rows > 2 ** 32) throw new Error(`planScatter: expected rows ≤ 2^32 (u32 ids), got ${rows}. HINT: shard the table.`);
  const n = ids.length;
  const keys = Uint32Array.from(ids);
  let order = new Uint32Array(n);
  for (let i = 0; i < n; i++) order[i] = i;
  const bits = Math.max(1, Math.ceil(Math.log2(Math.max(2, rows))));
  const passes = Math.ceil(bits / 16);
  const width = Math.ceil(bits / passes);
  const mask = (1 << width) - 1;
  const counts = new Uint32Array((1 << width) + 1);
  let spare = new Uint32Array(n);
  for (let p = 0, shift = 0; p < passes; p++, shift += width) {
    counts.fill(0);
    for (let k = 0; k < n; k++) counts[((keys[order[k]!]! >>> shift) & mask) + 1]!++;
    for (let b = 0; b < mask + 1; b++) counts[b + 1]! += counts[b]!;
    // Each pass is stable, so equal ids keep ascending positions.
    for (let k = 0; k < n; k++) { const i = order[k]!; spare[counts[(keys[i]! >>> shift) & mask]!++] = i; }
    [order, spare] = [spare, order];
  }
  let numUnique = 0;
  for (let k = 0; k < n; k++) if (k === 0 || keys[order[k]!] !== keys[order[k - 1]!]) numUnique++;
  const uniqueRows = new Uint32Array(numUnique);
  const segOffsets = new Uint32Array(numUnique + 1);
  for (let k = 0, u = 0; k < n; k++) {
    const id = keys[order[k]!]!;
    if (k === 0 || id !== keys[order[k - 1]!]) { uniqueRows[u] = id; segOffsets[u++] = k; }
  }
  segOffsets[numUnique] = n;
  return { uniqueRows, segOffsets, order };
}

/** Sorts positions by row id (stable) and uploads the plan; throws on an id ≥ rows, naming it. */
export function planScatter(gpu: Gpu, ids: ArrayLike<number>, rows: number): ScatterPlan {
  return uploadPlan(gpu, planScatterHost(ids, rows), ids.length);
}

function uploadPlan(gpu: Gpu, host: ScatterPlan['host'], count: number): ScatterPlan {
  const uniqueRows = gpu.upload(host.uniqueRows, [host.uniqueRows.length], 'u32', 'embedding:plan_unique_rows');
  const segOffsets = gpu.upload(host.segOffsets, [host.segOffsets.length], 'u32', 'embedding:plan_seg_offsets');
  const order = gpu.upload(host.order, [host.order.length], 'u32', 'embedding:plan_order');
  let released = false;
  return {
    uniqueRows,
    numUnique: host.uniqueRows.length,
    segOffsets,
    order,
    host,
    count,
    release() {
      if (released) return;
      released = true;
      [uniqueRows, segOffsets, order].forEach((t) => t.release());
    },
  };
}

export type ScatterVariant = 'segmented' | 'naive';

/**
 * out[u, :] = Σ grads[i, :] over positions i with ids[i] = uniqueRows[u], summed in ascending i
 * (deterministic, bitwise reproducible). grads: f32 `[count, dim]`, out: f32 `[≥numUnique, dim]`.
 * 'segmented' (default): one invocation per 8 columns of an output row; 'naive': one per unique row.
 */
export function scatterAddRows(rec: Recorder, plan: ScatterPlan, grads: Tensor<'f32'>, dim: number, out: Tensor<'f32'>, variant: ScatterVariant = 'segmented'): void {
  const op = 'scatterAddRows';
  if (!Number.isInteger(dim) || dim < 1) throw new Error(`${op}: expected dim ≥ 1, got ${dim}`);
  checkTensor(op, grads, 'f32', plan.count * dim, `grads [${plan.count}, ${dim}]`);
  checkTensor(op, out, 'f32', plan.numUnique * dim, `out [${plan.numUnique}, ${dim}]`);
  if (plan.numUnique === 0) return;
  const params = new Params().u32(plan.numUnique).u32(dim).u32(0).u32(0).u32(0).u32(0).u32(0).done();
  const bindings = [grads, plan.order, plan.segOffsets, out];
  if (variant === 'segmented') rec.dispatch(kernel('scatter_seg', { CH }), bindings, Math.ceil((plan.numUnique * Math.ceil(dim / CH)) / WG), params);
  else if (variant === 'naive') rec.dispatch(kernel('scatter_naive'), bindings, Math.ceil(plan.numUnique / WG), params);
  else throw new Error(`${op}: expected variant 'segmented' or 'naive', got ${String(variant)}`);
}

/**
 * out[at[j], :] += src[j, :] for j < at.length (in place; other rows of out untouched). The rows
 * `at` must be distinct and < out's rows (checked here): one writer per element, deterministic.
 * Used to fold a few summed gradient rows into a larger per-row gradient (trainer/item_gradients).
 * `atT` is `at` on the device (the caller uploads and releases it after the submit).
 * `rowSquares` ([out's rows]): per-row Σx² of out, rewritten for the rows `at` after the add
 * (same additions, same bits of out; the others are left as they are).
 */
export function addRowsAt(rec: Recorder, src: Tensor<'f32'>, atT: Tensor<'u32'>, at: Uint32Array, dim: number, out: Tensor<'f32'>, rowSquares?: Tensor<'f32'>): void {
  const op = 'addRowsAt';
  if (!Number.isInteger(dim) || dim < 1) throw new Error(`${op}: expected dim ≥ 1, got ${dim}`);
  const n = at.length;
  checkTensor(op, src, 'f32', n * dim, `src [${n}, ${dim}]`);
  if (out.dtype !== 'f32' || out.numel % dim !== 0) throw new Error(`${op}: expected out as f32 [rows, ${dim}], got ${out.label} (${out.dtype}, ${out.numel} elements)`);
  const outRows = out.numel / dim;
  const seen = new Set<number>();
  for (let j = 0; j < n; j++) {
    const r = at[j]!;
    if (r >= outRows || seen.has(r)) throw new Error(`${op}: expected distinct rows < ${outRows}, got ${r} at position ${j}. HINT: fold each row once (sum duplicates first with scatterAddRows)`);
    seen.add(r);
  }
  checkTensor(op, atT, 'u32', n, `at [${n}]`);
  if (rowSquares) checkTensor(op, rowSquares, 'f32', outRows, `rowSquares [${outRows}]`);
  if (n === 0) return;
  const params = new Params().u32(n).u32(dim).u32(0).u32(0).u32(0).u32(0).u32(0).done();
  if (rowSquares) rec.dispatch(kernel('add_rows_at_sq'), [src, atT, out, rowSquares], Math.ceil(n / WG), params);
  else rec.dispatch(kernel('add_rows_at'), [src, atT, out], Math.ceil((n * dim) / WG), params);
}

/** The plan of ids that are already distinct and ascending: each its own one-position segment
 *  (what rowwiseAdam needs when the per-row gradients were summed elsewhere). `onDevice`: the
 *  same ids already uploaded (borrowed: release() leaves it to its owner). The identity
 *  `order` and `segOffsets` (host and device) are built on first use only: the optimizer reads
 *  just the rows (≈ 410k per step at 1M items, two 1.6 MB arrays and uploads saved). */
export function planDistinct(gpu: Gpu, uniqueRows: Uint32Array, rows: number, onDevice?: Tensor<'u32'>): ScatterPlan {
  const n = uniqueRows.length;
  for (let u = 0; u < n; u++) {
    if (uniqueRows[u]! >= rows || (u > 0 && uniqueRows[u]! <= uniqueRows[u - 1]!)) throw new Error(`planDistinct: expected ascending distinct ids < ${rows}, got ${uniqueRows[u]} at position ${u}. HINT: use planScatter for ids with repeats`);
  }
  if (onDevice && (onDevice.dtype !== 'u32' || onDevice.numel !== n)) throw new Error(`planDistinct: expected the uploaded ids as u32 [${n}], got ${onDevice.label} (${onDevice.dtype}, ${onDevice.numel} elements)`);
  // What planScatterHost would return for these ids, without sorting.
  let identity: Uint32Array | undefined, ends: Uint32Array | undefined;
  const order = () => (identity ??= Uint32Array.from({ length: n }, (_, u) => u));
  const segOffsets = () => (ends ??= Uint32Array.from({ length: n + 1 }, (_, u) => u));
  const host = { uniqueRows, get order() { return order(); }, get segOffsets() { return segOffsets(); } };
  const uniqueT = onDevice ?? gpu.upload(uniqueRows, [n], 'u32', 'embedding:plan_unique_rows');
  let orderT: Tensor<'u32'> | undefined, segT: Tensor<'u32'> | undefined;
  let released = false;
  return {
    uniqueRows: uniqueT,
    numUnique: n,
    get segOffsets() { return (segT ??= gpu.upload(segOffsets(), [n + 1], 'u32', 'embedding:plan_seg_offsets')); },
    get order() { return (orderT ??= gpu.upload(order(), [n], 'u32', 'embedding:plan_order')); },
    host,
    count: n,
    release() {
      if (released) return;
      released = true;
      [onDevice ? undefined : uniqueT, orderT, segT].forEach((t) => t?.release());
    },
  };
}
