// Host for the sampled-softmax loss: GPU negative sampling, fused forward (per-row CE + a
// deterministic mean) and fused backward through the L2 normalisation; a naive variant that
// materialises all logits sits beside each for benchmarks. Math in sampled_softmax.wgsl.
// Similarity 'dot' (no normalisation) is the DOT define of the same kernels (see the WGSL).
import { readFileSync } from 'node:fs';
import { Params, Tensor, type Gpu, type KernelSource, type Recorder } from '../gpu/index.js';
import { matmul } from '../matmul/matmul.js';
import { columnSum } from '../reduce/reduce.js';

export { sharedNegativeIds } from './negatives.js';

const FWD = sections(readFileSync(new URL('./sampled_softmax.wgsl', import.meta.url), 'utf8'));
const BWD = sections(readFileSync(new URL('./sampled_softmax_bwd.wgsl', import.meta.url), 'utf8'));
const SHARED = sections(readFileSync(new URL('./sampled_softmax_shared.wgsl', import.meta.url), 'utf8'));
const WG = 64;

/** Splits a WGSL file into `prelude + section` per "// ==== kernel: NAME ====" line. */
function sections(text: string): Map<string, string> {
  const parts = text.split(/^\/\/ ==== kernel: (\w+) ====$/m);
  const out = new Map<string, string>();
  for (let i = 1; i < parts.length; i += 2) out.set(parts[i]!, parts[0]! + parts[i + 1]!);
  return out;
}

// DOT (similarity 'dot') defaults to 0: kernels that do not normalise (sample, reduce, the
// shared path's du_project / dneg_finish, which read the norms norm_rows wrote) compile once.
function kernel(name: string, defines: Record<string, string | number | boolean> = {}): KernelSource {
  const wgsl = FWD.get(name) ?? BWD.get(name);
  if (!wgsl) throw new Error(`sampled_softmax: no WGSL section ${name}`);
  return { name: `sampled_softmax_${name}`, wgsl, defines: { WG, DOT: 0, ...defines } };
}

function sharedKernel(name: string, defines: Record<string, string | number | boolean> = {}): KernelSource {
  const wgsl = SHARED.get(name);
  if (!wgsl) throw new Error(`sampled_softmax: no shared WGSL section ${name}`);
  return { name: `sampled_softmax_shared_${name}`, wgsl, defines: { WG, DOT: 0, ...defines } };
}

/** Default clamp of the L2 norm: x̂ = x / max(‖x‖, eps). */
export const DEFAULT_EPS = 1e-6;

/** The logit before 1/τ: 'cosine' = cos(u, e) (u and e L2-normalised), 'dot' = u·e of the raw
 *  rows (the kernels' DOT define: the normalisation becomes the identity, see the WGSL). */
export type Similarity = 'cosine' | 'dot';

/** True for 'dot', false for 'cosine' or absent; anything else is refused. */
export function isDot(similarity: Similarity | undefined, who: string): boolean {
  if (similarity === undefined || similarity === 'cosine') return false;
  if (similarity === 'dot') return true;
  throw new Error(`${who}: expected similarity 'cosine' or 'dot', got ${JSON.stringify(similarity)}. HINT: config key similarity.`);
}

export interface SampledSoftmaxShape {
  /** Prediction rows. */
  P: number;
  /** Negatives per row. */
  R: number;
  /** Embedding dim. */
  d: number;
  /** Logits are cos / temperature (paper: 0.05), or u·e / temperature with similarity 'dot'. */
  temperature: number;
  /** Norm clamp (default 1e-6; unused with similarity 'dot'). */
  eps?: number;
  /** 'cosine' (default) or 'dot' (no normalisation of u or the item rows). */
  similarity?: Similarity;
  /** One set of R negatives shared by all rows: negIds [R], negEmb [R, d], dNeg [R, d] (summed
   *  over rows). Default false: R negatives per row (negIds [P, R], negEmb/dNeg [P, R, d]). */
  sharedNegatives?: boolean;
  /** S: with shared negatives and `rowSamples`, each row's negatives are S columns drawn from the
   *  R shared ones (per-row sampled negatives computed as dense GEMMs over the R columns). */
  samplesPerRow?: number;
}

