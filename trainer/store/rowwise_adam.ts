// Row-wise Adam on the host, in f32, performing the device kernel's operations in its order
// (kernels/optim/optim.wgsl rowwise_fused): every host-side backend (host, redis) updates rows
// through this one function, so the math lives in one place. For a touched row with summed
// gradient g at step t:
//   v = β2·v + (1−β2)·mean(g²);  m = β1·m + (1−β1)·g;  w −= lr·((m/bc1)/(sqrt(v/bc2)+eps) + wd·w)
// Each f32 operation is one Math.fround, so the result equals the kernel's unless the shader
// compiler contracts a multiply-add into an FMA (the tests compare against the float64
// reference within f32 rounding, and against the kernel).
import { f32ToBf16Bits, bf16BitsToF32 } from '../../kernels/embedding/embedding.js';
import type { RowwiseAdamOptions, RowStorage } from './store.js';

const f = Math.fround;

/** The f32 constants the kernel receives (host float64 → f32 uniforms). */
export function adamConstants(o: RowwiseAdamOptions): { beta1: number; beta2: number; lr: number; eps: number; wd: number; bc1: number; bc2: number } {
  const beta1 = o.beta1 ?? 0.9, beta2 = o.beta2 ?? 0.98, eps = o.eps ?? 1e-8, wd = o.weightDecay ?? 0;
  const bad = (name: string, v: unknown, want: string) => new Error(`rowwiseAdamHost: expected ${name} ${want}, got ${String(v)}`);
  if (!(Number.isFinite(o.lr) && o.lr >= 0)) throw bad('lr', o.lr, '≥ 0');
  if (!(beta1 >= 0 && beta1 < 1)) throw bad('beta1', beta1, 'in [0, 1)');
  if (!(beta2 >= 0 && beta2 < 1)) throw bad('beta2', beta2, 'in [0, 1)');
  if (!(eps > 0)) throw bad('eps', eps, '> 0');
  if (!(Number.isFinite(wd) && wd >= 0)) throw bad('weightDecay', wd, '≥ 0');
  if (!(Number.isInteger(o.step) && o.step >= 1)) throw bad('step', o.step, 'an integer ≥ 1');
  return { beta1: f(beta1), beta2: f(beta2), lr: f(o.lr), eps: f(eps), wd: f(wd), bc1: f(1 - beta1 ** o.step), bc2: f(1 - beta2 ** o.step) };
}

/** Σg² of grads[g0 .. g0 + dim) in the kernels' order (optim.wgsl row_sumsq): vec4 groups q
 *  (zero past dim), s_q = ((x² + y²) + z²) + w², eight partials over q ≡ l (mod 8) ascending,
 *  combined as ((p0 + p4) + (p2 + p6)) + ((p1 + p5) + (p3 + p7)); every operation in f32. */
export function rowSumSq(grads: ArrayLike<number>, g0: number, dim: number): number {
  const p = [0, 0, 0, 0, 0, 0, 0, 0];
  const sq = (i: number) => (i < dim ? f(grads[g0 + i]! * grads[g0 + i]!) : 0);
  for (let q = 0; 4 * q < dim; q++) {
    const i = 4 * q;
    const s = f(f(f(sq(i) + sq(i + 1)) + sq(i + 2)) + sq(i + 3));
    p[q % 8] = f(p[q % 8]! + s);
  }
  return f(f(f(p[0]! + p[4]!) + f(p[2]! + p[6]!)) + f(f(p[1]! + p[5]!) + f(p[3]! + p[7]!)));
}

/**
 * Updates rows in place: row u of `grads` ([n, dim]) is applied to the row stored at offset
 * `rowAt(u)` of w/m (element offset = rowAt(u)·dim) and v (offset rowAt(u)). With storage 'bf16'
 * the new m and w are rounded to bf16 (nearest even) as stored; the update uses the unrounded m.
 */
export function rowwiseAdamHost(
  w: Float32Array, m: Float32Array, v: Float32Array, dim: number, n: number,
  rowAt: (u: number) => number, grads: Float32Array, o: RowwiseAdamOptions, storage: RowStorage = 'f32',
): void {
  if (grads.length < n * dim) throw new Error(`rowwiseAdamHost: expected grads of ${n}×${dim} values, got ${grads.length}`);
  const k = adamConstants(o);
  const oneMinusB1 = f(1 - k.beta1), oneMinusB2 = f(1 - k.beta2), fdim = f(dim);
  const store = storage === 'bf16' ? (x: number) => bf16BitsToF32(f32ToBf16Bits(x)) : (x: number) => x;
  for (let u = 0; u < n; u++) {
    const r = rowAt(u);
    const g0 = u * dim, w0 = r * dim;
    const sumsq = rowSumSq(grads, g0, dim);
    const vr = f(f(k.beta2 * v[r]!) + f(oneMinusB2 * f(sumsq / fdim)));
    v[r] = vr;
    const denom = f(f(Math.sqrt(f(vr / k.bc2))) + k.eps);
    for (let c = 0; c < dim; c++) {
      const wc = w[w0 + c]!, g = grads[g0 + c]!;
      const mNew = f(f(k.beta1 * m[w0 + c]!) + f(oneMinusB1 * g));
      const wNew = f(wc - f(k.lr * f(f(f(mNew / k.bc1) / denom) + f(k.wd * wc))));
      m[w0 + c] = store(mNew);
      w[w0 + c] = store(wNew);
    }
  }
}
