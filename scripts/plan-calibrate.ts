// Calibration of the local device for the planner (`npm run plan -- --calibrate`): the kernel rate
// of each class at a calibration config's real shapes (the bench suite's cases,
// scripts/bench-suite-cases.ts), the device ceiling (kernels/ceiling: best matmul, copy
// bandwidth), the cost of one dispatch and one submit, this implementation's dispatch count per
// layer and per step, the upload rate, and Redis rows/s per shard (measured on the local cluster
// when it answers, else DESIGN §7's figures, marked as such: scripts/plan-calibrate-redis.ts). The CPU is shared with other processes: every
// kernel is timed several times and its best time kept; the validation re-times the kernels
// between its rows (interleaved), so calibration and measurement sample the same spells of load.
import { totalmem } from 'node:os';
import { Recorder, type Gpu, type Tensor } from '../kernels/gpu/index.js';
import { measureCeilingDetail, recordCopyKernel } from '../kernels/ceiling/ceiling.js';
import { timeRecorded } from '../kernels/gpu/timing.js';
import { applyOverrides, defaultConfig, resolvedDqk, resolvedDv, type Config } from '../model/config.js';
import { hstuAttention, hstuAttentionBackward } from '../kernels/hstu_attention/hstu_attention.js';
import { createEncoder } from '../model/encoder.js';
import { initParams } from '../model/params.js';
import type { CalibrationFile } from '../model/plan/devices.js';
import { attentionFeatures, attentionSeconds, fitAttentionCost, type AttentionCost } from '../model/plan/attention_cost.js';
import { calibrateRedis } from './plan-calibrate-redis.js';
import { calibrateHostTier } from './plan-calibrate-host.js';
import { calibrateHostTierSteps } from './plan-calibrate-host-steps.js';
import { calibrateStepHost } from './plan-calibrate-step-host.js';
import { batchTrainSequences, generateSynthetic, type Interactions } from '../trainer/data/index.js';
import { prepareSplit, trainStep } from '../trainer/train.js';
import { buildCases, type Case } from './bench-suite-cases.js';
import { gatheredLoss } from '../model/retrieval_loss_gathered.js';
import { drawNegatives, negativesPerPosition } from '../model/retrieval_negatives.js';
import type { GpuBatch } from '../model/batch.js';

/** The calibration configs, on the built-in synthetic data (2,000 users of 30–120 events, 2,000
 *  items): the paper's ML-1M HSTU shape (d = 50, N = 200, 1 head, B = 128) and a multi-head one
 *  (d = 64, 4 heads of 16, N = 100, B = 32). Kernel efficiency on this device depends on shape
 *  (head width, d's alignment), so each class's rate is pooled over both (Σ work / Σ time).
 *  Validation rows use other shapes, so a row's error is the model's, not the calibration's echo. */
export const CALIBRATION_CONFIGS: Config[] = [
  applyOverrides(defaultConfig, { numLayers: 2, dim: 50, numHeads: 1, maxLen: 200, batchSize: 128 }),
  applyOverrides(defaultConfig, { numLayers: 2, dim: 64, numHeads: 4, dqk: 16, dv: 16, maxLen: 100, batchSize: 32 }),
];
export const CALIBRATION_CONFIG = CALIBRATION_CONFIGS[0]!;
export const CALIBRATION_NAME = 'HSTU d = 50, N = 200, 1 head, B = 128 and d = 64, N = 100, 4 heads, B = 32, on the synthetic data';

export type KernelRates = CalibrationFile['rates'];


export interface RateCases {
  cases: Case[];
  release(): void;
}