/** Item rows come from `items` [numItems, d] indexed by id (table mode), or from pre-gathered
 *  `posEmb` [P, d] and `negEmb` [P, R, d] (gathered mode); give exactly one of the two. */
export interface SampledSoftmaxInputs {
  u: Tensor<'f32'>;
  posIds: Tensor<'u32'>;
  negIds: Tensor<'u32'>;
  items?: Tensor<'f32'>;
  posEmb?: Tensor<'f32'>;
  negEmb?: Tensor<'f32'>;
  /** [P] row weights (0 = skip the row, e.g. padding); loss = Σ w·CE / Σ w. All 1 when absent. */
  weights?: Tensor<'f32'>;
  /** [P, S] column indices (< R) into the shared negatives: row r's negatives are
   *  negIds[rowSamples[r, ·]] (a column drawn twice counts twice). Needs sharedNegatives and
   *  samplesPerRow = S; fused variant only. */
  rowSamples?: Tensor<'u32'>;
}

/** 'fused': the default. 'naive': the benchmark baseline — for per-row negatives all logits
 *  materialised in global memory; for shared negatives the row-per-invocation kernels that
 *  recompute every dot product and norm (the default there runs the products as GEMMs). */
export type Variant = 'fused' | 'naive';

// ---------------------------------------------------------------------------------------------
// validation

function expectTensor(what: string, t: Tensor | undefined, dtype: string, shape: readonly number[]): void {
  if (!t) throw new Error(`sampled_softmax: expected ${what}, got nothing`);
  if (t.dtype !== dtype) throw new Error(`sampled_softmax: expected ${what} as ${dtype}, got ${t.dtype}`);
  if (t.shape.length !== shape.length || t.shape.some((s, i) => s !== shape[i])) {
    throw new Error(`sampled_softmax: expected ${what} of shape [${shape.join(', ')}], got [${t.shape.join(', ')}]`);
  }
}

interface Resolved {
  table: boolean;
  shared: boolean;
  posSrc: Tensor<'f32'>;
  negSrc: Tensor<'f32'>;
  eps: number;
  /** The DOT define (similarity 'dot'). */
  DOT: 0 | 1;
}

function validate(inp: SampledSoftmaxInputs, s: SampledSoftmaxShape): Resolved {
  const { P, R, d } = s;
  for (const [k, v, lo] of [['P', P, 0], ['R', R, 1], ['d', d, 1]] as const) {
    if (!Number.isInteger(v) || v < lo) throw new Error(`sampled_softmax: expected integer ${k} ≥ ${lo}, got ${v}`);
  }
  if (!(s.temperature > 0)) throw new Error(`sampled_softmax: expected temperature > 0, got ${s.temperature}`);
  const eps = s.eps ?? DEFAULT_EPS;
  if (!(eps > 0)) throw new Error(`sampled_softmax: expected eps > 0, got ${eps}`);
  const DOT = isDot(s.similarity, 'sampled_softmax') ? 1 : 0;
  if (P * R * d >= 2 ** 32) throw new Error(`sampled_softmax: expected P·R·d < 2^32, got ${P * R * d}`);
  expectTensor('u', inp.u, 'f32', [P, d]);
  expectTensor('posIds', inp.posIds, 'u32', [P]);
  const shared = s.sharedNegatives === true;
  expectTensor('negIds', inp.negIds, 'u32', shared ? [R] : [P, R]);
  if (inp.weights) expectTensor('weights', inp.weights, 'f32', [P]);
  if (inp.rowSamples || s.samplesPerRow !== undefined) {
    const S = s.samplesPerRow;
    if (!shared) throw new Error('sampled_softmax: rowSamples pick columns of the shared negatives. HINT: set sharedNegatives: true.');
    if (!Number.isInteger(S) || S! < 1) throw new Error(`sampled_softmax: expected integer samplesPerRow ≥ 1 with rowSamples, got ${S}`);
    expectTensor('rowSamples', inp.rowSamples, 'u32', [P, S!]);
  }
  if (inp.items && (inp.posEmb || inp.negEmb)) throw new Error('sampled_softmax: expected either items (table mode) or posEmb+negEmb (gathered mode), got both');
  if (inp.items) {
    if (inp.items.dtype !== 'f32' || inp.items.shape.length !== 2 || inp.items.shape[1] !== d) {
      throw new Error(`sampled_softmax: expected items as f32 [numItems, ${d}], got ${inp.items.dtype} [${inp.items.shape.join(', ')}]`);
    }
    return { table: true, shared, posSrc: inp.items, negSrc: inp.items, eps, DOT };
  }
  expectTensor('posEmb', inp.posEmb, 'f32', [P, d]);
  expectTensor('negEmb', inp.negEmb, 'f32', shared ? [R, d] : [P, R, d]);
  return { table: false, shared, posSrc: inp.posEmb!, negSrc: inp.negEmb!, eps, DOT };
}

