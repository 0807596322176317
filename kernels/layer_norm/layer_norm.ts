// Host for layer norm (forward, backward with optional affine) and the fused HSTU gate
// z = Dropout(U ⊙ LayerNorm(O)) (forward and backward, one dispatch each). See layer_norm.wgsl
// and layer_norm_bwd.wgsl for the math and decomposition.
import { readFileSync } from 'node:fs';
import { Params, type KernelSource, type Recorder, type Tensor } from '../gpu/index.js';
import { checkMatrix, checkShape, columnChunk, columnSumStages, rowPlan, scratch, type RowLayout, type RowPlan } from '../reduce/reduce.js';

const FWD = readFileSync(new URL('./layer_norm.wgsl', import.meta.url), 'utf8');
const BWD = readFileSync(new URL('./layer_norm_bwd.wgsl', import.meta.url), 'utf8');
const PARAM_WG = 64;
const DEFAULT_EPS = 1e-6;

export interface LayerNormOptions {
  rows: number;
  cols: number;
  /** Overrides the automatic row layout (kernels/reduce rowPlan); for tests and benchmarks. */
  layout?: RowLayout;
  /** Added to the variance (default 1e-6). */
  eps?: number;
  /** Affine scale [cols]; given together with beta. */
  gamma?: Tensor;
  /** Affine shift [cols]. */
  beta?: Tensor;
  /** Where to store per-row mean and rstd = 1/sqrt(var + eps) ([rows] each) for the backward. */
  saveStats?: { mean: Tensor; rstd: Tensor };
}

export interface LayerNormBackwardOptions {
  rows: number;
  cols: number;
  layout?: RowLayout;
  /** Accepted for symmetry with the forward; unused (rstd already includes eps). */
  eps?: number;
  gamma?: Tensor;
  /** Saved by the forward ([rows] each). */
  mean: Tensor;
  rstd: Tensor;
  /** Outputs [cols], required when (and only when) gamma is given: Σ_r dy·n and Σ_r dy. */
  dgamma?: Tensor;
  dbeta?: Tensor;
}

export interface GateOptions {
  rows: number;
  cols: number;
  layout?: RowLayout;
  eps?: number;
  /** Dropout probability, 0 ≤ p < 1 (default 0). */
  dropoutP?: number;
  /** Dropout seed (u32, default 0): the same mask as kernels/elementwise dropout on the flat tensor. */
  seed?: number;
}

function checkEps(op: string, eps: number): void {
  if (!(eps >= 0) || !Number.isFinite(eps)) throw new Error(`${op}: expected eps ≥ 0 (finite), got ${eps}`);
}
function checkDropout(op: string, p: number, seed: number): void {
  if (!(p >= 0 && p < 1)) throw new Error(`${op}: expected 0 ≤ dropoutP < 1, got ${p}`);
  if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) throw new Error(`${op}: expected a u32 seed, got ${seed}`);
}
/** Output buffers must not alias each other or any input (WebGPU rejects a writable binding
 *  that overlaps another binding of the same dispatch; we say it first, in words). */
function checkOutputs(op: string, ins: Tensor[], outs: Tensor[]): void {
  const all = [...ins, ...outs];
  outs.forEach((o, k) =>
    all.forEach((t, j) => {
      if (j !== ins.length + k && t.buffer === o.buffer) throw new Error(`${op}: expected output ${o.label} not to share a buffer with ${t.label}`);
    }),
  );
}
function checkAffine(op: string, gamma: Tensor | undefined, beta: Tensor | undefined, cols: number, needBeta: boolean): void {
  if (needBeta && !gamma !== !beta) throw new Error(`${op}: expected gamma and beta together, got only ${gamma ? 'gamma' : 'beta'}`);
  if (gamma) checkMatrix(op, gamma, 1, cols);
  if (beta) checkMatrix(op, beta, 1, cols);
}

