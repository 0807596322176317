// Rendezvous, exact all-reduce and the synchronous embedding mode, with W workers in this process
// (each with its own connections). Needs the local Redis Cluster; skips without it.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Cluster } from 'ioredis';
import { RedisEmbeddingStore } from '../store/redis_store.js';
import { clusterReachable, deleteTable, SKIP_MESSAGE, TEST_REDIS_ADDRESS, uniqueTable } from '../store/redis_testing.js';
import { RedisAllReduce } from './allreduce.js';
import { rankSlice, workerIdentityFromEnv } from './env.js';
import { newRunId } from './launch.js';
import { PeerLostError, Rendezvous } from './rendezvous.js';
import { RingAllReduce } from './ring_allreduce.js';
import { applySynchronous, combineSparse, type SparseGrads } from './sparse_sync.js';

describe('worker identity and data shards', () => {
  it('rankSlice gives contiguous slices that make up the global batch exactly', () => {
    const batch = Array.from({ length: 11 }, (_, i) => i);
    for (const W of [1, 2, 3, 4, 11]) {
      const parts = Array.from({ length: W }, (_, r) => rankSlice(batch, r, W));
      expect(parts.flat()).toEqual(batch);
      const sizes = parts.map((p) => p.length);
      expect(Math.max(...sizes) - Math.min(...sizes)).toBeLessThanOrEqual(1);
    }
  });
  it('reads RANK/WORLD_SIZE (or JOB_COMPLETION_INDEX) and refuses bad values with a hint', () => {
    const env = { RANK: '1', WORLD_SIZE: '2', HSTU_REDIS: '127.0.0.1:7100', HSTU_RUN_ID: 'r1' };
    expect(workerIdentityFromEnv(env)).toEqual({ rank: 1, worldSize: 2, redis: '127.0.0.1:7100', runId: 'r1' });
    expect(workerIdentityFromEnv({ ...env, RANK: undefined, JOB_COMPLETION_INDEX: '0' }).rank).toBe(0);
    expect(() => workerIdentityFromEnv({ ...env, RANK: '2' })).toThrow(/RANK in 0..1, got 2.*HINT/);
    expect(() => workerIdentityFromEnv({ ...env, HSTU_REDIS: '' })).toThrow(/HSTU_REDIS.*HINT/);
  });
  it('combineSparse sums each id over ranks in rank order, ids ascending', () => {
    const a: SparseGrads = { ids: Uint32Array.of(5, 2), grads: Float32Array.of(1, 2, 3, 4) };
    const b: SparseGrads = { ids: Uint32Array.of(2, 9), grads: Float32Array.of(0.5, 0.25, -1, -2) };
    const u = combineSparse([a, b], 2);
    expect([...u.ids]).toEqual([2, 5, 9]);
    expect([...u.grads]).toEqual([3.5, 4.25, 1, 2, -1, -2]);
  });
});

const up = await clusterReachable();
if (!up) console.warn(`distributed.test.ts: ${SKIP_MESSAGE}`);

const join = (runId: string, rank: number, W: number, digest = 'cfg', ttlMs = 1500) =>
  Rendezvous.join({ rank, worldSize: W, redis: TEST_REDIS_ADDRESS, runId }, { configDigest: digest, heartbeatMs: 100, ttlMs });