// Scratch tensors live per Gpu for its lifetime (destroyed with its pool at dispose): releasing
// them right after recording would let a later upload land in them before our submit runs.
const scratch = new WeakMap<Gpu, Map<string, Tensor<'f32'>>>();
function scratchOf(gpu: Gpu, role: string, n: number): Tensor<'f32'> {
  let m = scratch.get(gpu);
  if (!m) scratch.set(gpu, (m = new Map()));
  const have = m.get(role);
  if (have && have.numel >= n) return have;
  const t = gpu.empty([Math.max(n, 1)], 'f32', `sampled_softmax:${role}`);
  m.set(role, t);
  return t;
}

/** An exact-shape view of a role's scratch buffer (kernels/matmul checks element counts). Never
 *  released: the buffer belongs to the scratch map. */
function scratchView(gpu: Gpu, role: string, shape: number[]): Tensor<'f32'> {
  const n = shape.reduce((a, b) => a * b, 1);
  return new Tensor(scratchOf(gpu, role, n).buffer, shape, 'f32', `sampled_softmax:${role}`);
}

// ---------------------------------------------------------------------------------------------
// sampling

/** Writes negIds [P, R] with neg[r, j] = hash32(j ^ hash32(r ^ hash32(seed ^ 0x85ebca6b))) mod
 *  numItems (uniform over [0, numItems) up to a bias ≤ numItems/2^32). */
export function sampleNegatives(rec: Recorder, negIds: Tensor<'u32'>, o: { P: number; R: number; numItems: number; seed: number }): void {
  const { P, R, numItems } = o;
  if (!Number.isInteger(numItems) || numItems < 1 || numItems > 0xffffffff) throw new Error(`sampleNegatives: expected 1 ≤ numItems < 2^32, got ${numItems}`);
  if (!Number.isInteger(P) || P < 0 || !Number.isInteger(R) || R < 1) throw new Error(`sampleNegatives: expected P ≥ 0 and R ≥ 1, got P=${P} R=${R}`);
  expectTensor('negIds', negIds, 'u32', [P, R]);
  const total = P * R;
  if (total >= 2 ** 32) throw new Error(`sampleNegatives: expected P·R < 2^32, got ${total}`);
  const params = new Params().u32(total).u32(R).u32(numItems).u32(o.seed >>> 0).done();
  rec.dispatch(kernel('sample'), [negIds], Math.ceil(total / WG), params);
}

// ---------------------------------------------------------------------------------------------
// forward

/** Records the loss: rowLoss [P] (CE per row, 0 where w = 0) and loss [1] (weighted mean, fixed
 *  reduction order: bitwise deterministic). */
