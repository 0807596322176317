// Where one validation row's training step spends its wall time, by host phase: the planner's
// device terms price the kernels; this shows what else a step does on the host (tsx
// scripts/profile-step-phases.ts [row=device-small] [steps=8] [device-store]). Each timed step of the row (run
// as `npm run plan -- --validate` runs it, measureDeviceStore / measureHostStore, with a plain
// gpu.sync() between steps) is split by timestamps taken around the Recorder's submits, the GPU
// reads and syncs, and the host tier's hooks:
//   tier      HostTier.beforeStep (rows made resident) + afterSubmit (dirty marks, prefetch)
//   record    JS before each submit: batch upload, host plans, every kernel's recording
//   encode    inside Recorder.submit: pipelines, bind groups, uniforms, queue.submit
//   wait      inside gpu.read / gpu.sync: the device running what was submitted, and the wakeup
// Wall time of a phase, not CPU time; on lavapipe the device work runs on lavapipe's threads
// after queue.submit, so `wait` is the part of the device's time the host did not overlap.
import { createGpu, Gpu, Recorder } from '../kernels/gpu/index.js';
import { generateSynthetic } from '../trainer/data/index.js';
import { HostTier } from '../trainer/store/host_tier.js';
import { applyOverrides } from '../model/config.js';
import { measureDeviceStore, validationRows } from './plan-validate.js';

const name = process.argv[2] ?? 'device-small';
const steps = Number(process.argv[3] ?? 8);
// `device-store` as a third argument: the host row's config and batches on the device store (its
// steps minus these are what the host tier adds: the planner's `store (host)` term).
const onDevice = process.argv[4] === 'device-store';
const row = validationRows().find((r) => r.name === name);
if (!row || row.input?.workers) throw new Error(`profile-step-phases: no one-process validation row '${name}'. HINT: one of ${validationRows().filter((r) => !r.input?.workers).map((r) => r.name).join(', ')}`);

type Phase = 'tier' | 'encode' | 'wait';
const spans: { phase: Phase; t0: number; t1: number; n?: number }[] = [];
const wrap = <T extends object>(proto: T, key: string, phase: Phase, count?: (self: unknown) => number) => {
  const p = proto as Record<string, (...a: unknown[]) => unknown>;
  const orig = p[key]!;
  p[key] = function (this: unknown, ...a: unknown[]) {
    const t0 = performance.now(), n = count?.(this);
    const done = () => spans.push({ phase, t0, t1: performance.now(), n });
    const r = orig.apply(this, a);
    if (r instanceof Promise) return r.finally(done);
    done();
    return r;
  };
};
wrap(Recorder.prototype, 'submit', 'encode', (self) => (self as Recorder).size);
wrap(Gpu.prototype, 'read', 'wait');
wrap(Gpu.prototype, 'sync', 'wait');
wrap(HostTier.prototype, 'beforeStep', 'tier');
wrap(HostTier.prototype, 'afterSubmit', 'tier');

const data = generateSynthetic(row.data);
const gpu = await createGpu();
const bounds: [number, number][] = [];
let syncedAt = -Infinity; // end of the previous step's `between` (the next step starts right after)
const measure = onDevice ? measureDeviceStore : row.measure;
const config = onDevice ? applyOverrides(row.config, { embeddingStore: 'device', deviceCacheRows: 0 }) : row.config;
const m = await measure(gpu, config, data, steps, async () => {
  bounds.push([syncedAt, performance.now()]);
  await gpu.sync();
  syncedAt = performance.now();
});
gpu.dispose();
console.log(`${row.name}: ${row.what}${onDevice ? ' — on the device store' : ''}${m.stepMisses ? `; cache misses per step ${m.stepMisses.join(', ')}` : ''}`);
console.log('step  wall ms  (span)      tier  record  encode (cmds)  wait   first submit at  waits');
const totals = { wall: 0, tier: 0, record: 0, encode: 0, wait: 0 };
bounds.forEach(([after, b], i) => {
  // The step began after the previous `between` (the first: its own timing, 1 ms of slack).
  const a = Math.max(after, b - m.stepSeconds[i]! * 1e3 - 1);
  const inStep = spans.filter((s) => s.t0 >= a && s.t1 <= b);
  // Reads and submits inside the tier's hooks (the cache's write-back) count as tier time.
  const tiers = inStep.filter((s) => s.phase === 'tier');
  const own = inStep.filter((s) => s.phase === 'tier' || !tiers.some((t) => s.t0 >= t.t0 && s.t1 <= t.t1));
  const sum = (ph: Phase) => own.filter((s) => s.phase === ph).reduce((x, s) => x + s.t1 - s.t0, 0);
  const wall = m.stepSeconds[i]! * 1e3, tier = sum('tier'), encode = sum('encode'), wait = sum('wait');
  const record = wall - tier - encode - wait;
  const enc = own.filter((s) => s.phase === 'encode');
  const firstSubmit = enc.length ? enc[0]!.t0 - a : NaN;
  totals.wall += wall; totals.tier += tier; totals.record += record; totals.encode += encode; totals.wait += wait;
  console.log(`${String(i + 1).padStart(4)}  ${wall.toFixed(1).padStart(7)}  ${(b - a).toFixed(1).padStart(10)}  ${tier.toFixed(1).padStart(4)}  ${record.toFixed(1).padStart(6)}  ${encode.toFixed(1).padStart(6)} (${enc.map((s) => s.n).join('+')})  ${wait.toFixed(1).padStart(5)}  ${firstSubmit.toFixed(1).padStart(15)}  ${own.filter((s) => s.phase === 'wait').length}`);
});
const k = bounds.length;
console.log(`mean  ${(totals.wall / k).toFixed(1).padStart(7)}  ${''.padStart(10)}  ${(totals.tier / k).toFixed(1).padStart(4)}  ${(totals.record / k).toFixed(1).padStart(6)}  ${(totals.encode / k).toFixed(1).padStart(6)}        ${(totals.wait / k).toFixed(1).padStart(5)}`);
