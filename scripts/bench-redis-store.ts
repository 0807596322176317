// Benchmarks of the Redis store and the all-reduce (BENCHMARKS.md "Embedding tables on Redis
// Cluster"). Needs a running cluster (npm run cluster -- start). Usage:
//   npx tsx scripts/bench-redis-store.ts [--redis 127.0.0.1:7100] [--rows-per-step 4096] [--steps 6]
// Prints one JSON line per case:
//   store:     {mode, storage, dim, rowsPerStep, readRowsPerS, updateRowsPerS, perShard…}
//   memory:    {dim, storage, rows, bytesPerRow (INFO used_memory, primaries only), payload, model}
//   allreduce: {workers, values, msPerCall (median), bytesUpPerCall}
//   kill:      {stoppedInMs} from a worker's SIGKILL to the last survivor's exit (--only kill)
import { Cluster } from 'ioredis';
import { defaultConfig, loadConfigFile } from '../model/config.js';
import { numel, paramLayout } from '../model/params.js';
import { RedisEmbeddingStore, rowKey, type RedisUpdateMode } from '../trainer/store/redis_store.js';
import { deleteTable } from '../trainer/store/redis_testing.js';
import { rowBytes, type RowStorage } from '../trainer/store/row_codec.js';
import { launchWorkers } from '../trainer/distributed/launch.js';

const arg = (k: string, d: string) => {
  const i = process.argv.indexOf(`--${k}`);
  return i >= 0 ? process.argv[i + 1]! : d;
};
const address = arg('redis', '127.0.0.1:7100');
const rowsPerStep = Number(arg('rows-per-step', '4096'));
const steps = Number(arg('steps', '6'));
const only = arg('only', 'store,memory,allreduce').split(','); // and 'kill'

async function primaries(admin: Cluster): Promise<number> {
  await admin.ping();
  return admin.nodes('master').length;
}

async function usedMemory(admin: Cluster): Promise<number> {
  let total = 0;
  for (const n of admin.nodes('master')) total += Number(/used_memory:(\d+)/.exec(String(await n.call('INFO', 'memory')))![1]);
  return total;
}

/** atomic and cas measured interleaved step by step (same rows, same gradients), so load drift on
 *  a shared machine hits both alike. */
async function benchStore(admin: Cluster, storage: RowStorage, dim: number): Promise<void> {
  const P = await primaries(admin);
  const buckets = Math.max(1, Math.floor(rowsPerStep / 64));
  const modes: RedisUpdateMode[] = ['atomic', 'cas'];
  const stores = await Promise.all(modes.map((mode) => RedisEmbeddingStore.open({
    address, table: `bench_${mode}_${storage}_${dim}_${process.pid}`, rows: 1 << 24, dim, storage, seed: 1, buckets, mode })));
  try {
    const grads = Float32Array.from({ length: rowsPerStep * dim }, (_, i) => Math.sin(i) * 1e-3);
    const ids = Uint32Array.from({ length: rowsPerStep }, (_, i) => 1 + i * 7);
    const readMs = [0, 0], updMs = [0, 0];
    for (let s = 0; s <= steps; s++) {
      for (let k = 0; k < 2; k++) {
        const t0 = performance.now();
        await stores[k]!.read(ids);
        const t1 = performance.now();
        await stores[k]!.applyRowwiseAdam(ids, grads, { lr: 1e-3, step: s + 1 });
        const t2 = performance.now();
        if (s > 0) { readMs[k] = readMs[k]! + t1 - t0; updMs[k] = updMs[k]! + t2 - t1; } // step 0 creates the rows
      }
    }
    modes.forEach((mode, k) => {
      const readRowsPerS = (rowsPerStep * steps) / (readMs[k]! / 1000), updateRowsPerS = (rowsPerStep * steps) / (updMs[k]! / 1000);
      console.log(JSON.stringify({
        case: 'store', mode, storage, dim, rowsPerStep, buckets, steps, primaries: P,
        readRowsPerS: Math.round(readRowsPerS), updateRowsPerS: Math.round(updateRowsPerS),
        readRowsPerSPerShard: Math.round(readRowsPerS / P), updateRowsPerSPerShard: Math.round(updateRowsPerS / P),
        casConflicts: stores[k]!.stats.casConflicts,
      }));
    });
  } finally {
    for (const st of stores) {
      await st.close();
      await deleteTable(admin, st.table);
    }
  }
}

