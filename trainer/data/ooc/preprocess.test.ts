// Out-of-core preprocessing against the in-memory loader on an unsorted log; cache reuse,
// rebuild on a changed file or options, resume after a kill, a full disk; streamed batches.
import { existsSync, mkdtempSync, rmSync, utimesSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ParquetWriter, fileWriter } from 'hyparquet-writer';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { loadInteractions } from '../load.js';
import { buildSequences } from '../sequences.js';
import { DataRng } from '../rng.js';
import { faultInjection } from './files.js';
import { preprocessLog, cacheDirFor } from './preprocess.js';
import { OocCache } from './reader.js';
import { countStreamBatches, evalSample, streamTrainBatches, trainEvents } from './stream_batches.js';

let dir = '';
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'hstu-ooc-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));
afterEach(() => {
  faultInjection.diskFullAfterBytes = Infinity;
  faultInjection.written = 0;
});

/** An unsorted log: n events of `users` users (string ids), random times with ties, ratings. */
function writeLog(name: string, n: number, users: number, seed: number, groupRows = 700): string {
  const rng = new DataRng(seed);
  const u: string[] = [];
  const i = new Int32Array(n);
  const t = new BigInt64Array(n);
  const r = new Float32Array(n);
  for (let e = 0; e < n; e++) {
    u.push(`u${rng.int(0, users - 1)}`);
    i[e] = rng.int(1, 300) * 7;
    t[e] = BigInt(rng.int(0, 500));
    r[e] = rng.int(1, 5);
  }
  const p = join(dir, name);
  const w = new ParquetWriter({
    writer: fileWriter(p),
    schema: [
      { name: 'root', num_children: 4 },
      { name: 'user', type: 'BYTE_ARRAY', converted_type: 'UTF8', repetition_type: 'REQUIRED' },
      { name: 'item', type: 'INT32', repetition_type: 'REQUIRED' },
      { name: 'timestamp', type: 'INT64', repetition_type: 'REQUIRED' },
      { name: 'rating', type: 'FLOAT', repetition_type: 'REQUIRED' },
    ],
  });
  for (let s = 0; s < n; s += groupRows) {
    const e = Math.min(n, s + groupRows);
    w.write({ rowGroupSize: e - s, columnData: [{ name: 'user', data: u.slice(s, e) }, { name: 'item', data: i.slice(s, e) }, { name: 'timestamp', data: t.slice(s, e) }, { name: 'rating', data: r.slice(s, e) }] });
  }
  w.finish();
  return p;
}

