// Host for ReLU forward and backward over flat f32 tensors (math: relu.wgsl).
import { readFileSync } from 'node:fs';
import { Params, type KernelSource, type Recorder, type Tensor } from '../gpu/index.js';

const WGSL = readFileSync(new URL('./relu.wgsl', import.meta.url), 'utf8');
const WG = 256;

function kernel(op: 0 | 1): KernelSource {
  return { name: op === 0 ? 'relu' : 'relu_bwd', wgsl: WGSL, defines: { WG, OP: op } };
}

function validate(name: string, ...ts: [string, Tensor][]): number {
  const n = ts[0]![1].numel;
  for (const [role, t] of ts) {
    if (t.dtype !== 'f32') throw new Error(`${name}: expected ${role} as f32, got ${t.dtype} (${t.label})`);
    if (t.numel !== n) throw new Error(`${name}: expected ${n} elements in ${role}, got ${t.numel} (${t.label})`);
  }
  return n;
}

/** y = max(x, 0). */
export function relu(rec: Recorder, x: Tensor<'f32'>, y: Tensor<'f32'>): void {
  const n = validate('relu', ['x', x], ['y', y]);
  rec.dispatch(kernel(0), [x, x, y], Math.ceil(n / WG), new Params().u32(n).done());
}

/** dx = dy where x > 0, else 0. */
export function reluBackward(rec: Recorder, x: Tensor<'f32'>, dy: Tensor<'f32'>, dx: Tensor<'f32'>): void {
  const n = validate('reluBackward', ['x', x], ['dy', dy], ['dx', dx]);
  if (dx.buffer === x.buffer) throw new Error('reluBackward: expected dx not to alias x, got the same tensor');
  rec.dispatch(kernel(1), [x, dy, dx], Math.ceil(n / WG), new Params().u32(n).done());
}