describe.skipIf(!up)('distributed pieces on the local cluster', () => {
  it('W workers rendezvous and pass barriers; a worker of another config is refused', async () => {
    const runId = newRunId();
    const rs = await Promise.all([0, 1, 2].map((r) => join(runId, r, 3)));
    const order: string[] = [];
    await Promise.all(rs.map(async (r) => {
      await new Promise((res) => setTimeout(res, 30 * r.rank));
      order.push(`a${r.rank}`);
      await r.barrier('b1');
      order.push(`b${r.rank}`);
    }));
    expect(order.slice(0, 3).sort()).toEqual(['a0', 'a1', 'a2']);
    await expect(join(runId, 1, 3, 'other')).rejects.toThrow(/has config other\|W=3, but run .* was started with cfg\|W=3.*HINT/);
    await Promise.all(rs.map((r) => r.close()));
  });

  it('all-reduce: identical bits on every rank, the rank-ordered sum, chunked, NaN kept', async () => {
    const runId = newRunId(), W = 3, n = 2501;
    const rs = await Promise.all([0, 1, 2].map((r) => join(runId, r, W)));
    const ars = rs.map((r) => new RedisAllReduce(r, 1000, 4)); // 1000-byte chunks: ~10 per buffer
    for (let call = 0; call < 3; call++) {
      const inputs = rs.map((r) => Float32Array.from({ length: n }, (_, i) => Math.fround((i % 7 === r.rank ? 1e8 : 1) * Math.sin(i + call * 13 + r.rank * 101))));
      inputs[1]![17] = NaN;
      const outs = await Promise.all(ars.map((a, r) => a.sumF32(inputs[r]!)));
      for (let i = 0; i < n; i++) {
        const want = Math.fround(inputs[0]![i]! + inputs[1]![i]! + inputs[2]![i]!);
        if (i === 17) expect(outs[0]![i]).toBeNaN();
        else expect(outs[0]![i]).toBe(want);
      }
      for (const o of outs) expect(new Uint32Array(o.buffer)).toEqual(new Uint32Array(outs[0]!.buffer));
    }
    await Promise.all(ars.map((a) => a.verifyLast()));
    // A rank whose result differed is caught at the next call.
    (ars[2] as unknown as { lastDigest: number }).lastDigest ^= 1;
    const res = await Promise.allSettled(ars.map((a) => a.sumF32(new Float32Array(n))));
    expect(res.some((x) => x.status === 'rejected' && /all-reduce results differed at call 3/.test(String(x.reason)))).toBe(true);
    await Promise.all(rs.map((r) => r.close()));
  });

  it('ring all-reduce over TCP: identical bits on every rank, each chunk summed in its fixed ring order, NaN kept', async () => {
    const runId = newRunId(), W = 3, n = 1001;
    const rs = await Promise.all([0, 1, 2].map((r) => join(runId, r, W)));
    const rings = await Promise.all(rs.map((r) => RingAllReduce.open(r)));
    try {
      for (let call = 0; call < 3; call++) {
        const inputs = rs.map((r) => Float32Array.from({ length: n }, (_, i) => Math.fround((i % 5 === r.rank ? 1e8 : 1) * Math.cos(i * 0.7 + call + r.rank * 31))));
        inputs[2]![500] = NaN;
        const outs = await Promise.all(rings.map((g, r) => g.sumF32(inputs[r]!)));
        for (const o of outs) expect(new Uint32Array(o.buffer)).toEqual(new Uint32Array(outs[0]!.buffer));
        for (let i = 0; i < n; i++) {
          let c = 0; // the chunk of element i: [floor(c·n/W), floor((c+1)·n/W))
          while (Math.floor(((c + 1) * n) / W) <= i) c++;
          let acc = inputs[c]![i]!;
          for (let k = 1; k < W; k++) acc = Math.fround(acc + inputs[(c + k) % W]![i]!);
          if (i === 500) expect(outs[0]![i]).toBeNaN();
          else expect(outs[0]![i]).toBe(acc);
        }
      }
      (rings[1] as unknown as { lastDigest: number }).lastDigest ^= 1;
      const res = await Promise.allSettled(rings.map((g) => g.sumF32(new Float32Array(n))));
      expect(res.some((x) => x.status === 'rejected' && /ring all-reduce results differed/.test(String(x.reason)))).toBe(true);
    } finally {
      for (const g of rings) g.close();
      await Promise.all(rs.map((r) => r.close()));
    }
  });

  it('a worker whose heartbeat stops makes the others throw PeerLostError within the bound', async () => {
    const runId = newRunId();
    const [a, b] = await Promise.all([join(runId, 0, 2, 'cfg', 600), join(runId, 1, 2, 'cfg', 600)]);
    // "kill" rank 1: its heartbeat thread stops and it never reaches the barrier
    await (b as unknown as { heartbeat: { terminate(): Promise<number> } }).heartbeat.terminate();
    (b as unknown as { closed: boolean }).closed = true;
    const t0 = Date.now();
    await expect(a.barrier('never')).rejects.toThrow(PeerLostError);
    await expect(a.barrier('never2')).rejects.toThrow(/worker rank 1 stopped \(no heartbeat for 600 ms\).*HINT/);
    expect(Date.now() - t0).toBeLessThan(20_000); // generous: the designed bound is ttl + a poll
    await a.close();
    b.redis.disconnect();
  });

  it('a main thread busy for longer than the heartbeat TTL is not taken for a dead worker', async () => {
    const runId = newRunId();
    const [a, b] = await Promise.all([join(runId, 0, 2, 'cfg', 600), join(runId, 1, 2, 'cfg', 600)]);
    // Both ranks' event loops (one process here) blocked for 2.5 TTLs, as a long synchronous GPU
    // submit on a loaded CPU does: the heartbeat threads keep beating.
    const until = Date.now() + 1500;
    while (Date.now() < until) { /* busy */ }
    // Read before any timer of this thread can beat again (a main-thread heartbeat's keys have
    // expired by now): both heartbeats must still be there.
    const beats = await a.redis.mget(a.key('hb:0'), a.key('hb:1'));
    expect(beats.map((v) => v !== null)).toEqual([true, true]);
    await a.checkPeers();
    await Promise.all([a.barrier('after-busy'), b.barrier('after-busy')]);
    await Promise.all([a.close(), b.close()]);
  });
});

