// A table's rows and row-wise Adam state streamed to / from one file, chunk by chunk (never one
// buffer of the whole table): checkpoints of the host tier write it beside the protobuf manifest.
// Layout (little-endian):
//   "HSTUROWS" | u32 header bytes | header JSON {version, rows, dim, storage, chunkRows, step}
//   per chunk of n rows: w [n·dim] | m [n·dim] | v [n] f32     (w and m: f32, or bf16 as u16)
//   trailer: u32 crc32 of every byte before it | "ROWSEND!"
// Written to a temp file, fsync'd and renamed, so a crash leaves the previous file whole; the
// trailer catches a truncated or damaged copy on load.
import { closeSync, fsyncSync, openSync, readSync, renameSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { crc32 } from 'node:zlib';
import { f32ToBf16Bits, bf16BitsToF32 } from '../../kernels/embedding/embedding.js';
import type { EmbeddingStore, RowStorage } from './store.js';

const MAGIC = 'HSTUROWS';
const END = 'ROWSEND!';
export const ROWS_FILE_VERSION = 1;
/** Rows per streamed chunk (64k rows × d = 64 f32: 16 MiB per part). */
const CHUNK = 1 << 16;

export interface RowsFileHeader {
  version: number;
  rows: number;
  dim: number;
  storage: RowStorage;
  chunkRows: number;
  /** Training step the rows belong to (the manifest names the same step). */
  step: number;
}

/** Streams every row of `store` to `path` atomically; returns the header and the file's crc32. */
export async function writeRowsFile(path: string, store: EmbeddingStore, step: number): Promise<{ header: RowsFileHeader; crc: number; bytes: number }> {
  const header: RowsFileHeader = { version: ROWS_FILE_VERSION, rows: store.rows, dim: store.dim, storage: store.storage, chunkRows: CHUNK, step };
  const tmp = join(dirname(path), `.${basename(path)}.tmp-${process.pid}`);
  const fd = openSync(tmp, 'w');
  let crc = 0, bytes = 0;
  const put = (b: Uint8Array) => {
    writeSync(fd, b);
    crc = crc32(b, crc);
    bytes += b.length;
  };
  try {
    const json = Buffer.from(JSON.stringify(header));
    put(Buffer.from(MAGIC));
    put(new Uint8Array(Uint32Array.of(json.length).buffer));
    put(json);
    const bf16 = store.storage === 'bf16';
    for await (const blk of store.scan(CHUNK)) {
      for (const part of [blk.w, blk.m]) {
        if (bf16) {
          const h = new Uint16Array(part.length);
          for (let i = 0; i < part.length; i++) h[i] = f32ToBf16Bits(part[i]!);
          put(new Uint8Array(h.buffer));
        } else put(new Uint8Array(part.buffer, part.byteOffset, part.byteLength));
      }
      put(new Uint8Array(blk.v.buffer, blk.v.byteOffset, blk.v.byteLength));
    }
    writeSync(fd, new Uint8Array(Uint32Array.of(crc).buffer));
    writeSync(fd, Buffer.from(END));
    fsyncSync(fd);
  } catch (e) {
    closeSync(fd);
    unlinkSync(tmp);
    throw e;
  }
  closeSync(fd);
  renameSync(tmp, path);
  return { header, crc, bytes: bytes + 4 + END.length };
}

function readExact(fd: number, n: number, pos: number, path: string, into?: Uint8Array): Uint8Array {
  const b = into ? into.subarray(0, n) : new Uint8Array(n);
  let got = 0;
  while (got < n) {
    const k = readSync(fd, b, got, n - got, pos + got);
    if (k === 0) throw new Error(`${path}: ends after ${pos + got} bytes, expected more. HINT: the rows file is truncated; use an earlier checkpoint.`);
    got += k;
  }
  return b;
}

const text = (b: Uint8Array, enc: 'latin1' | 'utf8') => Buffer.from(b.buffer, b.byteOffset, b.length).toString(enc);
const u32At = (b: Uint8Array) => new DataView(b.buffer, b.byteOffset, 4).getUint32(0, true);

/** Reads the header (and checks the trailer's place) without loading rows. */
export function readRowsHeader(path: string): RowsFileHeader {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (e) {
    throw new Error(`cannot read rows file ${path}: ${(e as Error).message}. HINT: a host-tier checkpoint is two files (<name>.hstu and its .rows file); keep them together.`);
  }
  try {
    const magic = text(readExact(fd, 8, 0, path), 'latin1');
    if (magic !== MAGIC) throw new Error(`${path}: not a rows file (magic "${magic.replace(/[^\x20-\x7e]/g, '?')}"). HINT: pass the .rows file written with the checkpoint.`);
    const len = u32At(readExact(fd, 4, 8, path));
    const h = JSON.parse(text(readExact(fd, len, 12, path), 'utf8')) as RowsFileHeader;
    if (h.version !== ROWS_FILE_VERSION) throw new Error(`${path}: rows file version ${h.version}, this build reads ${ROWS_FILE_VERSION}`);
    return h;
  } finally {
    closeSync(fd);
  }
}

/** Streams a rows file into `store` (same rows, dim and storage), verifying size and crc32. */
export async function readRowsFile(path: string, store: EmbeddingStore, expect: { step?: number; crc?: number } = {}): Promise<RowsFileHeader> {
  const h = readRowsHeader(path);
  if (h.rows !== store.rows || h.dim !== store.dim) throw new Error(`${path}: holds a table of ${h.rows} rows × ${h.dim}, this run's item table is ${store.rows} × ${store.dim}. HINT: the checkpoint was trained on other data (a different number of items) or another dim; resume with the data and config it was trained with.`);
  if (h.storage !== store.storage) throw new Error(`${path}: holds ${h.storage} rows, this run stores ${store.storage}. HINT: resume with --embeddingBf16=${h.storage === 'bf16'}.`);
  if (expect.step !== undefined && h.step !== expect.step) throw new Error(`${path}: rows of step ${h.step}, the checkpoint is at step ${expect.step}. HINT: the two files come from different saves; use a matching pair.`);
  const eb = h.storage === 'bf16' ? 2 : 4;
  const fd = openSync(path, 'r');
  try {
    const jsonLen = u32At(readExact(fd, 4, 8, path));
    let pos = 12 + jsonLen;
    const dataBytes = h.rows * (2 * h.dim * eb + 4);
    const size = statSync(path).size;
    if (size !== pos + dataBytes + 4 + END.length) throw new Error(`${path}: is ${size} bytes, a table of ${h.rows} × ${h.dim} ${h.storage} needs ${pos + dataBytes + 4 + END.length}. HINT: the rows file is truncated or damaged; use an earlier checkpoint.`);
    let crc = crc32(readExact(fd, pos, 0, path));
    const d = h.dim;
    // One set of buffers reused for every chunk: reading a multi-GB file never piles up garbage.
    const cap = Math.min(h.chunkRows, h.rows);
    const raw = new Uint8Array(cap * d * eb);
    const w = new Float32Array(cap * d), m = new Float32Array(cap * d), v = new Float32Array(cap);
    const ids = new Uint32Array(cap);
    for (let r0 = 0; r0 < h.rows; r0 += h.chunkRows) {
      const n = Math.min(h.chunkRows, h.rows - r0);
      const part = (dst: Float32Array): Float32Array => {
        const b = readExact(fd, n * d * eb, pos, path, raw);
        pos += b.length;
        crc = crc32(b, crc);
        const out = dst.subarray(0, n * d);
        if (eb === 4) out.set(new Float32Array(b.buffer, 0, n * d));
        else {
          const u = new Uint16Array(b.buffer, 0, n * d);
          for (let i = 0; i < u.length; i++) out[i] = bf16BitsToF32(u[i]!);
        }
        return out;
      };
      const wn = part(w), mn = part(m);
      const vb = readExact(fd, n * 4, pos, path, raw);
      pos += vb.length;
      crc = crc32(vb, crc);
      const vn = v.subarray(0, n);
      vn.set(new Float32Array(vb.buffer, 0, n));
      const idn = ids.subarray(0, n);
      for (let i = 0; i < n; i++) idn[i] = r0 + i;
      await store.write({ ids: idn, w: wn, m: mn, v: vn });
    }
    const trailer = readExact(fd, 4 + END.length, pos, path);
    const want = u32At(trailer);
    if (text(trailer.subarray(4), 'latin1') !== END || want !== crc >>> 0 || (expect.crc !== undefined && expect.crc !== want)) {
      throw new Error(`${path}: checksum mismatch (file says ${want.toString(16)}, data gives ${(crc >>> 0).toString(16)}). HINT: the rows file is damaged; use an earlier checkpoint.`);
    }
    return h;
  } finally {
    closeSync(fd);
  }
}
