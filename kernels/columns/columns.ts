// Host for column-block copies: split a [rows, cols] matrix into column blocks and back.
import { readFileSync } from 'node:fs';
import { Params, type KernelSource, type Recorder, type Tensor } from '../gpu/index.js';

const WG = 256;
const KERNEL: KernelSource = { name: 'copy_columns', wgsl: readFileSync(new URL('./columns.wgsl', import.meta.url), 'utf8'), defines: { WG } };

export interface ColumnBlock {
  t: Tensor<'f32'>;
  /** Total columns of the (row-major) matrix held by t. */
  cols: number;
  /** First column of the block. */
  col: number;
}

/** dst[:, dst.col : dst.col+width] = src[:, src.col : src.col+width] over `rows` rows. */
export function copyColumns(rec: Recorder, src: ColumnBlock, dst: ColumnBlock, rows: number, width: number): void {
  for (const [what, b] of [['src', src], ['dst', dst]] as const) {
    if (b.col + width > b.cols) throw new Error(`copy_columns: ${what} block [${b.col}, ${b.col + width}) exceeds its ${b.cols} columns`);
    if (b.t.numel < rows * b.cols) throw new Error(`copy_columns: expected ${what} ${b.t.label} to hold ${rows}×${b.cols} values, got ${b.t.numel}`);
  }
  const params = new Params().u32(rows).u32(width).u32(src.cols).u32(src.col).u32(dst.cols).u32(dst.col).done();
  rec.dispatch(KERNEL, [src.t, dst.t], Math.ceil((rows * width) / WG), params);
}

/** Splits src [rows, Σwidths] into the given tensors [rows, width_i], left to right. */
export function splitColumns(rec: Recorder, src: Tensor<'f32'>, rows: number, parts: { t: Tensor<'f32'>; width: number }[]): void {
  const cols = parts.reduce((s, p) => s + p.width, 0);
  let col = 0;
  for (const p of parts) {
    copyColumns(rec, { t: src, cols, col }, { t: p.t, cols: p.width, col: 0 }, rows, p.width);
    col += p.width;
  }
}

/** Concatenates [rows, width_i] tensors into dst [rows, Σwidths], left to right. */
export function concatColumns(rec: Recorder, parts: { t: Tensor<'f32'>; width: number }[], dst: Tensor<'f32'>, rows: number): void {
  const cols = parts.reduce((s, p) => s + p.width, 0);
  let col = 0;
  for (const p of parts) {
    copyColumns(rec, { t: p.t, cols: p.width, col: 0 }, { t: dst, cols, col }, rows, p.width);
    col += p.width;
  }
}
