// Host-tier rows/s for the planner's calibration: the cost of the device cache's row traffic
// (trainer/store/device_cache.ts) per missed row — the id → slot map and LRU, the row read from the
// host store's chunks, its upload into the slot table, and the later write-back of the dirty row
// it evicts (read back from the device). On a CPU-emulated device this host work, not the link's
// bandwidth, prices a missed row. Measured with a 50,001-row store at d = 64 and a cache of 5,000
// slots, 4,000 fresh rows per step (every one a miss, every eviction dirty).
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
    let next = 1, best = Infinity;
    for (let s = 0; s <= steps + 1; s++) {
      const ids = Uint32Array.from({ length: perStep }, () => (next = next >= rows - 1 ? 1 : next + 1));
      const t0 = performance.now();
      await c.ensure(ids);
      await gpu.sync();
      const dt = (performance.now() - t0) / 1000;
      c.markDirty(ids);
      if (s >= 2) best = Math.min(best, dt); // from step 2 on every eviction is a dirty row
    }
    const rate = perStep / best;
    log(`  host tier: ${Math.round(rate)} missed rows/s (fetch + upload + dirty write-back; d = ${dim}, best of ${steps} steps of ${perStep})`);
    return rate;
  } finally {
    table.dispose();
  }
}
