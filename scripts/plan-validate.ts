// Validation of the planner (`npm run plan -- --validate`): small configurations run here for a
// few steps each; the planner predicts each from the local calibration; predicted vs measured step
// time and peak memory, with the error. Calibration and validation are interleaved: the kernel
// rates are re-timed right before each row (the CPU is shared and its load drifts), and each row is
// predicted from the rates measured just before it.
//
// A row is one `ValidationRow`: a name, a config, synthetic data options and a `measure` function
// that runs the steps and reports what it saw. Device-store rows use measureDeviceStore, the
// host-store row measureHostStore (a device cache of 10% of the rows). The row still to add,
// once `--workers` training is merged (trainer/distributed has the all-reduce, not yet training):
//   - 2 workers on the local Redis Cluster: a `measure` that starts 2 workers against the cluster
//     and reports the slower worker's median step; `input: { workers: 2, store: 'redis' }`; the
//     calibration's redis rows/s are measured on that cluster (scripts/plan-calibrate-redis.ts).
// Append it to `validationRows()`; the runner, the table and the JSON need no change.
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { createGpu, type Gpu } from '../kernels/gpu/index.js';
import { applyOverrides, defaultConfig, type Config } from '../model/config.js';
import { createEncoder } from '../model/encoder.js';
import { initParams } from '../model/params.js';
import { localProfile, type CalibrationFile } from '../model/plan/devices.js';
import { formatBytes } from '../model/plan/memory.js';
import { plan, type PlanInput } from '../model/plan/plan.js';
import { batchTrainSequences, generateSynthetic, type Interactions, type SyntheticOptions } from '../trainer/data/index.js';
import { prepareSplit, trainStep, type HostTrainBatch } from '../trainer/train.js';
import { HostTier, checkHostTierTraining, createHostItemStore, encoderInitForHostTier } from '../trainer/store/host_tier.js';
import { attentionFitOf, calibrate, ratesOf, timeCases } from './plan-calibrate.js';

export interface Measured {
  /** Seconds of each timed step (after one warm-up step that compiles pipelines). */
  stepSeconds: number[];
  /** Peak bytes of live device buffers (pool tensors at their requested size + the item table). */
  peakBytes: number;
  /** Bytes the buffer pool allocated (power-of-two buckets, never returned): for information. */
  poolBytes: number;
  /** Lengths of the timed steps' examples, for the prediction. */
  stepLengths: number[][];
  /** Lengths of the warm-up step's examples: the largest batch, which sets the peak. */
  peakLengths: number[];
}

