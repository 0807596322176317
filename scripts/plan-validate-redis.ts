// The planner validation's 2-worker row: `npm run train -- --workers 2 --store redis` as it runs
// (trainer/distributed/worker_sync.ts), on the local Redis Cluster at --redis. The launcher
// (trainer/distributed/launch.ts) forks 2 processes of scripts/plan-validate-worker.ts on this
// machine; each trains its half of every global batch and reports its step times, step split,
// peak device bytes and peak RSS. The row is judged on the slower worker's median step (the
// steps are synchronous: both workers' step times differ only by where each waits).
//
// The planner's prediction (model/plan/plan.ts with workers: 2, store: 'redis'): the device term
// of one worker's slice, times 2 because both workers run their kernels at the same time on this
// machine's 2 cores (workersShareDevice: each gets half the calibrated rates; the calibration ran
// one process on the whole machine); plus the store term (every touched row read fresh from Redis
// each step, the union of both workers' rows updated once by row-wise Adam on Redis, at the rows/s
// --calibrate measured on the same cluster); plus the all-reduce and the row all-gather through
// Redis (bytes through the cluster at its measured bytes/s, round trips, poll waits). The Redis
// servers share the same 2 cores; their time is in the measured rows/s and bytes/s, which were
// measured with one client while nothing else ran, so the prediction assumes the phases do not
// overlap (true of the synchronous step: read, compute, all-reduce, row updates, barrier).
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Config } from '../model/config.js';
import type { SyntheticOptions } from '../trainer/data/index.js';
import { launchWorkers } from '../trainer/distributed/launch.js';
import { autoCacheRows } from '../trainer/store/device_cache.js';
import { answers } from './plan-calibrate-redis.js';
import { median } from './plan-validate-measure.js';
import type { WorkerReport } from './plan-validate-worker.js';
import type { Measured, ValidationRow } from './plan-validate.js';

const WORKER = join(dirname(fileURLToPath(import.meta.url)), 'plan-validate-worker.ts');
export const REDIS_ROW_WORKERS = 2;

/** Runs `steps` timed steps of `config` on `workers` workers against the cluster at `address`. */
export async function measureRedisWorkers(config: Config, data: Partial<SyntheticOptions>, steps: number, address: string, workers = REDIS_ROW_WORKERS): Promise<Measured> {
  const reports: WorkerReport[] = [];
  const errors = new Map<number, string>();
  const l = launchWorkers({
    worldSize: workers, entry: WORKER, redis: address, graceMs: 30_000,
    args: [JSON.stringify({ config, data, steps })],
    onLine: (rank, line, stream) => {
      if (stream === 'stdout' && line.startsWith('{"rank"')) reports.push(JSON.parse(line) as WorkerReport);
      else if (stream === 'stderr' && line.trim() && !/^Warning: max/.test(line)) errors.set(rank, line);
    },
  });
  const exits = await l.done;
  const bad = exits.filter((e) => e.code !== 0);
  if (bad.length || reports.length !== workers) {
    throw new Error(`validate: the ${workers}-worker row failed (${exits.map((e) => `rank ${e.rank}: ${e.signal ?? e.code}${errors.has(e.rank) ? ` (${errors.get(e.rank)})` : ''}`).join('; ')}). HINT: check the cluster at ${address} (npm run cluster -- status)`);
  }
  reports.sort((a, b) => a.rank - b.rank);
  const slower = reports.reduce((a, b) => (median(b.stepSeconds) > median(a.stepSeconds) ? b : a));
  const peakOf = reports.reduce((a, b) => (b.peakSliceLengths.reduce((x, y) => x + y, 0) > a.peakSliceLengths.reduce((x, y) => x + y, 0) ? b : a));
  return {
    stepSeconds: slower.stepSeconds,
    stepCores: slower.stepCores,
    stepLengths: slower.sliceLengths,
    peakBytes: Math.max(...reports.map((r) => r.deviceBytes)),
    poolBytes: Math.max(...reports.map((r) => r.deviceBytes)),
    peakLengths: peakOf.peakSliceLengths,
    perWorker: reports.map((r) => ({ rank: r.rank, medianStep: median(r.stepSeconds), deviceBytes: r.deviceBytes, maxRssBytes: r.maxRssBytes, split: r.split })),
  };
}

/** The row (config as `cfg` builds the others': dropout 0.2 on the defaults). */
export function redisWorkersRow(address: string, cfg: (o: Partial<Config>) => Config): ValidationRow {
  const data: Partial<SyntheticOptions> = { numUsers: 400, numItems: 3000 };
  const config = cfg({ dim: 32, maxLen: 50, numLayers: 2, numHeads: 1, batchSize: 32, negativeSampling: 'shared', numNegatives: 128, embeddingStore: 'redis', redisAddress: address });
  const [host, port] = address.split(':');
  return {
    name: 'redis-2-workers',
    what: `HSTU d = 32, N = 50, 2 layers, global B = 32 (16 per worker), shared negatives (R = 128); ${REDIS_ROW_WORKERS} workers on this machine, item table on the Redis Cluster at ${address}`,
    config,
    data,
    judge: 'median',
    input: { workers: REDIS_ROW_WORKERS, store: 'redis', workersShareDevice: true, allReduceVia: 'redis', cacheRows: autoCacheRows(config.deviceCacheRows, data.numItems! + 1) },
    unavailable: async () => ((await answers(host!, Number(port))) ? undefined : `no Redis Cluster answers at ${address}. HINT: npm run cluster -- start (it listens on 127.0.0.1:7100), or pass --redis host:port of a running one`),
    measure: (_gpu, c, _data, steps) => measureRedisWorkers(c, data, steps, address),
  };
}
