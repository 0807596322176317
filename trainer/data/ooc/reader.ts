// Reads a finished out-of-core cache (preprocess.ts): sequence k (partition-major order) by
// positioned reads, so only the per-sequence index (16 bytes a user) is held in memory.
// Workers can take a shard: every sequence of the partitions p with p mod numShards = shard.
import { closeSync, existsSync, openSync, readFileSync, readSync } from 'node:fs';
import { join } from 'node:path';
import { DataError } from '../errors.js';
import { readJson, readU32 } from './files.js';
import { partName, type OocCacheMeta } from './preprocess.js';
import type { RawId } from '../types.js';

export interface SequenceSlice {
  user: number;
  items: Uint32Array;
  timestamps: Uint32Array;
  ratings: Float32Array;
}

export class OocCache {
  readonly meta: OocCacheMeta;
  /** Number of sequences (users) in this view. */
  readonly count: number;
  /** Per sequence: dense user, length, partition, first event within the partition's files. */
  readonly users: Uint32Array;
  readonly lengths: Uint32Array;
  /** Partition of each sequence (sequences of a partition are contiguous). */
  readonly part: Uint32Array;
  private readonly first: Float64Array;
  private readonly fds = new Map<string, number>();

  constructor(readonly dir: string, shard?: { index: number; count: number }) {
    const meta = readJson<OocCacheMeta>(join(dir, 'meta.json'));
    if (!meta) throw new DataError(`${dir}: not a finished preprocessing cache (no meta.json). HINT: rerun the preprocessing; it resumes or rebuilds it.`);
    this.meta = meta;
    const parts = meta.partitions.map((_, p) => p).filter((p) => !shard || p % shard.count === shard.index);
    if (shard && !(Number.isInteger(shard.index) && shard.index >= 0 && shard.index < shard.count)) {
      throw new DataError(`ooc: expected a shard index in [0, ${shard.count}), got ${shard.index}. HINT: --shard i/n with 0 ≤ i < n.`);
    }
    const n = parts.reduce((a, p) => a + meta.partitions[p]!.sequences, 0);
    this.count = n;
    this.users = new Uint32Array(n);
    this.lengths = new Uint32Array(n);
    this.part = new Uint32Array(n);
    this.first = new Float64Array(n);
    let k = 0;
    for (const p of parts) {
      const u = readU32(join(dir, `${partName(p)}.users`));
      const l = readU32(join(dir, `${partName(p)}.lens`));
      let off = 0;
      for (let s = 0; s < u.length; s++, k++) {
        this.users[k] = u[s]!;
        this.lengths[k] = l[s]!;
        this.part[k] = p;
        this.first[k] = off;
        off += l[s]!;
      }
    }
  }

  /** Raw item ids by dense id (index 0 = padding), for checkpoints. */
  itemRawIds(): RawId[] {
    return JSON.parse(readFileSync(join(this.dir, 'items.json'), 'utf8')) as RawId[];
  }

  private fd(p: number, kind: string): number {
    const path = join(this.dir, `${partName(p)}.${kind}`);
    let fd = this.fds.get(path);
    if (fd === undefined) {
      if (!existsSync(path)) throw new DataError(`${path}: missing from the cache. HINT: delete ${this.dir} and preprocess again.`);
      fd = openSync(path, 'r');
      this.fds.set(path, fd);
    }
    return fd;
  }

  private readInto(p: number, kind: string, firstEvent: number, out: Uint32Array | Float32Array): void {
    const bytes = Buffer.from(out.buffer, out.byteOffset, out.byteLength);
    let got = 0;
    while (got < bytes.length) {
      const n = readSync(this.fd(p, kind), bytes, got, bytes.length - got, firstEvent * 4 + got);
      if (n === 0) throw new DataError(`${this.dir}: ${partName(p)}.${kind} is shorter than its index says. HINT: delete the cache directory and preprocess again.`);
      got += n;
    }
  }

  /** Events [from, to) of sequence k (clamped to its length). */
  read(k: number, from = 0, to = Infinity): SequenceSlice {
    const len = this.lengths[k]!;
    const a = Math.max(0, Math.min(from, len));
    const b = Math.max(a, Math.min(to, len));
    const p = this.part[k]!;
    const e0 = this.first[k]! + a;
    const items = new Uint32Array(b - a);
    const timestamps = new Uint32Array(b - a);
    const ratings = new Float32Array(b - a);
    if (b > a) {
      this.readInto(p, 'items', e0, items);
      this.readInto(p, 'times', e0, timestamps);
      if (this.meta.hasRatings) this.readInto(p, 'ratings', e0, ratings);
    }
    return { user: this.users[k]!, items, timestamps, ratings };
  }

  close(): void {
    for (const fd of this.fds.values()) closeSync(fd);
    this.fds.clear();
  }
}