/** The training kernels of the calibration configs, built (and checked) once. */
export async function buildRateCases(gpu: Gpu, data: Interactions = generateSynthetic()): Promise<RateCases> {
  const cases: Case[] = [];
  const releases: (() => void)[] = [];
  for (const c of CALIBRATION_CONFIGS) {
    const split = prepareSplit(data, c);
    const first = batchTrainSequences(split.train, { batchSize: c.batchSize, maxLen: c.maxLen, shuffleSeed: c.seed, epoch: 0 }).next();
    if (first.done) throw new Error('calibration: the synthetic data has no training batch. HINT: this is a bug in the generator');
    const built = await buildCases(gpu, { name: CALIBRATION_NAME, config: c, offsets: first.value.seqOffsets, tableRows: data.numItems });
    releases.push(built.release);
    // Training work only: the evaluation's score matmul and rank are not part of a step, nor are
    // SASRec's kernels, the plain SiLU (HSTU fuses it into the split) or forward-only timings.
    cases.push(await gatheredLossCase(gpu, c, data, first.value.seqOffsets, releases));
    // The same sequences cut to half their length: attention at a second length per head width.
    const off = first.value.seqOffsets, half = [0];
    for (let b = 1; b < off.length; b++) half.push(half[b - 1]! + Math.ceil((off[b]! - off[b - 1]!) / 2));
    cases.push(await attentionCase(gpu, c, Uint32Array.from(half), releases));
    for (const k of built.cases) if (k.kernel === 'hstu_attention' && k.variant === 'fwd+bwd') attentionShapes.set(k, attentionShapeOf(c, first.value.seqOffsets));
    cases.push(...built.cases.filter((k) => !k.variant.startsWith('eval') && k.kernel !== 'rank' && !(k.kernel === 'elementwise' && k.variant === 'silu') && !(k.kernel === 'hstu_attention' && k.variant === 'fwd') && !(k.kernel === 'sampled_softmax' && k.variant.startsWith('fwd (')) && k.kernel !== 'softmax_attention'));
  }
  // Attention alone at the shapes the two configs leave out (attention_cost.ts's coefficients
  // need them): aligned widths 32 and 64 with one head, two heads of 32, and N = 1024 > 512
  // (the dQ pass's staged histograms); the configs give the unaligned width 50 and 4 heads of 16.
  for (const a of ATTENTION_POINTS) {
    const c = applyOverrides(defaultConfig, { numHeads: a.H, dim: a.H * a.d, dqk: a.d, dv: a.d, maxLen: a.N });
    const off = [0];
    for (let b = 0; b < a.B; b++) off.push(off[b]! + a.n);
    cases.push(await attentionCase(gpu, c, Uint32Array.from(off), releases));
  }
  return { cases, release: () => releases.forEach((r) => r()) };
}

/** Extra attention calibration shapes: B sequences of n tokens, H heads of width d, max length N. */
export const ATTENTION_POINTS = [
  { H: 1, d: 32, N: 200, B: 16, n: 200 },
  { H: 2, d: 32, N: 100, B: 16, n: 100 },
  { H: 1, d: 64, N: 200, B: 8, n: 200 },
  { H: 1, d: 32, N: 1024, B: 2, n: 1024 },
];

/** The sequence lengths and head shape of each attention case (for attention_cost.ts's fit). */
const attentionShapes = new WeakMap<Case, { lengths: number[]; H: number; dqk: number; dv: number; N: number }>();
function attentionShapeOf(c: Config, offsets: ArrayLike<number>) {
  const lengths: number[] = [];
  for (let b = 1; b < offsets.length; b++) lengths.push(offsets[b]! - offsets[b - 1]!);
  return { lengths, H: c.numHeads, dqk: resolvedDqk(c), dv: resolvedDv(c), N: c.maxLen };
}

/**
 * The gathered per-position loss (model/retrieval_loss_gathered.ts) as the trainer records it at
 * a calibration config's batch: the host plan (distinct rows, CSR), the uploads, the row gathers,
 * scoring, dU and the item gradient. FLOPs 6·P·K·d (what the planner counts for this path), so
 * its rate folds the gathers and the host plan in. The draws are step 0's; the loss is checked
 * finite once.
 */
