import { Params, type Recorder, type Tensor } from '../gpu/index.js';
import { dropout } from '../elementwise/elementwise.js';
import { rowPlan } from '../reduce/reduce.js';
import type { BenchRow, BenchSpec } from '../testing/bench.js';
import { expectClose } from '../testing/compare.js';
import { Rng } from '../testing/rng.js';
import { gateBackward, gateForward, layerNorm, layerNormBackward } from './layer_norm.js';
import { gateRef, layerNormRef } from './layer_norm.ref.js';

// For the unfused gate: y = a ⊙ b (elementwise has no multiply; this is the obvious kernel).
const MUL = {
  name: 'layer_norm_bench_mul',
  wgsl: `
struct Params { n: u32, _a: u32, _b: u32, _c: u32 }
@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;
@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = (wid.x + wid.y * nwg.x) * 256u + lid;
  if (i >= params.n) { return; }
  y[i] = a[i] * b[i];
}`,
};

export const bench: BenchSpec = {
  name: 'layer_norm',
  description: 'layer norm fwd/bwd and the fused HSTU gate Dropout(U ⊙ LN(O)) vs LN + mul + dropout, rows=25600',
  async run(ctx) {
    const { gpu } = ctx;
    const rows = ctx.quick ? 512 : 25600;
    const p = 0.2, seed = 17, eps = 1e-6;
    const out: BenchRow[] = [];
    for (const cols of [50, 64, 256]) {
      const n = rows * cols;
      const rng = new Rng(cols);
      const xs = rng.f32(n, -1, 3), us = rng.f32(n);
      const mat = (label: string) => gpu.empty([rows, cols], 'f32', label);
      const x = gpu.f32(xs, [rows, cols], 'x'), u = gpu.f32(us, [rows, cols], 'u'), dy = gpu.f32(rng.f32(n), [rows, cols], 'dy');
      const y = mat('y'), z = mat('z'), t1 = mat('t1'), t2 = mat('t2'), dx = mat('dx'), dU = mat('dU');
      const mean = gpu.empty([rows], 'f32', 'mean'), rstd = gpu.empty([rows], 'f32', 'rstd');
      const stats = { mean, rstd };
      const naiveGate = (rec: Recorder, dst: Tensor<'f32'>) => {
        layerNorm(rec, x, t1, { rows, cols, eps, saveStats: stats });
        rec.dispatch(MUL, [u, t1, t2], Math.ceil(n / 256), new Params().u32(n).u32(0).u32(0).u32(0).done());
        dropout(rec, t2, dst, p, seed);
      };
      // Correctness of what is timed, on this shape.
      const check = gpu.recorder();
      layerNorm(check, x, y, { rows, cols, eps });
      gateForward(check, x, u, z, { rows, cols, eps, dropoutP: p, seed, saveStats: stats });
      naiveGate(check, dx);
      await check.submit();
      expectClose('layerNorm', await gpu.read(y), layerNormRef(xs, rows, cols, eps).y, { atol: 1e-4, rtol: 1e-4 });
      const zRef = gateRef(xs, us, rows, cols, eps, p, seed).z;
      expectClose('gate', await gpu.read(z), zRef, { atol: 1e-4, rtol: 1e-4 });
      expectClose('gate naive', await gpu.read(dx), zRef, { atol: 1e-4, rtol: 1e-4 });

      const shape = `${rows}x${cols}`;
      const auto = rowPlan(gpu, rows, cols).layout;
      const other = auto === 'lane' ? 'workgroup' : 'lane';
      const B = 4 * n;
      const row = async (variant: string, ms: number, bytes: number, extra?: Record<string, number>) =>
        out.push(await ctx.row({ kernel: 'layer_norm', variant, shape, ms, flops: 0, bytes, bound: 'memory', extra }));
      const tLn = await ctx.time((rec) => layerNorm(rec, x, y, { rows, cols, eps, saveStats: stats }));
      const tLnOther = await ctx.time((rec) => layerNorm(rec, x, y, { rows, cols, eps, saveStats: stats, layout: other }));
      await row(`ln_fwd(${auto})`, tLn, 2 * B + 8 * rows, { speedup_vs_naive: +(tLnOther / tLn).toFixed(2) });
      await row(`ln_fwd(${other})`, tLnOther, 2 * B + 8 * rows);
      const tLnB = await ctx.time((rec) => layerNormBackward(rec, x, dy, dx, { rows, cols, mean, rstd }));
      await row(`ln_bwd(${auto})`, tLnB, 3 * B + 8 * rows);
      const tGate = await ctx.time((rec) => gateForward(rec, x, u, z, { rows, cols, eps, dropoutP: p, seed, saveStats: stats }));
      const tGateNaive = await ctx.time((rec) => naiveGate(rec, z));
      await row('gate_fwd(fused)', tGate, 3 * B + 8 * rows, { speedup_vs_naive: +(tGateNaive / tGate).toFixed(2) });
      await row('gate_fwd(ln+mul+dropout)', tGateNaive, 3 * B + 8 * rows);
      const tGateB = await ctx.time((rec) => gateBackward(rec, x, u, dy, dx, dU, { rows, cols, dropoutP: p, seed, mean, rstd }));
      await row('gate_bwd(fused)', tGateB, 5 * B + 8 * rows);
      [x, u, dy, y, z, t1, t2, dx, dU, mean, rstd].forEach((t) => t.release());
    }
    return out;
  },
};
