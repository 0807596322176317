// Host for the fused HSTU pointwise attention: forward, backward (dQ, dK, dV, dRabPos, dRabTime)
// and the cached (delta-query) forward used by M-FALCON serving. See hstu_attention.wgsl and
// hstu_attention_bwd.wgsl for the math and the parallel decomposition.
import { readFileSync } from 'node:fs';
import { Params, grid, type Gpu, type KernelSource, type Recorder, type Tensor } from '../gpu/index.js';

/** Smallest |Δ| of each time bucket k = 0..73 (floor(ln(x)/0.301) ≥ k), float64 as in the
 *  reference; buckets above 73 are unreachable for u32 second differences. */
export function bucketThresholds(): number[] {
  const t: number[] = [1];
  for (let k = 1; k <= 73; k++) {
    let x = Math.max(1, Math.floor(Math.exp(0.301 * k)) - 2);
    while (Math.floor(Math.log(x) / 0.301) < k) x++;
    t.push(x);
  }
  return t;
}
const FWD_WGSL = readFileSync(new URL('./hstu_attention.wgsl', import.meta.url), 'utf8');
const BWD_WGSL = readFileSync(new URL('./hstu_attention_bwd.wgsl', import.meta.url), 'utf8');

/** Expands each `//#for d in DQK: stmt` (or DV, DQK8, DV8 = ceil(dim / 8) chunks) line into one
 *  copy of `stmt` per d, with `{d}` → d, `{d4}` → d % 4, `{d8q}` → floor(d / 8), `{d8r}` → d % 8.
 *  Lines starting `//#sg: ` are kept (uncommented) only when `sg` (subgroup operations available),
 *  lines starting `//#nosg: ` only when not. The result depends only on dqk, dv and sg, which are
 *  in the defines (the pipeline cache key). */
export function unroll(wgsl: string, dims: { DQK: number; DV: number }, sg = false): string {
  const n = { ...dims, DQK8: Math.ceil(dims.DQK / 8), DV8: Math.ceil(dims.DV / 8) };
  return wgsl
    .replace(/^([ \t]*)\/\/#(sg|nosg): (.*)$/gm, (_m, indent: string, which: string, rest: string) => ((which === 'sg') === sg ? indent + rest : ''))
    .replace(/^([ \t]*)\/\/#for d in (DQK8|DV8|DQK|DV): (.*)$/gm, (_m, indent: string, dim: keyof typeof n, stmt: string) => {
      const lines: string[] = [];
      for (let d = 0; d < n[dim]; d++) {
        lines.push(indent + stmt.replaceAll('{d}', String(d)).replaceAll('{d4}', String(d % 4)).replaceAll('{d8q}', String(Math.floor(d / 8))).replaceAll('{d8r}', String(d % 8)));
      }
      return lines.join('\n');
    });
}
const unrolled = new Map<string, string>();
function source(which: 'fwd' | 'bwd', dqk: number, dv: number, sg = false): string {
  const key = `${which}|${dqk}|${dv}|${sg}`;
  let s = unrolled.get(key);
  if (!s) unrolled.set(key, (s = unroll(which === 'fwd' ? FWD_WGSL : BWD_WGSL, { DQK: dqk, DV: dv }, sg)));
  return s;
}

const WG = 8;
const NUM_TIME_BUCKETS = 129;
/** Up to this N the backward's per-workgroup dRabPos histogram lives in workgroup memory (4 bytes ×
 *  POS_CAP); above it, in the workgroup's row of the global scratch buffer. */
export const MAX_N_WITH_RAB_BACKWARD = 4096;
/** Up to this N the dQ pass keeps one rab histogram per lane (fast path). */
export const LANE_HIST_MAX_N = 512;