describe('out-of-core preprocessing', () => {
  it('gives every user the same time-ordered sequence and dense ids as the in-memory loader', async () => {
    const log = writeLog('a.parquet', 5000, 120, 1);
    const notes: string[] = [];
    const { dir: cdir, meta, reused } = await preprocessLog(log, { cacheDir: join(dir, 'cache'), partitions: 5, onInfo: (m) => notes.push(m) });
    expect(reused).toBe(false);
    const x = await loadInteractions(log, 'parquet');
    const s = buildSequences(x);
    expect([meta.count, meta.numUsers, meta.numItems]).toEqual([x.count, x.numUsers, x.numItems]);
    const cache = new OocCache(cdir);
    expect(cache.itemRawIds()).toEqual(x.itemRawIds);
    expect(cache.count).toBe(x.numUsers);
    const seen = new Set<number>();
    for (let k = 0; k < cache.count; k++) {
      const q = cache.read(k);
      const u = q.user;
      seen.add(u);
      const a = s.offsets[u]!;
      const b = s.offsets[u + 1]!;
      expect(Array.from(q.items), `user ${u}`).toEqual(Array.from(s.items.subarray(a, b)));
      expect(Array.from(q.timestamps)).toEqual(Array.from(s.timestamps.subarray(a, b)));
      expect(Array.from(q.ratings)).toEqual(Array.from(s.ratings.subarray(a, b)));
    }
    expect(seen.size).toBe(x.numUsers);
    // A tail read is the tail.
    const full = cache.read(0);
    expect(Array.from(cache.read(0, 2, 5).items)).toEqual(Array.from(full.items.subarray(2, 5)));
    cache.close();
  });

  it('reuses the cache; rebuilds with a note for another file version or other options', async () => {
    const root = join(dir, 'cache2');
    const log = writeLog('b.parquet', 2000, 50, 2);
    await preprocessLog(log, { cacheDir: root, partitions: 3 });
    const notes: string[] = [];
    const again = await preprocessLog(log, { cacheDir: root, onInfo: (m) => notes.push(m) });
    expect(again.reused).toBe(true);
    expect(notes.join('\n')).toMatch(/reusing the cache/);
    // Another version of the file (same path): rebuilt.
    writeLog('b.parquet', 2100, 50, 3);
    utimesSync(log, new Date(), new Date(Date.now() + 5000));
    notes.length = 0;
    const v2 = await preprocessLog(log, { cacheDir: root, partitions: 3, onInfo: (m) => notes.push(m) });
    expect(v2.reused).toBe(false);
    expect(notes.join('\n')).toMatch(/out of date \(input changed: size \d+ → \d+/);
    expect(v2.meta.count).toBe(2100);
    // Other options: rebuilt.
    notes.length = 0;
    const v3 = await preprocessLog(log, { cacheDir: root, partitions: 3, columns: { ratingColumn: '' }, onInfo: (m) => notes.push(m) });
    expect(v3.reused).toBe(false);
    expect(notes.join('\n')).toMatch(/out of date \(options changed: ratingColumn undefined → ""/);
    expect(v3.meta.hasRatings).toBe(false);
  });

  it('resumes a killed build from its finished partitions, with the same result', async () => {
    const log = writeLog('c.parquet', 3000, 80, 4);
    const clean = await preprocessLog(log, { cacheDir: join(dir, 'clean'), partitions: 6 });
    const root = join(dir, 'killed');
    await expect(preprocessLog(log, { cacheDir: root, partitions: 6, stopAfterPartitions: 2 })).rejects.toThrow(/stopped after 2 partitions/);
    expect(existsSync(join(cacheDirFor(log, root), 'meta.json'))).toBe(false);
    const notes: string[] = [];
    const resumed = await preprocessLog(log, { cacheDir: root, onInfo: (m) => notes.push(m) });
    expect(notes.join('\n')).toMatch(/resuming the interrupted build.*pass 1 is done[\s\S]*resumed: 2\/6 partitions/);
    expect(resumed.meta.partitions).toEqual(clean.meta.partitions);
    const a = new OocCache(clean.dir);
    const b = new OocCache(resumed.dir);
    for (let k = 0; k < a.count; k++) expect(Array.from(b.read(k).items)).toEqual(Array.from(a.read(k).items));
    a.close();
    b.close();
  });

  it('a full disk is a clear error; nothing half-written is reused; the next run completes', async () => {
    const log = writeLog('d.parquet', 3000, 80, 5);
    const root = join(dir, 'full');
    faultInjection.written = 0;
    faultInjection.diskFullAfterBytes = 20_000;
    await expect(preprocessLog(log, { cacheDir: root, partitions: 4 })).rejects.toThrow(/the disk is full .*will not be used\. HINT: free space/);
    expect(existsSync(join(cacheDirFor(log, root), 'meta.json'))).toBe(false);
    expect(() => new OocCache(cacheDirFor(log, root))).toThrow(/not a finished preprocessing cache.*HINT/);
    faultInjection.diskFullAfterBytes = Infinity;
    const ok = await preprocessLog(log, { cacheDir: root, partitions: 4 });
    expect(ok.meta.count).toBe(3000);
  });

  it('streams each trainable sequence once an epoch, deterministically; a resume skips batches exactly', async () => {
    const log = writeLog('e.parquet', 4000, 150, 6);
    const { dir: cdir } = await preprocessLog(log, { cacheDir: join(dir, 'cache3'), partitions: 4 });
    const cache = new OocCache(cdir);
    const o = { batchSize: 16, maxLen: 10, seed: 3, epoch: 1, shuffleBuffer: 20 };
    const all = [...streamTrainBatches(cache, o)];
    expect(all.length).toBe(countStreamBatches(cache, 16));
    const users = all.flatMap((b) => Array.from(b.users));
    const trainable = Array.from(cache.users).filter((_, k) => trainEvents(cache.lengths[k]!) >= 2);
    expect([...users].sort((a, b) => a - b)).toEqual([...trainable].sort((a, b) => a - b));
    // Each sequence: its most recent ≤ maxLen + 1 train events, next-item targets.
    const b0 = all[0]!;
    const k0 = Array.from(cache.users).indexOf(b0.users[0]!);
    const ev = trainEvents(cache.lengths[k0]!);
    const want = cache.read(k0, Math.max(0, ev - 11), ev).items;
    expect(Array.from(b0.items.subarray(0, b0.seqOffsets[1]!))).toEqual(Array.from(want.subarray(0, want.length - 1)));
    expect(Array.from(b0.targets.subarray(0, b0.seqOffsets[1]!))).toEqual(Array.from(want.subarray(1)));
    // Deterministic; another epoch is another order; resume = the tail.
    expect([...streamTrainBatches(cache, o)].map((b) => Array.from(b.users))).toEqual(all.map((b) => Array.from(b.users)));
    expect([...streamTrainBatches(cache, { ...o, epoch: 2 })].map((b) => Array.from(b.users))).not.toEqual(all.map((b) => Array.from(b.users)));
    const tail = [...streamTrainBatches(cache, { ...o, startBatch: 3 })];
    expect(tail.map((b) => Array.from(b.items))).toEqual(all.slice(3).map((b) => Array.from(b.items)));
    // Worker shards: partitions p ≡ i (mod n); together they are the whole cache, disjoint.
    const shards = [0, 1, 2].map((i) => new OocCache(cdir, { index: i, count: 3 }));
    const shardUsers = shards.flatMap((v) => Array.from(v.users));
    expect(shardUsers.length).toBe(cache.count);
    expect(new Set(shardUsers).size).toBe(cache.count);
    expect(Array.from(shards[1]!.part).every((p) => p % 3 === 1)).toBe(true);
    shards.forEach((v) => v.close());
    expect(() => new OocCache(cdir, { index: 3, count: 3 })).toThrow(/shard index in \[0, 3\), got 3\. HINT/);
    const split = evalSample(cache, 30, 1, 10);
    expect(split.validation.count).toBe(30);
    expect(split.test.count).toBe(30);
    cache.close();
  });
});
