// One embedding row as one binary value (DESIGN §7), shared by the Redis store, its Lua Functions
// (trainer/store/redis_functions.ts) and the export format:
//   [u32 version][f32 v][d × w][d × m]     little-endian; w and m f32 (4 B) or bf16 (2 B)
// `version` counts the updates the row has taken (the `cas` mode's check); `v` is the row-wise
// Adam second moment (one scalar per row).
//
// Per-row seeded init. The device table's init (model/params.ts initParams) draws the whole
// item_emb tensor from ONE stream, so row i depends on every row before it: no store that creates
// rows on first touch can reproduce it. Rows created by a store are drawn instead from a stream
// of (seed, id) alone: truncated normal(0, std) (±2 std, resampled), Box–Muller over a mulberry32
// stream seeded by fmix32 hashes of seed and id; id 0 (padding) is all zeros. Any store, any
// process, any cluster layout creates bit-identical rows for one (seed, id).
import { endianness } from 'node:os';
import { bf16BitsToF32, f32ToBf16Bits } from '../../kernels/embedding/embedding.js';

// f32 rows are copied with memcpy between Buffers and Float32Arrays: the value layout is little-
// endian, so this host must be too (every platform Node ships for today is).
if (endianness() !== 'LE') throw new Error('row codec: this host is big-endian; the row layout (little-endian) would need byte swaps. HINT: run on x86-64 or arm64');

export type RowStorage = 'f32' | 'bf16';

export const ROW_HEADER_BYTES = 8;

export const rowBytes = (dim: number, storage: RowStorage): number =>
  ROW_HEADER_BYTES + 2 * dim * (storage === 'f32' ? 4 : 2);

/** One decoded row: w and m already widened to f32 values. */
export interface DecodedRow {
  version: number;
  v: number;
}

/** Writes a row's value into `out` at byte `offset` (w and m rounded to bf16 when storage is bf16). */
export function encodeRow(
  out: Buffer, offset: number, dim: number, storage: RowStorage, version: number, v: number,
  w: ArrayLike<number>, wOff: number, m: ArrayLike<number>, mOff: number,
): void {
  out.writeUInt32LE(version >>> 0, offset);
  out.writeFloatLE(v, offset + 4);
  let o = offset + ROW_HEADER_BYTES;
  if (storage === 'f32' && w instanceof Float32Array && m instanceof Float32Array) {
    out.set(new Uint8Array(w.buffer, w.byteOffset + 4 * wOff, 4 * dim), o);
    out.set(new Uint8Array(m.buffer, m.byteOffset + 4 * mOff, 4 * dim), o + 4 * dim);
  } else if (storage === 'f32') {
    for (let c = 0; c < dim; c++, o += 4) out.writeFloatLE(w[wOff + c]!, o);
    for (let c = 0; c < dim; c++, o += 4) out.writeFloatLE(m[mOff + c]!, o);
  } else {
    for (let c = 0; c < dim; c++, o += 2) out.writeUInt16LE(f32ToBf16Bits(w[wOff + c]!), o);
    for (let c = 0; c < dim; c++, o += 2) out.writeUInt16LE(f32ToBf16Bits(m[mOff + c]!), o);
  }
}

/** Reads a row value into w/m at the given element offsets; returns version and v. */
export function decodeRow(
  buf: Buffer, offset: number, dim: number, storage: RowStorage,
  w: Float32Array, wOff: number, m: Float32Array, mOff: number,
): DecodedRow {
  const version = buf.readUInt32LE(offset);
  const v = buf.readFloatLE(offset + 4);
  const o0 = offset + ROW_HEADER_BYTES;
  if (storage === 'f32') {
    new Uint8Array(w.buffer, w.byteOffset + 4 * wOff, 4 * dim).set(buf.subarray(o0, o0 + 4 * dim));
    new Uint8Array(m.buffer, m.byteOffset + 4 * mOff, 4 * dim).set(buf.subarray(o0 + 4 * dim, o0 + 8 * dim));
  } else {
    let o = o0;
    for (let c = 0; c < dim; c++, o += 2) w[wOff + c] = bf16BitsToF32(buf.readUInt16LE(o));
    for (let c = 0; c < dim; c++, o += 2) m[mOff + c] = bf16BitsToF32(buf.readUInt16LE(o));
  }
  return { version, v };
}

function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** A well-mixed 32-bit hash of an id (bucket choice, row streams). */
export const hashId = (id: number): number => fmix32((id >>> 0) ^ 0x9e3779b9);

