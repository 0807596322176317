// Out-of-core preprocessing: an unsorted event log (Parquet, any size) → per-user, time-ordered
// sequences on disk, with memory bounded by `memoryMB` for the events (the id maps, O(users +
// items), are held in memory as well):
//   pass 1 (streaming): read row group by row group, give users and items ids in a streaming
//     id map, append each event (16 bytes) to partition hash(user) mod P on disk;
//   pass 2 (per partition): read it, renumber ids densely (ascending raw id, as the in-memory
//     loader does), group by user (counting sort), order each user's events by (time, log
//     order), write the partition's sequences.
// The cache lives in <cacheRoot>/<name>/ (meta.json written last, the directory renamed from
// <name>.building/ only when complete). It is keyed by the input's fingerprint (size, mtime,
// SHA-256 of its first and last MiB) and the options: a cache from another file version or
// other options is rebuilt, with a note. A killed run resumes: pass 1 is redone if it had not
// finished, finished partitions of pass 2 are kept (each has a marker written after its files).
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { homedir } from 'node:os';
import { basename, join, resolve } from 'node:path';
import { createHash } from 'node:crypto';
import { DataError } from '../errors.js';
import { GrowableU32 } from '../growable.js';
import { compareRawIds, toRawId } from '../idmap.js';
import { forEachParquetBatch, openParquet, type ParquetColumns } from '../parquet.js';
import { mixSeed } from '../rng.js';
import { PAD_ITEM, PAD_RAW_ID, type RawId } from '../types.js';
import { AppendFile, describeDiff, fingerprint, readJson, readU32, rethrowDiskFull, writeArrayAtomic, writeTextAtomic, type Fingerprint } from './files.js';

export const OOC_CACHE_VERSION = 1;
/** Bytes of one event in a pass-1 partition file: user, item (temporary ids), time, rating. */
const RECORD_BYTES = 16;
/** Bytes of memory per event while pass 2 sorts a partition (records, ids, order, outputs). */
const SORT_BYTES_PER_EVENT = 48;

export interface OocOptions {
  /** Root of the caches; default $HSTU_CACHE_DIR or ~/.cache/hstu-webgpu. */
  cacheDir?: string;
  /** Memory for events (partition buffers in pass 1, one partition in pass 2); default 1024. */
  memoryMB?: number;
  columns?: ParquetColumns;
  onInfo?: (message: string) => void;
  /** Number of partitions; default from the row count and memoryMB. */
  partitions?: number;
  /** Test hook: stop (throw) after this many pass-2 partitions, as if killed. */
  stopAfterPartitions?: number;
}

export interface OocPartition {
  sequences: number;
  events: number;
}

export interface OocCacheMeta {
  version: number;
  source: string;
  fingerprint: Fingerprint;
  options: { columns: ParquetColumns };
  numUsers: number;
  /** Max dense item id + 1 (0 = padding). */
  numItems: number;
  count: number;
  hasRatings: boolean;
  timestampsSynthetic: boolean;
  partitions: OocPartition[];
}

interface BuildState {
  version: number;
  fingerprint: Fingerprint;
  options: { columns: ParquetColumns };
  numPartitions: number;
}

interface Pass1Result {
  count: number;
  numUsers: number;
  numItems: number;
  hasRatings: boolean;
  timestampsSynthetic: boolean;
}

/** Raw id → temporary id in order of first appearance; numbers kept in a number-keyed map (fast
 * path for integer columns). Raw ids follow the text loaders' rules (`toRawId`). */
class StreamIdMap {
  private readonly nums = new Map<number, number>();
  private readonly strs = new Map<string, number>();
  private readonly raw: RawId[] = [];
  id(v: string | number): number {
    const r = typeof v === 'number' && Number.isSafeInteger(v) && v >= 0 ? v : toRawId(String(v));
    const m = typeof r === 'number' ? this.nums : this.strs;
    let t = (m as Map<RawId, number>).get(r);
    if (t === undefined) {
      t = this.raw.length;
      (m as Map<RawId, number>).set(r, t);
      this.raw.push(r);
    }
    return t;
  }
  get size(): number {
    return this.raw.length;
  }
  /** remap[temp] = dense (from `base`, ascending raw id), rawIds[dense]. */
  finish(base: number): { remap: Uint32Array; rawIds: RawId[] } {
    const order = Array.from(this.raw.keys()).sort((x, y) => compareRawIds(this.raw[x]!, this.raw[y]!));
    const remap = new Uint32Array(this.raw.length);
    const rawIds: RawId[] = new Array<RawId>(base).fill(PAD_RAW_ID);
    order.forEach((t, k) => {
      remap[t] = base + k;
      rawIds.push(this.raw[t]!);
    });
    return { remap, rawIds };
  }
}

