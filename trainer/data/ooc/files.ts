// File plumbing of the out-of-core cache: appending writers that turn a full disk into a clear
// error, write-to-temporary + rename, completion markers, and the input's fingerprint.
import { closeSync, existsSync, fsyncSync, openSync, readFileSync, readSync, renameSync, statSync, writeSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { DataError } from '../errors.js';

/** Test hook: pretend the disk is full after this many bytes written in this process. */
export const faultInjection = { diskFullAfterBytes: Infinity, written: 0 };

function diskFull(path: string, e: unknown): DataError {
  return new DataError(
    `${path}: the disk is full (${(e as Error).message}); the preprocessing cache was left incomplete and will not be used. ` +
      'HINT: free space (df -h), or put the cache on a larger disk with --cache-dir; the next run resumes from the last completed step.',
  );
}

/** Rethrows ENOSPC/EDQUOT as a DataError with a HINT; anything else unchanged. */
export function rethrowDiskFull(path: string, e: unknown): never {
  const code = (e as NodeJS.ErrnoException).code;
  if (code === 'ENOSPC' || code === 'EDQUOT') throw diskFull(path, e);
  throw e;
}

function checkFault(path: string, bytes: number): void {
  faultInjection.written += bytes;
  if (faultInjection.written > faultInjection.diskFullAfterBytes) {
    const e = Object.assign(new Error('ENOSPC: no space left on device, write (injected)'), { code: 'ENOSPC' });
    throw diskFull(path, e);
  }
}

/** Buffered append-only binary writer (one file). */
export class AppendFile {
  private readonly fd: number;
  private buf: Buffer;
  private used = 0;
  bytes = 0;
  constructor(readonly path: string, bufferBytes: number) {
    this.fd = openSync(path, 'w');
    this.buf = Buffer.allocUnsafe(Math.max(4096, bufferBytes));
  }
  write(src: Uint8Array): void {
    if (this.used + src.length > this.buf.length) this.flush();
    if (src.length > this.buf.length) return this.writeNow(src);
    this.buf.set(src, this.used);
    this.used += src.length;
  }
  /** Reserves `n` bytes in the buffer and returns a view to fill (little-endian u32/f32 lanes). */
  reserve(n: number): Buffer {
    if (this.used + n > this.buf.length) this.flush();
    const v = this.buf.subarray(this.used, this.used + n);
    this.used += n;
    return v;
  }
  flush(): void {
    if (this.used) this.writeNow(this.buf.subarray(0, this.used));
    this.used = 0;
  }
  private writeNow(b: Uint8Array): void {
    checkFault(this.path, b.length);
    try {
      let off = 0;
      while (off < b.length) off += writeSync(this.fd, b, off, b.length - off);
    } catch (e) {
      rethrowDiskFull(this.path, e);
    }
    this.bytes += b.length;
  }
  close(sync = false): void {
    try {
      this.flush();
      if (sync) fsyncSync(this.fd);
    } finally {
      closeSync(this.fd);
    }
  }
}

/** Writes a typed array to `path` atomically (temporary file, fsync, rename). */
export function writeArrayAtomic(path: string, a: ArrayBufferView): void {
  const tmp = `${path}.tmp`;
  const f = new AppendFile(tmp, 1 << 20);
  f.write(new Uint8Array(a.buffer, a.byteOffset, a.byteLength));
  f.close(true);
  renameSync(tmp, path);
}

/** Writes text atomically. */
export function writeTextAtomic(path: string, text: string): void {
  writeArrayAtomic(path, Buffer.from(text, 'utf8'));
}

export function readJson<T>(path: string): T | undefined {
  if (!existsSync(path)) return undefined;
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as T;
  } catch {
    return undefined; // a torn marker counts as absent
  }
}

/** Reads a whole binary file as a typed array of the given kind. */
export function readU32(path: string): Uint32Array {
  const b = readFileSync(path);
  return new Uint32Array(b.buffer, b.byteOffset, b.byteLength >>> 2).slice();
}

/** What identifies a version of the input file: size, mtime and SHA-256 of its first and last MiB. */
export interface Fingerprint {
  size: number;
  mtimeMs: number;
  sampleSha256: string;
}

export function fingerprint(path: string): Fingerprint {
  const st = statSync(path);
  const h = createHash('sha256');
  const fd = openSync(path, 'r');
  try {
    const n = Math.min(st.size, 1 << 20);
    const b = Buffer.alloc(n);
    readSync(fd, b, 0, n, 0);
    h.update(b);
    if (st.size > n) {
      readSync(fd, b, 0, n, st.size - n);
      h.update(b);
    }
  } finally {
    closeSync(fd);
  }
  return { size: st.size, mtimeMs: st.mtimeMs, sampleSha256: h.digest('hex') };
}

/** Human-readable differences between two JSON-able records ('' when equal). */
export function describeDiff(what: string, a: Record<string, unknown>, b: Record<string, unknown>): string {
  const keys = [...new Set([...Object.keys(a), ...Object.keys(b)])];
  const d = keys.filter((k) => JSON.stringify(a[k]) !== JSON.stringify(b[k])).map((k) => `${k} ${JSON.stringify(a[k])} → ${JSON.stringify(b[k])}`);
  return d.length ? `${what}: ${d.join(', ')}` : '';
}