export interface AttentionShape {
  B: number;
  L: number;
  H: number;
  dqk: number;
  dv: number;
  N: number;
}
export interface AttentionInputs {
  q: Tensor<'f32'>; // [L, H, dqk]
  k: Tensor<'f32'>; // [L, H, dqk]
  v: Tensor<'f32'>; // [L, H, dv]
  seqOffsets: Tensor<'u32'>; // [B + 1]
  timestamps?: Tensor<'u32'>; // [L] (required when useRab)
  numTargets?: Tensor<'u32'>; // [B]
  rabPos?: Tensor<'f32'>; // [2N − 1]
  rabTime?: Tensor<'f32'>; // [129]
  /** [max(B, 1)] time of the event each sequence's last history token predicts: its query time
   *  for rab_time (t_{i+1} of DESIGN.md §2; retrieval: the target's time, serving: the request
   *  time). Absent: that token uses its own time. */
  nextTimestamps?: Tensor<'u32'>;
}
export interface AttentionOptions extends AttentionShape {
  alpha: number;
  useRab: boolean;
  /** Divides SiLU(S); default N. */
  normalizer?: number;
  /** CPU copy of seq_offsets (B + 1 entries): validated (monotone, ends at L, every length ≤ N)
   *  and used to size the dispatch by the longest sequence. */
  hostOffsets: ArrayLike<number>;
  /** Optional CPU copy of num_targets, validated (each ≤ its sequence length). The kernels clamp
   *  num_targets to the length either way. */
  hostNumTargets?: ArrayLike<number>;
}

export interface AttentionGrads {
  dq: Tensor<'f32'>;
  dk: Tensor<'f32'>;
  dv: Tensor<'f32'>;
  dRabPos?: Tensor<'f32'>;
  dRabTime?: Tensor<'f32'>;
}

/** Cached (serving) forward: the queries are the last m_b = newOffsets[b+1] − newOffsets[b]
 *  tokens of each sequence; k, v, timestamps cover the whole sequences (cached history + new). */
export interface CachedAttentionInputs extends Omit<AttentionInputs, 'q'> {
  qNew: Tensor<'f32'>; // [Lnew, H, dqk]
  newOffsets: Tensor<'u32'>; // [B + 1]
}
export interface CachedAttentionOptions extends AttentionOptions {
  /** CPU copy of newOffsets, validated: m_b ≤ n_b. */
  hostNewOffsets: ArrayLike<number>;
}

function fail(msg: string): never {
  throw new Error(`hstu_attention: ${msg}`);
}

function checkTensor(t: Tensor | undefined, name: string, dtype: string, numel: number): void {
  if (!t) fail(`expected ${name} (${numel} ${dtype} values), got none`);
  if (t.dtype !== dtype) fail(`expected ${name} as ${dtype}, got ${t.dtype}`);
  if (t.numel !== numel) fail(`expected ${name} with ${numel} elements, got ${t.numel} (shape [${t.shape.join(', ')}])`);
}

function checkInt(v: number, name: string, min: number): void {
  if (!Number.isInteger(v) || v < min) fail(`expected ${name} to be an integer ≥ ${min}, got ${v}`);
}

/** Validates shapes and the CPU offsets; returns the longest sequence. */
function validate(x: Omit<AttentionInputs, 'q'>, o: AttentionOptions): number {
  const { B, L, H, dqk, dv, N } = o;
  checkInt(B, 'B', 0);
  checkInt(L, 'L', 0);
  checkInt(H, 'H', 1);
  checkInt(dqk, 'dqk', 1);
  checkInt(dv, 'dv', 1);
  checkInt(N, 'N', 1);
  if (dqk > 256 || dv > 256) fail(`expected dqk, dv ≤ 256 (per-lane registers), got dqk ${dqk}, dv ${dv}`);
  if (!Number.isFinite(o.alpha)) fail(`expected a finite alpha, got ${o.alpha}`);
  const norm = o.normalizer ?? N;
  if (!(Number.isFinite(norm) && norm > 0)) fail(`expected a positive normalizer, got ${norm}`);
  checkTensor(x.k, 'k', 'f32', L * H * dqk);
  checkTensor(x.v, 'v', 'f32', L * H * dv);
  checkTensor(x.seqOffsets, 'seqOffsets', 'u32', B + 1);
  const off = o.hostOffsets;
  if (!off || off.length !== B + 1) fail(`expected hostOffsets with B + 1 = ${B + 1} entries, got ${off?.length}`);
  if (off[0] !== 0) fail(`expected hostOffsets[0] = 0, got ${off[0]}`);
  if (off[B] !== L) fail(`expected hostOffsets[B] = L = ${L}, got ${off[B]}`);
  let maxLen = 0;
  for (let b = 0; b < B; b++) {
    const n = off[b + 1]! - off[b]!;
    if (!(n >= 0)) fail(`expected non-decreasing seq_offsets, got length ${n} for sequence ${b}`);
    if (n > N) fail(`expected every sequence length ≤ N = ${N}, got ${n} for sequence ${b}`);
    maxLen = Math.max(maxLen, n);
  }
  if (x.numTargets) checkTensor(x.numTargets, 'numTargets', 'u32', B);
  if (x.nextTimestamps) checkTensor(x.nextTimestamps, 'nextTimestamps', 'u32', Math.max(B, 1));
  if (o.hostNumTargets) {
    if (!x.numTargets) fail('expected the numTargets tensor when hostNumTargets is given, got none');
    if (o.hostNumTargets.length !== B) fail(`expected hostNumTargets with B = ${B} entries, got ${o.hostNumTargets.length}`);
    for (let b = 0; b < B; b++) {
      const k = o.hostNumTargets[b]!, n = off[b + 1]! - off[b]!;
      if (!(Number.isInteger(k) && k >= 0 && k <= n)) fail(`expected 0 ≤ num_targets ≤ length ${n} for sequence ${b}, got ${k}`);
    }
  }
  if (o.useRab) {
    checkTensor(x.timestamps, 'timestamps', 'u32', L);
    checkTensor(x.rabPos, 'rabPos', 'f32', 2 * N - 1);
    checkTensor(x.rabTime, 'rabTime', 'f32', NUM_TIME_BUCKETS);
  }
  return maxLen;
}