export function defaultCacheRoot(): string {
  return process.env.HSTU_CACHE_DIR || join(homedir(), '.cache', 'hstu-webgpu');
}

/** The cache directory of an input: its base name plus a hash of its absolute path. */
export function cacheDirFor(input: string, root = defaultCacheRoot()): string {
  const abs = resolve(input);
  return join(root, `${basename(abs).replace(/[^A-Za-z0-9._-]/g, '_')}-${createHash('sha256').update(abs).digest('hex').slice(0, 12)}`);
}

const partName = (p: number) => `part-${String(p).padStart(5, '0')}`;

/**
 * Builds (or reuses, or resumes) the sequence cache of a Parquet log. Returns its directory and
 * metadata; read it with `OocCache` (reader.ts).
 */
export async function preprocessLog(input: string, o: OocOptions = {}): Promise<{ dir: string; meta: OocCacheMeta; reused: boolean }> {
  const info = o.onInfo ?? (() => {});
  if (!existsSync(input)) throw new DataError(`${input}: file not found. HINT: check the path (make a synthetic log with npm run synth).`);
  const fp = fingerprint(input);
  const options = { columns: o.columns ?? {} };
  const dir = cacheDirFor(input, o.cacheDir);
  const building = `${dir}.building`;
  const want = { version: OOC_CACHE_VERSION, ...fp, ...options.columns };

  const done = readJson<OocCacheMeta>(join(dir, 'meta.json'));
  if (done) {
    const diff = describeDiff('input changed', { version: done.version, ...done.fingerprint }, { version: OOC_CACHE_VERSION, ...fp }) ||
      describeDiff('options changed', done.options.columns as Record<string, unknown>, options.columns as Record<string, unknown>);
    if (!diff) {
      info(`ooc: reusing the cache ${dir} (${done.count} events, ${done.numUsers} users, ${done.numItems - 1} items)`);
      return { dir, meta: done, reused: true };
    }
    info(`ooc: note: the cache ${dir} is out of date (${diff}); rebuilding it`);
    rmSync(dir, { recursive: true, force: true });
  } else if (existsSync(dir)) {
    info(`ooc: note: ${dir} has no meta.json (incomplete); rebuilding it`);
    rmSync(dir, { recursive: true, force: true });
  }

  let state = readJson<BuildState>(join(building, 'state.json'));
  if (state) {
    const diff = describeDiff('input or options changed', { version: state.version, ...state.fingerprint, ...state.options.columns }, want);
    if (diff) {
      info(`ooc: note: discarding the interrupted build in ${building} (${diff})`);
      rmSync(building, { recursive: true, force: true });
      state = undefined;
    }
  } else if (existsSync(building)) rmSync(building, { recursive: true, force: true });

  const memoryBytes = (o.memoryMB ?? 1024) * 2 ** 20;
  if (!(memoryBytes >= 16 * 2 ** 20)) throw new DataError(`ooc: expected a memory budget of at least 16 MB, got ${o.memoryMB}. HINT: --ooc-memory-mb 1024`);
  if (!state) {
    const { info: pq } = await openParquet(input, options.columns);
    const numPartitions = o.partitions ?? Math.max(1, Math.ceil((pq.numRows * SORT_BYTES_PER_EVENT) / (memoryBytes / 2)));
    state = { version: OOC_CACHE_VERSION, fingerprint: fp, options, numPartitions };
    try {
      mkdirSync(building, { recursive: true });
      writeTextAtomic(join(building, 'state.json'), JSON.stringify(state));
    } catch (e) {
      rethrowDiskFull(building, e);
    }
  }
  const P = state.numPartitions;

  let p1 = readJson<Pass1Result>(join(building, 'pass1.json'));
  if (p1) info(`ooc: resuming the interrupted build in ${building}: pass 1 is done`);
  else p1 = await pass1(input, building, P, options.columns, memoryBytes, info);

  const userRemap = readU32(join(building, 'user_remap.u32'));
  const itemRemap = readU32(join(building, 'item_remap.u32'));
  const partitions: OocPartition[] = [];
  let resumed = 0;
  const t0 = performance.now();
  for (let p = 0; p < P; p++) {
    const marker = readJson<OocPartition>(join(building, `${partName(p)}.json`));
    if (marker) {
      partitions.push(marker);
      resumed++;
      continue;
    }
    if (o.stopAfterPartitions !== undefined && partitions.length - resumed >= o.stopAfterPartitions) {
      throw new DataError(`ooc: stopped after ${o.stopAfterPartitions} partitions (test hook)`);
    }
    partitions.push(sortPartition(building, p, userRemap, itemRemap, p1.hasRatings));
    if (P > 1 && (p === P - 1 || p % Math.max(1, Math.floor(P / 10)) === 0)) {
      info(`ooc: pass 2: ${p + 1}/${P} partitions sorted (${((performance.now() - t0) / 1000).toFixed(1)} s)`);
    }
  }
  if (resumed) info(`ooc: resumed: ${resumed}/${P} partitions were already sorted`);

  const meta: OocCacheMeta = {
    version: OOC_CACHE_VERSION,
    source: resolve(input),
    fingerprint: fp,
    options,
    numUsers: p1.numUsers,
    numItems: p1.numItems,
    count: p1.count,
    hasRatings: p1.hasRatings,
    timestampsSynthetic: p1.timestampsSynthetic,
    partitions,
  };
  try {
    for (const f of ['user_remap.u32', 'item_remap.u32']) rmSync(join(building, f), { force: true });
    writeTextAtomic(join(building, 'meta.json'), JSON.stringify(meta));
    renameSync(building, dir);
  } catch (e) {
    rethrowDiskFull(dir, e);
  }
  info(`ooc: built ${dir}: ${meta.count} events, ${meta.numUsers} users, ${meta.numItems - 1} items in ${P} partitions`);
  return { dir, meta, reused: false };
}