export function sampledSoftmaxLoss(
  rec: Recorder,
  inp: SampledSoftmaxInputs,
  shape: SampledSoftmaxShape,
  out: { rowLoss: Tensor<'f32'>; loss: Tensor<'f32'> },
  opts: { variant?: Variant } = {},
): void {
  const v = validate(inp, shape);
  const { P, R, d } = shape;
  expectTensor('rowLoss', out.rowLoss, 'f32', [P]);
  expectTensor('loss', out.loss, 'f32', [1]);
  const hasW = inp.weights ? 1 : 0;
  const w = inp.weights ?? inp.u;
  const defs = { TABLE: v.table ? 1 : 0, SHARED: v.shared ? 1 : 0, DOT: v.DOT };
  const variant = opts.variant ?? 'fused';
  if (inp.rowSamples && variant !== 'fused') throw new Error('sampled_softmax: rowSamples run on the fused variant only. HINT: drop variant or rowSamples.');
  if (v.shared && variant === 'fused') {
    sharedForward(rec, inp, shape, v, out.rowLoss);
  } else if (v.shared || variant === 'fused') {
    const params = new Params().u32(P).u32(R).u32(d).u32(hasW).f32(1 / shape.temperature).f32(v.eps).done();
    rec.dispatch(kernel('fwd', defs), [inp.u, v.posSrc, v.negSrc, inp.negIds, inp.posIds, w, out.rowLoss], Math.ceil(P / WG), params);
  } else {
    const total = P * (R + 1);
    const logits = scratchOf(rec.gpu, 'logits', total);
    const p1 = new Params().u32(total).u32(R).u32(d).f32(1 / shape.temperature).f32(v.eps).done();
    rec.dispatch(kernel('naive_logits', defs), [inp.u, v.posSrc, v.negSrc, inp.negIds, inp.posIds, logits], Math.ceil(total / WG), p1);
    const p2 = new Params().u32(P).u32(R).u32(hasW).done();
    rec.dispatch(kernel('naive_softmax'), [logits, w, out.rowLoss], Math.ceil(P / WG), p2);
  }
  reduce(rec, P, out.rowLoss, inp.weights, out.loss, 0);
}

// The shared-negatives forward as GEMMs; its normalised rows and cosines stay in scratch for a
// backward that asks to reuse them (see sampledSoftmaxBackward's reuseForward).
interface SharedForwardRecord {
  rec: Recorder;
  inp: SampledSoftmaxInputs;
  shape: SampledSoftmaxShape;
}
const lastSharedForward = new WeakMap<Gpu, SharedForwardRecord>();

/** û, ê (with their norms) and cos = Û·Êᵀ into scratch. */
function sharedPrep(rec: Recorder, inp: SampledSoftmaxInputs, shape: SampledSoftmaxShape, v: Resolved, compute: boolean) {
  const { P, R, d } = shape;
  const gpu = rec.gpu;
  const t = {
    uHat: scratchView(gpu, 'u_hat', [P, d]),
    normU: scratchView(gpu, 'norm_u', [P, 2]),
    negHat: scratchView(gpu, 'neg_hat', [R, d]),
    normE: scratchView(gpu, 'norm_e', [R, 2]),
    cos: scratchView(gpu, 'cos', [P, R]),
  };
  if (!compute) return t;
  rec.dispatch(sharedKernel('norm_rows', { USE_IDS: 0, DOT: v.DOT }), [inp.u, inp.posIds, t.uHat, t.normU], Math.ceil(P / WG), new Params().u32(P).u32(d).f32(v.eps).done());
  rec.dispatch(sharedKernel('norm_rows', { USE_IDS: v.table ? 1 : 0, DOT: v.DOT }), [v.negSrc, inp.negIds, t.negHat, t.normE], Math.ceil(R / WG), new Params().u32(R).u32(d).f32(v.eps).done());
  matmul(rec, t.uHat, t.negHat, t.cos, { m: P, n: R, k: d, transB: true });
  return t;
}

