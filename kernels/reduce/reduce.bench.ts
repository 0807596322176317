import { Params, type Recorder } from '../gpu/index.js';
import type { BenchRow, BenchSpec } from '../testing/bench.js';
import { expectClose } from '../testing/compare.js';
import { Rng } from '../testing/rng.js';
import { columnSum, rowMeanVar, rowPlan, rowSum } from './reduce.js';
import { columnSumRef, rowMeanVarRef } from './reduce.ref.js';

// Naive column sum: one lane per column walks every row (one stage, little parallelism).
const NAIVE_COLUMN_SUM = {
  name: 'reduce_column_sum_naive',
  wgsl: `
struct Params { rows: u32, cols: u32, _a: u32, _b: u32 }
@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3u) {
  let c = gid.x;
  if (c >= params.cols) { return; }
  var s = 0.0;
  for (var r = 0u; r < params.rows; r++) { s += x[r * params.cols + c]; }
  out[c] = s;
}`,
};

export const bench: BenchSpec = {
  name: 'reduce',
  description: 'row sum, row mean+variance (lane vs workgroup layout), column sum (2-stage vs naive) at rows=25600',
  async run(ctx) {
    const { gpu } = ctx;
    const rows = ctx.quick ? 512 : 25600;
    const out: BenchRow[] = [];
    for (const cols of [50, 64, 256]) {
      const xs = new Rng(cols).f32(rows * cols, -1, 3);
      const x = gpu.f32(xs, [rows, cols], 'x');
      const s = gpu.empty([rows], 'f32', 'sum'), m = gpu.empty([rows], 'f32', 'mean'), v = gpu.empty([rows], 'f32', 'var');
      const cs = gpu.empty([cols], 'f32', 'colsum'), cn = gpu.empty([cols], 'f32', 'colsum_naive');
      const naiveCol = (rec: Recorder) => rec.dispatch(NAIVE_COLUMN_SUM, [x, cn], Math.ceil(cols / 64), new Params().u32(rows).u32(cols).u32(0).u32(0).done());
      // Correctness of what is timed, on this shape.
      const check = gpu.recorder();
      rowMeanVar(check, x, m, v, { rows, cols });
      columnSum(check, x, cs, { rows, cols });
      naiveCol(check);
      await check.submit();
      const ref = rowMeanVarRef(xs, rows, cols);
      expectClose('mean', await gpu.read(m), ref.mean, { atol: 1e-6, rtol: 1e-5 });
      expectClose('variance', await gpu.read(v), ref.variance, { atol: 1e-6, rtol: 1e-4 });
      const colRef = columnSumRef(xs, rows, cols);
      expectClose('columnSum', await gpu.read(cs), colRef, { atol: 1e-3, rtol: 1e-5 });
      expectClose('columnSum naive', await gpu.read(cn), colRef, { atol: 1e-1, rtol: 1e-3 });

      const shape = `${rows}x${cols}`;
      const auto = rowPlan(gpu, rows, cols).layout;
      const inBytes = 4 * rows * cols;
      const tSum = await ctx.time((rec) => rowSum(rec, x, s, { rows, cols }));
      out.push(await ctx.row({ kernel: 'reduce', variant: `row_sum(${auto})`, shape, ms: tSum, flops: 0, bytes: inBytes + 4 * rows, bound: 'memory' }));
      const tAuto = await ctx.time((rec) => rowMeanVar(rec, x, m, v, { rows, cols }));
      const other = auto === 'lane' ? 'workgroup' : 'lane';
      const tOther = await ctx.time((rec) => rowMeanVar(rec, x, m, v, { rows, cols, layout: other }));
      const mvBytes = inBytes + 8 * rows;
      out.push(await ctx.row({ kernel: 'reduce', variant: `row_mean_var(${auto})`, shape, ms: tAuto, flops: 0, bytes: mvBytes, bound: 'memory', extra: { speedup_vs_naive: +(tOther / tAuto).toFixed(2) } }));
      out.push(await ctx.row({ kernel: 'reduce', variant: `row_mean_var(${other})`, shape, ms: tOther, flops: 0, bytes: mvBytes, bound: 'memory' }));
      const tCol = await ctx.time((rec) => columnSum(rec, x, cs, { rows, cols }));
      const tColNaive = await ctx.time(naiveCol);
      out.push(await ctx.row({ kernel: 'reduce', variant: 'column_sum(2-stage)', shape, ms: tCol, flops: 0, bytes: inBytes + 4 * cols, bound: 'memory', extra: { speedup_vs_naive: +(tColNaive / tCol).toFixed(2) } }));
      out.push(await ctx.row({ kernel: 'reduce', variant: 'column_sum(naive)', shape, ms: tColNaive, flops: 0, bytes: inBytes + 4 * cols, bound: 'memory' }));
      [x, s, m, v, cs, cn].forEach((t) => t.release());
    }
    return out;
  },
};