async function benchMemory(admin: Cluster, storage: RowStorage, dim: number): Promise<void> {
  const table = `mem_${storage}_${dim}_${process.pid}`, rows = 20_000;
  const store = await RedisEmbeddingStore.open({ address, table, rows: rows + 1, dim, storage, seed: 1, buckets: 64 });
  try {
    const before = await usedMemory(admin);
    for (let a = 1; a <= rows; a += 4096) await store.read(Uint32Array.from({ length: Math.min(4096, rows + 1 - a) }, (_, i) => a + i));
    const after = await usedMemory(admin);
    const payload = rowBytes(dim, storage);
    // Per-key accounting of a sample of rows (key, value, dict entry; jemalloc size classes).
    let usage = 0;
    const sample = Array.from({ length: 200 }, (_, i) => 1 + i * 97);
    for (const id of sample) usage += Number(await admin.call('MEMORY', 'USAGE', rowKey(table, store.bucketCount, id), 'SAMPLES', '0'));
    console.log(JSON.stringify({
      case: 'memory', storage, dim, rows, bytesPerRow: +((after - before) / rows).toFixed(1), memoryUsagePerKey: +(usage / sample.length).toFixed(1), payload,
      keyBytes: `${table}:{63}:12345`.length, overheadPerRow: +((after - before) / rows - payload).toFixed(1),
      model: storage === 'f32' ? '8d+4 (+4 version) + 25-80 B' : '4d+4 (+4 version) + 25-80 B',
    }));
  } finally {
    await store.close();
    await deleteTable(admin, table);
  }
}

async function benchAllReduce(values: number, workers: number, transport: 'redis' | 'ring'): Promise<void> {
  const ms: number[] = [];
  let up = 0;
  const l = launchWorkers({
    worldSize: workers, entry: new URL('../trainer/distributed/allreduce_worker.ts', import.meta.url).pathname,
    args: [String(values), '20'], redis: address, env: { HSTU_ALLREDUCE: transport },
    onLine: (rank, line, stream) => {
      if (stream !== 'stdout' || rank !== 0) return;
      const j = JSON.parse(line) as { ms?: number; step?: number; summary?: { bytesUp: number; calls: number } };
      if (j.ms !== undefined && j.step! > 2) ms.push(j.ms);
      if (j.summary) up = j.summary.bytesUp / j.summary.calls;
    },
  });
  const exits = await l.done;
  if (exits.some((e) => e.code !== 0)) throw new Error(`allreduce bench: workers failed ${JSON.stringify(exits)}`);
  ms.sort((a, b) => a - b);
  console.log(JSON.stringify({ case: 'allreduce', transport, workers, values, msPerCallMedian: ms[Math.floor(ms.length / 2)], msPerCallMin: ms[0], bytesUpPerCall: up }));
}

/** SIGKILL one of 3 workers; time until the last survivor exited (heartbeat TTL 0.8 s). */
async function benchKill(): Promise<void> {
  let steps = 0;
  const l = launchWorkers({
    worldSize: 3, entry: new URL('../trainer/distributed/allreduce_worker.ts', import.meta.url).pathname,
    args: ['1000', '100000', '20'], redis: address, env: { HSTU_HEARTBEAT_MS: '100', HSTU_HEARTBEAT_TTL_MS: '800' },
    onLine: (rank, _line, stream) => { if (stream === 'stdout' && rank === 0) steps++; },
  });
  while (steps < 3) await new Promise((r) => setTimeout(r, 20));
  const t0 = Date.now();
  l.children[1]!.kill('SIGKILL');
  const exits = await l.done;
  console.log(JSON.stringify({ case: 'kill', workers: 3, ttlMs: 800, stoppedInMs: Date.now() - t0, exits: exits.map((e) => e.code ?? e.signal) }));
}

async function main(): Promise<void> {
  const [host, port] = address.split(':');
  const admin = new Cluster([{ host: host!, port: Number(port) }]);
  try {
    if (only.includes('store')) {
      for (const dim of [64, 512]) for (const st of ['f32', 'bf16'] as const) await benchStore(admin, st, dim);
    }
    if (only.includes('memory')) for (const dim of [64, 512]) for (const st of ['f32', 'bf16'] as const) await benchMemory(admin, st, dim);
    if (only.includes('allreduce')) {
      const c = loadConfigFile('trainer/configs/ml-100k/hstu.json', defaultConfig);
      const dense = paramLayout(c, 1682).filter((s) => !s.embedding).reduce((a, s) => a + numel(s.shape), 0);
      console.log(JSON.stringify({ case: 'dense-params', config: 'ml-100k/hstu.json', values: dense }));
      for (const [values, W] of [[dense, 2], [dense, 4], [1_000_000, 2]] as const) {
        for (const t of ['redis', 'ring'] as const) await benchAllReduce(values, W, t);
      }
    }
    if (only.includes('kill')) for (let i = 0; i < 3; i++) await benchKill();
  } finally {
    await admin.quit();
  }
}

main().catch((e: Error) => {
  console.error(e.message);
  process.exit(1);
});