function sharedForward(rec: Recorder, inp: SampledSoftmaxInputs, shape: SampledSoftmaxShape, v: Resolved, rowLoss: Tensor<'f32'>): void {
  const { P, R, d } = shape;
  const t = sharedPrep(rec, inp, shape, v, true);
  const hasW = inp.weights ? 1 : 0;
  const S = inp.rowSamples ? shape.samplesPerRow! : 0;
  const params = new Params().u32(P).u32(R).u32(d).u32(hasW).f32(1 / shape.temperature).f32(v.eps).u32(S).done();
  rec.dispatch(
    sharedKernel('fwd', { TABLE: v.table ? 1 : 0, SAMPLED: S ? 1 : 0, DOT: v.DOT }),
    [t.uHat, v.posSrc, inp.posIds, inp.negIds, inp.weights ?? inp.u, t.cos, rowLoss, inp.rowSamples ?? inp.posIds],
    Math.ceil(P / WG),
    params,
  );
  lastSharedForward.set(rec.gpu, { rec, inp: { ...inp }, shape: { ...shape } });
}

function sameForward(a: SharedForwardRecord | undefined, rec: Recorder, inp: SampledSoftmaxInputs, shape: SampledSoftmaxShape): boolean {
  if (!a || a.rec !== rec) return false;
  const keys = ['u', 'posIds', 'negIds', 'items', 'posEmb', 'negEmb', 'weights', 'rowSamples'] as const;
  if (keys.some((k) => a.inp[k] !== inp[k])) return false;
  return a.shape.P === shape.P && a.shape.R === shape.R && a.shape.d === shape.d && a.shape.temperature === shape.temperature && (a.shape.eps ?? DEFAULT_EPS) === (shape.eps ?? DEFAULT_EPS) && a.shape.samplesPerRow === shape.samplesPerRow && (a.shape.similarity ?? 'cosine') === (shape.similarity ?? 'cosine');
}

function sharedBackward(
  rec: Recorder,
  inp: SampledSoftmaxInputs,
  shape: SampledSoftmaxShape,
  v: Resolved,
  rowLoss: Tensor<'f32'>,
  invW: Tensor<'f32'>,
  grads: { dU: Tensor<'f32'>; dPos: Tensor<'f32'>; dNeg: Tensor<'f32'> },
  dLoss: number,
  reuse: boolean,
): void {
  const { P, R, d } = shape;
  const gpu = rec.gpu;
  if (reuse && !sameForward(lastSharedForward.get(gpu), rec, inp, shape)) {
    throw new Error('sampled_softmax: reuseForward needs the shared-negatives forward of the same inputs recorded last into the same recorder. HINT: record sampledSoftmaxLoss right before, or drop reuseForward.');
  }
  // Without reuse, recompute û, ê and cos (the scratch may hold another forward's).
  const t = sharedPrep(rec, inp, shape, v, !reuse);
  lastSharedForward.delete(gpu);
  const g = scratchView(gpu, 'g', [P, R]);
  const gc = scratchView(gpu, 'gc', [P, R]);
  const b = scratchView(gpu, 'bsum', [1, R]);
  const hasW = inp.weights ? 1 : 0;
  const S = inp.rowSamples ? shape.samplesPerRow! : 0;
  const params = new Params().u32(P).u32(R).u32(d).u32(hasW).f32(1 / shape.temperature).f32(v.eps).f32(dLoss).u32(S).done();
  rec.dispatch(
    sharedKernel('bwd_rows', { TABLE: v.table ? 1 : 0, SAMPLED: S ? 1 : 0, DOT: v.DOT }),
    [t.uHat, v.posSrc, inp.posIds, inp.negIds, inp.weights ?? inp.u, rowLoss, invW, t.cos, grads.dU, grads.dPos, g, gc, inp.rowSamples ?? inp.posIds],
    Math.ceil(P / WG),
    params,
  );
  matmul(rec, g, t.negHat, grads.dU, { m: P, n: d, k: R, accumulate: true });
  rec.dispatch(sharedKernel('du_project'), [t.uHat, t.normU, grads.dU], Math.ceil(P / WG), new Params().u32(P).u32(d).done());
  matmul(rec, g, t.uHat, grads.dNeg, { m: R, n: d, k: P, transA: true });
  columnSum(rec, gc, b, { rows: P, cols: R });
  rec.dispatch(sharedKernel('dneg_finish'), [t.negHat, t.normE, b, grads.dNeg], Math.ceil((R * d) / WG), new Params().u32(R).u32(d).done());
}