/** Subgroup path: K/V (Q/dO) rows loaded cooperatively by the 8 lanes and broadcast. */
function useSubgroups(gpu: Gpu): boolean {
  return subgroupOverride ?? gpu.has('subgroups');
}
let subgroupOverride: boolean | undefined;
/** Tests: force the plain-load path (false) on a device with subgroups; undefined restores auto. */
export function setSubgroupPathForTesting(on: boolean | undefined): void {
  subgroupOverride = on;
}

function fwdKernel(o: AttentionOptions, sg: boolean): KernelSource {
  return { name: 'hstu_attention', wgsl: source('fwd', o.dqk, o.dv, sg), defines: { DQK: o.dqk, DV: o.dv, USE_RAB: o.useRab, SG: sg } };
}

function bwdKernel(o: AttentionOptions, entryPoint: 'dkdv' | 'dq' | 'reduce', sg: boolean): KernelSource {
  // One pipeline for every N ≤ 1024 (each compile costs seconds on lavapipe); larger N round up.
  // N ≤ LANE_HIST_MAX_N: per-lane rab histograms (8 × (512 + 129) floats of workgroup memory).
  const laneHist = o.useRab && o.N <= LANE_HIST_MAX_N;
  // N > MAX_N_WITH_RAB_BACKWARD: the histogram would not fit in workgroup memory; it is built in
  // each workgroup's global scratch row instead (GLOBAL_HIST, slower, same order and results).
  const globalHist = o.useRab && o.N > MAX_N_WITH_RAB_BACKWARD;
  const posCap = !o.useRab || globalHist ? 8 : laneHist ? LANE_HIST_MAX_N : Math.max(1024, 2 ** Math.ceil(Math.log2(o.N)));
  const lhSize = laneHist ? WG * (posCap + NUM_TIME_BUCKETS) : 1;
  return {
    name: `hstu_attention_bwd_${entryPoint}`,
    wgsl: source('bwd', o.dqk, o.dv, sg),
    entryPoint,
    defines: { DQK: o.dqk, DV: o.dv, USE_RAB: o.useRab, POS_CAP: posCap, LANE_HIST: laneHist, LH_SIZE: lhSize, GLOBAL_HIST: globalHist, SG: sg },
  };
}

/** Params.flags: bit 0 num_targets given, bit 1 next-event times given. */
export function attentionFlags(x: Omit<AttentionInputs, 'q'>): number {
  return (x.numTargets ? 1 : 0) | (x.nextTimestamps ? 2 : 0);
}

