// Memory accounting of the user-encoding cache (issue 16 item 7): an entry's `bytes` is what it
// really holds (exact GPU buffer sizes + its host history copy + a fixed JS estimate), the cache's
// totals are the sums over its entries and never exceed the budget, entries do not go through the
// shared pool (which never shrinks), and /metrics reports the totals and the process RSS.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createGpu, type Gpu } from '../kernels/gpu/index.js';
import { tinyConfig } from '../model/reference/fixtures.js';
import { loadRankingModel, type LoadedRankingModel } from '../trainer/ranking_checkpoint.js';
import type { History } from './cache.js';
import { randomCheckpoint } from './demo_checkpoint.js';
import { ENTRY_OVERHEAD_BYTES, UserEncoding } from './encoding.js';
import { MfalconEngine } from './mfalcon.js';
import { ServingServer } from './server.js';

const NUM_ITEMS = 30;
const c = tinyConfig({ task: 'ranking', maxLen: 40, numActions: 5, headHidden: 7, attnAlpha: -1 });
let gpu: Gpu;
let loaded: LoadedRankingModel;
beforeAll(async () => {
  gpu = await createGpu();
  loaded = await loadRankingModel(gpu, randomCheckpoint(c, NUM_ITEMS, 5));
});
afterAll(() => {
  loaded?.model.release();
  gpu?.dispose();
});

const history = (n: number, seed: number): History => ({
  items: Uint32Array.from({ length: n }, (_, i) => 1 + ((seed * 7 + i * 3) % NUM_ITEMS)),
  timestamps: Uint32Array.from({ length: n }, (_, i) => 1_600_000_000 + i * 3600),
  actions: Uint32Array.from({ length: n }, (_, i) => 1 + ((seed + i) % 5)),
});

describe('UserEncoding: bytes = what it holds', () => {
  it('exact GPU buffer sizes + history copy + JS estimate, outside the pool', () => {
    const pool0 = gpu.pool.bytesAllocated;
    const h = history(13, 1);
    const e = new UserEncoding(gpu, h, { numLayers: 2, kWidth: 4, vWidth: 6 });
    const buffers = [...e.k, ...e.v].reduce((a, t) => a + t.buffer.size, 0);
    expect(buffers).toBe(2 * 13 * (4 + 6) * 4); // no power-of-two rounding
    expect(e.gpuBytes).toBe(buffers);
    expect(e.hostBytes).toBe(13 * 12 + ENTRY_OVERHEAD_BYTES);
    expect(e.bytes).toBe(e.gpuBytes + e.hostBytes);
    expect(gpu.pool.bytesAllocated).toBe(pool0); // not pooled: freeing it gives the memory back
    e.evict();
  });
});

describe('engine cache: totals within the budget, and on /metrics', () => {
  it('after filling and evicting, bytes = gpu + host ≤ budget; the pool does not grow with evictions', async () => {
    const budget = 200_000;
    const engine = new MfalconEngine(loaded.model, { cacheBytes: budget, microbatch: 4, windowMs: 0 });
    const score = (u: number, n: number) => engine.score({ userId: `u${u}`, history: history(n, u), candidates: Uint32Array.of(1, 2, 3), candidateTime: 1_700_000_000 });
    for (let u = 0; u < 30; u++) await score(u, 5 + (u % 30)); // warm-up: every pass shape (lengths 5..34)
    const pool = gpu.pool.bytesAllocated;
    for (let u = 30; u < 150; u++) await score(u, 5 + (u % 30)); // the same lengths again, new users: evictions
    const s = engine.cacheStats();
    expect(s.evictions).toBeGreaterThan(0);
    expect(s.bytes).toBeLessThanOrEqual(budget);
    expect(s.bytes).toBe(s.gpuBytes + s.hostBytes);
    // every live entry is one UserEncoding: its host part is its history + the estimate
    expect(s.hostBytes).toBeGreaterThanOrEqual(s.entries * (5 * 12 + ENTRY_OVERHEAD_BYTES));
    const { H, dqk, dv } = loaded.model.hstuAttentionOptions();
    expect(s.gpuBytes % (c.numLayers * (H * dqk + H * dv) * 4)).toBe(0); // whole rows, exact sizes
    expect(gpu.pool.bytesAllocated).toBe(pool); // evicted entries did not park buffers in the pool
    engine.cache.clear();
    expect(engine.cacheStats()).toMatchObject({ entries: 0, bytes: 0, gpuBytes: 0, hostBytes: 0 });

    const server = new ServingServer({ ranking: { model: loaded.model, engine, itemRawIds: loaded.itemRawIds } }, { port: 0 });
    const { url } = await server.listen();
    try {
      await score(1, 12);
      const text = await (await fetch(`${url}/metrics`)).text();
      const st = engine.cacheStats();
      const metric = (name: string) => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1]);
      expect(metric('hstu_cache_bytes')).toBe(st.bytes);
      expect(metric('hstu_cache_gpu_bytes')).toBe(st.gpuBytes);
      expect(metric('hstu_cache_host_bytes')).toBe(st.hostBytes);
      expect(metric('hstu_gpu_pool_bytes')).toBe(gpu.pool.bytesAllocated);
      expect(metric('hstu_process_resident_bytes')).toBeGreaterThan(st.bytes);
    } finally {
      await server.close(); // closes the engine too
    }
  });
});