/** loss [1] = Σ w·rowLoss / Σ w over P rows (0 when Σ w = 0), in the loss's fixed order: for
 *  callers that compute rowLoss in row chunks and want the one-call loss. */
export function weightedMeanLoss(rec: Recorder, rowLoss: Tensor<'f32'>, weights: Tensor<'f32'>, loss: Tensor<'f32'>): void {
  const P = rowLoss.numel;
  expectTensor('weights', weights, 'f32', [P]);
  expectTensor('loss', loss, 'f32', [1]);
  reduce(rec, P, rowLoss, weights, loss, 0);
}

/** out [1] = 1 / Σ w over P rows (0 when Σ w = 0): the scale a backward pass needs, in the
 *  loss's fixed reduction order. */
export function inverseWeightSum(rec: Recorder, weights: Tensor<'f32'>, out: Tensor<'f32'>): void {
  expectTensor('weights', weights, 'f32', [weights.numel]);
  expectTensor('inverse weight sum', out, 'f32', [1]);
  if (weights.buffer === out.buffer) throw new Error('sampled_softmax: expected the inverse weight sum in its own buffer, got the weights\' buffer');
  reduce(rec, weights.numel, weights, weights, out, 1);
}

function reduce(rec: Recorder, P: number, rowLoss: Tensor<'f32'>, weights: Tensor<'f32'> | undefined, out: Tensor<'f32'>, mode: 0 | 1): void {
  const params = new Params().u32(P).u32(weights ? 1 : 0).done();
  rec.dispatch(kernel('reduce', { MODE: mode }), [rowLoss, weights ?? rowLoss, out], 1, params);
}

// ---------------------------------------------------------------------------------------------
// backward

/**
 * Records the gradient of `dLoss · loss` (default dLoss = 1) w.r.t. u and the item rows, for rows
 * [rowStart, rowStart + rowCount) (default all P; chunk to bound dNeg's size):
 * dU [rowCount, d], dPos [rowCount, d], dNeg [rowCount, R, d] (per negative slot; 0 where masked).
 * `rowLoss` must be the forward's output for the same inputs (the log-sum-exp is rebuilt from it).
 * Σ w is always taken over all P rows. The naive variant supports only the full range.
 * `reuseForward` (fused shared-negatives path): skip recomputing the normalised rows and cosines,
 * reusing those of the sampledSoftmaxLoss recorded last into the same recorder for the same
 * tensors (checked; their contents must not change in between).
 */
