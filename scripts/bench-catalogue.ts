// `npm run bench -- catalogue [--json] [--items 10000,100000,1000000,10000000] [--stores device,host]
//   [--steps 5] [--eval-users 256] [--cache-frac 0.1] [--quick]`
// HSTU training step and full-ranking evaluation as the catalogue grows (issue 20): one synthetic
// log of fixed size (same users, events, batch, L and R for every catalogue), the item table in
// the `device` store or the `host` store with a device cache of max(--cache-frac of the rows,
// 16384) rows (a step touches up to ~3,300 rows; the table's when smaller). One
// JSON line per case: items, dim, store, cache_rows, ms_per_step, tokens_per_s, eval_users_per_s,
// eval_users, device_table_bytes, host_table_bytes, rss_mb. Steps after 2 warm-up steps are timed
// (wall clock, the whole step incl. cache misses, prefetch and write-back).
import { createGpu, type Gpu } from '../kernels/gpu/index.js';
import { applyOverrides, defaultConfig, type Config } from '../model/config.js';
import { createEncoder, type Encoder } from '../model/encoder.js';
import { initParams } from '../model/params.js';
import { batchTrainSequences, generateSynthetic } from '../trainer/data/index.js';
import { parseSyntheticSpec } from '../trainer/data/synthetic.js';
import { HostTier, createHostItemStore, encoderInitForHostTier, withNext } from '../trainer/store/host_tier.js';
import { evaluateRetrievalOver } from '../trainer/store/train_eval.js';
import { prepareSplit, trainStep } from '../trainer/train.js';
import { settleGuard, type GuardOptions } from '../trainer/divergence.js';

interface Row {
  items: number;
  dim: number;
  store: 'device' | 'host';
  cache_rows: number;
  ms_per_step: number;
  tokens_per_s: number;
  eval_users_per_s: number;
  eval_users: number;
  negative_sampling: string;
  device_table_bytes: number;
  host_table_bytes: number;
  rss_mb: number;
  device: string;
}

function opt(args: string[], name: string, dflt: string): string {
  const i = args.indexOf(`--${name}`);
  if (i < 0) return dflt;
  const v = args[i + 1];
  if (v === undefined || v.startsWith('--')) throw new Error(`--${name} needs a value`);
  return v;
}

export const CATALOGUE_CONFIG = {
  model: 'hstu', dim: 64, maxLen: 50, numLayers: 2, numHeads: 2, batchSize: 32, numNegatives: 128,
  // The per-position catalogue GEMM of this branch cannot score 10M items; shared negatives keep
  // the loss O(L·R·d) (the gathered per-position loss of issue 20 item 1 replaces it when merged).
  negativeSampling: 'shared', dropout: 0.2, seed: 1,
} as const;

async function runCase(gpu: Gpu, items: number, store: 'device' | 'host', o: { steps: number; evalUsers: number; cacheFrac: number; users: number; events: number }): Promise<Row> {
  const data = generateSynthetic(parseSyntheticSpec(`users=${o.users},items=${items},events=${o.events},seed=1`));
  const tableRows = data.numItems;
  const cacheRows = Math.min(tableRows, Math.max(1 << 14, Math.ceil(tableRows * o.cacheFrac)));
  const c: Config = applyOverrides(defaultConfig, { ...CATALOGUE_CONFIG, embeddingStore: store, deviceCacheRows: store === 'host' ? cacheRows : 0, evalMaxUsers: o.evalUsers });
  const split = prepareSplit(data, c);
  const host = store === 'host' ? createHostItemStore(c, tableRows) : undefined;
  let enc: Encoder | undefined;
  try {
    enc = await createEncoder(gpu, c, host ? host.cacheRows : tableRows, host ? encoderInitForHostTier(c, tableRows, host.cacheRows) : initParams(c, tableRows - 1, c.seed));
    const tier = host ? await HostTier.attach(host.store, enc) : undefined;
    let step = 0, tokens = 0, secs = 0;
    const warm = 2;
    const guard: GuardOptions = { keepPending: true }; // as the training loop: verdicts with the next step
    for (const [tb, next] of withNext(batchTrainSequences(split.train, { batchSize: c.batchSize, maxLen: c.maxLen, shuffleSeed: c.seed, epoch: 0 }))) {
      if (step >= warm + o.steps) break;
      const t0 = performance.now();
      const loss = await trainStep(gpu, enc, c, tb, step, c.lr, tableRows, guard, tier, next);
      if (step === warm + o.steps - 1) {
        await settleGuard(guard); // the last step's device work and verdict, timed with it
        await gpu.sync();
      }
      const dt = (performance.now() - t0) / 1000;
      if (!Number.isFinite(loss)) throw new Error(`loss ${loss} at step ${step}`);
      if (step >= warm) {
        secs += dt;
        tokens += tb.items.length;
      }
      step++;
    }
    const t1 = performance.now();
    const m = await evaluateRetrievalOver(gpu, enc, split.validation, c, tier);
    const evalSecs = (performance.now() - t1) / 1000;
    return {
      items, dim: c.dim, store, cache_rows: host ? host.cacheRows : 0,
      ms_per_step: Math.round((1000 * secs) / Math.max(1, step - warm) * 10) / 10,
      tokens_per_s: Math.round(tokens / secs),
      eval_users_per_s: Math.round((m.count / evalSecs) * 10) / 10,
      eval_users: m.count,
      negative_sampling: c.negativeSampling,
      device_table_bytes: enc.items.rows * enc.items.bytesPerRow,
      host_table_bytes: host ? host.store.bytes : 0,
      rss_mb: Math.round(process.memoryUsage().rss / 2 ** 20),
      device: gpu.adapter.description,
    };
  } finally {
    enc?.release();
    await host?.store.close();
  }
}

export async function runCatalogueBench(args: string[]): Promise<void> {
  if (args.includes('--help')) return void console.log('usage: npm run bench -- catalogue [--json] [--items 10000,100000,1000000,10000000] [--stores device,host] [--steps 5] [--eval-users 256] [--cache-frac 0.1] [--users 2000] [--events 60000] [--quick]');
  const quick = args.includes('--quick');
  const json = args.includes('--json');
  const items = opt(args, 'items', quick ? '2000,20000' : '10000,100000,1000000,10000000').split(',').map(Number);
  const stores = opt(args, 'stores', 'device,host').split(',') as ('device' | 'host')[];
  for (const s of stores) if (s !== 'device' && s !== 'host') throw new Error(`--stores: expected device and/or host, got ${s}`);
  const o = {
    steps: Number(opt(args, 'steps', quick ? '2' : '5')),
    evalUsers: Number(opt(args, 'eval-users', quick ? '32' : '256')),
    cacheFrac: Number(opt(args, 'cache-frac', '0.1')),
    users: Number(opt(args, 'users', quick ? '200' : '2000')),
    events: Number(opt(args, 'events', quick ? '4000' : '60000')),
  };
  const gpu = await createGpu();
  try {
    for (const n of items) {
      for (const store of stores) {
        const r = await runCase(gpu, n, store, o);
        console.log(json ? JSON.stringify(r) : `${String(n).padStart(9)} items  ${store.padEnd(6)}  ${r.ms_per_step} ms/step  ${r.tokens_per_s} tok/s  eval ${r.eval_users_per_s} users/s  rss ${r.rss_mb} MiB`);
      }
    }
  } finally {
    gpu.dispose();
  }
}