// Synchronous embedding mode on a toy model with the store on the cluster: W = 2 workers with
// batch B/2 each take the same steps as W = 1 with batch B (losses and rows equal up to float
// reassociation of the gradient sums).
describe.skipIf(!up)('synchronous embedding mode', () => {
  const D = 8, ITEMS = 120, B = 24, STEPS = 4;
  interface Ex { ctx: number[]; pos: number; neg: number }
  let state = 12345;
  const next = () => 1 + ((state = (Math.imul(state, 1103515245) + 12345) >>> 0) >>> 8) % (ITEMS - 1);
  const data: Ex[][] = Array.from({ length: STEPS }, () => Array.from({ length: B }, () => ({ ctx: [next(), next(), next()], pos: next(), neg: next() })));
  const idsOf = (b: Ex[]) => new Set(b.flatMap((e) => [...e.ctx, e.pos, e.neg]));
  // The two halves of every step share rows (else the mode would not matter).
  for (const b of data) {
    const a = idsOf(rankSlice(b, 0, 2));
    if (![...idsOf(rankSlice(b, 1, 2))].some((id) => a.has(id))) throw new Error('test data: halves share no row');
  }
  const tables: string[] = [];
  let admin: Cluster;
  beforeAll(async () => {
    const [host, port] = TEST_REDIS_ADDRESS.split(':');
    admin = new Cluster([{ host: host!, port: Number(port) }]);
  });
  afterAll(async () => {
    for (const t of tables) await deleteTable(admin, t);
    await admin.quit();
  });

  const sp = (x: number) => Math.log1p(Math.exp(-Math.abs(x))) + Math.max(x, 0);
  const sig = (x: number) => 1 / (1 + Math.exp(-x));

  /** One worker's training: returns the global loss of each step (all-reduced) and its final rows. */
  async function worker(table: string, runId: string, rank: number, W: number): Promise<{ losses: number[]; rows: Float32Array }> {
    const store = await RedisEmbeddingStore.open({ address: TEST_REDIS_ADDRESS, table, rows: ITEMS, dim: D, seed: 5, initStd: 0.3, buckets: 2 });
    const rdv = await join(runId, rank, W);
    const ar = new RedisAllReduce(rdv);
    const scale = new Float32Array(D).fill(1); // a dense parameter, replicated
    const mS = new Float64Array(D), vS = new Float64Array(D);
    const losses: number[] = [];
    for (let s = 0; s < STEPS; s++) {
      const mine = rankSlice(data[s]!, rank, W);
      const ids = Uint32Array.from(idsOf(mine));
      const rows = await store.read(ids);
      const at = new Map<number, number>();
      ids.forEach((id, i) => at.set(id, i));
      const e = (id: number) => rows.w.subarray(at.get(id)! * D, (at.get(id)! + 1) * D);
      const g = new Float32Array(ids.length * D), gs = new Float32Array(D + 1);
      const add = (id: number, c: number, x: number) => { const k = at.get(id)! * D + c; g[k] = Math.fround(g[k]! + x); };
      for (const ex of mine) {
        const mean = new Float64Array(D);
        for (const c of ex.ctx) for (let k = 0; k < D; k++) mean[k] = mean[k]! + e(c)[k]! / 3;
        const h = mean.map((x, k) => x * scale[k]!);
        let sp_ = 0, sn = 0;
        for (let k = 0; k < D; k++) { sp_ += h[k]! * e(ex.pos)[k]!; sn += h[k]! * e(ex.neg)[k]!; }
        gs[D] = Math.fround(gs[D]! + (sp(-sp_) + sp(sn)) / B); // the loss rides along in the dense buffer
        const dp = -sig(-sp_) / B, dn = sig(sn) / B;
        for (let k = 0; k < D; k++) {
          const gh = dp * e(ex.pos)[k]! + dn * e(ex.neg)[k]!;
          add(ex.pos, k, dp * h[k]!);
          add(ex.neg, k, dn * h[k]!);
          gs[k] = Math.fround(gs[k]! + gh * mean[k]!);
          for (const c of ex.ctx) add(c, k, (gh * scale[k]!) / 3);
        }
      }
      const dense = await ar.sumF32(gs);
      losses.push(dense[D]!);
      for (let k = 0; k < D; k++) { // Adam on the replicated dense parameter: same bits everywhere
        mS[k] = 0.9 * mS[k]! + 0.1 * dense[k]!;
        vS[k] = 0.98 * vS[k]! + 0.02 * dense[k]! ** 2;
        scale[k] = scale[k]! - 0.05 * (mS[k]! / (1 - 0.9 ** (s + 1))) / (Math.sqrt(vS[k]! / (1 - 0.98 ** (s + 1))) + 1e-8);
      }
      await applySynchronous(store, { ids, grads: g }, { lr: 0.05, step: s + 1 }, ar, rdv);
    }
    await ar.verifyLast();
    await rdv.barrier('end');
    const all = await store.read(Uint32Array.from({ length: ITEMS }, (_, i) => i));
    await rdv.close();
    await store.close();
    return { losses, rows: all.w };
  }

  it('W = 2 with batch B/2 equals W = 1 with batch B step by step (up to reassociation)', async () => {
    const t1 = uniqueTable('sync1'), t2 = uniqueTable('sync2');
    tables.push(t1, t2);
    const one = await worker(t1, newRunId(), 0, 1);
    const run2 = newRunId();
    const two = await Promise.all([worker(t2, run2, 0, 2), worker(t2, run2, 1, 2)]);
    expect(two[0]!.losses).toEqual(two[1]!.losses); // identical bits on both workers
    for (let s = 0; s < STEPS; s++) expect(Math.abs(two[0]!.losses[s]! - one.losses[s]!)).toBeLessThanOrEqual(1e-6 * Math.abs(one.losses[s]!));
    let maxDiff = 0, moved = 0;
    for (let i = 0; i < one.rows.length; i++) {
      maxDiff = Math.max(maxDiff, Math.abs(one.rows[i]! - two[0]!.rows[i]!));
    }
    const init = await RedisEmbeddingStore.open({ address: TEST_REDIS_ADDRESS, table: uniqueTable('sync0'), rows: ITEMS, dim: D, seed: 5, initStd: 0.3 });
    tables.push(init.table);
    const r0 = (await init.read(Uint32Array.from({ length: ITEMS }, (_, i) => i))).w;
    await init.close();
    for (let i = 0; i < r0.length; i++) if (Math.abs(r0[i]! - one.rows[i]!) > 1e-3) moved++;
    expect(moved).toBeGreaterThan(100); // the rows really were trained
    expect(maxDiff).toBeLessThanOrEqual(1e-5);
  }, 60_000);
});
