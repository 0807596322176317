// The host tier's cost per missed row, measured on whole training steps (the planner's
// `store (host)` term; model/plan/plan.ts). The micro-benchmark (plan-calibrate-host.ts) times
// DeviceRowCache.ensure alone and gave 150–245k missed rows/s, while inside a step the same
// rows cost 125–150k/s (BENCHMARKS.md, planner runs 5–6): a step also draws the negatives to find
// its rows (stepItemIds, twice: this step's and, after the submit, the next one's), prefetches
// the next step's rows and merges them (rowsFor), marks rows dirty, and its uploads of missed rows
// (thousands of small queue.writeBuffer runs) execute on the device at the step's first submit,
// inside the kernels' wait. None of that is in the micro-benchmark, all of it is a missed row's
// work. So: one small calibration config (not a validation row), trained for the same steps on
// the same batches twice — with the device store (every row on the device), then with the host
// store and a cache of 10% of the rows, timed only once the cache has evicted (each miss evicts
// a dirty row, the steady state) — and
//   seconds per missed row = min over the host steps of (host step − fastest device step) / misses
// at two widths d = 16 and 64, and a line a + b·d through them (a wider row copies more bytes).
// The difference is everything the host store adds to a step; the missed rows are what it scales
// with (a step's touched rows are ≈ 90% misses at 10% cache, so hits and the per-step constant
// ride along at that ratio: a cache with a much higher hit rate would be over-priced per miss).
// Best (lowest) over the steps, like every other calibration here: other processes only add time.
import type { Gpu } from '../kernels/gpu/index.js';
import { applyOverrides, defaultConfig, type Config } from '../model/config.js';
import type { HostTierStepCost } from '../model/plan/devices.js';
import { fitHostTierStep } from '../model/plan/plan.js';
import { generateSynthetic } from '../trainer/data/index.js';
import { measureDeviceStore, measureHostStore } from './plan-validate-measure.js';

/** The calibration config (its width set per point: HOST_STEP_DIMS): HSTU N = 40, 1 layer, B = 12, 12 per-position negatives on
 *  150,000 items, cache 15,000 rows (10%). Other shapes than the validation row (d = 32, N = 50,
 *  2 layers, B = 8, 16 negatives, 200,000 items, cache 20,000), so that row tests the model. */
export const HOST_STEP_CALIBRATION: { config: Config; items: number; users: number; name: string } = {
  config: applyOverrides(defaultConfig, { dim: 48, maxLen: 40, numLayers: 1, numHeads: 1, batchSize: 12, numNegatives: 12, dropout: 0.2, embeddingStore: 'host', deviceCacheRows: 15_000 }),
  items: 150_000,
  users: 96,
  name: 'HSTU N = 40, 1 layer, B = 12, 12 per-position negatives, 150,000 items, cache 15,000 rows',
};

export interface HostStepCalibration {
  /** Missed rows per second of whole-step host-tier work (each miss evicting a dirty row). */
  rowsPerSec: number;
  /** The fastest device-store step, the host-store step that set the rate and its misses. */
  deviceStep: number;
  hostStep: number;
  misses: number;
}

/** Per-missed-row seconds from paired device / host steps (pure: tested by hand). `hostSteps[i]`
 *  had `misses[i]` misses; the cost is the lowest (hostSteps[i] − min(deviceSteps)) / misses[i]. */
export function hostStepRate(deviceSteps: number[], hostSteps: number[], misses: number[]): HostStepCalibration {
  if (!deviceSteps.length || hostSteps.length !== misses.length || !hostSteps.length) throw new Error('host tier calibration: expected device steps and one miss count per host step. HINT: internal');
  const deviceStep = Math.min(...deviceSteps);
  let best: HostStepCalibration | undefined;
  hostSteps.forEach((h, i) => {
    const m = misses[i]!;
    if (!(m > 0)) return;
    const perRow = (h - deviceStep) / m;
    if (perRow > 0 && (!best || perRow < 1 / best.rowsPerSec)) best = { rowsPerSec: 1 / perRow, deviceStep, hostStep: h, misses: m };
  });
  if (!best) throw new Error(`host tier calibration: no host-store step was slower than the fastest device-store step (${(deviceStep * 1e3).toFixed(1)} ms) with misses. HINT: the machine was too noisy, or the cache never missed: run --calibrate again`);
  return best;
}

/** The calibration widths: the line a + b·d through them prices any d (wider rows copy more). */
export const HOST_STEP_DIMS = [16, 64] as const;

/** Trains the calibration config at width `dim` for `steps` timed steps with each store on `gpu`. */
export async function hostStepPoint(gpu: Gpu, dim: number, log: (s: string) => void, steps = 5): Promise<HostStepCalibration> {
  const k = HOST_STEP_CALIBRATION;
  const data = generateSynthetic({ numUsers: k.users, numItems: k.items });
  const c = applyOverrides(k.config, { dim });
  const none = async () => {};
  const dev = await measureDeviceStore(gpu, applyOverrides(c, { embeddingStore: 'device', deviceCacheRows: 0 }), data, steps, none);
  const host = await measureHostStore(gpu, c, data, steps, none);
  const r = hostStepRate(dev.stepSeconds, host.stepSeconds, host.stepMisses!);
  log(`  host tier on whole steps, d = ${dim}: ${(1e6 / r.rowsPerSec).toFixed(2)} µs per missed row (${(r.hostStep * 1e3).toFixed(1)} ms host-store step with ${r.misses} misses − ${(r.deviceStep * 1e3).toFixed(1)} ms fastest device-store step; steps ${host.stepSeconds.map((x) => (x * 1e3).toFixed(0)).join(', ')} vs ${dev.stepSeconds.map((x) => (x * 1e3).toFixed(0)).join(', ')} ms)`);
  return r;
}

/** Both widths, fitted (`prior`: keep each width's best over the run, as the other calibrations do). */
export async function calibrateHostTierSteps(gpu: Gpu, log: (s: string) => void, prior?: HostTierStepCost): Promise<HostTierStepCost> {
  const points = [];
  for (const dim of HOST_STEP_DIMS) {
    const seconds = 1 / (await hostStepPoint(gpu, dim, log)).rowsPerSec;
    const before = prior?.points?.find((p) => p.dim === dim)?.seconds ?? Infinity;
    points.push({ dim, seconds: Math.min(seconds, before) });
  }
  const fit = fitHostTierStep(points[0]!, points[1]!, `measured here: host-store minus device-store steps of ${HOST_STEP_CALIBRATION.name} at d = ${HOST_STEP_DIMS.join(' and ')}`);
  log(`  host tier per missed row in a step: ${(fit.baseSeconds * 1e6).toFixed(2)} µs + ${(fit.perDimSeconds * 1e9).toFixed(1)} ns × d`);
  return fit;
}
