// Measures what a full M-FALCON user-encoding cache costs the process: RSS before and after
// filling it (with evictions), next to the cache's own byte count and the GPU pool's size.
//   npx tsx scripts/cache-memory.ts [--cacheBytes=67108864] [--users=2000] [--history=199] [--dim=50] [--layers=2]
import { createGpu } from '../kernels/gpu/index.js';
import { applyOverrides, defaultConfig } from '../model/config.js';
import { loadRankingModel } from '../trainer/ranking_checkpoint.js';
import { randomCheckpoint } from '../serving/demo_checkpoint.js';
import { MfalconEngine } from '../serving/mfalcon.js';

const arg = (k: string, d: number) => Number(process.argv.find((a) => a.startsWith(`--${k}=`))?.split('=')[1] ?? d);
const cacheBytes = arg('cacheBytes', 64 * 2 ** 20), users = arg('users', 2000), n = arg('history', 199);
const c = applyOverrides(defaultConfig, { task: 'ranking', model: 'hstu', dim: arg('dim', 50), numLayers: arg('layers', 2), numHeads: 1, maxLen: n + 1, headHidden: 16 });
const NUM_ITEMS = 3000;
const mib = (b: number) => (b / 2 ** 20).toFixed(1);
const gpu = await createGpu();
const { model } = await loadRankingModel(gpu, randomCheckpoint(c, NUM_ITEMS, 1));
const engine = new MfalconEngine(model, { cacheBytes }, undefined);
const cand = Uint32Array.from({ length: 8 }, (_, i) => i + 1);
const one = async (u: number) => {
  const items = Uint32Array.from({ length: n }, (_, i) => 1 + ((u * 31 + i * 7) % NUM_ITEMS));
  await engine.score({ userId: `u${u}`, history: { items, timestamps: Uint32Array.from({ length: n }, (_, i) => 1e9 + i * 60), actions: new Uint32Array(n).fill(3) }, candidates: cand, candidateTime: 1e9 + n * 60 });
};
await one(0);
const rss0 = process.memoryUsage().rss;
console.log(`model d=${c.dim} layers=${c.numLayers} history=${n}; cache budget ${mib(cacheBytes)} MiB; RSS after warm-up ${mib(rss0)} MiB`);
const t0 = Date.now();
for (let u = 1; u <= users; u++) {
  await one(u);
  if (u % 500 === 0 || u === users) {
    const s = engine.cacheStats();
    console.log(`${u} users (${((Date.now() - t0) / 1000).toFixed(0)} s): entries ${s.entries}, cache bytes ${mib(s.bytes)} MiB${s.gpuBytes !== undefined ? ` (gpu ${mib(s.gpuBytes)}, host ${mib(s.hostBytes)})` : ''}, evictions ${s.evictions}, pool ${mib(gpu.pool.bytesAllocated)} MiB, RSS ${mib(process.memoryUsage().rss)} MiB (+${mib(process.memoryUsage().rss - rss0)})`);
  }
}
engine.close();
model.release();
gpu.dispose();
