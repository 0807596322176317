// Host for the fused SiLU + column split (HSTU's U,V,Q,K = split(SiLU(h))) and its backward.
import { readFileSync } from 'node:fs';
import { Params, type KernelSource, type Recorder, type Tensor } from '../gpu/index.js';

const WG = 64;
const FWD: KernelSource = { name: 'silu_split', wgsl: readFileSync(new URL('./silu_split.wgsl', import.meta.url), 'utf8'), defines: { WG } };
const BWD: KernelSource = { name: 'silu_concat_bwd', wgsl: readFileSync(new URL('./silu_concat_bwd.wgsl', import.meta.url), 'utf8'), defines: { WG } };

export interface Block {
  t: Tensor<'f32'>;
  width: number;
}

function check(op: string, wide: Tensor<'f32'>, rows: number, blocks: Block[]): number[] {
  if (blocks.length !== 4) throw new Error(`${op}: expected 4 column blocks, got ${blocks.length}. HINT: HSTU splits into U, V, Q, K.`);
  if (!Number.isInteger(rows) || rows < 0) throw new Error(`${op}: rows must be a non-negative integer, got ${rows}`);
  const widths = blocks.map((b) => b.width);
  const cols = widths.reduce((a, w) => a + w, 0);
  if (wide.numel < rows * cols) throw new Error(`${op}: expected ${wide.label} to hold ${rows}×${cols} values, got ${wide.numel}`);
  for (const b of blocks) {
    if (!Number.isInteger(b.width) || b.width < 0) throw new Error(`${op}: block width must be a non-negative integer, got ${b.width}`);
    if (b.t.numel < rows * b.width) throw new Error(`${op}: expected ${b.t.label} to hold ${rows}×${b.width} values, got ${b.t.numel}`);
  }
  return widths;
}

/** [a | b | c | e] = SiLU(h): h [rows, Σwidths] → four [rows, width_i] tensors, left to right. */
export function siluSplit(rec: Recorder, h: Tensor<'f32'>, rows: number, blocks: Block[]): void {
  const w = check('silu_split', h, rows, blocks);
  const params = new Params().u32(rows).u32(w[0]!).u32(w[1]!).u32(w[2]!).u32(w[3]!).done();
  rec.dispatch(FWD, [h, ...blocks.map((b) => b.t)], Math.ceil((4 * rows) / WG), params);
}

/** dh = [da | db | dc | de] · SiLU'(h): the gradient of siluSplit w.r.t. h. */
export function siluConcatBackward(rec: Recorder, h: Tensor<'f32'>, grads: Block[], dh: Tensor<'f32'>, rows: number): void {
  const w = check('silu_concat_bwd', h, rows, grads);
  const cols = w.reduce((a, x) => a + x, 0);
  if (dh.numel < rows * cols) throw new Error(`silu_concat_bwd: expected ${dh.label} to hold ${rows}×${cols} values, got ${dh.numel}`);
  const params = new Params().u32(rows).u32(w[0]!).u32(w[1]!).u32(w[2]!).u32(w[3]!).done();
  rec.dispatch(BWD, [h, ...grads.map((b) => b.t), dh], Math.ceil((4 * rows) / WG), params);
}
