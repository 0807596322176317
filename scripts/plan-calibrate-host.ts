// Host-tier rows/s for the planner's calibration: the cost of the device cache's row traffic
// (trainer/store/device_cache.ts) per missed row — the id → slot map and LRU, the row read from the
// host store's chunks, its upload into the slot table, and the later write-back of the dirty row
// it evicts (read back from the device). On a CPU-emulated device this host work, not the link's
// bandwidth, prices a missed row. Measured with a 50,001-row store at d = 64 and a cache of 5,000
// slots, 4,000 distinct rows per step drawn uniformly at random (as a step's negatives are: mostly
// misses, every eviction dirty). Random, not consecutive ids: consecutive slots and rows coalesce
// into a few runs (table_rows.ts runsOf: one copy per run), which made the rate 2-3× higher than
// a training step's scattered misses get.
import type { Gpu } from '../kernels/gpu/index.js';
import { EmbeddingTable } from '../kernels/embedding/embedding.js';
import { DeviceRowCache } from '../trainer/store/device_cache.js';
import { HostEmbeddingStore } from '../trainer/store/host_store.js';

export async function calibrateHostTier(gpu: Gpu, log: (s: string) => void, o: { rows?: number; cache?: number; perStep?: number; steps?: number; dim?: number } = {}): Promise<number> {
  const rows = o.rows ?? 50_001, cache = o.cache ?? 5_000, perStep = o.perStep ?? 4_000, steps = o.steps ?? 4, dim = o.dim ?? 64;
  const store = new HostEmbeddingStore(rows, dim, { storage: 'f32' });
  const table = new EmbeddingTable(gpu, cache, dim, 'calibrate:host_cache', { optimizerState: true });
  try {
    const c = new DeviceRowCache(store, table);
    await c.init();
    let seed = 0x2545f491, best = Infinity, bestMisses = 0;
    const draw = () => 1 + Math.floor(((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32) * (rows - 1));
    for (let s = 0; s <= steps + 1; s++) {
      const set = new Set<number>();
      while (set.size < perStep) set.add(draw());
      const ids = Uint32Array.from(set);
      const m0 = c.stats.misses;
      const t0 = performance.now();
      await c.ensure(ids);
      await gpu.sync();
      const dt = (performance.now() - t0) / 1000;
      c.markDirty(ids);
      // From step 2 on the cache is full: every miss evicts a dirty row.
      if (s >= 2 && dt / Math.max(1, c.stats.misses - m0) < best / Math.max(1, bestMisses)) [best, bestMisses] = [dt, c.stats.misses - m0];
    }
    const rate = bestMisses / best;
    log(`  host tier: ${Math.round(rate)} missed rows/s (fetch + upload + dirty write-back; d = ${dim}, best of ${steps} steps of ${perStep} random rows)`);
    return rate;
  } finally {
    table.dispose();
  }
}