function fwdKernel(plan: RowPlan, gate: boolean, affine: boolean, save: boolean): KernelSource {
  const defines = { WG: plan.wg, LANE_ROWS: plan.layout === 'lane', GATE: gate, AFFINE: affine, SAVE: save };
  return { name: gate ? 'hstu_gate' : 'layer_norm', wgsl: FWD, defines };
}
function bwdKernel(plan: RowPlan, op: 0 | 1 | 2, affine: boolean): KernelSource {
  const name = ['layer_norm_bwd', 'hstu_gate_bwd', 'layer_norm_bwd_params'][op]!;
  return { name, wgsl: BWD, defines: { WG: plan.wg, LANE_ROWS: plan.layout === 'lane', OP: op, AFFINE: affine } };
}
function fwdParams(rows: number, cols: number, eps: number, p: number, seed: number): ArrayBuffer {
  return new Params().u32(rows).u32(cols).f32(eps).f32(p).u32(seed).u32(0).u32(0).u32(0).done();
}
function bwdParams(rows: number, cols: number, p: number, seed: number, chunk: number): ArrayBuffer {
  return new Params().u32(rows).u32(cols).f32(p).u32(seed).u32(chunk).u32(0).u32(0).u32(0).done();
}

/** y = (x − mean)/sqrt(var + eps) per row (population variance), then ·gamma + beta if given. */
export function layerNorm(rec: Recorder, x: Tensor, y: Tensor, o: LayerNormOptions): void {
  const op = 'layerNorm';
  checkShape(op, o);
  const { rows, cols } = o;
  const eps = o.eps ?? DEFAULT_EPS;
  checkEps(op, eps);
  checkMatrix(op, x, rows, cols);
  checkMatrix(op, y, rows, cols);
  checkAffine(op, o.gamma, o.beta, cols, true);
  const save = o.saveStats;
  if (save) {
    checkMatrix(op, save.mean, rows, 1);
    checkMatrix(op, save.rstd, rows, 1);
  }
  const ins = [x, ...(o.gamma ? [o.gamma, o.beta!] : [])];
  const outs = [y, ...(save ? [save.mean, save.rstd] : [])];
  checkOutputs(op, ins, outs);
  const sinkM = save?.mean ?? scratch(rec.gpu, 'layer_norm:sink_mean', 1);
  const sinkR = save?.rstd ?? scratch(rec.gpu, 'layer_norm:sink_rstd', 1);
  const plan = rowPlan(rec.gpu, rows, cols, o.layout);
  rec.dispatch(fwdKernel(plan, false, !!o.gamma, !!save), [x, o.gamma ?? x, o.beta ?? x, y, sinkM, sinkR], plan.groups, fwdParams(rows, cols, eps, 0, 0));
}