export interface ValidationRow {
  name: string;
  what: string;
  config: Config;
  data: Partial<SyntheticOptions>;
  /** Planner input beyond the config, items and the calibrated device. */
  input?: Partial<PlanInput>;
  /** Runs one warm-up step on the largest batch (pipelines compile; buffers reach their peak size),
   *  then `steps` timed steps, calling `between` after each (the runner re-times calibration
   *  kernels there, never while a step is timed). */
  measure(gpu: Gpu, c: Config, data: Interactions, steps: number, between: () => Promise<void>): Promise<Measured>;
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

/** Tracks live pool bytes (requested sizes) while `fn` runs; returns the peak. */
async function withLiveBytes<T>(gpu: Gpu, fn: () => Promise<T>): Promise<{ value: T; peak: number }> {
  const pool = gpu.pool as unknown as { take: (bytes: number, label: string) => GPUBuffer; give: (b: GPUBuffer) => void };
  const origTake = pool.take.bind(pool), origGive = pool.give.bind(pool);
  const sizes = new Map<GPUBuffer, number>();
  let live = 0, peak = 0;
  pool.take = (bytes: number, label: string) => {
    const b = origTake(bytes, label);
    sizes.set(b, bytes);
    live += bytes;
    peak = Math.max(peak, live);
    return b;
  };
  pool.give = (b: GPUBuffer) => {
    live -= sizes.get(b) ?? 0;
    sizes.delete(b);
    origGive(b);
  };
  try {
    return { value: await fn(), peak };
  } finally {
    pool.take = origTake;
    pool.give = origGive;
  }
}

/** The device store (today's trainer): encoder on the GPU, trainStep as train.ts runs it. */
export function measureDeviceStore(gpu: Gpu, c: Config, data: Interactions, steps: number, between: () => Promise<void>): Promise<Measured> {
  return measureSteps(gpu, c, data, steps, between, false);
}

/** The host store with a device cache of c.deviceCacheRows slots (trainer/store/host_tier.ts), as
 *  train.ts runs it: each step makes its rows resident (missed rows uploaded, evicted dirty rows
 *  written back), and after its submit prefetches the next batch's rows. */
export function measureHostStore(gpu: Gpu, c: Config, data: Interactions, steps: number, between: () => Promise<void>): Promise<Measured> {
  return measureSteps(gpu, c, data, steps, between, true);
}

async function measureSteps(gpu: Gpu, c: Config, data: Interactions, steps: number, between: () => Promise<void>, hostStore: boolean): Promise<Measured> {
  const split = prepareSplit(data, c);
  // Largest batch first: the warm-up step then sizes every buffer (the loss's scratch grows, and
  // the buffers it outgrows are not given back: see BENCHMARKS.md), so the peak is the steady one.
  const batches: HostTrainBatch[] = [...batchTrainSequences(split.train, { batchSize: c.batchSize, maxLen: c.maxLen, shuffleSeed: c.seed, epoch: 0 })].sort((a, b) => b.items.length - a.items.length);
  if (batches.length < 2) throw new Error(`validate: the data gives ${batches.length} batch(es); need ≥ 2. HINT: more users in the row's data options`);
  const poolBefore = gpu.pool.bytesAllocated;
  let tableRowsOnDevice = data.numItems;
  const times: number[] = [];
  const lengths: number[][] = [];
  let peakLengths: number[] = [];
  const { peak } = await withLiveBytes(gpu, async () => {
    const host = hostStore ? createHostItemStore(c, data.numItems) : undefined;
    if (host) checkHostTierTraining(c, gpu, host.cacheRows, data.numItems);
    const enc = await createEncoder(gpu, c, host ? host.cacheRows : data.numItems, host ? encoderInitForHostTier(c, data.numItems, host.cacheRows) : initParams(c, data.numItems - 1, c.seed));
    const tier = host ? await HostTier.attach(host.store, enc) : undefined;
    tableRowsOnDevice = enc.items.rows;
    try {
      // Timed steps use full batches only (B sequences), so they are alike and the fastest of them
      // is the least disturbed by other processes, not merely the smallest.
      const full = batches.filter((b) => b.seqOffsets.length - 1 === c.batchSize);
      if (full.length === 0) throw new Error(`validate: no full batch of ${c.batchSize} sequences. HINT: more users in the row's data options`);
      for (let s = 0; s <= steps; s++) {
        const tb = s === 0 ? batches[0]! : full[(s - 1) % full.length]!;
        const next = s < steps ? full[s % full.length] : undefined;
        const t0 = performance.now();
        const loss = await trainStep(gpu, enc, c, tb, s, c.lr, data.numItems, undefined, tier, next);
        const dt = (performance.now() - t0) / 1000;
        if (!Number.isFinite(loss)) throw new Error(`validate: loss ${loss} at step ${s}`);
        const lens = Array.from({ length: tb.seqOffsets.length - 1 }, (_, i) => tb.seqOffsets[i + 1]! - tb.seqOffsets[i]!);
        if (s === 0) {
          peakLengths = lens; // compiles pipelines: not timed
          continue;
        }
        times.push(dt);
        lengths.push(lens);
        await between();
      }
    } finally {
      enc.release();
    }
  });
  const tableBytes = tableRowsOnDevice * (8 * c.dim + 4); // w, m (f32) and v per row (or cache slot), outside the pool
  return { stepSeconds: times, peakBytes: peak + tableBytes, poolBytes: gpu.pool.bytesAllocated - poolBefore + tableBytes, stepLengths: lengths, peakLengths };
}

const cfg = (o: Partial<Config>) => applyOverrides(defaultConfig, { dropout: 0.2, ...o });

/** The rows this branch can run (device and host stores). See the header for the Redis row. */
export function validationRows(): ValidationRow[] {
  return [
    { name: 'device-small', what: 'HSTU d = 32, N = 50, 2 layers, B = 64, per-position negatives', config: cfg({ dim: 32, maxLen: 50, numLayers: 2, numHeads: 1, batchSize: 64 }), data: { numUsers: 400, numItems: 1500 }, measure: measureDeviceStore },
    { name: 'device-wide', what: 'HSTU d = 64, N = 100, 4 layers, 2 heads, B = 32', config: cfg({ dim: 64, maxLen: 100, numLayers: 4, numHeads: 2, batchSize: 32 }), data: { numUsers: 200, numItems: 3000 }, measure: measureDeviceStore },
    { name: 'device-shared', what: 'HSTU d = 48, N = 200, 3 layers, B = 64, shared negatives (R = 256)', config: cfg({ dim: 48, maxLen: 200, numLayers: 3, numHeads: 2, batchSize: 64, negativeSampling: 'shared', numNegatives: 256 }), data: { numUsers: 300, numItems: 2000 }, measure: measureDeviceStore },
    // A catalogue 10× the cache: per-position negatives on the gathered path (16 per position, so
    // a step's rows fit the cache), each step missing most negatives' rows.
    { name: 'host-cache-10%', what: 'HSTU d = 32, N = 50, 2 layers, B = 8, 16 per-position negatives; host store, cache 20,000 of 200,001 rows', config: cfg({ dim: 32, maxLen: 50, numLayers: 2, numHeads: 1, batchSize: 8, numNegatives: 16, embeddingStore: 'host', deviceCacheRows: 20_000 }), data: { numUsers: 64, numItems: 200_000 }, input: { store: 'host', cacheRows: 20_000 }, measure: measureHostStore },
    { name: 'long-sequence', what: 'HSTU d = 32, N = 1024, 2 layers, B = 4 (histories of 1,050–1,200 events)', config: cfg({ dim: 32, maxLen: 1024, numLayers: 2, numHeads: 1, batchSize: 4 }), data: { numUsers: 16, numItems: 2000, minEvents: 1050, maxEvents: 1200, startTime: 1 }, measure: measureDeviceStore },
  ];
}

export interface ValidationResult {
  name: string;
  what: string;
  predictedStep: number;
  measuredStep: number;
  stepError: number;
  predictedPeak: number;
  measuredPeak: number;
  peakError: number;
  poolBytes: number;
  binding: string;
  terms: Record<string, number>;
  stepSeconds: number[];
}

/** The planner's prediction of one step of a row (its real example lengths) on the calibrated device. */
export function predictStep(row: ValidationRow, cal: CalibrationFile, data: Interactions, stepLengths: number[]) {
  return plan({
    name: row.name,
    config: row.config,
    items: data.numItems - 1,
    users: data.numUsers,
    events: data.count,
    epochs: 1,
    workers: 1,
    device: localProfile(cal),
    store: 'device',
    computeDtype: 'fp32',
    lossAsImplemented: true,
    activations: 'ours',
    stepLengths,
    ...row.input,
  });
}

const pct = (x: number) => `${x >= 0 ? '+' : ''}${(100 * x).toFixed(1)}%`;

export function formatValidation(rows: ValidationResult[]): string {
  const head = ['row', 'predicted step', 'measured step', 'error', 'predicted peak', 'measured peak', 'error', 'binding (predicted)'];
  const cells = rows.map((r) => [r.name, `${(r.predictedStep * 1e3).toFixed(0)} ms`, `${(r.measuredStep * 1e3).toFixed(0)} ms`, pct(r.stepError), formatBytes(r.predictedPeak), formatBytes(r.measuredPeak), pct(r.peakError), r.binding]);
  const w = head.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)));
  const line = (xs: string[]) => xs.map((x, i) => x.padEnd(w[i]!)).join('  ').trimEnd();
  return [line(head), line(w.map((n) => '-'.repeat(n))), ...cells.map(line)].join('\n');
}

