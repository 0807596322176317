// Host for elementwise ops: SiLU forward/backward, axpby (add, scale) and dropout.
import { readFileSync } from 'node:fs';
import { Params, type KernelSource, type Recorder, type Tensor } from '../gpu/index.js';

const WGSL = readFileSync(new URL('./elementwise.wgsl', import.meta.url), 'utf8');
const WG = 256;
const OPS = { silu: 0, silu_bwd: 1, axpby: 2, dropout: 3, fill: 4 } as const;
type Op = keyof typeof OPS;

function kernel(op: Op): KernelSource {
  return { name: `elementwise_${op}`, wgsl: WGSL, defines: { WG, OP: OPS[op] } };
}

function validate(op: string, ...ts: Tensor<'f32'>[]): number {
  const n = ts[0]!.numel;
  for (const t of ts) {
    if (t.dtype !== 'f32') throw new Error(`${op}: expected f32 tensors, got ${t.label} as ${t.dtype}`);
    if (t.numel !== n) throw new Error(`${op}: expected ${n} elements in ${t.label}, got ${t.numel}`);
  }
  return n;
}

function record(rec: Recorder, op: Op, a: Tensor<'f32'>, b: Tensor<'f32'>, y: Tensor<'f32'>, p: { seed?: number; alpha?: number; beta?: number; p?: number }): void {
  const n = validate(op, a, b, y);
  const params = new Params().u32(n).u32((p.seed ?? 0) >>> 0).f32(p.alpha ?? 1).f32(p.beta ?? 0).f32(p.p ?? 0).done();
  rec.dispatch(kernel(op), [a, b, y], Math.ceil(n / WG), params);
}

/** y = SiLU(x). */
export function silu(rec: Recorder, x: Tensor<'f32'>, y: Tensor<'f32'>): void {
  record(rec, 'silu', x, x, y, {});
}
/** dx = dy · SiLU'(x). */
export function siluBackward(rec: Recorder, x: Tensor<'f32'>, dy: Tensor<'f32'>, dx: Tensor<'f32'>): void {
  record(rec, 'silu_bwd', x, dy, dx, {});
}
/** y = alpha·a + beta·b. */
export function axpby(rec: Recorder, alpha: number, a: Tensor<'f32'>, beta: number, b: Tensor<'f32'>, y: Tensor<'f32'>): void {
  record(rec, 'axpby', a, b, y, { alpha, beta });
}
/** y = a + b. */
export function add(rec: Recorder, a: Tensor<'f32'>, b: Tensor<'f32'>, y: Tensor<'f32'>): void {
  axpby(rec, 1, a, 1, b, y);
}
/** y = s·x. */
export function scale(rec: Recorder, x: Tensor<'f32'>, s: number, y: Tensor<'f32'>): void {
  axpby(rec, s, x, 0, x, y);
}
/** Inverted dropout with a counter-based mask: element i is kept iff keep(seed, i). The backward
 *  pass is the same call on dy with the same seed. p = 0 copies. */
export function dropout(rec: Recorder, x: Tensor<'f32'>, y: Tensor<'f32'>, p: number, seed: number): void {
  if (!(p >= 0 && p < 1)) throw new Error(`dropout: expected 0 ≤ p < 1, got ${p}`);
  record(rec, 'dropout', x, x, y, { p, seed });
}

/** A 1-element input for ops that read nothing (a writable binding may not alias an input). */
const dummies = new WeakMap<object, Tensor<'f32'>>();

/** y = value everywhere. */
export function fill(rec: Recorder, y: Tensor<'f32'>, value: number): void {
  let dummy = dummies.get(rec.gpu);
  if (!dummy) dummies.set(rec.gpu, (dummy = rec.gpu.f32([0], [1], 'elementwise:dummy')));
  validate('fill', y);
  const params = new Params().u32(y.numel).u32(0).f32(value).f32(0).f32(0).done();
  rec.dispatch(kernel('fill'), [dummy, dummy, y], Math.ceil(y.numel / WG), params);
}
