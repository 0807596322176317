// Host for sum_squares.wgsl: out[slot] = Σ x² (or Σ x), one workgroup per tensor (a divergence probe).
import { readFileSync } from 'node:fs';
import { Params, type Binding, type Gpu, type KernelSource, type Recorder, type Tensor } from '../gpu/index.js';

const WG = 256;
/** Elements per workgroup above which a sum is split over several workgroups, and their cap. */
const PER_WG = 1 << 16;
const MAX_WG = 256;
// Partials of a split sum, one small buffer per device: each split is two dispatches in a row of
// one recorder (WebGPU orders them), so later sums may reuse it.
const partialsOf = new WeakMap<Gpu, Tensor<'f32'>>();
const KERNEL: KernelSource = { name: 'sum_squares', wgsl: readFileSync(new URL('./sum_squares.wgsl', import.meta.url), 'utf8'), defines: { WG, ELEM: 'f32', TERM: 'v * v' } };
/** Whole vec4s per access where n % 4 == 0 (different summation order, same NaN/Inf behaviour). */
const KERNEL4: KernelSource = { ...KERNEL, name: 'sum_squares_vec4', defines: { WG, ELEM: 'vec4f', TERM: 'dot(v, v)' } };
const SUM: KernelSource = { ...KERNEL, name: 'sum_squares_partials', defines: { WG, ELEM: 'f32', TERM: 'v' } };

/**
 * Records out[slot] = Σ_{i < n} x[i]² (NaN if any x[i] is NaN, +Inf if any is ±Inf). `x` is a
 * tensor (n defaults to its size) or a raw f32 buffer with an explicit n (embedding shards).
 */
export function sumSquares(rec: Recorder, x: Tensor<'f32'> | GPUBuffer, out: Tensor<'f32'>, slot: number, n?: number): void {
  reduceInto(rec, x, out, slot, n, true);
}

/**
 * Records out[slot] = Σ_{i < n} x[i] (plain sum; the same decomposition, determinism and NaN/Inf
 * propagation). The divergence guard sums per-row squared norms a kernel already wrote with it.
 */
export function sumValues(rec: Recorder, x: Tensor<'f32'>, out: Tensor<'f32'>, slot: number, n?: number): void {
  reduceInto(rec, x, out, slot, n, false);
}

function reduceInto(rec: Recorder, x: Tensor<'f32'> | GPUBuffer, out: Tensor<'f32'>, slot: number, n: number | undefined, square: boolean): void {
  const isTensor = 'numel' in x;
  const count = n ?? (isTensor ? x.numel : NaN);
  if (!Number.isInteger(count) || count < 0) throw new Error(`sumSquares: expected an element count ≥ 0, got ${n}. HINT: pass n for a raw buffer.`);
  const capacity = isTensor ? x.numel : Math.floor(x.size / 4);
  if (count > capacity) throw new Error(`sumSquares: expected at most ${capacity} elements in x, got n = ${count}`);
  if (isTensor && x.dtype !== 'f32') throw new Error(`sumSquares: expected an f32 tensor, got ${x.dtype}`);
  if (out.dtype !== 'f32' || !(slot >= 0 && slot < out.numel && Number.isInteger(slot))) throw new Error(`sumSquares: expected slot in [0, ${out.numel}) of an f32 output, got ${slot}`);
  if (count === 0) {
    // Nothing to read: the sum is 0 (a zero-sized binding is not allowed).
    rec.gpu.write(out, Float32Array.of(0), slot * 4);
    return;
  }
  const groups = Math.min(MAX_WG, Math.ceil(count / PER_WG));
  const vec4 = square && count % 4 === 0 && (isTensor ? x.buffer : x).size % 16 === 0;
  const [kern, elems] = vec4 ? [KERNEL4, count / 4] : [square ? KERNEL : SUM, count];
  if (groups <= 1) {
    rec.dispatch(kern, [x as Binding, out], 1, new Params().u32(elems).u32(slot).u32(elems).done());
    return;
  }
  let partials = partialsOf.get(rec.gpu);
  if (!partials) partialsOf.set(rec.gpu, (partials = rec.gpu.empty([MAX_WG], 'f32', 'sum_squares:partials')));
  const span = Math.ceil(elems / groups);
  rec.dispatch(kern, [x as Binding, partials], Math.ceil(elems / span), new Params().u32(elems).u32(0).u32(span).done());
  const g = Math.ceil(elems / span);
  rec.dispatch(SUM, [partials, out], 1, new Params().u32(g).u32(slot).u32(g).done());
}
