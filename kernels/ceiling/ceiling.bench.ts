// Benchmark: the device ceiling's components side by side (copy via copyBufferToBuffer, copy via a
// WGSL vec4 kernel, matmul best over variants).
import type { BenchRow, BenchSpec } from '../testing/bench.js';
import { round } from '../testing/bench.js';
import { measureCeilingDetail } from './ceiling.js';

export const bench: BenchSpec = {
  name: 'ceiling',
  description: 'device ceiling: copy bandwidth (copyBufferToBuffer, vec4 kernel) and best matmul GFLOP/s',
  async run(ctx) {
    // Correctness of the copy kernel is checked by ceiling.test.ts; here we time.
    const d = await measureCeilingDetail(ctx.gpu, ctx.quick);
    const mib = ctx.quick ? 4 : 64;
    const s = d.matmulSize;
    const copyRow = (variant: string, gbps: number): BenchRow => ({
      kernel: 'ceiling_copy', variant, shape: `${mib}MiB`, ms: round((2 * mib * 1048576) / (gbps * 1e6), 4), gflops: 0, gbps: round(gbps, 3),
      pct_ceiling: round((100 * gbps) / d.copyGBps, 1),
    });
    const best = Object.entries(d.matmulByVariant).sort((x, y) => y[1] - x[1])[0]!;
    return [
      copyRow('copyBufferToBuffer', d.copyBufferGBps),
      copyRow('kernel_vec4', d.copyKernelGBps),
      {
        kernel: 'ceiling_matmul', variant: `best(${best[0]})`, shape: `${s}x${s}x${s}`, ms: round((2 * s ** 3) / (best[1] * 1e6), 4), gflops: round(best[1], 3),
        gbps: round((12 * s * s) / ((2 * s ** 3) / (best[1] * 1e6)) / 1e6, 3), pct_ceiling: 100,
        ...Object.fromEntries(Object.entries(d.matmulByVariant).map(([v, g]) => [`${v}_gflops`, round(g, 3)])),
      },
    ];
  },
};
