// Minimal safetensors files (the format Python's `safetensors` reads): an 8-byte little-endian
// header length, a JSON header {name: {dtype, shape, data_offsets: [begin, end]}, __metadata__},
// padded with spaces to 8 bytes, then the tensors' bytes. Written by positional writes into a
// file whose layout is fixed up front, so a table is streamed chunk by chunk, never held whole.
import { closeSync, fstatSync, openSync, readSync, writeSync } from 'node:fs';

export type SafeDtype = 'I64' | 'F32' | 'BF16' | 'U32';
const DTYPE_BYTES: Record<SafeDtype, number> = { I64: 8, F32: 4, BF16: 2, U32: 4 };

export interface TensorLayout {
  name: string;
  dtype: SafeDtype;
  shape: number[];
}

export interface PlacedTensor extends TensorLayout {
  /** Absolute byte offset of the tensor's data in the file. */
  offset: number;
  bytes: number;
}

/** A safetensors file opened for positional writes of its tensors' bytes. */
export class SafetensorsWriter {
  readonly tensors = new Map<string, PlacedTensor>();
  private fd: number;

  constructor(path: string, layout: TensorLayout[], metadata: Record<string, string> = {}) {
    let off = 0;
    const header: Record<string, unknown> = { __metadata__: metadata };
    const placed: Omit<PlacedTensor, 'offset'>[] = [];
    for (const t of layout) {
      const bytes = t.shape.reduce((a, b) => a * b, 1) * DTYPE_BYTES[t.dtype];
      header[t.name] = { dtype: t.dtype, shape: t.shape, data_offsets: [off, off + bytes] };
      placed.push({ ...t, bytes });
      off += bytes;
    }
    let json = JSON.stringify(header);
    json += ' '.repeat((8 - ((8 + Buffer.byteLength(json)) % 8)) % 8);
    const hb = Buffer.from(json);
    const base = 8 + hb.length;
    let o = base;
    for (const p of placed) {
      this.tensors.set(p.name, { ...p, offset: o });
      o += p.bytes;
    }
    this.fd = openSync(path, 'w');
    const len = Buffer.alloc(8);
    len.writeBigUInt64LE(BigInt(hb.length));
    writeSync(this.fd, len, 0, 8, 0);
    writeSync(this.fd, hb, 0, hb.length, 8);
    // Size the file now (a zero-length tensor area is valid too).
    if (o > base) writeSync(this.fd, Buffer.alloc(1), 0, 1, o - 1);
  }

  /** Writes `data` at byte `byteOffset` within tensor `name`. */
  write(name: string, byteOffset: number, data: Uint8Array): void {
    const t = this.tensors.get(name);
    if (!t) throw new Error(`safetensors: no tensor ${name}`);
    if (byteOffset + data.length > t.bytes) throw new Error(`safetensors: write past the end of ${name}`);
    writeSync(this.fd, data, 0, data.length, t.offset + byteOffset);
  }

  close(): void {
    closeSync(this.fd);
  }
}

export interface SafetensorsHeader {
  metadata: Record<string, string>;
  tensors: Map<string, PlacedTensor>;
}

/** Reads and validates a safetensors header (offsets inside the file, no overlap). */
export function readSafetensorsHeader(path: string): SafetensorsHeader & { fd: number } {
  const fd = openSync(path, 'r');
  const size = fstatSync(fd).size;
  const lenBuf = Buffer.alloc(8);
  readSync(fd, lenBuf, 0, 8, 0);
  const n = Number(lenBuf.readBigUInt64LE());
  if (!(n > 0 && 8 + n <= size)) {
    closeSync(fd);
    throw new Error(`safetensors: ${path} has a bad header length ${n} (file ${size} bytes). HINT: the file is truncated or not safetensors`);
  }
  const hb = Buffer.alloc(n);
  readSync(fd, hb, 0, n, 8);
  const raw = JSON.parse(hb.toString('utf8')) as Record<string, { dtype: SafeDtype; shape: number[]; data_offsets: [number, number] }>;
  const tensors = new Map<string, PlacedTensor>();
  let metadata: Record<string, string> = {};
  for (const [name, t] of Object.entries(raw)) {
    if (name === '__metadata__') {
      metadata = t as unknown as Record<string, string>;
      continue;
    }
    const bytes = t.data_offsets[1] - t.data_offsets[0];
    if (bytes !== t.shape.reduce((a, b) => a * b, 1) * DTYPE_BYTES[t.dtype] || 8 + n + t.data_offsets[1] > size) {
      closeSync(fd);
      throw new Error(`safetensors: ${path}: tensor ${name} does not fit its shape or the file. HINT: the file is truncated or corrupt`);
    }
    tensors.set(name, { name, dtype: t.dtype, shape: t.shape, offset: 8 + n + t.data_offsets[0], bytes });
  }
  return { fd, metadata, tensors };
}

export function readAt(fd: number, offset: number, bytes: number): Buffer {
  const b = Buffer.alloc(bytes);
  let got = 0;
  while (got < bytes) {
    const r = readSync(fd, b, got, bytes - got, offset + got);
    if (r === 0) throw new Error('safetensors: unexpected end of file');
    got += r;
  }
  return b;
}