async function gatheredLossCase(gpu: Gpu, c: Config, data: Interactions, offsets: Uint32Array, releases: (() => void)[]): Promise<Case> {
  const P = offsets[offsets.length - 1]!, d = c.dim, K = negativesPerPosition(c) + 1;
  const enc = await createEncoder(gpu, c, data.numItems, initParams(c, data.numItems - 1, c.seed));
  releases.push(() => enc.release());
  let seed = 12345;
  const rnd = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32);
  const out = gpu.f32(Float32Array.from({ length: P * d }, () => rnd() - 0.5), [P, d], 'calibrate:gathered_u');
  releases.push(() => out.release());
  const targets = Uint32Array.from({ length: P }, () => 1 + Math.floor(rnd() * (data.numItems - 1)));
  const neg = drawNegatives(c, 0, P, data.numItems, targets);
  const budget = Math.min(gpu.device.limits.maxStorageBufferBindingSize, gpu.device.limits.maxBufferSize);
  const record = (rec: Recorder) => gatheredLoss(rec, gpu, enc, out, { L: P } as GpuBatch, targets, c, neg, budget).release();
  const rec = gpu.recorder('calibrate:gathered_check');
  const r = gatheredLoss(rec, gpu, enc, out, { L: P } as GpuBatch, targets, c, neg, budget);
  await rec.run();
  const loss = (await gpu.read(r.loss))[0]!;
  r.release();
  if (!Number.isFinite(loss)) throw new Error(`calibration: the gathered loss is ${loss}. HINT: this is a bug in model/retrieval_loss_gathered.ts`);
  return { kernel: 'sampled_softmax', variant: 'gathered fwd+bwd', shape: `P=${P} K=${K} d=${d} items=${data.numItems - 1}`, flops: 3 * 2 * P * K * d, bytes: 4 * 2 * P * K * d, bound: 'compute', record };
}

/** HSTU attention fwd + bwd at a config's head shape over `offsets` (random inputs, relative bias
 *  on as in training), outputs checked finite once. Variant 'fwd+bwd', shape string as the bench
 *  suite's (attentionFitOf reads dqk and dv from it). */
export async function attentionCase(gpu: Gpu, c: Config, offsets: Uint32Array, releases: (() => void)[]): Promise<Case> {
  const B = offsets.length - 1, L = offsets[B]!, H = c.numHeads, N = c.maxLen, dqk = resolvedDqk(c), dv = resolvedDv(c);
  let seed = 777;
  const rnd = (n: number, scale = 1) => Float32Array.from({ length: n }, () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32 - 0.5) * scale);
  const owned: Tensor[] = [];
  const f = (data: Float32Array, label: string) => { const t = gpu.f32(data, [data.length], `calibrate:attn_${label}`); owned.push(t); return t; };
  const e = (n: number, label: string) => { const t = gpu.empty([n], 'f32', `calibrate:attn_${label}`); owned.push(t); return t; };
  const ts = new Uint32Array(L);
  for (let i = 0, t = 1e6; i < L; i++) ts[i] = t += 1 + (i * 7919) % 5000;
  const seqOffsets = gpu.u32(offsets, [B + 1], 'calibrate:attn_offsets'), timestamps = gpu.u32(ts, [L], 'calibrate:attn_ts');
  owned.push(seqOffsets as unknown as Tensor, timestamps as unknown as Tensor);
  const x = { q: f(rnd(L * H * dqk), 'q'), k: f(rnd(L * H * dqk), 'k'), v: f(rnd(L * H * dv), 'v'), seqOffsets, timestamps, rabPos: f(rnd(2 * N - 1, 0.1), 'rab_pos'), rabTime: f(rnd(129, 0.1), 'rab_time') };
  const out = e(L * H * dv, 'o'), dOut = f(rnd(L * H * dv), 'dout');
  const grads = { dq: e(L * H * dqk, 'dq'), dk: e(L * H * dqk, 'dk'), dv: e(L * H * dv, 'dv'), dRabPos: e(2 * N - 1, 'drab_pos'), dRabTime: e(129, 'drab_time') };
  const opts = { B, L, H, dqk, dv, N, alpha: 1, useRab: c.useRab, hostOffsets: offsets };
  const record = (rec: Recorder) => {
    hstuAttention(rec, x, out, opts);
    hstuAttentionBackward(rec, x, dOut, grads, opts);
  };
  const rec = gpu.recorder('calibrate:attn_check');
  record(rec);
  await rec.run();
  for (const [n, t] of [['out', out], ['dq', grads.dq], ['dk', grads.dk], ['dv', grads.dv]] as const) {
    const got = await gpu.read(t);
    const bad = got.findIndex((v) => !Number.isFinite(v));
    if (bad >= 0) throw new Error(`calibration: attention ${n}[${bad}] = ${got[bad]}. HINT: this is a bug in kernels/hstu_attention`);
  }
  releases.push(() => owned.forEach((t) => t.release()));
  let pairs = 0;
  for (let b = 0; b < B; b++) pairs += ((offsets[b + 1]! - offsets[b]!) * (offsets[b + 1]! - offsets[b]! + 1)) / 2;
  const k: Case = { kernel: 'hstu_attention', variant: 'fwd+bwd', shape: `B=${B} L=${L} N=${N} H=${H} dqk=${dqk} dv=${dv} (calibration point)`, flops: 3 * pairs * H * (2 * dqk + 2 * dv), bytes: 8 * L * H * (2 * dqk + 2 * dv), bound: 'compute', record };
  attentionShapes.set(k, attentionShapeOf(c, offsets));
  return k;
}

