// Output poisoning: fill a tensor with NaN (f32) or 0xDEADBEEF (integers) before a kernel runs,
// so an element the kernel forgot to write can never pass as correct.
import type { Gpu } from '../gpu/device.js';
import type { Tensor } from '../gpu/buffers.js';

export const POISON_U32 = 0xdeadbeef;

export function poison(gpu: Gpu, ...tensors: Tensor[]): void {
  for (const t of tensors) {
    const n = t.numel;
    if (n === 0) continue;
    const data = t.dtype === 'f32' ? new Float32Array(n).fill(NaN) : new Uint32Array(n).fill(POISON_U32);
    gpu.write(t, data);
  }
}
