// Rows/s of a training step's item rows on the Redis store with the worker's device cache in
// front vs without (BENCHMARKS.md "Embedding tables on Redis Cluster": the case it had not
// measured). Needs a running cluster (npm run cluster -- start). Usage:
//   npx tsx scripts/bench-redis-cache.ts [--redis 127.0.0.1:7100] [--dim 64] [--rows 200001]
//     [--rows-per-step 4096] [--cache-rows 20001] [--zipf 1.1] [--steps 30] [--warmup 10]
// Each step draws `rows-per-step` distinct ids from a Zipf(α) law over the catalogue (seeded, the
// same ids for every variant) and makes them available to the device, updated:
//   without   store.read(ids) + upload into device slots + row-wise Adam of every row on Redis
//             (mode cas and mode atomic): what a --workers rank does each step (its cache is
//             invalidated every step, so it is not "in front" across steps);
//   cache     DeviceRowCache.ensure(ids) (hits stay on the device; misses read from Redis; dirty
//             LRU victims written back with the store's write) + markDirty (the update itself
//             runs on the device in the trainer, not timed here): a one-worker run's path.
// The variants run interleaved step by step, so load drift on a shared machine hits all alike.
// Prints one JSON line per variant: rows/s (rows of the step / its time), per shard, and the
// cache's hit rate and write-backs per step.
import { Cluster } from 'ioredis';
import { createGpu } from '../kernels/gpu/index.js';
import { EmbeddingTable } from '../kernels/embedding/embedding.js';
import { DeviceRowCache } from '../trainer/store/device_cache.js';
import { RedisEmbeddingStore, type RedisUpdateMode } from '../trainer/store/redis_store.js';
import { deleteTable } from '../trainer/store/redis_testing.js';
import { writeTableRows } from '../trainer/store/table_rows.js';

const arg = (k: string, d: string) => {
  const i = process.argv.indexOf(`--${k}`);
  return i >= 0 ? process.argv[i + 1]! : d;
};
const address = arg('redis', '127.0.0.1:7100');
const dim = Number(arg('dim', '64'));
const rows = Number(arg('rows', '200001'));
const perStep = Number(arg('rows-per-step', '4096'));
const cacheRows = Number(arg('cache-rows', '20001'));
const alpha = Number(arg('zipf', '1.1'));
const steps = Number(arg('steps', '30'));
const warmup = Number(arg('warmup', '10'));

/** Seeded Zipf(α) sampler over ids 1..n−1 (inverse CDF, binary search). */
function zipfSampler(n: number, a: number, seed: number): () => number {
  const cdf = new Float64Array(n - 1);
  let acc = 0;
  for (let i = 0; i < n - 1; i++) cdf[i] = acc += 1 / Math.pow(i + 1, a);
  let s = seed >>> 0;
  const rand = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32);
  // Popularity rank → id: a fixed permutation-like stride so hot ids are spread over the buckets.
  const stride = 7919;
  return () => {
    const u = rand() * acc;
    let lo = 0, hi = n - 2;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (cdf[mid]! < u) lo = mid + 1;
      else hi = mid;
    }
    return 1 + ((lo * stride) % (n - 1));
  };
}

async function main(): Promise<void> {
  const gpu = await createGpu();
  const [host, port] = address.split(':');
  const admin = new Cluster([{ host: host!, port: Number(port) }]);
  const buckets = Math.max(1, Math.floor(perStep / 64));
  const modes: RedisUpdateMode[] = ['cas', 'atomic'];
  const open = (what: string, mode: RedisUpdateMode) => RedisEmbeddingStore.open({ address, table: `benchcache_${what}_${dim}_${process.pid}`, rows, dim, seed: 1, buckets, mode });
  const plain = await Promise.all(modes.map((m) => open(`plain_${m}`, m)));
  const cached = await open('cached', 'cas');
  const slots = new EmbeddingTable(gpu, perStep + 1, dim, 'bench-slots', { optimizerState: true });
  const cacheTable = new EmbeddingTable(gpu, cacheRows, dim, 'bench-cache', { optimizerState: true });
  const cache = new DeviceRowCache(cached, cacheTable);
  await cache.init();
  const next = zipfSampler(rows, alpha, 12345);
  const grads = Float32Array.from({ length: perStep * dim }, (_, i) => Math.sin(i) * 1e-3);
  const ms = { cache: 0, cas: 0, atomic: 0 };
  let hits0 = 0, miss0 = 0, wb0 = 0;
  try {
    for (let s = 0; s < warmup + steps; s++) {
      const set = new Set<number>();
      while (set.size < perStep) set.add(next());
      const ids = Uint32Array.from(set);
      if (s === warmup) ({ hits: hits0, misses: miss0, writebacks: wb0 } = cache.stats);
      let t0 = performance.now();
      await cache.ensure(ids);
      await gpu.device.queue.onSubmittedWorkDone();
      cache.markDirty(ids);
      if (s >= warmup) ms.cache += performance.now() - t0;
      for (let k = 0; k < modes.length; k++) {
        t0 = performance.now();
        const block = await plain[k]!.read(ids);
        writeTableRows(slots, Uint32Array.from({ length: perStep }, (_, i) => i + 1), block);
        await gpu.device.queue.onSubmittedWorkDone();
        await plain[k]!.applyRowwiseAdam(ids, grads, { lr: 1e-3, step: s + 1 });
        if (s >= warmup) ms[modes[k]!] += performance.now() - t0;
      }
    }
    const P = admin.nodes('master').length || 3;
    const rowsPerS = (m: number) => Math.round((perStep * steps) / (m / 1000));
    const st = cache.stats;
    const hitRate = (st.hits - hits0) / (st.hits - hits0 + st.misses - miss0);
    const common = { dim, rows, rowsPerStep: perStep, zipf: alpha, steps, warmup, primaries: P };
    console.log(JSON.stringify({ case: 'cache', variant: 'cache in front (ensure + write-back of dirty victims)', ...common, cacheRows, rowsPerS: rowsPerS(ms.cache), perShard: Math.round(rowsPerS(ms.cache) / P), hitRate: Number(hitRate.toFixed(3)), writebacksPerStep: Math.round((st.writebacks - wb0) / steps) }));
    for (const m of modes) console.log(JSON.stringify({ case: 'cache', variant: `no cache (read + upload + ${m} update)`, ...common, rowsPerS: rowsPerS(ms[m]), perShard: Math.round(rowsPerS(ms[m]) / P) }));
  } finally {
    for (const st of [...plain, cached]) {
      await st.close();
      await deleteTable(admin, st.table);
    }
    slots.dispose();
    cacheTable.dispose();
    await admin.quit();
    gpu.dispose();
  }
}

main().catch((e: Error) => {
  console.error(e.message);
  process.exit(1);
});