/** Best (minimum) ms of each case over every timing so far: the CPU is shared, and other
 *  processes only ever slow a kernel down, so the minimum is the estimate least disturbed by them. */
export type CaseBest = Map<Case, number>;

/** Times every case `timings` times (`reps` back-to-back repetitions each), folding into `best`. */
export async function timeCases(gpu: Gpu, rc: RateCases, best: CaseBest, timings = 2, reps = 2): Promise<void> {
  for (const k of rc.cases) {
    for (let t = 0; t < timings; t++) {
      const c0 = process.cpuUsage(), w0 = performance.now();
      const ms = (await timeRecorded(gpu, k.record, reps)).ms;
      const c = process.cpuUsage(c0), wall = performance.now() - w0;
      if (ms < (best.get(k) ?? Infinity)) coresAtBest.set(k, (c.user + c.system) / 1000 / wall);
      best.set(k, Math.min(best.get(k) ?? Infinity, ms));
    }
  }
}

/** CPU cores this process used (CPU time / wall time, lavapipe's threads included) during the
 *  timing that gave each case's best time: how much of the machine the best timings had. */
export const coresAtBest = new WeakMap<Case, number>();
export function meanCoresAtBest(best: CaseBest): number {
  const xs = [...best.keys()].map((k) => coresAtBest.get(k)).filter((x): x is number => x !== undefined);
  return xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);
}

/** Rate of each class from the best times: dense = the layer's matmuls, attention = HSTU
 *  attention fwd+bwd, loss = the sampled softmax fwd+bwd (per-position as implemented; shared),
 *  memory = every bandwidth-bound kernel (GB/s of the suite's napkin bytes). */