function recordForward(rec: Recorder, q: Tensor<'f32'>, qOffsets: Tensor<'u32'>, x: Omit<AttentionInputs, 'q'>, out: Tensor<'f32'>, o: AttentionOptions, maxQ: number): void {
  const nqb = Math.ceil(maxQ / WG);
  const total = o.B * nqb * o.H;
  if (total === 0) return;
  const params = new Params()
    .u32(o.H).u32(nqb).u32(total).u32(o.N)
    .f32(o.alpha).f32(1 / (o.normalizer ?? o.N)).u32(attentionFlags(x)).u32(0)
    .done();
  const dummyU = x.seqOffsets;
  const dummyF = x.k;
  rec.dispatch(
    fwdKernel(o, useSubgroups(rec.gpu)),
    [q, x.k, x.v, qOffsets, x.seqOffsets, x.timestamps ?? dummyU, x.numTargets ?? dummyU, x.rabPos ?? dummyF, x.rabTime ?? dummyF, out, bucketTable(rec.gpu), x.nextTimestamps ?? dummyU],
    grid(total),
    params,
  );
}

/** out [L, H, dv] = fused HSTU attention of the jagged batch. */
export function hstuAttention(rec: Recorder, x: AttentionInputs, out: Tensor<'f32'>, o: AttentionOptions): void {
  const maxLen = validate(x, o);
  checkTensor(x.q, 'q', 'f32', o.L * o.H * o.dqk);
  checkTensor(out, 'out', 'f32', o.L * o.H * o.dv);
  recordForward(rec, x.q, x.seqOffsets, x, out, o, maxLen);
}

/** out [Lnew, H, dv] = the rows of the full pass for the last m_b tokens of each sequence. */
export function hstuAttentionCached(rec: Recorder, x: CachedAttentionInputs, out: Tensor<'f32'>, o: CachedAttentionOptions): void {
  validate(x, o);
  const { B, H, dqk, dv } = o;
  checkTensor(x.newOffsets, 'newOffsets', 'u32', B + 1);
  const no = o.hostNewOffsets;
  if (!no || no.length !== B + 1) fail(`expected hostNewOffsets with B + 1 = ${B + 1} entries, got ${no?.length}`);
  if (no[0] !== 0) fail(`expected hostNewOffsets[0] = 0, got ${no[0]}`);
  let maxNew = 0;
  for (let b = 0; b < B; b++) {
    const m = no[b + 1]! - no[b]!;
    const n = o.hostOffsets[b + 1]! - o.hostOffsets[b]!;
    if (!(m >= 0 && m <= n)) fail(`expected 0 ≤ new tokens ≤ sequence length ${n} for sequence ${b}, got ${m}`);
    maxNew = Math.max(maxNew, m);
  }
  const Lnew = no[B]!;
  checkTensor(x.qNew, 'qNew', 'f32', Lnew * H * dqk);
  checkTensor(out, 'out', 'f32', Lnew * H * dv);
  recordForward(rec, x.qNew, x.newOffsets, x, out, o, maxNew);
}

/** Gradients of hstuAttention w.r.t. q, k, v (and rab_pos, rab_time when useRab). Every element
 *  of every gradient is written (no accumulation into the outputs). Deterministic. */
