// Benchmark: every matmul variant at square sizes, then the HSTU training layouts, after a
// correctness check on two shapes. Square sizes also report worker_cpu_gflops: GFLOP per CPU-second
// of the process's non-main threads (lavapipe's workers), which other load on the machine does not
// dilute; with P free cores the wall rate approaches P × that.
// Napkin math: flops = 2·m·n·k, bytes = 4·(mk + kn + mn) (each matrix moved once).
import type { BenchRow, BenchSpec } from '../testing/bench.js';
import { compare } from '../testing/compare.js';
import { poison } from '../testing/poison.js';
import { Rng } from '../testing/rng.js';
import { matmul, MATMUL_VARIANTS, resolvedMatmulVariant, selectedMatmulVariant } from './matmul.js';
import { matmulRef } from './matmul.ref.js';
import { otherThreadsCpuMs } from './thread_cpu.js';

export const bench: BenchSpec = {
  name: 'matmul',
  description: 'f32 C = A·B, variants naive / regblock / vec4 / subgroup / tiled, GFLOP/s and speedup vs naive',
  async run(ctx) {
    const { gpu } = ctx;
    const rng = new Rng(42);
    // Correctness first (awkward shapes, every variant, poisoned output; n = 44 runs vec4's own
    // kernel, n = 45 its regblock fallback).
    for (const [m, n, k] of [[37, 45, 29], [37, 44, 29]] as const) {
      const as = rng.f32(m * k), bs = rng.f32(k * n);
      const want = matmulRef(as, bs, { m, n, k });
      const a = gpu.f32(as), b = gpu.f32(bs), c = gpu.empty([m * n], 'f32', 'matmul:C');
      for (const variant of MATMUL_VARIANTS) {
        poison(gpu, c);
        const rec = gpu.recorder('matmul:check');
        matmul(rec, a, b, c, { m, n, k, variant });
        await rec.submit();
        const r = compare(`matmul ${variant}`, await gpu.read(c), want, { atol: 1e-4 * Math.sqrt(k), rtol: 1e-5 });
        if (!r.ok) throw new Error(`matmul bench: correctness check failed\n${r.report}`);
      }
      [a, b, c].forEach((t) => t.release());
    }
    const selected = selectedMatmulVariant(gpu);
    // Timed: the variants that run their own kernel here (subgroup needs subgroups of ≥ 8 lanes).
    const timed = MATMUL_VARIANTS.filter((v) => resolvedMatmulVariant(v, { n: 1024 }, gpu) === v);
    const sizes = ctx.quick ? [64] : [256, 512, 1024];
    const rows: BenchRow[] = [];
    for (const s of sizes) {
      const a = gpu.f32(rng.f32(s * s), [s, s], 'matmul:A'), b = gpu.f32(rng.f32(s * s), [s, s], 'matmul:B');
      const c = gpu.empty([s, s], 'f32', 'matmul:C');
      const ms: Record<string, number> = {};
      const cpuGflops: Record<string, number | string> = {};
      for (const variant of timed) {
        const reps = ctx.quick ? 2 : s >= 1024 ? 2 : 5;
        const cpu0 = otherThreadsCpuMs();
        ms[variant] = await ctx.time((rec) => matmul(rec, a, b, c, { m: s, n: s, k: s, variant }), reps);
        const cpu1 = otherThreadsCpuMs();
        // GFLOP per CPU-second of the worker threads over warm-up + reps runs (the pipeline was
        // compiled at the first size); only where it is well above the 10 ms tick.
        const cpuMs = cpu0 !== undefined && cpu1 !== undefined ? cpu1 - cpu0 : 0;
        cpuGflops[variant] = cpuMs >= 200 ? Math.round(((2 * s ** 3 * (reps + 1)) / (cpuMs * 1e6)) * 100) / 100 : '';
      }
      for (const variant of timed) {
        rows.push(
          await ctx.row({
            kernel: 'matmul',
            variant,
            shape: `${s}x${s}x${s}`,
            ms: ms[variant]!,
            flops: 2 * s * s * s,
            bytes: 4 * 3 * s * s,
            bound: 'compute',
            extra: { speedup_vs_naive: Math.round((ms.naive! / ms[variant]!) * 100) / 100, selected: variant === selected, worker_cpu_gflops: cpuGflops[variant]! },
          }),
        );
      }
      [a, b, c].forEach((t) => t.release());
    }
    // The layouts HSTU trains with (ML-100K config: d = 50, u/v/q/k width 200, L tokens): forward
    // X·W, input gradient dY·Wᵀ, weight gradient Xᵀ·dY. 'vec4' is the previous CPU default; it runs
    // regblock where its alignment fails (column `runs`).
    const L = ctx.quick ? 256 : 12800;
    const layouts: { name: string; m: number; n: number; k: number; transA?: boolean; transB?: boolean }[] = [
      { name: 'X·W', m: L, n: 200, k: 50 },
      { name: 'dY·Wᵀ', m: L, n: 50, k: 200, transB: true },
      { name: 'Xᵀ·dY', m: 50, n: 200, k: L, transA: true },
    ];
    for (const o of layouts) {
      const a = gpu.f32(rng.f32(o.m * o.k), [o.m * o.k], 'matmul:A'), b = gpu.f32(rng.f32(o.k * o.n), [o.k * o.n], 'matmul:B');
      const c = gpu.empty([o.m, o.n], 'f32', 'matmul:C');
      const ms: Record<string, number> = {};
      const variants = (['naive', 'vec4', 'subgroup'] as const).filter((v) => timed.includes(v));
      for (const variant of variants) ms[variant] = await ctx.time((rec) => matmul(rec, a, b, c, { ...o, variant }), 2);
      for (const variant of variants) {
        rows.push(
          await ctx.row({
            kernel: 'matmul',
            variant,
            shape: `${o.name} ${o.m}x${o.n}x${o.k}`,
            ms: ms[variant]!,
            flops: 2 * o.m * o.n * o.k,
            bytes: 4 * (o.m * o.k + o.k * o.n + o.m * o.n),
            bound: 'compute',
            extra: {
              speedup_vs_naive: Math.round((ms.naive! / ms[variant]!) * 100) / 100,
              selected: variant === selected,
              runs: resolvedMatmulVariant(variant, o, gpu),
            },
          }),
        );
      }
      [a, b, c].forEach((t) => t.release());
    }
    return rows;
  },
};