export function ratesOf(best: CaseBest): KernelRates {
  const acc: Record<string, [number, number]> = { dense: [0, 0], attention: [0, 0], loss: [0, 0], lossShared: [0, 0], lossGathered: [0, 0], memory: [0, 0] };
  for (const [k, ms] of best) {
    const cls = k.kernel === 'matmul' ? 'dense' : k.kernel === 'hstu_attention' ? 'attention' : k.kernel === 'sampled_softmax' ? (k.variant.startsWith('gathered') ? 'lossGathered' : k.variant.includes('per-position') ? 'loss' : 'lossShared') : 'memory';
    const a = acc[cls]!;
    a[0] += cls === 'memory' ? k.bytes : k.flops;
    a[1] += ms;
  }
  const rate = (cls: string) => acc[cls]![0] / (acc[cls]![1] * 1e6); // G per s
  return { dense: rate('dense'), attention: rate('attention'), loss: rate('loss'), lossShared: rate('lossShared'), memory: rate('memory'), ...(acc.lossGathered![1] > 0 ? { lossGathered: rate('lossGathered') } : {}) };
}

/**
 * Attention as time = pairHeads · a + FLOPs / g, fitted (least squares, both ≥ 0) to the attention
 * fwd+bwd cases of the calibration shapes: head widths dqk = dv = 50 and 16, each at its batch's
 * lengths and at half of them (4 points), so the per-FLOP and the per-(pair × head) costs are
 * told apart. (pair × head)s of a
 * case = its FLOPs / (3 · 2(dqk + dv)). Falls back to the pooled rate (a = 0) when the fit is
 * degenerate (one width) or negative.
 */
export function attentionFitOf(best: CaseBest): NonNullable<CalibrationFile['attention']> {
  const pts: { ph: number; f: number; t: number }[] = [];
  for (const [k, ms] of best) {
    if (k.kernel !== 'hstu_attention' || k.variant !== 'fwd+bwd') continue;
    const dqk = Number(/dqk=(\d+)/.exec(k.shape)?.[1]), dv = Number(/dv=(\d+)/.exec(k.shape)?.[1]);
    if (!(dqk > 0 && dv > 0)) throw new Error(`calibration: cannot read dqk/dv from the attention case '${k.shape}'. HINT: bench-suite-cases changed its shape string`);
    pts.push({ ph: k.flops / (3 * 2 * (dqk + dv)), f: k.flops, t: ms / 1000 });
  }
  const pooled = () => {
    const f = pts.reduce((a, p) => a + p.f, 0), t = pts.reduce((a, p) => a + p.t, 0);
    return { pairHeadNs: 0, gflops: f / t / 1e9, fit: `pooled over ${pts.length} shape(s) (fit degenerate)` };
  };
  // Normal equations of t ≈ a·ph + b·f (b = 1/g).
  let sPP = 0, sPF = 0, sFF = 0, sPT = 0, sFT = 0;
  for (const p of pts) {
    sPP += p.ph * p.ph; sPF += p.ph * p.f; sFF += p.f * p.f; sPT += p.ph * p.t; sFT += p.f * p.t;
  }
  const det = sPP * sFF - sPF * sPF;
  if (pts.length < 2 || !(Math.abs(det) > 1e-12 * sPP * sFF)) return pooled();
  const a = (sPT * sFF - sFT * sPF) / det, b = (sFT * sPP - sPT * sPF) / det;
  if (!(a >= 0 && b > 0)) return pooled();
  const worst = Math.max(...pts.map((p) => Math.abs((a * p.ph + b * p.f) / p.t - 1)));
  return { pairHeadNs: a * 1e9, gflops: 1 / b / 1e9, fit: `least squares over ${pts.length} shapes, worst residual ${(100 * worst).toFixed(1)}%` };
}

/** attention_cost.ts's coefficients fitted to the best times of every attention fwd+bwd case. */
export function attentionCostOf(best: CaseBest): AttentionCost {
  const points: { features: ReturnType<typeof attentionFeatures>; seconds: number; shape: string }[] = [];
  for (const [k, ms] of best) {
    const a = attentionShapes.get(k);
    if (a) points.push({ features: attentionFeatures(a.lengths, a), seconds: ms / 1000, shape: k.shape });
  }
  return fitAttentionCost(points);
}

