// Validation of the planner (`npm run plan -- --validate`): small configurations run here for a
// few steps each; the planner predicts each from the local calibration; predicted vs measured step
// time and peak memory, with the error. Calibration and validation are interleaved: the kernel
// rates are re-timed right before each row (the CPU is shared and its load drifts), and each row is
// predicted from the rates measured just before it.
//
// A row is one `ValidationRow`: a name, a config, synthetic data options and a `measure` function
// that runs the steps and reports what it saw. Device-store rows use measureDeviceStore, the
// host-store row measureHostStore (a device cache of 10% of the rows), the 2-worker row
// (scripts/plan-validate-redis.ts) forks 2 workers that train on the Redis Cluster at --redis as
// `npm run train -- --workers 2 --store redis` does; it is skipped, saying so, when no cluster
// answers there.
import { mkdirSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { dirname } from 'node:path';
import { createGpu, type Gpu } from '../kernels/gpu/index.js';
import { applyOverrides, defaultConfig, type Config } from '../model/config.js';
import { localProfile, type CalibrationFile } from '../model/plan/devices.js';
import { formatBytes } from '../model/plan/memory.js';
import { plan, type PlanInput } from '../model/plan/plan.js';
import { generateSynthetic, type Interactions, type SyntheticOptions } from '../trainer/data/index.js';
import { attentionCostOf, attentionFitOf, attentionResiduals, calibrate, CALIBRATION_CONFIGS, dispatchCosts, meanCoresAtBest, ratesOf, timeCases } from './plan-calibrate.js';
import { bestHost, calibrateStepHost } from './plan-calibrate-step-host.js';
import { measureDeviceStore, measureHostStore, median, type Measured } from './plan-validate-measure.js';
import { redisWorkersRow } from './plan-validate-redis.js';
import { calibrateHostTier } from './plan-calibrate-host.js';
import { calibrateHostTierSteps } from './plan-calibrate-host-steps.js';
import { calibrateRedis } from './plan-calibrate-redis.js';

export { measureDeviceStore, measureHostStore, type Measured };

export interface ValidationRow {
  name: string;
  what: string;
  config: Config;
  data: Partial<SyntheticOptions>;
  /** Planner input beyond the config, items and the calibrated device. */
  input?: Partial<PlanInput>;
  /** Which step judges the row: the fastest (default: the least disturbed by other processes) or
   *  the median (the 2-worker row: its steps are the slower worker's). */
  judge?: 'fastest' | 'median';
  /** Why the row cannot run here (then it is skipped and the reason printed), or undefined. */
  unavailable?: () => Promise<string | undefined>;
  /** Runs one warm-up step on the largest batch (pipelines compile; buffers reach their peak size),
   *  then `steps` timed steps, calling `between` after each (the runner re-times calibration
   *  kernels there, never while a step is timed). */
  measure(gpu: Gpu, c: Config, data: Interactions, steps: number, between: () => Promise<void>): Promise<Measured>;
}

const cfg = (o: Partial<Config>) => applyOverrides(defaultConfig, { dropout: 0.2, ...o });

/** The rows: device and host stores here, and 2 workers on the Redis Cluster at `redis`. */
export function validationRows(redis = '127.0.0.1:7100'): ValidationRow[] {
  return [
    { name: 'device-small', what: 'HSTU d = 32, N = 50, 2 layers, B = 64, per-position negatives', config: cfg({ dim: 32, maxLen: 50, numLayers: 2, numHeads: 1, batchSize: 64 }), data: { numUsers: 400, numItems: 1500 }, measure: measureDeviceStore },
    { name: 'device-wide', what: 'HSTU d = 64, N = 100, 4 layers, 2 heads, B = 32', config: cfg({ dim: 64, maxLen: 100, numLayers: 4, numHeads: 2, batchSize: 32 }), data: { numUsers: 200, numItems: 3000 }, measure: measureDeviceStore },
    { name: 'device-shared', what: 'HSTU d = 48, N = 200, 3 layers, B = 64, shared negatives (R = 256)', config: cfg({ dim: 48, maxLen: 200, numLayers: 3, numHeads: 2, batchSize: 64, negativeSampling: 'shared', numNegatives: 256 }), data: { numUsers: 300, numItems: 2000 }, measure: measureDeviceStore },
    // A catalogue 10× the cache: per-position negatives on the gathered path (16 per position, so
    // a step's rows fit the cache), each step missing most negatives' rows.
    { name: 'host-cache-10%', what: 'HSTU d = 32, N = 50, 2 layers, B = 8, 16 per-position negatives; host store, cache 20,000 of 200,001 rows', config: cfg({ dim: 32, maxLen: 50, numLayers: 2, numHeads: 1, batchSize: 8, numNegatives: 16, embeddingStore: 'host', deviceCacheRows: 20_000 }), data: { numUsers: 64, numItems: 200_000 }, input: { store: 'host', cacheRows: 20_000 }, measure: measureHostStore },
    { name: 'long-sequence', what: 'HSTU d = 32, N = 1024, 2 layers, B = 4 (histories of 1,050–1,200 events)', config: cfg({ dim: 32, maxLen: 1024, numLayers: 2, numHeads: 1, batchSize: 4 }), data: { numUsers: 16, numItems: 2000, minEvents: 1050, maxEvents: 1200, startTime: 1 }, measure: measureDeviceStore },
    redisWorkersRow(redis, cfg),
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
  perWorker?: Measured['perWorker'];
  load?: [number, number];
  /** Cores this process (the slower worker) used during the judged step. */
  cores?: number;
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
    ...(cal.redis.primaries ? { redisPrimaries: cal.redis.primaries } : {}),
    computeDtype: 'fp32',
    lossAsImplemented: true,
    activations: 'ours',
    stepLengths,
    ...row.input,
  });
}

