// Host for causal multi-head softmax attention over jagged batches (SASRec's attention), with an
// optional target mask (ranking candidates: see softmax_attention.ref.ts):
// forward (output + per-(token, head) logsumexp) and backward (dQ, dK, dV), FlashAttention-style:
// no score matrix in memory. Math and decomposition: softmax_attention.wgsl, softmax_attention_bwd.wgsl.
import { readFileSync } from 'node:fs';
import { Params, type Gpu, type KernelSource, type Recorder, type Tensor } from '../gpu/index.js';

const WGSL = readFileSync(new URL('./softmax_attention.wgsl', import.meta.url), 'utf8');
const WGSL_BWD = readFileSync(new URL('./softmax_attention_bwd.wgsl', import.meta.url), 'utf8');
const WGSL_DOT = readFileSync(new URL('./softmax_attention_bwd_dot.wgsl', import.meta.url), 'utf8');

/** Largest per-head dim we compile for (rows live in registers / private memory, and the unrolled
 *  loops' compile time grows with dk, dv: ~13 s for the forward and ~20 s for the backward at
 *  d = 50 on lavapipe, once per process unless Mesa's shader cache has them). */
export const MAX_HEAD_DIM = 256;
/** Storage buffers the dK/dV pass binds. */
const BWD_STORAGE_BUFFERS = 10;

export interface SoftmaxAttentionOptions {
  /** Sequences in the batch (seqOffsets has B+1 entries). */
  B: number;
  /** Total tokens, = seqOffsets[B]. */
  L: number;
  /** Heads. */
  H: number;
  /** Query/key dim per head. */
  dk: number;
  /** Value dim per head. */
  dv: number;
  /** Max sequence length N: every length must be ≤ N (the caller's contract, not read back;
   *  tokens past N would be left unwritten). Sets the grid: H · B · ceil(N / tokens per workgroup). */
  maxLen: number;
  /** Multiplier of Q·K (SASRec: 1/√dk). */
  scale: number;
  /** Launch shape; default from the device class. Both are correct on any device (tests run both). */
  launch?: 'cpu' | 'gpu';
  /** [B] candidates at the end of each sequence (target mask); absent = plain causal. The kernels
   *  clamp each to its sequence length. Not supported by the naive composition. */
  numTargets?: Tensor<'u32'>;
}

/** Vector width of the row loads: the largest of 4, 2, 1 dividing both dk and dv. */
function vectorWidth(dk: number, dv: number): 1 | 2 | 4 {
  return dk % 4 === 0 && dv % 4 === 0 ? 4 : dk % 2 === 0 && dv % 2 === 0 ? 2 : 1;
}

/** WGSL prelude defining the row vector type `vt` and its helpers for vector width vw. */
function prelude(vw: 1 | 2 | 4): string {
  if (vw === 1) return 'alias vt = f32;\nfn vdot(a: vt, b: vt) -> f32 { return a * b; }\nfn vfirst(a: vt) -> f32 { return a; }\n';
  return `alias vt = vec${vw}<f32>;\nfn vdot(a: vt, b: vt) -> f32 { return dot(a, b); }\nfn vfirst(a: vt) -> f32 { return a.x; }\n`;
}

/** The compile-time facts of the fast kernels. */
function rowDefines(o: SoftmaxAttentionOptions, wg: number): { vw: 1 | 2 | 4; defines: Record<string, number> } {
  const vw = vectorWidth(o.dk, o.dv);
  return { vw, defines: { WG: wg, DK: o.dk, DV: o.dv, VW: vw, NK: o.dk / vw, NV: o.dv / vw } };
}

/** Launch shape. On a CPU (lavapipe): 8 lanes (one SIMD vector) and register blocking, each lane
 *  owning `qb` tokens (forward 4, backward 2: measured best at d = 50; every streamed K/V or Q/dO
 *  row load then feeds qb tokens). On a GPU: 64 lanes, one token each. */
