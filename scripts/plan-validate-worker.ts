// One worker of the planner validation's 2-worker Redis row (scripts/plan-validate-redis.ts forks
// W of these through trainer/distributed/launch.ts, which sets RANK, WORLD_SIZE, HSTU_REDIS and
// HSTU_RUN_ID). It trains the row's config exactly as `npm run train -- --workers W --store redis`
// does (WorkerSync.step: store read, forward + backward on the rank's slice, dense all-reduce
// through Redis, row-wise Adam of the item rows on Redis, barrier) for one warm-up step on the
// largest batch and `steps` timed steps on full batches, then prints one JSON line:
//   {"rank", "stepSeconds", "split", "deviceBytes", "maxRssBytes", "sliceLengths", "peakSliceLengths"}
// Argument: the row as JSON ({ config, data, steps }).
import { createGpu } from '../kernels/gpu/index.js';
import { applyOverrides, defaultConfig, type Config } from '../model/config.js';
import { createEncoder } from '../model/encoder.js';
import { generateSynthetic, type SyntheticOptions } from '../trainer/data/index.js';
import { workerIdentityFromEnv } from '../trainer/distributed/env.js';
import { sliceBatch, WorkerSync } from '../trainer/distributed/worker_sync.js';
import { checkHostTierTraining, encoderInitForHostTier, HostTier } from '../trainer/store/host_tier.js';
import { createItemStore } from '../trainer/store/redis_tier.js';
import { lengthsOf, validationBatches, withLiveBytes } from './plan-validate-measure.js';

export interface WorkerReport {
  rank: number;
  stepSeconds: number[];
  /** CPU cores the worker process used during each timed step (CPU time / wall time). */
  stepCores: number[];
  /** ms per step of each part (WorkerSync's split), averaged over the timed steps. */
  split: { storeRead: number; compute: number; allReduce: number; storeWrite: number };
  /** Peak live pool bytes + the device cache's table (w, m, v per slot), as the other rows. */
  deviceBytes: number;
  maxRssBytes: number;
  /** This rank's slice lengths of each timed step, and of the warm-up (largest) batch. */
  sliceLengths: number[][];
  peakSliceLengths: number[];
}

async function main(): Promise<void> {
  const id = workerIdentityFromEnv();
  const row = JSON.parse(process.argv[2] ?? '') as { config: Partial<Config>; data: Partial<SyntheticOptions>; steps: number };
  const c = applyOverrides(defaultConfig, { ...row.config, redisAddress: id.redis } as Partial<Config>);
  const data = generateSynthetic(row.data);
  const { all, full } = validationBatches(data, c);
  const worker = await WorkerSync.join(id, `plan-validate-${JSON.stringify(row)}`);
  const gpu = await createGpu();
  const tableRows = data.numItems;
  const stepSeconds: number[] = [], stepCores: number[] = [], sliceLengths: number[][] = [];
  let peakSliceLengths: number[] = [], cacheBytes = 0;
  try {
    const host = await createItemStore(c, tableRows, { table: worker.table, drop: worker.isLeader });
    try {
      checkHostTierTraining(c, gpu, host.cacheRows, tableRows);
      const { value: report, peak } = await withLiveBytes(gpu, async (): Promise<WorkerReport> => {
        const enc = await createEncoder(gpu, c, host.cacheRows, encoderInitForHostTier(c, tableRows, host.cacheRows));
        cacheBytes = enc.items.rows * (8 * c.dim + 4); // outside the pool
        try {
          const tier = await HostTier.attach(host.store, enc);
          let before = { ...worker.times };
          for (let s = 0; s <= row.steps; s++) {
            const tb = s === 0 ? all[0]! : full[(s - 1) % full.length]!;
            const t0 = performance.now(), c0 = process.cpuUsage();
            const loss = await worker.step(gpu, enc, c, tb, s, c.lr, tier);
            const dt = (performance.now() - t0) / 1000;
            const cpu = process.cpuUsage(c0);
            if (!Number.isFinite(loss)) throw new Error(`validate (rank ${id.rank}): loss ${loss} at step ${s}`);
            const mine = lengthsOf(sliceBatch(tb, id.rank, id.worldSize));
            if (s === 0) {
              peakSliceLengths = mine; // compiles pipelines: not timed
              before = { ...worker.times };
              continue;
            }
            stepSeconds.push(dt);
            stepCores.push((cpu.user + cpu.system) / 1e6 / dt);
            sliceLengths.push(mine);
          }
          const n = Math.max(1, worker.times.steps - before.steps);
          const per = (k: 'storeRead' | 'compute' | 'allReduce' | 'storeWrite') => (worker.times[k] - before[k]) / n;
          return {
            rank: id.rank, stepSeconds, stepCores, sliceLengths, peakSliceLengths,
            split: { storeRead: per('storeRead'), compute: per('compute'), allReduce: per('allReduce'), storeWrite: per('storeWrite') },
            deviceBytes: 0, maxRssBytes: 0,
          };
        } finally {
          enc.release();
        }
      });
      await worker.barrier('validate-done'); // rank 0 drops the table only after every rank is done
      report.deviceBytes = peak + cacheBytes;
      report.maxRssBytes = process.resourceUsage().maxRSS * 1024;
      console.log(JSON.stringify(report));
    } finally {
      await host.close();
    }
  } finally {
    await worker.close();
    gpu.dispose();
  }
}

main().then(() => process.exit(0), (e: Error) => {
  console.error(`error: ${e.message}`);
  process.exit(1);
});
