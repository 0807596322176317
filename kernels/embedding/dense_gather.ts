// Host for gathering rows of a dense [rows, dim] tensor (see dense_gather.wgsl).
import { readFileSync } from 'node:fs';
import { Params, type KernelSource, type Recorder, type Tensor } from '../gpu/index.js';

const WG = 256;
const KERNEL: KernelSource = { name: 'dense_gather', wgsl: readFileSync(new URL('./dense_gather.wgsl', import.meta.url), 'utf8'), defines: { WG } };

/** out[i] = table[ids[i]] for i < count; table is [rows, dim]. Pass hostIds to validate them. */
export function gatherDense(rec: Recorder, table: Tensor<'f32'>, ids: Tensor<'u32'>, out: Tensor<'f32'>, count: number, dim: number, hostIds?: ArrayLike<number>): void {
  const rows = table.numel / dim;
  if (!Number.isInteger(rows)) throw new Error(`gatherDense: expected table of [rows, ${dim}], got ${table.numel} values`);
  if (ids.numel < count) throw new Error(`gatherDense: expected ≥ ${count} ids, got ${ids.numel}`);
  if (out.numel < count * dim) throw new Error(`gatherDense: expected out of ≥ ${count}×${dim}, got ${out.numel}`);
  if (hostIds) {
    for (let i = 0; i < count; i++) if (hostIds[i]! >= rows) throw new Error(`gatherDense: expected ids < ${rows}, got ${hostIds[i]} at position ${i}`);
  }
  if (count === 0) return;
  rec.dispatch(KERNEL, [table, ids, out], Math.ceil((count * dim) / WG), new Params().u32(count).u32(dim).u32(rows).done());
}
