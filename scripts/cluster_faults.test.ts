// Faults of the Redis store, each on throwaway local clusters this file starts and stops itself
// (ports 7300-7305 and 7320-7323; the shared cluster on 7100 is never disturbed):
//   - an online reshard (redis-cli --cluster reshard) while rows are being updated: no row lost,
//     none read from the wrong place, every update applied exactly once;
//   - a primary SIGKILLed after flush(): its replica is promoted, updates continue through the
//     store's retries, and every update acknowledged before the flush() survives;
//   - export to safetensors and import into a cluster of 4 primaries and into a host-memory store:
//     identical rows bit for bit.
// Needs redis-server and redis-cli (scripts/install-redis.sh); skips with a message without them.
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bf16BitsToF32, f32ToBf16Bits } from '../kernels/embedding/embedding.js';
import { cli, killNode, redisInstalled, startCluster, stopCluster, waitClusterOk, type ClusterOptions } from './cluster.js';
import { RedisEmbeddingStore, type RowBlock } from '../trainer/store/redis_store.js';
import { adamDoubleConstants, encodeRow, initRow, rowBytes, rowwiseAdamRowDouble, decodeRow } from '../trainer/store/row_codec.js';
import { exportRedisTable, importTable } from '../trainer/store/table_export.js';
import { tableCommand } from './table.js';

const run = promisify(execFile);
const have = redisInstalled();
if (!have) console.warn('cluster_faults.test.ts: redis-server/redis-cli not installed: skipped. HINT: bash scripts/install-redis.sh (or npm run cluster -- start)');

const A: ClusterOptions = { port: 7300, primaries: 3, replicas: 1, nodeTimeoutMs: 1000 };
const B: ClusterOptions = { port: 7320, primaries: 4, replicas: 0 };
const D = 24, ROWS = 3000, SEED = 11, IDS = Array.from({ length: 400 }, (_, i) => 1 + i * 7);
const OPTS = (step: number) => ({ lr: 0.02, weightDecay: 0.01, step });
const grads = (step: number) => Float32Array.from({ length: IDS.length * D }, (_, i) => Math.fround(Math.sin(i * 0.11 + step) * 0.05));

/** The rows after `steps` updates, computed locally with the store's own float64 math. */
function mirror(steps: number): Map<number, Buffer> {
  const rows = new Map<number, Buffer>();
  const sw = new Float32Array(D), sm = new Float32Array(D);
  for (const id of IDS) {
    const w = new Float32Array(D);
    initRow(SEED, id, D, 0.02, w);
    const b = Buffer.alloc(rowBytes(D, 'f32'));
    encodeRow(b, 0, D, 'f32', 0, 0, w, 0, new Float32Array(D), 0);
    rows.set(id, b);
  }
  for (let s = 1; s <= steps; s++) {
    const g = grads(s), k = adamDoubleConstants(OPTS(s));
    IDS.forEach((id, i) => {
      const out = Buffer.alloc(rowBytes(D, 'f32'));
      rowwiseAdamRowDouble(rows.get(id)!, 0, out, 0, D, 'f32', g, i * D, k, sw, sm);
      rows.set(id, out);
    });
  }
  return rows;
}

async function expectMirror(store: RedisEmbeddingStore, steps: number): Promise<void> {
  const want = mirror(steps);
  const got = await store.read(Uint32Array.from(IDS));
  let bad = 0;
  IDS.forEach((id, i) => {
    const w = new Float32Array(D), m = new Float32Array(D);
    const r = decodeRow(want.get(id)!, 0, D, 'f32', w, 0, m, 0);
    if (r.v !== got.v[i] || w.some((x, c) => x !== got.w[i * D + c]) || m.some((x, c) => x !== got.m[i * D + c])) bad++;
  });
  expect(bad, `${bad} of ${IDS.length} rows differ from ${steps} exactly-once updates`).toBe(0);
}

async function nodesOf(port: number): Promise<{ id: string; port: number; flags: string; master: string; slots: string[] }[]> {
  return (await cli(port, 'cluster', 'nodes')).trim().split('\n').map((l) => {
    const f = l.split(' ');
    return { id: f[0]!, port: Number(f[1]!.split(':')[1]!.split('@')[0]), flags: f[2]!, master: f[3]!, slots: f.slice(8) };
  });
}