/**
 * The initial w of row `id` (m and v start at zero) into out[off .. off + dim): truncated
 * normal(0, std) from a stream of (seed, id) only. bf16 stores round it when they store it.
 */
export function initRow(seed: number, id: number, dim: number, std: number, out: Float32Array, off = 0): void {
  if (id === 0) {
    out.fill(0, off, off + dim);
    return;
  }
  let s = fmix32(fmix32(seed >>> 0) ^ hashId(id)) >>> 0;
  const u = (): number => {
    let t = (s = (s + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  for (let c = 0; c < dim; c++) {
    let z: number;
    do z = Math.sqrt(-2 * Math.log(Math.max(u(), 1e-300))) * Math.cos(2 * Math.PI * u());
    while (Math.abs(z) > 2);
    out[off + c] = z * std;
  }
}

/** Row-wise Adam constants as the Redis Function receives them (float64, exact decimal strings). */
export interface AdamDoubleConstants {
  lr: number; beta1: number; beta2: number; eps: number; wd: number; bc1: number; bc2: number;
}

export function adamDoubleConstants(o: { lr: number; beta1?: number; beta2?: number; eps?: number; weightDecay?: number; step: number }): AdamDoubleConstants {
  const beta1 = o.beta1 ?? 0.9, beta2 = o.beta2 ?? 0.98, eps = o.eps ?? 1e-8, wd = o.weightDecay ?? 0;
  if (!(Number.isFinite(o.lr) && o.lr >= 0)) throw new Error(`rowwise Adam: expected lr ≥ 0, got ${o.lr}`);
  if (!(beta1 >= 0 && beta1 < 1) || !(beta2 >= 0 && beta2 < 1)) throw new Error(`rowwise Adam: expected betas in [0, 1), got ${beta1}, ${beta2}`);
  if (!(eps > 0) || !(wd >= 0)) throw new Error(`rowwise Adam: expected eps > 0 and weightDecay ≥ 0, got ${eps}, ${wd}`);
  if (!(Number.isInteger(o.step) && o.step >= 1)) throw new Error(`rowwise Adam: expected an integer step ≥ 1, got ${o.step}`);
  return { lr: o.lr, beta1, beta2, eps, wd, bc1: 1 - beta1 ** o.step, bc2: 1 - beta2 ** o.step };
}

/**
 * Row-wise Adam on one encoded row, in float64 with one rounding when stored: the operations,
 * in order, of the Redis Function `emb_update` (Lua numbers are doubles), so the `atomic` (server)
 * and `cas` (worker) modes produce identical bits. Against the device kernel (f32 per operation)
 * the difference is float rounding only (a few f32 ulps). Writes the new value into `out` with
 * version + 1.
 */
export function rowwiseAdamRowDouble(
  row: Buffer, rowOff: number, out: Buffer, outOff: number, dim: number, storage: RowStorage,
  grads: ArrayLike<number>, gOff: number, k: AdamDoubleConstants,
  scratchW: Float32Array, scratchM: Float32Array,
): void {
  const { version, v } = decodeRow(row, rowOff, dim, storage, scratchW, 0, scratchM, 0);
  let sumsq = 0;
  for (let c = 0; c < dim; c++) sumsq += grads[gOff + c]! * grads[gOff + c]!;
  const vNew = k.beta2 * v + (1 - k.beta2) * (sumsq / dim);
  const denom = Math.sqrt(vNew / k.bc2) + k.eps;
  for (let c = 0; c < dim; c++) {
    const g = grads[gOff + c]!, w = scratchW[c]!;
    const mNew = k.beta1 * scratchM[c]! + (1 - k.beta1) * g;
    scratchW[c] = w - k.lr * ((mNew / k.bc1) / denom + k.wd * w);
    scratchM[c] = mNew;
  }
  // Storing: f32 rounds once (Math.fround ≡ Lua's struct.pack '<f'); bf16 rounds that f32 to bf16.
  encodeRow(out, outOff, dim, storage, (version + 1) >>> 0, vNew, scratchW, 0, scratchM, 0);
}

/** Decodes an f32 value written by Buffer.writeFloatLE (identity helper for tests). */
export const roundStoredValue = (x: number, storage: RowStorage): number =>
  storage === 'f32' ? Math.fround(x) : bf16BitsToF32(f32ToBf16Bits(x));