function launch(gpu: Gpu, o: SoftmaxAttentionOptions): { wg: number; qb: number; qbBwd: number } {
  return (o.launch ?? gpu.deviceClass) === 'cpu' ? { wg: 8, qb: 4, qbBwd: 2 } : { wg: 64, qb: 1, qbBwd: 1 };
}

function checkInt(name: string, v: number, min: number, max = Number.MAX_SAFE_INTEGER): void {
  if (!Number.isInteger(v) || v < min || v > max) throw new Error(`softmaxAttention: expected ${name} an integer in [${min}, ${max}], got ${v}`);
}

function checkTensor(t: Tensor, role: string, dtype: 'f32' | 'u32', numel: number, shape: string): void {
  if (t.dtype !== dtype) throw new Error(`softmaxAttention: expected ${role} as ${dtype}, got ${t.dtype} (${t.label})`);
  if (t.numel !== numel) throw new Error(`softmaxAttention: expected ${role} of shape ${shape} = ${numel} elements, got ${t.numel} (${t.label}: [${t.shape.join(', ')}])`);
}

function validateOptions(o: SoftmaxAttentionOptions): void {
  checkInt('B', o.B, 0);
  checkInt('L', o.L, 0);
  checkInt('H', o.H, 1);
  checkInt('dk', o.dk, 1, MAX_HEAD_DIM);
  checkInt('dv', o.dv, 1, MAX_HEAD_DIM);
  checkInt('maxLen', o.maxLen, 0);
  if (o.L > o.B * o.maxLen) throw new Error(`softmaxAttention: expected L ≤ B·maxLen = ${o.B * o.maxLen}, got L = ${o.L}`);
  if (o.launch !== undefined && o.launch !== 'cpu' && o.launch !== 'gpu') throw new Error(`softmaxAttention: expected launch 'cpu' or 'gpu', got ${String(o.launch)}`);
  if (!Number.isFinite(o.scale)) throw new Error(`softmaxAttention: expected a finite scale, got ${o.scale}`);
}

function uniforms(o: SoftmaxAttentionOptions, block: number): { params: ArrayBuffer; groups: number } {
  // One workgroup per (head, sequence, block of `block` tokens); blocks past a sequence's end exit at once.
  const nqb = Math.ceil(o.maxLen / block);
  const params = new Params().u32(o.B).u32(o.H).u32(nqb).f32(o.scale).u32(o.numTargets ? 1 : 0).u32(0).u32(0).u32(0).done();
  return { params, groups: o.L === 0 ? 0 : o.H * o.B * nqb };
}

/** The num_targets binding: the tensor, or seqOffsets as a never-read stand-in (has_targets = 0). */
function targetsBinding(o: SoftmaxAttentionOptions, seqOffsets: Tensor<'u32'>): Tensor<'u32'> {
  if (!o.numTargets) return seqOffsets;
  checkTensor(o.numTargets, 'numTargets', 'u32', o.B, `[B] = [${o.B}]`);
  return o.numTargets;
}

/**
 * out[i, h, :] = Σ_{j ≤ i, same sequence} softmax_j(scale · Q_i·K_j) · V_j and
 * lse[i, h] = log Σ_{j ≤ i} exp(scale · Q_i·K_j). q, k: [L, H, dk]; v, out: [L, H, dv]; lse: [L, H].
 */