/** Host-memory store with the host store's write/read semantics (bf16 rounds on write). */
class MemoryStore {
  readonly w: Float32Array; readonly m: Float32Array; readonly v: Float32Array;
  constructor(readonly rows: number, readonly dim: number, readonly storage: 'f32' | 'bf16') {
    this.w = new Float32Array(rows * dim); this.m = new Float32Array(rows * dim); this.v = new Float32Array(rows);
  }
  async write(b: RowBlock): Promise<void> {
    const r = (x: number) => (this.storage === 'bf16' ? bf16BitsToF32(f32ToBf16Bits(x)) : x);
    b.ids.forEach((id, i) => {
      for (let c = 0; c < this.dim; c++) {
        this.w[id * this.dim + c] = r(b.w[i * this.dim + c]!);
        this.m[id * this.dim + c] = r(b.m[i * this.dim + c]!);
      }
      this.v[id] = b.v[i]!;
    });
  }
}

const bits = (a: Float32Array) => new Uint32Array(a.buffer, a.byteOffset, a.length);

describe.skipIf(!have)('Redis store faults on throwaway local clusters', () => {
  // Two clients of one table, one per update mode; steps alternate between them.
  let store: RedisEmbeddingStore, atomic: RedisEmbeddingStore;
  const dir = mkdtempSync(join(tmpdir(), 'hstu-export-'));
  beforeAll(async () => {
    await stopCluster(A);
    await stopCluster(B);
    await startCluster(A);
    await startCluster(B);
    const open = (mode: 'cas' | 'atomic') => RedisEmbeddingStore.open({ address: `127.0.0.1:${A.port}`, table: 'faults', rows: ROWS, dim: D, seed: SEED, buckets: 32, retryMs: 60_000, mode });
    store = await open('cas');
    atomic = await open('atomic');
  }, 120_000);
  afterAll(async () => {
    await store?.close();
    await atomic?.close();
    await stopCluster(A);
    await stopCluster(B);
    rmSync(dir, { recursive: true, force: true });
  }, 60_000);

  let step = 0;
  async function update(): Promise<void> {
    step++;
    const s = step % 2 ? store : atomic;
    await s.read(Uint32Array.from(IDS));
    await s.applyRowwiseAdam(Uint32Array.from(IDS), grads(step), OPTS(step));
  }

  it('online reshard while updating: no row lost or read from the wrong place, each update applied once', async () => {
    await update();
    // Move the lowest slots of the node that owns slot 0, up to and including the lowest slot of
    // our buckets there (redis-cli moves a node's slots in ascending order).
    const nodes = await nodesOf(A.port);
    const owner = nodes.find((n) => n.flags.includes('master') && n.slots.some((s) => s.startsWith('0-')))!;
    const dest = nodes.find((n) => n.flags.includes('master') && n !== owner)!;
    const end = Number(owner.slots.find((s) => s.startsWith('0-'))!.split('-')[1]);
    let lowest = Infinity;
    for (let b = 0; b < 32; b++) {
      const slot = Number((await cli(A.port, 'cluster', 'keyslot', `{${b}}`)).trim());
      if (slot <= end) lowest = Math.min(lowest, slot);
    }
    expect(lowest).toBeLessThan(Infinity);
    const reshard = run('redis-cli', ['--cluster', 'reshard', `127.0.0.1:${A.port}`, '--cluster-from', owner.id, '--cluster-to', dest.id,
      '--cluster-slots', String(lowest + 1), '--cluster-yes'], { timeout: 100_000 });
    let done = false;
    void reshard.finally(() => { done = true; }).catch(() => {});
    let during = 0;
    while (!done) {
      await update();
      during++;
    }
    await reshard;
    await update();
    const moved = (await nodesOf(A.port)).find((n) => n.id === dest.id)!;
    expect(moved.slots.some((s) => s.startsWith('0-'))).toBe(true); // the slots really moved
    expect(during).toBeGreaterThan(0);
    await expectMirror(store, step);
    const existing = (await store.existingIdsByPrimary()).flatMap((p) => p.ids).sort((a, b) => a - b);
    expect(existing).toEqual(IDS); // each row exactly once across the primaries
  }, 120_000);

  it('a primary killed after flush(): its replica is promoted, updates continue, nothing acknowledged is lost', async () => {
    await update();
    await store.flush();
    const nodes = await nodesOf(A.port);
    const victim = nodes.find((n) => n.flags.includes('master') && n.slots.length > 0 && n.port !== A.port)!;
    const replica = nodes.find((n) => n.master === victim.id)!;
    expect(replica).toBeDefined();
    killNode(A, victim.port);
    // These wait (ioredis's failover retries, then ours) until the replica took over the slots.
    await update();
    await update();
    const survivors = (await nodesOf(A.port)).filter((n) => n.port !== victim.port);
    await waitClusterOk(survivors.map((n) => n.port), 6);
    const promoted = survivors.find((n) => n.id === replica.id)!;
    expect(promoted.flags).toContain('master');
    expect(promoted.slots.length).toBeGreaterThan(0);
    expect(survivors.filter((n) => n.flags.includes('master') && n.slots.length > 0)).toHaveLength(3);
    await expectMirror(store, step);
  }, 120_000);

  it('export to safetensors, import into 4 primaries and into host memory: identical rows bit for bit', async () => {
    const idx = await exportRedisTable(store, dir, { shardRows: 150, chunkRows: 64 });
    expect(idx.shards.map((s) => s.rows)).toEqual([150, 150, 100]);
    for (let i = 1; i < idx.shards.length; i++) expect(idx.shards[i]!.idMin).toBeGreaterThan(idx.shards[i - 1]!.idMax);
    const target = await RedisEmbeddingStore.open({ address: `127.0.0.1:${B.port}`, table: 'faults', rows: ROWS, dim: D, seed: SEED, buckets: 7 });
    const host = new MemoryStore(ROWS, D, 'f32');
    try {
      expect((await importTable(target, dir, { chunkRows: 50 })).rowsWritten).toBe(IDS.length);
      expect((await importTable(host, dir, { fillAbsent: true })).rowsWritten).toBe(ROWS);
      const all = Uint32Array.from({ length: ROWS }, (_, i) => i);
      const src = await store.read(all), dst = await target.read(all);
      expect(bits(dst.w)).toEqual(bits(src.w));
      expect(bits(dst.m)).toEqual(bits(src.m));
      expect(bits(dst.v)).toEqual(bits(src.v));
      expect(bits(host.w)).toEqual(bits(src.w));
      expect(bits(host.m)).toEqual(bits(src.m));
      expect(bits(host.v)).toEqual(bits(src.v));
      // a changed shard is refused before anything is written
      const { appendFileSync } = await import('node:fs');
      appendFileSync(join(dir, idx.shards[1]!.file), 'x');
      await expect(importTable(new MemoryStore(ROWS, D, 'f32'), dir)).rejects.toThrow(/shard-00001.safetensors has sha256 .*HINT/);
    } finally {
      await target.close();
    }
  }, 120_000);

  it('scripts/table.ts export/import round trip through the command line, and a clear error for a missing table', async () => {
    const out = join(dir, 'cli');
    const logs: string[] = [];
    await tableCommand(['export', '--redis', `127.0.0.1:${A.port}`, '--table', 'faults', '--out', out], (l) => logs.push(l));
    await tableCommand(['import', '--redis', `127.0.0.1:${B.port}`, '--table', 'faults_cli', '--in', out, '--buckets', '5'], (l) => logs.push(l));
    expect(logs[0]).toMatch(/^exported \d+ rows of faults \(d 24, f32\)/);
    const t = await RedisEmbeddingStore.openExisting(`127.0.0.1:${B.port}`, 'faults_cli');
    try {
      expect([t.dim, t.rows, t.bucketCount]).toEqual([D, ROWS, 5]);
      const all = Uint32Array.from({ length: ROWS }, (_, i) => i);
      const src = await store.read(all), dst = await t.read(all);
      expect(bits(dst.w)).toEqual(bits(src.w));
      expect(bits(dst.m)).toEqual(bits(src.m));
      expect(bits(dst.v)).toEqual(bits(src.v));
    } finally {
      await t.close();
    }
    await expect(RedisEmbeddingStore.openExisting(`127.0.0.1:${B.port}`, 'nope')).rejects.toThrow(/no table "nope" .*HINT/);
  }, 120_000);
});
