// Host for sum_squares.wgsl: out[slot] = Σ x², one workgroup per tensor (a divergence probe).
import { readFileSync } from 'node:fs';
import { Params, type Binding, type KernelSource, type Recorder, type Tensor } from '../gpu/index.js';

const WG = 256;
const KERNEL: KernelSource = { name: 'sum_squares', wgsl: readFileSync(new URL('./sum_squares.wgsl', import.meta.url), 'utf8'), defines: { WG } };

/**
 * Records out[slot] = Σ_{i < n} x[i]² (NaN if any x[i] is NaN, +Inf if any is ±Inf). `x` is a
 * tensor (n defaults to its size) or a raw f32 buffer with an explicit n (embedding shards).
 */
export function sumSquares(rec: Recorder, x: Tensor<'f32'> | GPUBuffer, out: Tensor<'f32'>, slot: number, n?: number): void {
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
  rec.dispatch(KERNEL, [x as Binding, out], 1, new Params().u32(count).u32(slot).done());
}