/** dx of layerNorm (from the saved mean/rstd), and dgamma = Σ_r dy·n, dbeta = Σ_r dy when affine. */
export function layerNormBackward(rec: Recorder, x: Tensor, dy: Tensor, dx: Tensor, o: LayerNormBackwardOptions): void {
  const op = 'layerNormBackward';
  checkShape(op, o);
  const { rows, cols } = o;
  if (o.eps !== undefined) checkEps(op, o.eps);
  checkMatrix(op, x, rows, cols);
  checkMatrix(op, dy, rows, cols);
  checkMatrix(op, dx, rows, cols);
  checkMatrix(op, o.mean, rows, 1);
  checkMatrix(op, o.rstd, rows, 1);
  checkAffine(op, o.gamma, undefined, cols, false);
  if (!!o.gamma !== !!o.dgamma || !!o.gamma !== !!o.dbeta)
    throw new Error(`${op}: expected dgamma and dbeta exactly when gamma is given, got gamma ${!!o.gamma}, dgamma ${!!o.dgamma}, dbeta ${!!o.dbeta}`);
  if (o.dgamma) checkMatrix(op, o.dgamma, 1, cols);
  if (o.dbeta) checkMatrix(op, o.dbeta, 1, cols);
  const ins = [x, dy, o.mean, o.rstd, ...(o.gamma ? [o.gamma] : [])];
  const outs = [dx, ...(o.dgamma ? [o.dgamma, o.dbeta!] : [])];
  checkOutputs(op, ins, outs);
  const sink = scratch(rec.gpu, 'layer_norm:sink_da', 1);
  const plan = rowPlan(rec.gpu, rows, cols, o.layout);
  rec.dispatch(bwdKernel(plan, 0, !!o.gamma), [x, dy, o.gamma ?? x, o.mean, o.rstd, dx, sink], plan.groups, bwdParams(rows, cols, 0, 0, 0));
  if (o.dgamma && o.dbeta) {
    const chunk = columnChunk(rows);
    const chunks = rows === 0 ? 1 : Math.ceil(rows / chunk);
    const pg = scratch(rec.gpu, 'layer_norm:dgamma_partials', chunks * cols);
    const pb = scratch(rec.gpu, 'layer_norm:dbeta_partials', chunks * cols);
    rec.dispatch(bwdKernel({ layout: 'workgroup', wg: PARAM_WG, groups: 0 }, 2, true), [x, dy, x, o.mean, o.rstd, pg, pb], [Math.ceil(cols / PARAM_WG), chunks, 1], bwdParams(rows, cols, 0, 0, chunk));
    columnSumStages(rec, pg, o.dgamma, chunks, cols);
    columnSumStages(rec, pb, o.dbeta, chunks, cols);
  }
}

/** HSTU gate forward in one dispatch: z = Dropout(U ⊙ LayerNorm(O)) (no affine), saving the
 *  per-row mean and rstd of O. */
export function gateForward(rec: Recorder, o: Tensor, u: Tensor, z: Tensor, opts: GateOptions & { saveStats: { mean: Tensor; rstd: Tensor } }): void {
  const op = 'gateForward';
  checkShape(op, opts);
  const { rows, cols } = opts;
  const eps = opts.eps ?? DEFAULT_EPS;
  const p = opts.dropoutP ?? 0, seed = opts.seed ?? 0;
  checkEps(op, eps);
  checkDropout(op, p, seed);
  if (!opts.saveStats) throw new Error(`${op}: expected saveStats {mean, rstd}, got none`);
  const { mean, rstd } = opts.saveStats;
  for (const t of [o, u, z]) checkMatrix(op, t, rows, cols);
  checkMatrix(op, mean, rows, 1);
  checkMatrix(op, rstd, rows, 1);
  checkOutputs(op, [o, u], [z, mean, rstd]);
  const plan = rowPlan(rec.gpu, rows, cols, opts.layout);
  rec.dispatch(fwdKernel(plan, true, false, true), [o, u, o, z, mean, rstd], plan.groups, fwdParams(rows, cols, eps, p, seed));
}

/** HSTU gate backward in one dispatch: dO and dU from dz, with the forward's mask (same p, seed)
 *  and saved mean/rstd. */
export function gateBackward(rec: Recorder, o: Tensor, u: Tensor, dz: Tensor, dO: Tensor, dU: Tensor, opts: GateOptions & { mean: Tensor; rstd: Tensor }): void {
  const op = 'gateBackward';
  checkShape(op, opts);
  const { rows, cols } = opts;
  const p = opts.dropoutP ?? 0, seed = opts.seed ?? 0;
  if (opts.eps !== undefined) checkEps(op, opts.eps);
  checkDropout(op, p, seed);
  for (const t of [o, u, dz, dO, dU]) checkMatrix(op, t, rows, cols);
  checkMatrix(op, opts.mean, rows, 1);
  checkMatrix(op, opts.rstd, rows, 1);
  checkOutputs(op, [o, u, dz, opts.mean, opts.rstd], [dO, dU]);
  const plan = rowPlan(rec.gpu, rows, cols, opts.layout);
  rec.dispatch(bwdKernel(plan, 1, false), [o, dz, u, opts.mean, opts.rstd, dO, dU], plan.groups, bwdParams(rows, cols, p, seed, 0));
}