export function softmaxAttention(rec: Recorder, q: Tensor<'f32'>, k: Tensor<'f32'>, v: Tensor<'f32'>, seqOffsets: Tensor<'u32'>, out: Tensor<'f32'>, lse: Tensor<'f32'>, o: SoftmaxAttentionOptions): void {
  validateOptions(o);
  const { L, H, dk, dv } = o;
  checkTensor(q, 'q', 'f32', L * H * dk, `[L, H, dk] = [${L}, ${H}, ${dk}]`);
  checkTensor(k, 'k', 'f32', L * H * dk, `[L, H, dk] = [${L}, ${H}, ${dk}]`);
  checkTensor(v, 'v', 'f32', L * H * dv, `[L, H, dv] = [${L}, ${H}, ${dv}]`);
  checkTensor(seqOffsets, 'seqOffsets', 'u32', o.B + 1, `[B + 1] = [${o.B + 1}]`);
  checkTensor(out, 'out', 'f32', L * H * dv, `[L, H, dv] = [${L}, ${H}, ${dv}]`);
  checkTensor(lse, 'lse', 'f32', L * H, `[L, H] = [${L}, ${H}]`);
  if (out.buffer === lse.buffer || [q, k, v, seqOffsets].some((t) => t.buffer === out.buffer || t.buffer === lse.buffer)) {
    throw new Error('softmaxAttention: expected out and lse to be distinct from each other and from the inputs, got aliases');
  }
  const { wg, qb } = launch(rec.gpu, o);
  const { vw, defines } = rowDefines(o, wg);
  const kernel: KernelSource = { name: 'softmax_attention', wgsl: prelude(vw) + WGSL, defines: { ...defines, QB: qb } };
  const { params, groups } = uniforms(o, wg * qb);
  rec.dispatch(kernel, [q, k, v, seqOffsets, out, lse, targetsBinding(o, seqOffsets)], groups, params);
}

/**
 * Gradients of softmaxAttention: dq [L, H, dk], dk [L, H, dk], dv [L, H, dv] from the forward's
 * inputs, its out and lse, and dOut [L, H, dv]. Three dispatches (D = rowsum(dO ⊙ O), then dK/dV
 * looping over queries, then dQ looping over keys); deterministic.
 */
export function softmaxAttentionBackward(
  rec: Recorder,
  q: Tensor<'f32'>,
  k: Tensor<'f32'>,
  v: Tensor<'f32'>,
  seqOffsets: Tensor<'u32'>,
  out: Tensor<'f32'>,
  lse: Tensor<'f32'>,
  dOut: Tensor<'f32'>,
  dq: Tensor<'f32'>,
  dk: Tensor<'f32'>,
  dv: Tensor<'f32'>,
  o: SoftmaxAttentionOptions,
): void {
  validateOptions(o);
  const { L, H } = o;
  const qk = `[L, H, dk] = [${L}, ${H}, ${o.dk}]`, vs = `[L, H, dv] = [${L}, ${H}, ${o.dv}]`;
  checkTensor(q, 'q', 'f32', L * H * o.dk, qk);
  checkTensor(k, 'k', 'f32', L * H * o.dk, qk);
  checkTensor(v, 'v', 'f32', L * H * o.dv, vs);
  checkTensor(seqOffsets, 'seqOffsets', 'u32', o.B + 1, `[B + 1] = [${o.B + 1}]`);
  checkTensor(out, 'out', 'f32', L * H * o.dv, vs);
  checkTensor(lse, 'lse', 'f32', L * H, `[L, H] = [${L}, ${H}]`);
  checkTensor(dOut, 'dOut', 'f32', L * H * o.dv, vs);
  checkTensor(dq, 'dq', 'f32', L * H * o.dk, qk);
  checkTensor(dk, 'dk', 'f32', L * H * o.dk, qk);
  checkTensor(dv, 'dv', 'f32', L * H * o.dv, vs);
  const distinct = new Set([dq.buffer, dk.buffer, dv.buffer]);
  if (distinct.size !== 3) throw new Error('softmaxAttentionBackward: expected dq, dk and dv to be distinct tensors, got aliases');
  for (const [role, t] of [['q', q], ['k', k], ['v', v], ['out', out], ['lse', lse], ['dOut', dOut]] as const) {
    if (distinct.has(t.buffer)) throw new Error(`softmaxAttentionBackward: expected ${role} not to alias a gradient output, got ${t.label}`);
  }
  const limit = rec.gpu.device.limits.maxStorageBuffersPerShaderStage;
  if (limit < BWD_STORAGE_BUFFERS) {
    throw new Error(`softmaxAttentionBackward: expected a device with ≥ ${BWD_STORAGE_BUFFERS} storage buffers per shader stage, got ${limit}`);
  }
  const { wg, qbBwd } = launch(rec.gpu, o);
  const dot: KernelSource = { name: 'softmax_attention_bwd_dot', wgsl: WGSL_DOT, defines: { WG: 64 } };
  rec.dispatch(dot, [out, dOut, dq], Math.ceil((L * H) / 64), new Params().u32(L * H).u32(o.dv).u32(o.dk).done());
  const { params, groups } = uniforms(o, wg * qbBwd);
  const { vw, defines } = rowDefines(o, wg);
  const pass = (p: 1 | 2): KernelSource => ({ name: p === 1 ? 'softmax_attention_bwd_dq' : 'softmax_attention_bwd_dkv', wgsl: prelude(vw) + WGSL_BWD, defines: { ...defines, QB: qbBwd, PASS: p } });
  const bindings = [q, k, v, seqOffsets, lse, dOut, dq, dk, dv, targetsBinding(o, seqOffsets)];
  rec.dispatch(pass(2), bindings, groups, params);
  rec.dispatch(pass(1), bindings, groups, params);
}