/** Each attention case's measured ms against the fitted cost (for the log). */
export function attentionResiduals(best: CaseBest, cost: AttentionCost): string {
  const out: string[] = [];
  for (const [k, ms] of best) {
    const a = attentionShapes.get(k);
    if (a) out.push(`H=${a.H} dqk=${a.dqk} N=${a.N} max n=${Math.max(...a.lengths)}: ${ms.toFixed(1)} ms measured, ${(attentionSeconds(attentionFeatures(a.lengths, a), cost) * 1e3).toFixed(1)} fitted`);
  }
  return out.join('; ');
}

/** Cost of one dispatch in a shared pass (a tiny copy kernel, 200 back to back) and of a submit. */
export async function dispatchCosts(gpu: Gpu): Promise<{ dispatchSeconds: number; submitSeconds: number }> {
  const src = gpu.empty([256], 'f32', 'calibrate:src'), dst = gpu.empty([256], 'f32', 'calibrate:dst');
  const many = await timeRecorded(gpu, (rec) => recordCopyKernel(rec, src, dst, 64), 200);
  const one = await timeRecorded(gpu, (rec) => recordCopyKernel(rec, src, dst, 64), 1);
  src.release();
  dst.release();
  return { dispatchSeconds: many.ms / 1000, submitSeconds: Math.max(0, (one.ms - many.ms) / 1000) };
}

/** Dispatches (and copies) one training step records, counted at 1 and 2 layers, and the reads
 *  back to the host the 2-layer step waits for. */
async function dispatchCounts(gpu: Gpu, data: Interactions): Promise<{ dispatchesPerLayer: number; dispatchesFixed: number; readsPerStep: number }> {
  const proto = Recorder.prototype as unknown as { dispatch: (...a: unknown[]) => unknown; copy: (...a: unknown[]) => unknown };
  const orig = { dispatch: proto.dispatch, copy: proto.copy };
  let n = 0;
  proto.dispatch = function (this: unknown, ...a: unknown[]) {
    n++;
    return orig.dispatch.apply(this, a);
  };
  proto.copy = function (this: unknown, ...a: unknown[]) {
    n++;
    return orig.copy.apply(this, a);
  };
  const counts: number[] = [];
  const read = gpu.read;
  let reads = 0;
  gpu.read = function (this: Gpu, ...a: Parameters<Gpu['read']>) {
    reads++;
    return read.apply(this, a);
  } as Gpu['read'];
  try {
    for (const layers of [1, 2]) {
      const c = applyOverrides(CALIBRATION_CONFIG, { numLayers: layers, batchSize: 8 });
      const split = prepareSplit(data, c);
      const tb = batchTrainSequences(split.train, { batchSize: c.batchSize, maxLen: c.maxLen, shuffleSeed: c.seed, epoch: 0 }).next().value!;
      const enc = await createEncoder(gpu, c, data.numItems, initParams(c, data.numItems - 1, c.seed));
      n = 0;
      reads = 0;
      await trainStep(gpu, enc, c, tb, 1, c.lr, data.numItems, { firstStep: 0 }); // not the first step: no parameter probe
      counts.push(n);
      enc.release();
    }
  } finally {
    proto.dispatch = orig.dispatch;
    proto.copy = orig.copy;
    delete (gpu as Partial<Gpu>).read;
  }
  return { dispatchesPerLayer: counts[1]! - counts[0]!, dispatchesFixed: 2 * counts[0]! - counts[1]!, readsPerStep: reads };
}

async function uploadRate(gpu: Gpu): Promise<number> {
  const n = 8 * 1024 * 1024;
  const host = new Float32Array(n);
  const t = gpu.empty([n], 'f32', 'calibrate:upload');
  const t0 = performance.now();
  for (let i = 0; i < 3; i++) gpu.write(t, host);
  await gpu.sync();
  const s = (performance.now() - t0) / 1000;
  t.release();
  return (3 * 4 * n) / s;
}