export async function runCalibrateAndValidate(o: { profile: string; validate: boolean; json: boolean; steps?: number }): Promise<void> {
  const log = (s: string) => (o.json ? process.stderr : process.stdout).write(s + '\n');
  const gpu = await createGpu();
  try {
    const { file, rateCases, best } = await calibrate(gpu, log);
    try {
      const save = (f: CalibrationFile) => {
        mkdirSync(dirname(o.profile), { recursive: true });
        writeFileSync(o.profile, JSON.stringify(f, null, 2) + '\n');
        log(`wrote ${o.profile}`);
      };
      if (!o.validate) return save(file);
      // Interleaved: every calibration kernel is timed again after each measured step, and each
      // kernel's best time over the whole run sets the rates; each row is judged on its least
      // disturbed step. Both are then estimates of the machine with the least interference.
      const between = () => timeCases(gpu, rateCases, best, 1, 1);
      const measured: { row: ValidationRow; data: Interactions; m: Measured }[] = [];
      for (const row of validationRows()) {
        const data = generateSynthetic(row.data);
        log(`validate ${row.name}: ${row.what} (${data.numItems - 1} items, ${data.numUsers} users)`);
        // A fresh device per row: the loss's scratch buffers live per device, so the peak is this row's.
        const rowGpu = await createGpu();
        try {
          const m = await row.measure(rowGpu, row.config, data, o.steps ?? 6, between);
          measured.push({ row, data, m });
          log(`  steps ${m.stepSeconds.map((x) => (x * 1e3).toFixed(0)).join(', ')} ms; peak ${formatBytes(m.peakBytes)}`);
        } finally {
          rowGpu.dispose();
        }
      }
      const cal: CalibrationFile = { ...file, rates: ratesOf(best), attention: attentionFitOf(best), measuredAt: new Date().toISOString() };
      save(cal);
      const r = cal.rates;
      const a = cal.attention!;
      log(`rates (best over the run): dense ${r.dense.toFixed(2)}, attention ${r.attention.toFixed(2)} pooled = ${a.pairHeadNs.toFixed(2)} ns per pair × head + ${a.gflops.toFixed(2)} GFLOP/s (${a.fit}), loss ${r.loss.toFixed(2)} (per-position catalogue) / ${(r.lossGathered ?? NaN).toFixed(2)} (gathered) / ${r.lossShared.toFixed(2)} (shared) GFLOP/s, memory-bound ${r.memory.toFixed(2)} GB/s`);
      const results: ValidationResult[] = [];
      for (const { row, data, m } of measured) {
        // Full batches only: the fastest step is the least disturbed one (choosing by measured /
        // predicted instead would pick the step the model overestimates most).
        const fastest = m.stepSeconds.indexOf(Math.min(...m.stepSeconds));
        const p = predictStep(row, cal, data, m.stepLengths[fastest]!);
        const peak = Math.max(p.tiers.device.perDevice, predictStep(row, cal, data, m.peakLengths).tiers.device.perDevice);
        const terms: Record<string, number> = {};
        for (const t of [...p.step.compute, p.step.memory, p.step.overhead, ...(p.step.store.seconds ? [p.step.store] : [])]) terms[t.name] = t.seconds;
        const res: ValidationResult = { name: row.name, what: row.what, predictedStep: p.step.seconds, measuredStep: m.stepSeconds[fastest]!, stepError: p.step.seconds / m.stepSeconds[fastest]! - 1, predictedPeak: peak, measuredPeak: m.peakBytes, peakError: peak / m.peakBytes - 1, poolBytes: m.poolBytes, binding: p.step.binding, terms, stepSeconds: m.stepSeconds };
        results.push(res);
        log(`${row.name}: predicted ${(res.predictedStep * 1e3).toFixed(0)} ms (${Object.entries(terms).map(([k, v]) => `${k} ${(v * 1e3).toFixed(0)}`).join(', ')}), measured ${(res.measuredStep * 1e3).toFixed(0)} ms (${pct(res.stepError)}); peak ${formatBytes(peak)} vs ${formatBytes(m.peakBytes)} (${pct(res.peakError)}; pool allocated ${formatBytes(m.poolBytes)})`);
      }
      if (o.json) console.log(JSON.stringify({ device: file.adapter, calibration: cal, rows: results }, null, 2));
      else {
        console.log('\n' + formatValidation(results));
        const bad = results.filter((r) => Math.abs(r.stepError) > 0.25 || Math.abs(r.peakError) > 0.25);
        console.log(bad.length ? `\n${bad.length} row(s) outside ±25%: ${bad.map((r) => r.name).join(', ')}` : '\nevery prediction within ±25%');
      }
    } finally {
      rateCases.release();
    }
  } finally {
    gpu.dispose();
  }
}