const pct = (x: number) => `${x >= 0 ? '+' : ''}${(100 * x).toFixed(1)}%`;

export function formatValidation(rows: ValidationResult[]): string {
  const head = ['row', 'predicted step', 'measured step', 'error', 'predicted peak', 'measured peak', 'error', 'binding (predicted)', 'load', 'cores'];
  const cells = rows.map((r) => [r.name, `${(r.predictedStep * 1e3).toFixed(0)} ms`, `${(r.measuredStep * 1e3).toFixed(0)} ms`, pct(r.stepError), formatBytes(r.predictedPeak), formatBytes(r.measuredPeak), pct(r.peakError), r.binding, r.load ? `${r.load[0].toFixed(0)}–${r.load[1].toFixed(0)}` : '', r.cores === undefined ? '' : r.cores.toFixed(2)]);
  const w = head.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)));
  const line = (xs: string[]) => xs.map((x, i) => x.padEnd(w[i]!)).join('  ').trimEnd();
  return [line(head), line(w.map((n) => '-'.repeat(n))), ...cells.map(line)].join('\n');
}

export async function runCalibrateAndValidate(o: { profile: string; validate: boolean; json: boolean; steps?: number; redis?: string; rows?: string[] }): Promise<void> {
  const log = (s: string) => (o.json ? process.stderr : process.stdout).write(s + '\n');
  const rows = validationRows(o.redis).filter((r) => !o.rows || o.rows.includes(r.name));
  const unknown = (o.rows ?? []).filter((n) => !validationRows(o.redis).some((r) => r.name === n));
  if (unknown.length) throw new Error(`validate: no row named ${unknown.join(', ')}. HINT: --rows takes some of ${validationRows(o.redis).map((r) => r.name).join(', ')}`);
  const gpu = await createGpu();
  try {
    const { file, rateCases, best } = await calibrate(gpu, log, o.redis);
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
      // The dispatch cost too (it was timed once at calibration, under whatever load was then).
      // So are the host tier's missed rows/s (fewer steps) and, right before the 2-worker row, the
      // Redis rates: each keeps its best over the run, like the kernels.
      let dispatchBest = { dispatchSeconds: file.dispatchSeconds, submitSeconds: file.submitSeconds };
      let hostTierBest = file.hostTierRowsPerSec ?? 0;
      let redisBest = file.redis;
      let hostBest = file.host;
      let hostTierStep = file.hostTierStep;
      const calData = generateSynthetic();
      const quiet = () => {};
      const between = async () => {
        await timeCases(gpu, rateCases, best, 1, 1);
        const d = await dispatchCosts(gpu);
        if (d.dispatchSeconds < dispatchBest.dispatchSeconds) dispatchBest = d;
        hostTierBest = Math.max(hostTierBest, await calibrateHostTier(gpu, quiet, { steps: 1 }));
      };
      const measured: { row: ValidationRow; data: Interactions; m: Measured }[] = [];
      const skipped: { name: string; why: string }[] = [];
      for (const row of rows) {
        const why = await row.unavailable?.();
        if (why) {
          skipped.push({ name: row.name, why });
          log(`validate ${row.name}: SKIPPED: ${why}`);
          continue;
        }
        if (row.input?.store === 'redis' && redisBest.primaries) {
          const again = await calibrateRedis(log, o.redis);
          if (again.primaries) redisBest = { ...redisBest, readsPerSec: Math.max(redisBest.readsPerSec, again.readsPerSec), updatesPerSec: Math.max(redisBest.updatesPerSec, again.updatesPerSec), bytesPerSec: Math.max(redisBest.bytesPerSec ?? 0, again.bytesPerSec ?? 0), roundTripSeconds: Math.min(redisBest.roundTripSeconds ?? Infinity, again.roundTripSeconds ?? Infinity) };
        }
        // The host tier's whole-step cost: again right before a host-store row, each width's best kept.
        if (row.input?.store === 'host') hostTierStep = await calibrateHostTierSteps(gpu, log, hostTierStep);
        // The step's host costs (JS only, a fraction of a second): once per row, best kept.
        if (hostBest) hostBest = bestHost(hostBest, await calibrateStepHost(gpu, calData, CALIBRATION_CONFIGS, hostBest.readsPerStep, quiet));
        const data = generateSynthetic(row.data);
        const load0 = loadavg()[0]!;
        log(`validate ${row.name}: ${row.what} (${data.numItems - 1} items, ${data.numUsers} users)`);
        // A fresh device per row: the loss's scratch buffers live per device, so the peak is this row's.
        const rowGpu = await createGpu();
        try {
          const m = await row.measure(rowGpu, row.config, data, o.steps ?? 8, between);
          m.load = [load0, loadavg()[0]!];
          measured.push({ row, data, m });
          log(`  steps ${m.stepSeconds.map((x) => (x * 1e3).toFixed(0)).join(', ')} ms; peak ${formatBytes(m.peakBytes)}${m.stepMisses ? `; cache misses ${m.stepMisses.join(', ')}, evictions ${m.stepEvictions!.join(', ')}` : ''}`);
          for (const w of m.perWorker ?? []) log(`  worker ${w.rank}: median step ${(w.medianStep * 1e3).toFixed(0)} ms (${Object.entries(w.split).map(([k, v]) => `${k} ${v.toFixed(0)}`).join(', ')} ms), device ${formatBytes(w.deviceBytes)}, peak RSS ${formatBytes(w.maxRssBytes)}`);
        } finally {
          rowGpu.dispose();
        }
        // Host-store rows: the same config, batches and steps on the device store (not judged), so
        // the error splits into the device's part and the host tier's (the store term's) part.
        if (row.input?.store === 'host') {
          const g = await createGpu();
          try {
            const d = await measureDeviceStore(g, applyOverrides(row.config, { embeddingStore: 'device', deviceCacheRows: 0 }), data, o.steps ?? 8, async () => {});
            measured[measured.length - 1]!.m.deviceStoreSeconds = d.stepSeconds;
            log(`  the same steps on the device store: ${d.stepSeconds.map((x) => (x * 1e3).toFixed(0)).join(', ')} ms`);
          } finally {
            g.dispose();
          }
        }
      }
      const cal: CalibrationFile = { ...file, ...dispatchBest, hostTierRowsPerSec: hostTierBest || undefined, ...(hostTierStep ? { hostTierStep } : {}), ...(hostBest ? { host: hostBest } : {}), redis: redisBest, rates: ratesOf(best), attention: attentionFitOf(best), attentionCost: attentionCostOf(best), measuredAt: new Date().toISOString() };
      save(cal);
      const r = cal.rates;
      const a = cal.attentionCost!;
      log(`the calibration kernels' best timings used ${meanCoresAtBest(best).toFixed(2)} cores on average (CPU time / wall time of this process)`);
      log(`best over the run: dispatch ${(cal.dispatchSeconds * 1e6).toFixed(1)} µs, submit ${(cal.submitSeconds * 1e6).toFixed(0)} µs; step host work ${cal.host ? `${(cal.host.slotSeconds * 1e9).toFixed(1)} ns per gathered-loss slot, ${(cal.host.commandSeconds * 1e6).toFixed(1)} µs per recorded command, ${(cal.host.readSeconds * 1e6).toFixed(0)} µs per read back (${cal.host.readsPerStep} per step)` : 'not measured'}; host tier ${Math.round(hostTierBest)} missed rows/s (ensure() alone)${cal.hostTierStep ? `, ${(cal.hostTierStep.baseSeconds * 1e6).toFixed(2)} µs + ${(cal.hostTierStep.perDimSeconds * 1e9).toFixed(1)} ns × d per missed row in whole steps` : ''}; redis ${cal.redis.readsPerSec} reads/s, ${cal.redis.updatesPerSec} updates/s per primary, ${((cal.redis.bytesPerSec ?? 0) / 1e6).toFixed(0)} MB/s, round trip ${((cal.redis.roundTripSeconds ?? 0) * 1e3).toFixed(2)} ms (${cal.redis.source})`);
      log(`rates (best over the run): dense ${r.dense.toFixed(2)}, attention ${r.attention.toFixed(2)} GFLOP/s pooled; attention per workgroup iteration ${a.baseNs.toFixed(2)} ns + ${a.perWidthNs.toFixed(3)} ns × (dqk + dv) + ${a.unalignedNs.toFixed(2)} ns per unaligned operand + ${a.stagedHistNs.toFixed(2)} ns per staged dQ iteration (${a.fit}: ${attentionResiduals(best, a)}), loss ${r.loss.toFixed(2)} (per-position catalogue) / ${(r.lossGathered ?? NaN).toFixed(2)} (gathered) / ${r.lossShared.toFixed(2)} (shared) GFLOP/s, memory-bound ${r.memory.toFixed(2)} GB/s`);
      const results: ValidationResult[] = [];
      for (const { row, data, m } of measured) {
        // Full batches only: the fastest step is the least disturbed one (choosing by measured /
        // predicted instead would pick the step the model overestimates most). The 2-worker row:
        // the median of the slower worker's steps.
        const fastest = row.judge === 'median' ? m.stepSeconds.indexOf(median(m.stepSeconds.length % 2 ? m.stepSeconds : m.stepSeconds.slice(1))) : m.stepSeconds.indexOf(Math.min(...m.stepSeconds));
        const p = predictStep(row, cal, data, m.stepLengths[fastest]!);
        const peak = Math.max(p.tiers.device.perDevice, predictStep(row, cal, data, m.peakLengths).tiers.device.perDevice);
        const terms: Record<string, number> = {};
        for (const t of [...p.step.compute, p.step.memory, p.step.overhead, ...(p.step.host.seconds ? [p.step.host] : []), ...(p.step.store.seconds ? [p.step.store] : [])]) terms[t.name] = t.seconds;
        if (p.step.network.seconds) terms[p.step.network.name] = p.step.network.seconds;
        const res: ValidationResult = { name: row.name, what: row.what, predictedStep: p.step.seconds, measuredStep: m.stepSeconds[fastest]!, stepError: p.step.seconds / m.stepSeconds[fastest]! - 1, predictedPeak: peak, measuredPeak: m.peakBytes, peakError: peak / m.peakBytes - 1, poolBytes: m.poolBytes, binding: p.step.binding, terms, stepSeconds: m.stepSeconds, load: m.load, cores: m.stepCores?.[fastest], ...(m.perWorker ? { perWorker: m.perWorker } : {}) };
        results.push(res);
        log(`${row.name}: predicted ${(res.predictedStep * 1e3).toFixed(0)} ms (${Object.entries(terms).map(([k, v]) => `${k} ${(v * 1e3).toFixed(0)}`).join(', ')}), measured ${(res.measuredStep * 1e3).toFixed(0)} ms (${pct(res.stepError)}); peak ${formatBytes(peak)} vs ${formatBytes(m.peakBytes)} (${pct(res.peakError)}; pool allocated ${formatBytes(m.poolBytes)})`);
        if (m.stepMisses) {
          log(`  ${p.step.store.name}: ${p.step.store.detail}; the judged step missed ${m.stepMisses[fastest]} rows`);
          // Side by side, the same step priced as before the whole-step calibration (ensure() alone).
          const { hostTierStep: _, ...ensureOnly } = cal;
          const q = predictStep(row, ensureOnly, data, m.stepLengths[fastest]!);
          if (m.deviceStoreSeconds) {
            const dev = Math.min(...m.deviceStoreSeconds), store = p.step.device.seconds;
            log(`  split: the row's steps on the device store ${(dev * 1e3).toFixed(0)} ms at the fastest, device term ${(store * 1e3).toFixed(0)} ms (${pct(store / dev - 1)}); the host tier added ${((res.measuredStep - dev) * 1e3).toFixed(0)} ms to the judged step, store (host) priced ${(p.step.store.seconds * 1e3).toFixed(0)} ms (${pct(p.step.store.seconds / (res.measuredStep - dev) - 1)})`);
          }
          log(`  with the ensure() micro-benchmark's rate instead: predicted ${(q.step.seconds * 1e3).toFixed(0)} ms (${pct(q.step.seconds / res.measuredStep - 1)}; store (host) ${(q.step.store.seconds * 1e3).toFixed(0)} ms)`);
        }
      }
      if (o.json) console.log(JSON.stringify({ device: file.adapter, calibration: cal, rows: results, skipped }, null, 2));
      else {
        console.log('\n' + formatValidation(results));
        for (const k of skipped) console.log(`${k.name}: skipped: ${k.why}`);
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
