// The host side of a training step, for the planner's `host work` term (model/plan/plan.ts
// hostTerm, HostStepCosts in model/plan/devices.ts). A step records all its kernels in JS, then
// submits, then waits for its reads: the recording and the reads' own latency are serial with the
// device, and the kernel rates never include them (timeRecorded starts its clock after the
// recording). Measured here, never on a validation row:
//   slotSeconds    the per-position gathered loss's host work per slot (P·K of them): the
//                  negative draws (model/retrieval_negatives.ts) and gatheredLoss's recording with
//                  its slot plan (distinct rows, CSR), as recordRetrievalLoss runs them, at the
//                  calibration configs' first batches; pooled Σ time / Σ slots, best of `reps`
//   commandSeconds the JS recording of one command: recordGradients at the calibration configs'
//                  first batches with shared negatives (no per-slot work), Σ time / Σ commands
//                  (the batch upload and the embedding scatter plans ride on the commands; a
//                  difference of 2 and 1 layers was tried first and came out 2-65 µs under load)
//   readSeconds    one gpu.read of a 4-byte tensor with the queue idle: the copy's submit,
//                  mapAsync and the poll's wake-up (kernels/gpu/event_polling.ts), median of 20
// Nothing recorded here is submitted: the recorders are dropped and their tensors released.
import type { Gpu } from '../kernels/gpu/index.js';
import { applyOverrides, type Config } from '../model/config.js';
import { createEncoder, type Encoder } from '../model/encoder.js';
import { initParams } from '../model/params.js';
import type { GpuBatch } from '../model/batch.js';
import type { HostStepCosts } from '../model/plan/devices.js';
import { gatheredLoss } from '../model/retrieval_loss_gathered.js';
import { drawNegatives, negativesPerPosition } from '../model/retrieval_negatives.js';
import { batchTrainSequences, type Interactions } from '../trainer/data/index.js';
import { prepareSplit, recordGradients, type HostTrainBatch } from '../trainer/train.js';
import { median } from './plan-validate-measure.js';

const firstBatch = (data: Interactions, c: Config): HostTrainBatch => {
  const b = batchTrainSequences(prepareSplit(data, c).train, { batchSize: c.batchSize, maxLen: c.maxLen, shuffleSeed: c.seed, epoch: 0 }).next();
  if (b.done) throw new Error('calibration: the synthetic data has no training batch. HINT: this is a bug in the generator');
  return b.value;
};

/** Best seconds of `fn` over `reps` runs (other processes only ever slow JS down). */
function bestOf(reps: number, fn: () => void): number {
  let best = Infinity;
  for (let r = 0; r < reps; r++) {
    const t0 = performance.now();
    fn();
    best = Math.min(best, (performance.now() - t0) / 1000);
  }
  return best;
}

/** Host seconds per slot of the gathered loss: draws + recording, at each config's first batch. */
async function slotSeconds(gpu: Gpu, data: Interactions, configs: Config[], reps: number): Promise<{ seconds: number; slots: number }> {
  let time = 0, slots = 0;
  const budget = Math.min(gpu.device.limits.maxStorageBufferBindingSize, gpu.device.limits.maxBufferSize);
  for (const c of configs) {
    const tb = firstBatch(data, c), P = tb.items.length, K = negativesPerPosition(c) + 1;
    const enc = await createEncoder(gpu, c, data.numItems, initParams(c, data.numItems - 1, c.seed));
    const out = gpu.empty([P, c.dim], 'f32', 'calibrate:host_u');
    try {
      time += bestOf(reps, () => {
        const neg = drawNegatives(c, 0, P, data.numItems, tb.targets);
        gatheredLoss(gpu.recorder('calibrate:host_loss'), gpu, enc, out, { L: P } as GpuBatch, tb.targets, c, neg, budget, tb.items).release();
      });
      slots += P * K;
    } finally {
      out.release();
      enc.release();
    }
  }
  return { seconds: time / slots, slots };
}

/** recordGradients' host seconds and command count at `c`. */
function recordingOf(gpu: Gpu, enc: Encoder, c: Config, tb: HostTrainBatch, tableRows: number, reps: number): { seconds: number; commands: number } {
  let commands = 0;
  const seconds = bestOf(reps, () => {
    const rec = gpu.recorder('calibrate:host_record');
    recordGradients(rec, gpu, enc, c, tb, 0, tableRows).release();
    commands = rec.size;
  });
  return { seconds, commands };
}

/** One small read's latency with nothing else queued: median of `n`. */
export async function readLatency(gpu: Gpu, n = 20): Promise<number> {
  const t = gpu.empty([1], 'f32', 'calibrate:host_read');
  const xs: number[] = [];
  try {
    await gpu.read(t); // the staging path warm
    for (let i = 0; i < n; i++) {
      await gpu.sync();
      const t0 = performance.now();
      await gpu.read(t);
      xs.push((performance.now() - t0) / 1000);
    }
  } finally {
    t.release();
  }
  return median(xs);
}

/**
 * The step's host costs on this machine. `configs` are the calibration configs (their batches set
 * the slots and the recorded steps), `readsPerStep` what dispatchCounts counted in a real trainStep.
 */
export async function calibrateStepHost(gpu: Gpu, data: Interactions, configs: Config[], readsPerStep: number, log: (s: string) => void, reps = 3): Promise<HostStepCosts> {
  const slot = await slotSeconds(gpu, data, configs, reps);
  let time = 0, commands = 0;
  for (const cfg of configs) {
    const c = applyOverrides(cfg, { negativeSampling: 'shared' });
    const enc = await createEncoder(gpu, c, data.numItems, initParams(c, data.numItems - 1, c.seed));
    try {
      const r = recordingOf(gpu, enc, c, firstBatch(data, c), data.numItems, reps);
      time += r.seconds;
      commands += r.commands;
    } finally {
      enc.release();
    }
  }
  const per = time / commands;
  const read = await readLatency(gpu);
  const h: HostStepCosts = {
    slotSeconds: slot.seconds,
    commandSeconds: per,
    readSeconds: read,
    readsPerStep,
    source: `measured here: draws + gathered-loss recording over ${slot.slots} slots, recording of ${commands} commands (shared-negative steps), ${readsPerStep} reads per step at the median of 20`,
  };
  log(`  step host work: ${(h.slotSeconds * 1e9).toFixed(1)} ns per gathered-loss slot, ${(h.commandSeconds * 1e6).toFixed(1)} µs per recorded command, ${(h.readSeconds * 1e6).toFixed(0)} µs per read back (${readsPerStep} per step)`);
  return h;
}

/** Each cost at its best (lowest) over two measurements; counts and source from `b`. */
export const bestHost = (a: HostStepCosts | undefined, b: HostStepCosts): HostStepCosts =>
  a ? { ...b, slotSeconds: Math.min(a.slotSeconds, b.slotSeconds), commandSeconds: Math.min(a.commandSeconds, b.commandSeconds), readSeconds: Math.min(a.readSeconds, b.readSeconds) } : b;
