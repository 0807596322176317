// Reading and writing chosen rows (w, m, v) of a device EmbeddingTable from the host, bit-exact
// for f32 and bf16 storage: the device cache loads rows into slots and writes evicted rows back
// with these, and the `device` store serves read/write with them. Consecutive rows of one shard
// move as one copy (the cache hands out slots so that runs are common).
import type { EmbeddingTable } from '../../kernels/embedding/embedding.js';
import { bf16BitsToF32, f32ToBf16Bits } from '../../kernels/embedding/embedding.js';
import type { RowBlock } from './store.js';

interface Run {
  /** Index into the caller's (sorted) order of the run's first row. */
  k: number;
  n: number;
  shard: number;
  /** First row of the run inside its shard. */
  local: number;
}

/** Positions of `rows` sorted by row, cut into runs of consecutive rows within one shard. */
function runsOf(table: EmbeddingTable, rows: Uint32Array): { order: Uint32Array; runs: Run[] } {
  const order = Uint32Array.from(rows.keys()).sort((a, b) => rows[a]! - rows[b]!);
  const runs: Run[] = [];
  for (let k = 0; k < order.length; k++) {
    const r = rows[order[k]!]!;
    if (r >= table.rows) throw new Error(`table ${table.label}: row ${r} is outside its ${table.rows} rows`);
    const s = table.shardOf(r);
    const last = runs[runs.length - 1];
    if (last && last.shard === s && rows[order[last.k + last.n - 1]!]! + 1 === r) last.n++;
    else runs.push({ k, n: 1, shard: s, local: r - table.shards[s]!.rowBase });
  }
  return { order, runs };
}

function packRow(src: Float32Array, off: number, dim: number, bf16: boolean, out: Uint32Array, o: number, rowWords: number): void {
  if (!bf16) {
    out.set(new Uint32Array(src.buffer, src.byteOffset + off * 4, dim), o);
    return;
  }
  for (let j = 0; j < rowWords; j++) {
    const lo = f32ToBf16Bits(src[off + 2 * j]!);
    const hi = 2 * j + 1 < dim ? f32ToBf16Bits(src[off + 2 * j + 1]!) : 0;
    out[o + j] = (lo | (hi << 16)) >>> 0;
  }
}

function unpackRow(words: Uint32Array, o: number, dim: number, bf16: boolean, dst: Float32Array, off: number): void {
  if (!bf16) {
    dst.set(new Float32Array(words.buffer, words.byteOffset + o * 4, dim), off);
    return;
  }
  for (let c = 0; c < dim; c++) {
    const w = words[o + (c >> 1)]!;
    dst[off + c] = bf16BitsToF32(c & 1 ? w >>> 16 : w & 0xffff);
  }
}

/** Writes block row i into table row rows[i] (w, m and v when the table has optimizer state;
 *  bf16 tables round to nearest even). Queue-ordered after work already submitted. */
export function writeTableRows(table: EmbeddingTable, rows: Uint32Array, b: RowBlock): void {
  const d = table.dim, rw = table.rowWords, bf16 = table.storage === 'bf16';
  const q = table.gpu.device.queue;
  const { order, runs } = runsOf(table, rows);
  for (const run of runs) {
    const shard = table.shards[run.shard]!;
    const ww = new Uint32Array(run.n * rw);
    const mw = table.hasOptimizerState ? new Uint32Array(run.n * rw) : undefined;
    const vv = new Float32Array(run.n);
    for (let j = 0; j < run.n; j++) {
      const i = order[run.k + j]!;
      packRow(b.w, i * d, d, bf16, ww, j * rw, rw);
      if (mw) packRow(b.m, i * d, d, bf16, mw, j * rw, rw);
      vv[j] = b.v[i]!;
    }
    q.writeBuffer(shard.w, run.local * rw * 4, ww.buffer, 0, ww.byteLength);
    if (mw) {
      q.writeBuffer(shard.m!, run.local * rw * 4, mw.buffer, 0, mw.byteLength);
      q.writeBuffer(shard.v!, run.local * 4, vv.buffer, 0, vv.byteLength);
    }
  }
}

/** Reads table rows `rows` (w, m, v; m and v zero without optimizer state) into a RowBlock whose
 *  ids are `ids` (default: the rows themselves). Bit-exact: bf16 is widened exactly. */
export async function readTableRows(table: EmbeddingTable, rows: Uint32Array, ids: Uint32Array = rows): Promise<RowBlock> {
  const d = table.dim, rw = table.rowWords, bf16 = table.storage === 'bf16', n = rows.length;
  const out: RowBlock = { ids: Uint32Array.from(ids), w: new Float32Array(n * d), m: new Float32Array(n * d), v: new Float32Array(n) };
  if (n === 0) return out;
  const { order, runs } = runsOf(table, rows);
  const hasState = table.hasOptimizerState;
  // Staging layout: all w words, then all m words, then all v values, in sorted order.
  const wBytes = n * rw * 4;
  const size = hasState ? 2 * wBytes + n * 4 : wBytes;
  const dev = table.gpu.device;
  const staging = dev.createBuffer({ label: `${table.label}:rows_readback`, size, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
  const enc = dev.createCommandEncoder({ label: `${table.label}:rows_readback` });
  for (const run of runs) {
    const shard = table.shards[run.shard]!;
    enc.copyBufferToBuffer(shard.w, run.local * rw * 4, staging, run.k * rw * 4, run.n * rw * 4);
    if (hasState) {
      enc.copyBufferToBuffer(shard.m!, run.local * rw * 4, staging, wBytes + run.k * rw * 4, run.n * rw * 4);
      enc.copyBufferToBuffer(shard.v!, run.local * 4, staging, 2 * wBytes + run.k * 4, run.n * 4);
    }
  }
  dev.queue.submit([enc.finish()]);
  await staging.mapAsync(GPUMapMode.READ);
  const words = new Uint32Array(staging.getMappedRange().slice(0));
  staging.unmap();
  staging.destroy();
  const v = hasState ? new Float32Array(words.buffer, 2 * wBytes, n) : new Float32Array(0);
  for (let k = 0; k < n; k++) {
    const i = order[k]!;
    unpackRow(words, k * rw, d, bf16, out.w, i * d);
    if (hasState) {
      unpackRow(words, n * rw + k * rw, d, bf16, out.m, i * d);
      out.v[i] = v[k]!;
    }
  }
  return out;
}