async function pass1(input: string, dir: string, P: number, columns: ParquetColumns, memoryBytes: number, info: (m: string) => void): Promise<Pass1Result> {
  const users = new StreamIdMap();
  const items = new StreamIdMap();
  const perUser = new GrowableU32(1024); // events so far per temporary user (synthetic time)
  // Staging per partition, `cap` records each; all of them use at most a quarter of the budget.
  const cap = Math.max(256, Math.floor(memoryBytes / 4 / P / RECORD_BYTES));
  const stage = Array.from({ length: P }, () => new Uint32Array(cap * 4));
  const stageF = stage.map((s) => new Float32Array(s.buffer));
  const fill = new Int32Array(P);
  const files = Array.from({ length: P }, (_, p) => new AppendFile(join(dir, `${partName(p)}.events`), 64 << 10));
  const flush = (p: number) => {
    files[p]!.write(new Uint8Array(stage[p]!.buffer, 0, fill[p]! * RECORD_BYTES));
    fill[p] = 0;
  };
  let count = 0;
  let hasTime = true;
  let hasRatings = false;
  const t0 = performance.now();
  let lastLog = 0;
  try {
    await forEachParquetBatch(input, columns, (b, pq) => {
      hasTime = b.timestamps !== null;
      hasRatings = b.ratings !== null;
      for (let r = 0; r < b.count; r++) {
        const u = users.id(b.users[r]!);
        if (u === perUser.length) perUser.push(0);
        const t = b.timestamps ? b.timestamps[r]! : perUser.get(u);
        perUser.set(u, perUser.get(u) + 1);
        const p = P === 1 ? 0 : mixSeed(u) % P;
        const k = fill[p]!++ * 4;
        const s = stage[p]!;
        s[k] = u;
        s[k + 1] = items.id(b.items[r]!);
        s[k + 2] = t;
        stageF[p]![k + 3] = b.ratings ? b.ratings[r]! : 0;
        if (fill[p] === cap) flush(p);
      }
      count += b.count;
      const el = (performance.now() - t0) / 1000;
      if (el - lastLog > 5) {
        lastLog = el;
        info(`ooc: pass 1: ${count} / ${pq.numRows} events (${Math.round(count / el)} events/s), ${users.size} users, ${items.size} items`);
      }
    });
    for (let p = 0; p < P; p++) flush(p);
  } finally {
    for (const f of files) f.close();
  }
  if (count === 0) throw new DataError(`${input}: no interactions: the Parquet file has no rows. HINT: check the export.`);
  const um = users.finish(0);
  const im = items.finish(PAD_ITEM + 1);
  writeArrayAtomic(join(dir, 'user_remap.u32'), um.remap);
  writeArrayAtomic(join(dir, 'item_remap.u32'), im.remap);
  writeTextAtomic(join(dir, 'users.json'), JSON.stringify(um.rawIds));
  writeTextAtomic(join(dir, 'items.json'), JSON.stringify(im.rawIds));
  const r: Pass1Result = { count, numUsers: um.rawIds.length, numItems: im.rawIds.length, hasRatings, timestampsSynthetic: !hasTime };
  writeTextAtomic(join(dir, 'pass1.json'), JSON.stringify(r));
  info(`ooc: pass 1: ${count} events, ${r.numUsers} users, ${r.numItems - 1} items into ${P} partitions in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  return r;
}

/** Pass 2 for one partition: group by dense user (ascending), order each user's events by
 * (time, log order), write <part>.{users,lens,items,times[,ratings]} then the marker. */
function sortPartition(dir: string, p: number, userRemap: Uint32Array, itemRemap: Uint32Array, hasRatings: boolean): OocPartition {
  const name = partName(p);
  const src = join(dir, `${name}.events`);
  const raw = readFileSync(src);
  const n = raw.byteLength / RECORD_BYTES;
  const rec = new Uint32Array(raw.buffer, raw.byteOffset, n * 4);
  const recF = new Float32Array(raw.buffer, raw.byteOffset, n * 4);
  // Local user index in order of first appearance, then counting sort by dense user id.
  const local = new Map<number, number>();
  const localDense: number[] = [];
  const ev = new Uint32Array(n);
  for (let e = 0; e < n; e++) {
    const d = userRemap[rec[4 * e]!]!;
    let l = local.get(d);
    if (l === undefined) {
      l = localDense.length;
      local.set(d, l);
      localDense.push(d);
    }
    ev[e] = l;
  }
  const U = localDense.length;
  const byDense = Array.from(localDense.keys()).sort((a, b) => localDense[a]! - localDense[b]!);
  const rank = new Uint32Array(U);
  byDense.forEach((l, k) => (rank[l] = k));
  const start = new Uint32Array(U + 1);
  for (let e = 0; e < n; e++) start[rank[ev[e]!]! + 1]!++;
  for (let k = 0; k < U; k++) start[k + 1]! += start[k]!;
  const order = new Uint32Array(n);
  const pos = start.slice(0, U);
  for (let e = 0; e < n; e++) order[pos[rank[ev[e]!]!]!++] = e; // stable: log order kept
  const lens = new Uint32Array(U);
  const seqUsers = new Uint32Array(U);
  for (let k = 0; k < U; k++) {
    seqUsers[k] = localDense[byDense[k]!]!;
    const a = start[k]!;
    const b = start[k + 1]!;
    lens[k] = b - a;
    let sorted = true;
    for (let i = a + 1; i < b && sorted; i++) sorted = rec[4 * order[i]! + 2]! >= rec[4 * order[i - 1]! + 2]!;
    if (!sorted) {
      const seg = Array.from(order.subarray(a, b)).sort((x, y) => rec[4 * x + 2]! - rec[4 * y + 2]! || x - y);
      order.set(seg, a);
    }
  }
  const items = new Uint32Array(n);
  const times = new Uint32Array(n);
  const ratings = hasRatings ? new Float32Array(n) : null;
  for (let i = 0; i < n; i++) {
    const e = order[i]!;
    items[i] = itemRemap[rec[4 * e + 1]!]!;
    times[i] = rec[4 * e + 2]!;
    if (ratings) ratings[i] = recF[4 * e + 3]!;
  }
  writeArrayAtomic(join(dir, `${name}.users`), seqUsers);
  writeArrayAtomic(join(dir, `${name}.lens`), lens);
  writeArrayAtomic(join(dir, `${name}.items`), items);
  writeArrayAtomic(join(dir, `${name}.times`), times);
  if (ratings) writeArrayAtomic(join(dir, `${name}.ratings`), ratings);
  const r: OocPartition = { sequences: U, events: n };
  writeTextAtomic(join(dir, `${name}.json`), JSON.stringify(r));
  rmSync(src, { force: true });
  return r;
}

export { partName };