const WGSL_NAIVE = readFileSync(new URL('./softmax_attention_naive.wgsl', import.meta.url), 'utf8');

/**
 * The naive composition (baseline for benchmarks and a second opinion in tests): materialises the
 * padded scores [B·H, N, N] (N = o.maxLen) in `scores`, softmaxes them in place, multiplies by V
 * into `out`. Three dispatches; no lse. Lengths must be ≤ maxLen (not checked on the GPU).
 */
export function softmaxAttentionNaive(rec: Recorder, q: Tensor<'f32'>, k: Tensor<'f32'>, v: Tensor<'f32'>, seqOffsets: Tensor<'u32'>, scores: Tensor<'f32'>, out: Tensor<'f32'>, o: SoftmaxAttentionOptions): void {
  validateOptions(o);
  if (o.numTargets) throw new Error('softmaxAttentionNaive: expected no numTargets (the naive composition is causal only), got a tensor. HINT: use softmaxAttention for target masks.');
  const { B, L, H, dk, dv, maxLen: N } = o;
  checkTensor(q, 'q', 'f32', L * H * dk, `[L, H, dk] = [${L}, ${H}, ${dk}]`);
  checkTensor(k, 'k', 'f32', L * H * dk, `[L, H, dk] = [${L}, ${H}, ${dk}]`);
  checkTensor(v, 'v', 'f32', L * H * dv, `[L, H, dv] = [${L}, ${H}, ${dv}]`);
  checkTensor(seqOffsets, 'seqOffsets', 'u32', B + 1, `[B + 1] = [${B + 1}]`);
  checkTensor(scores, 'scores', 'f32', B * H * N * N, `[B·H, N, N] = [${B * H}, ${N}, ${N}]`);
  checkTensor(out, 'out', 'f32', L * H * dv, `[L, H, dv] = [${L}, ${H}, ${dv}]`);
  const WG = 64;
  const params = new Params().u32(B).u32(H).u32(N).u32(dk).u32(dv).f32(o.scale).done();
  const op = (OP: number): KernelSource => ({ name: `softmax_attention_naive_${['scores', 'softmax', 'pv'][OP]}`, wgsl: WGSL_NAIVE, defines: { WG, OP } });
  const bindings = [q, k, v, seqOffsets, scores, out];
  rec.dispatch(op(0), bindings, Math.ceil((B * H * N * N) / WG), params);
  rec.dispatch(op(1), bindings, Math.ceil((B * H * N) / WG), params);
  rec.dispatch(op(2), bindings, Math.ceil((B * H * N * dv) / WG), params);
}