export interface Calibration {
  file: CalibrationFile;
  rateCases: RateCases;
  /** Best time of each calibration case so far (re-timed between validation rows). */
  best: CaseBest;
}

/** Measures everything; the returned rate cases stay built for re-timing (release them). */
export async function calibrate(gpu: Gpu, log: (s: string) => void, redisAddress?: string): Promise<Calibration> {
  const data = generateSynthetic();
  log('calibrate: device ceiling (best matmul at 1024³, copy bandwidth)');
  const ceil = await measureCeilingDetail(gpu, false);
  log(`  matmul ${ceil.matmulGflops.toFixed(2)} GFLOP/s, copy ${ceil.copyGBps.toFixed(2)} GB/s`);
  const costs = await dispatchCosts(gpu);
  log(`  dispatch ${(costs.dispatchSeconds * 1e6).toFixed(1)} µs, submit ${(costs.submitSeconds * 1e6).toFixed(0)} µs`);
  const { readsPerStep, ...counts } = await dispatchCounts(gpu, data);
  log(`  ${counts.dispatchesPerLayer} commands per layer, ${counts.dispatchesFixed} per step outside the layers, ${readsPerStep} reads back per step`);
  const host = await calibrateStepHost(gpu, data, CALIBRATION_CONFIGS, readsPerStep, log);
  const upload = await uploadRate(gpu);
  log(`  upload ${(upload / 1e9).toFixed(2)} GB/s`);
  log(`calibrate: kernel rates at ${CALIBRATION_NAME} (bench-suite cases, checked against the float64 references)`);
  const rateCases = await buildRateCases(gpu, data);
  const best: CaseBest = new Map();
  await timeCases(gpu, rateCases, best);
  const r = ratesOf(best);
  const attention = attentionFitOf(best);
  const attentionCost = attentionCostOf(best);
  log(`  attention per workgroup iteration: ${attentionCost.baseNs.toFixed(2)} ns + ${attentionCost.perWidthNs.toFixed(3)} ns × (dqk + dv) + ${attentionCost.unalignedNs.toFixed(2)} ns per unaligned operand + ${attentionCost.stagedHistNs.toFixed(2)} ns per staged dQ iteration (${attentionCost.fit}): ${attentionResiduals(best, attentionCost)}`);
  log(`  dense ${r.dense.toFixed(2)} GFLOP/s, attention ${r.attention.toFixed(2)} GFLOP/s pooled (${attention.pairHeadNs.toFixed(2)} ns per pair × head + ${attention.gflops.toFixed(2)} GFLOP/s, ${attention.fit}), loss ${r.loss.toFixed(2)} GFLOP/s (per-position catalogue), ${(r.lossGathered ?? NaN).toFixed(2)} (gathered), ${r.lossShared.toFixed(2)} (shared), memory-bound ${r.memory.toFixed(2)} GB/s`);
  const limits = gpu.device.limits;
  const file: CalibrationFile = {
    version: 1,
    measuredAt: new Date().toISOString(),
    adapter: gpu.adapter.description,
    ceiling: { matmulGflops: ceil.matmulGflops, copyGBps: ceil.copyGBps },
    rates: r,
    attention,
    attentionCost,
    deviceClass: gpu.deviceClass,
    ...costs,
    ...counts,
    hostMemoryBytes: totalmem(),
    uploadBytesPerSec: upload,
    // A CPU adapter shares host RAM; report what one buffer may address times the binding limit's
    // headroom as "device memory" only for a real GPU. Here: the host's RAM.
    deviceMemoryBytes: gpu.deviceClass === 'cpu' ? totalmem() : Number(limits.maxBufferSize),
    redis: await calibrateRedis(log, redisAddress),
    hostTierRowsPerSec: await calibrateHostTier(gpu, log),
    hostTierStep: await calibrateHostTierSteps(gpu, log),
    host,
    calibrationConfig: CALIBRATION_NAME,
  };
  return { file, rateCases, best };
}

