import type { BenchSpec } from '../testing/bench.js';
import { expectClose } from '../testing/compare.js';
import { Rng } from '../testing/rng.js';
import { splitColumns } from './columns.js';
import { columnBlockRef } from './columns.ref.js';

export const bench: BenchSpec = {
  name: 'columns',
  description: 'split [L, 4·H·d] into U, V, Q, K column blocks (memory-bound)',
  async run(ctx) {
    const { gpu } = ctx;
    const rows = ctx.quick ? 512 : 25600;
    const widths = [64, 64, 64, 64];
    const cols = 256;
    const data = new Rng(1).f32(rows * cols);
    const src = gpu.f32(data, [rows, cols]);
    const parts = widths.map((w, i) => ({ t: gpu.empty([rows, w], 'f32', `part${i}`), width: w }));
    const check = gpu.recorder();
    splitColumns(check, src, rows, parts);
    await check.submit();
    expectClose('columns', await gpu.read(parts[2]!.t), columnBlockRef(data, rows, cols, 128, 64), { atol: 0, rtol: 0 });
    const ms = await ctx.time((rec) => splitColumns(rec, src, rows, parts));
    const row = await ctx.row({ kernel: 'copy_columns', variant: 'split4', shape: `${rows}x${cols}`, ms, flops: 0, bytes: 2 * 4 * rows * cols, bound: 'memory' });
    [src, ...parts.map((p) => p.t)].forEach((t) => t.release());
    return [row];
  },
};
