// Needs the local Redis Cluster (npm run cluster -- start; .ci/run starts it); skips without it.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Cluster } from 'ioredis';
import { adamDoubleConstants, decodeRow, encodeRow, hashId, initRow, rowBytes, rowwiseAdamRowDouble, roundStoredValue, type RowStorage } from './row_codec.js';
import { RedisEmbeddingStore, bucketsForRowsPerStep, rowKey, type RedisUpdateMode } from './redis_store.js';
import { FUNCTIONS_LIBRARY } from './redis_functions.js';
import { clusterReachable, deleteTable, SKIP_MESSAGE, TEST_REDIS_ADDRESS, uniqueTable } from './redis_testing.js';

const up = await clusterReachable();
if (!up) console.warn(`redis_store.test.ts: ${SKIP_MESSAGE}`);

describe.skipIf(!up)('redis store on the local cluster', () => {
  const tables: string[] = [];
  const opened: RedisEmbeddingStore[] = [];
  let admin: Cluster;
  beforeAll(async () => {
    const [host, port] = TEST_REDIS_ADDRESS.split(':');
    admin = new Cluster([{ host: host!, port: Number(port) }]);
    await admin.ping();
  });
  afterAll(async () => {
    for (const s of opened) await s.close();
    for (const t of tables) await deleteTable(admin, t);
    await admin.quit();
  });
  async function open(what: string, o: Partial<Parameters<typeof RedisEmbeddingStore.open>[0]> = {}): Promise<RedisEmbeddingStore> {
    const table = o.table ?? uniqueTable(what);
    if (!tables.includes(table)) tables.push(table);
    const s = await RedisEmbeddingStore.open({ address: TEST_REDIS_ADDRESS, table, rows: 5000, dim: 37, seed: 3, buckets: 4, ...o });
    opened.push(s);
    return s;
  }

  /** The expected rows after applying `steps` of gradients sequentially on the init rows, computed locally. */
  function mirror(ids: number[], d: number, storage: RowStorage, seed: number, steps: { grads: Float32Array; step: number }[]): Map<number, Buffer> {
    const rows = new Map<number, Buffer>();
    const sw = new Float32Array(d), sm = new Float32Array(d);
    for (const id of ids) {
      const w = new Float32Array(d);
      initRow(seed, id, d, 0.02, w);
      const b = Buffer.alloc(rowBytes(d, storage));
      encodeRow(b, 0, d, storage, 0, 0, w, 0, new Float32Array(d), 0);
      rows.set(id, b);
    }
    for (const s of steps) {
      ids.forEach((id, i) => {
        const out = Buffer.alloc(rowBytes(d, storage));
        rowwiseAdamRowDouble(rows.get(id)!, 0, out, 0, d, storage, s.grads, i * d, adamDoubleConstants({ lr: 0.01, weightDecay: 0.01, step: s.step }), sw, sm);
        rows.set(id, out);
      });
    }
    return rows;
  }

  async function expectRows(store: RedisEmbeddingStore, want: Map<number, Buffer>): Promise<void> {
    const ids = Uint32Array.from(want.keys());
    const got = await store.read(ids);
    const d = store.dim;
    ids.forEach((id, i) => {
      const w = new Float32Array(d), m = new Float32Array(d);
      const r = decodeRow(want.get(id)!, 0, d, store.storage, w, 0, m, 0);
      expect([id, got.v[i]]).toEqual([id, r.v]);
      expect(got.w.subarray(i * d, (i + 1) * d)).toEqual(w);
      expect(got.m.subarray(i * d, (i + 1) * d)).toEqual(m);
    });
  }

  it('creates rows on first touch with the per-row seeded init, fetching each repeated id once', async () => {
    const s = await open('init', { storage: 'bf16' });
    const ids = Uint32Array.from([4999, 17, 0, 17, 1234]);
    const b = await s.read(ids);
    const d = s.dim, w = new Float32Array(d);
    ids.forEach((id, i) => {
      initRow(3, id, d, 0.02, w);
      for (let c = 0; c < d; c++) expect(b.w[i * d + c]).toBe(roundStoredValue(w[c]!, 'bf16'));
      expect(b.v[i]).toBe(0);
      expect(b.m.subarray(i * d, (i + 1) * d).every((x) => x === 0)).toBe(true);
    });
    expect(s.stats.rowsRead).toBe(4);
    expect(s.stats.rowsCreated).toBe(4);
    // another process opening the same table sees the same rows and creates none
    const s2 = await open('init', { table: s.table, storage: 'bf16' });
    expect((await s2.read(ids)).w).toEqual(b.w);
    expect(s2.stats.rowsCreated).toBe(0);
  });

  it.each([['atomic', 'f32'], ['atomic', 'bf16'], ['cas', 'f32'], ['cas', 'bf16']] as [RedisUpdateMode, RowStorage][])(
    'mode %s (%s): row-wise Adam over 3 steps gives the local float64 mirror bit for bit', async (mode, storage) => {
      const s = await open(`adam_${mode}`, { mode, storage });
      const d = s.dim, ids = [1, 2, 3, 400, 4999, 77, 78, 79, 80, 81];
      const steps = [1, 2, 3].map((step) => ({ step, grads: Float32Array.from({ length: ids.length * d }, (_, i) => Math.sin(i * 0.37 + step) * 0.1) }));
      for (const st of steps) {
        await s.read(Uint32Array.from(ids));
        await s.applyRowwiseAdam(Uint32Array.from(ids), st.grads, { lr: 0.01, weightDecay: 0.01, step: st.step });
      }
      expect(s.stats.casConflicts).toBe(0);
      await expectRows(s, mirror(ids, d, storage, 3, steps));
    });

  it('repeated ids in an update have their gradient rows summed and update the row once', async () => {
    const s = await open('dups');
    const d = s.dim;
    const g = Float32Array.from({ length: 3 * d }, (_, i) => Math.fround(0.01 * (i % 7) - 0.02));
    await s.applyRowwiseAdam(Uint32Array.from([9, 10, 9]), g, { lr: 0.01, weightDecay: 0.01, step: 1 });
    const summed = new Float32Array(2 * d);
    for (let c = 0; c < d; c++) {
      summed[c] = Math.fround(g[c]! + g[2 * d + c]!);
      summed[d + c] = g[d + c]!;
    }
    await expectRows(s, mirror([9, 10], d, 'f32', 3, [{ step: 1, grads: summed }]));
  });

  it('cas: a row another worker updated in between conflicts and falls back to atomic (no update lost)', async () => {
    const a = await open('conflict', { mode: 'cas' });
    const b = await open('conflict', { table: a.table, mode: 'cas' });
    const d = a.dim, ids = Uint32Array.from([5, 6, 7]);
    const ga = Float32Array.from({ length: 3 * d }, (_, i) => Math.cos(i) * 0.1);
    const gb = Float32Array.from({ length: 3 * d }, (_, i) => Math.sin(i) * 0.1);
    await a.read(ids);
    await b.read(ids);
    await a.applyRowwiseAdam(ids, ga, { lr: 0.01, weightDecay: 0.01, step: 1 });
    await b.applyRowwiseAdam(ids, gb, { lr: 0.01, weightDecay: 0.01, step: 2 });
    expect(b.stats.casConflicts).toBe(3);
    await expectRows(a, mirror([...ids], d, 'f32', 3, [{ step: 1, grads: ga }, { step: 2, grads: gb }]));
  });

  it('cas: committing the same new rows twice (a retry after a lost reply) applies the update once', async () => {
    const s = await open('idem', { mode: 'cas' });
    const d = s.dim, ids = [21];
    for (let id = 22; ids.length < 2; id++) if (hashId(id) % s.bucketCount === hashId(21) % s.bucketCount) ids.push(id); // one slot
    const g = Float32Array.from({ length: 2 * d }, (_, i) => Math.sin(i) * 0.1);
    await s.read(Uint32Array.from(ids));
    const keys = ids.map((id) => rowKey(s.table, s.bucketCount, id));
    const old = await admin.mgetBuffer(...keys);
    const rb = rowBytes(d, 'f32'), versions = Buffer.alloc(8), rows = Buffer.alloc(2 * rb);
    const k = adamDoubleConstants({ lr: 0.01, weightDecay: 0.01, step: 1 });
    old.forEach((o, i) => {
      versions.writeUInt32LE(o!.readUInt32LE(0), 4 * i);
      rowwiseAdamRowDouble(o!, 0, rows, i * rb, d, 'f32', g, i * d, k, new Float32Array(d), new Float32Array(d));
    });
    for (let attempt = 0; attempt < 2; attempt++) {
      expect(await admin.fcall('emb_cas', 2, ...keys, String(rb), versions, rows)).toEqual([]);
    }
    await expectRows(s, mirror(ids, d, 'f32', 3, [{ step: 1, grads: g }]));
    // a genuinely stale commit still conflicts (row 1 differs; row 2 is the landed value again)
    const stale = Buffer.from(rows);
    stale.writeFloatLE(123, 12);
    expect(await admin.fcall('emb_cas', 2, ...keys, String(rb), versions, stale)).toEqual([1]);
  });

  it('a NaN gradient turns the row NaN on the server (never finite)', async () => {
    const s = await open('nan');
    const g = new Float32Array(s.dim);
    g[5] = NaN;
    await s.applyRowwiseAdam(Uint32Array.of(42), g, { lr: 0.01, step: 1 });
    const r = await s.read(Uint32Array.of(42));
    expect(r.v[0]).toBeNaN();
    for (const x of r.w) expect(x).toBeNaN();
  });

  it('write overwrites rows and scan returns every row in ascending order, untouched rows as init, without creating them', async () => {
    const s = await open('scan', { rows: 50, dim: 5 });
    const ids = Uint32Array.from([3, 44]);
    const blk = { ids, w: Float32Array.from({ length: 10 }, (_, i) => i + 0.5), m: new Float32Array(10).fill(-1), v: Float32Array.of(2, 3) };
    await s.write(blk);
    const seen: number[] = [];
    const w = new Float32Array(5);
    for await (const c of s.scan(16)) {
      c.ids.forEach((id, i) => {
        seen.push(id);
        if (id === 3 || id === 44) {
          const k = id === 3 ? 0 : 1;
          expect(c.w.subarray(i * 5, i * 5 + 5)).toEqual(blk.w.subarray(k * 5, k * 5 + 5));
          expect(c.v[i]).toBe(blk.v[k]);
        } else {
          initRow(3, id, 5, 0.02, w);
          expect(c.w.subarray(i * 5, i * 5 + 5)).toEqual(w);
        }
      });
    }
    expect(seen).toEqual(Array.from({ length: 50 }, (_, i) => i));
    const existing = (await s.existingIdsByPrimary()).flatMap((p) => p.ids).sort((x, y) => x - y);
    expect(existing).toEqual([3, 44]);
  });

  it('rejects a row of the wrong size, naming its key', async () => {
    const s = await open('size');
    await admin.set(rowKey(s.table, s.bucketCount, 11), Buffer.alloc(12));
    await expect(s.read(Uint32Array.of(11))).rejects.toThrow(/row t_size_.*:11 has 12 bytes, expected 304 .*HINT/);
    await expect(s.applyRowwiseAdam(Uint32Array.of(11), new Float32Array(37), { lr: 0.1, step: 1 })).rejects.toThrow(/has 12 bytes, expected 304.*HINT/);
  });

  it('rejects a run of another dim on an existing table, and ids outside the table', async () => {
    const s = await open('meta');
    await expect(open('meta', { table: s.table, dim: 36 })).rejects.toThrow(/has dim = 37, this run has 36.*HINT/);
    await expect(s.read(Uint32Array.of(5000))).rejects.toThrow(/item id 5000 .*outside the table.*HINT/);
  });

  it('reloads the Functions when a primary lost them', async () => {
    const s = await open('fn');
    for (const node of admin.nodes('master')) await node.call('FUNCTION', 'DELETE', FUNCTIONS_LIBRARY);
    await s.applyRowwiseAdam(Uint32Array.of(1), new Float32Array(37).fill(0.1), { lr: 0.01, step: 1 });
    expect((await s.read(Uint32Array.of(1))).v[0]).toBeGreaterThan(0);
  });

  it('says clearly when no cluster answers at the address', async () => {
    await expect(RedisEmbeddingStore.open({ address: '127.0.0.1:1', table: 'x', rows: 10, dim: 4, seed: 1 }))
      .rejects.toThrow(/no Redis Cluster answers at 127.0.0.1:1 .*HINT: start the local one with `npm run cluster -- start`/);
  });

  it('bucketsForRowsPerStep keeps ≥ 64 rows per call', () => {
    expect(bucketsForRowsPerStep(10)).toBe(1);
    expect(bucketsForRowsPerStep(1700)).toBe(26);
    expect(Math.floor(1700 / bucketsForRowsPerStep(1700))).toBeGreaterThanOrEqual(64);
  });
});