export function sampledSoftmaxBackward(
  rec: Recorder,
  inp: SampledSoftmaxInputs,
  shape: SampledSoftmaxShape,
  fwd: { rowLoss: Tensor<'f32'> },
  grads: { dU: Tensor<'f32'>; dPos: Tensor<'f32'>; dNeg: Tensor<'f32'> },
  opts: { dLoss?: number; rowStart?: number; rowCount?: number; variant?: Variant; reuseForward?: boolean } = {},
): void {
  const v = validate(inp, shape);
  const { P, R, d } = shape;
  const start = opts.rowStart ?? 0;
  const count = opts.rowCount ?? P - start;
  if (!Number.isInteger(start) || !Number.isInteger(count) || start < 0 || count < 0 || start + count > P) {
    throw new Error(`sampled_softmax: expected 0 ≤ rowStart ≤ rowStart + rowCount ≤ P = ${P}, got rowStart ${start}, rowCount ${count}`);
  }
  expectTensor('rowLoss', fwd.rowLoss, 'f32', [P]);
  expectTensor('dU', grads.dU, 'f32', [count, d]);
  expectTensor('dPos', grads.dPos, 'f32', [count, d]);
  expectTensor('dNeg', grads.dNeg, 'f32', v.shared ? [R, d] : [count, R, d]);
  if (v.shared && (start !== 0 || count !== P)) throw new Error(`sampled_softmax: shared negatives expect the full row range, got rowStart ${start}, rowCount ${count}`);
  const dLoss = opts.dLoss ?? 1;
  if (!Number.isFinite(dLoss)) throw new Error(`sampled_softmax: expected a finite dLoss, got ${dLoss}`);
  const invW = scratchOf(rec.gpu, 'inv_w', 1);
  reduce(rec, P, fwd.rowLoss, inp.weights, invW, 1);
  const hasW = inp.weights ? 1 : 0;
  const w = inp.weights ?? inp.u;
  const defs = { TABLE: v.table ? 1 : 0, SHARED: v.shared ? 1 : 0, DOT: v.DOT };
  const variant = opts.variant ?? 'fused';
  if (inp.rowSamples && variant !== 'fused') throw new Error('sampled_softmax: rowSamples run on the fused variant only. HINT: drop variant or rowSamples.');
  if (v.shared && variant === 'fused') {
    sharedBackward(rec, inp, shape, v, fwd.rowLoss, invW, grads, dLoss, opts.reuseForward === true);
    return;
  }
  if (opts.reuseForward) throw new Error('sampled_softmax: reuseForward applies to the fused shared-negatives path only. HINT: drop it.');
  if (v.shared || variant === 'fused') {
    const params = new Params().u32(start).u32(count).u32(R).u32(d).u32(hasW).f32(1 / shape.temperature).f32(v.eps).f32(dLoss).done();
    const coef = v.shared ? scratchOf(rec.gpu, 'coef', P * R * 2) : grads.dNeg;
    rec.dispatch(
      kernel('bwd', defs),
      [inp.u, v.posSrc, v.negSrc, inp.negIds, inp.posIds, w, fwd.rowLoss, invW, grads.dU, grads.dPos, coef],
      Math.ceil(count / WG),
      params,
    );
    if (v.shared) {
      const p2 = new Params().u32(P).u32(R).u32(d).f32(v.eps).done();
      rec.dispatch(kernel('shared_dneg', defs), [inp.u, v.negSrc, inp.negIds, coef, grads.dNeg], Math.ceil((R * d) / WG), p2);
    }
    return;
  }
  if (start !== 0 || count !== P) throw new Error(`sampled_softmax: the naive backward expects the full row range, got rowStart ${start}, rowCount ${count}`);
  const total = P * (R + 1);
  const logits = scratchOf(rec.gpu, 'logits', total);
  const g = scratchOf(rec.gpu, 'dlogits', total);
  const p1 = new Params().u32(total).u32(R).u32(d).f32(1 / shape.temperature).f32(v.eps).done();
  rec.dispatch(kernel('naive_logits', defs), [inp.u, v.posSrc, v.negSrc, inp.negIds, inp.posIds, logits], Math.ceil(total / WG), p1);
  const p2 = new Params().u32(P).u32(R).u32(hasW).f32(1 / shape.temperature).f32(dLoss).done();
  rec.dispatch(kernel('naive_dlogits'), [logits, w, invW, g], Math.ceil(P / WG), p2);
  const p3 = new Params().u32(total).u32(R).u32(d).f32(v.eps).done();
  rec.dispatch(kernel('naive_ditem', defs), [inp.u, v.posSrc, v.negSrc, inp.negIds, inp.posIds, g, grads.dPos, grads.dNeg], Math.ceil(total / WG), p3);
  const p4 = new Params().u32(P).u32(R).u32(d).f32(v.eps).done();
  rec.dispatch(kernel('naive_du', defs), [inp.u, v.posSrc, v.negSrc, inp.negIds, inp.posIds, g, grads.dU], Math.ceil(P / WG), p4);
}