export function hstuAttentionBackward(rec: Recorder, x: AttentionInputs, dOut: Tensor<'f32'>, grads: AttentionGrads, o: AttentionOptions): void {
  const maxLen = validate(x, o);
  const { B, L, H, dqk, dv, N } = o;
  checkTensor(x.q, 'q', 'f32', L * H * dqk);
  checkTensor(dOut, 'dOut', 'f32', L * H * dv);
  checkTensor(grads.dq, 'dq', 'f32', L * H * dqk);
  checkTensor(grads.dk, 'dk', 'f32', L * H * dqk);
  checkTensor(grads.dv, 'dv', 'f32', L * H * dv);
  if (o.useRab) {
    checkTensor(grads.dRabPos, 'dRabPos', 'f32', 2 * N - 1);
    checkTensor(grads.dRabTime, 'dRabTime', 'f32', NUM_TIME_BUCKETS);
  }
  const nb = Math.ceil(maxLen / WG);
  const gpu = rec.gpu;
  const norm = o.normalizer ?? N;
  const mk = (total: number, rows: number, extraFlags = 0) =>
    new Params().u32(H).u32(nb).u32(total).u32(N).f32(o.alpha).f32(1 / norm).u32(attentionFlags(x) | extraFlags).u32(rows).done();
  const dU = x.seqOffsets;
  const dF = x.k;
  const common = [x.q, x.k, x.v, dOut, x.seqOffsets, x.timestamps ?? dU, x.numTargets ?? dU, x.rabPos ?? dF, x.rabTime ?? dF];
  const next = x.nextTimestamps ?? dU;
  const ws = workspace(gpu);
  const sg = useSubgroups(gpu);
  const nbQ = B * nb;
  if (nbQ > 0) {
    const totalKV = nbQ * H;
    rec.dispatch(bwdKernel(o, 'dkdv', sg), [...common, grads.dk, grads.dv, ws.dummy(0), ws.table, next], grid(totalKV), mk(totalKV, 0));
  }
  if (!o.useRab) {
    if (nbQ > 0) rec.dispatch(bwdKernel(o, 'dq', sg), [...common, grads.dq, ws.dummy(1), ws.dummy(2), ws.table, next], grid(nbQ), mk(nbQ, 0));
    return;
  }
  // The dq workgroups' rab partials (one row of N + 129 floats each) go through the scratch in
  // chunks that fit one storage binding; each chunk's reduce adds to the previous chunks' sums.
  const rowFloats = N + NUM_TIME_BUCKETS;
  const fit = scratchChunkRowsForTesting ?? Math.floor(Math.min(gpu.device.limits.maxStorageBufferBindingSize, 2 ** 30) / (4 * rowFloats));
  const chunk = Math.max(1, Math.min(Math.max(nbQ, 1), fit));
  const scratch = ws.scratch(chunk * rowFloats);
  const lanes = 2 * N - 1 + NUM_TIME_BUCKETS;
  for (let first = 0; first === 0 || first < nbQ; first += chunk) {
    const rows = Math.min(chunk, nbQ - first);
    if (rows > 0) rec.dispatch(bwdKernel(o, 'dq', sg), [...common, grads.dq, ws.dummy(1), scratch, ws.table, next], grid(rows), mk(first + rows, first));
    rec.dispatch(bwdKernel(o, 'reduce', sg), [...common, grads.dRabPos!, grads.dRabTime!, scratch, ws.table, next], Math.ceil(lanes / 64), mk(lanes, Math.max(rows, 0), first > 0 ? 4 : 0));
  }
}

let scratchChunkRowsForTesting: number | undefined;
/** Tests: force the rab scratch chunk (dq workgroups per chunk) to exercise the chunked reduce. */
export function setScratchChunkRowsForTesting(rows: number | undefined): void {
  scratchChunkRowsForTesting = rows;
}

/** Per-device work buffers of the backward: writable placeholders for unused bindings and the
 *  rab-partials scratch. They are never released while the device lives (a released pooled buffer
 *  could be handed out and written by gpu.write before this recorder is submitted); dispatches
 *  of one recorder run in order, so consecutive backward calls can share them. */
class Workspace {
  private dummies: Tensor<'f32'>[] = [];
  private big: Tensor<'f32'> | null = null;
  private retired: Tensor<'f32'>[] = [];
  readonly table: Tensor<'u32'>;
  constructor(private readonly gpu: Gpu) {
    this.table = gpu.u32(bucketThresholds(), [74], 'hstu_attention:bucket_thresholds');
  }
  dummy(i: number): Tensor<'f32'> {
    while (this.dummies.length <= i) this.dummies.push(this.gpu.empty([1], 'f32', `hstu_attention:unused${this.dummies.length}`));
    return this.dummies[i]!;
  }
  scratch(floats: number): Tensor<'f32'> {
    if (!this.big || this.big.numel < floats) {
      if (this.big) this.retired.push(this.big);
      this.big = this.gpu.empty([floats], 'f32', 'hstu_attention:rab_scratch');
    }
    return this.big;
  }
}
const workspaces = new WeakMap<Gpu, Workspace>();
/** The time-bucket thresholds on the device (uploaded once per Gpu, never released). */
export function bucketTable(gpu: Gpu): Tensor<'u32'> {
  return workspace(gpu).table;
}
function workspace(gpu: Gpu): Workspace {
  let w = workspaces.get(gpu);
  if (!w) workspaces.set(gpu, (w = new Workspace(gpu)));
  return w;
}
