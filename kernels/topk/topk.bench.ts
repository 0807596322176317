import type { Tensor } from '../gpu/index.js';
import type { BenchRow, BenchSpec } from '../testing/bench.js';
import { Rng } from '../testing/rng.js';
import { topK, type TopKVariant } from './topk.js';
import { topKRef } from './topk.ref.js';

/** Rows per item shard: 2^18 rows · 64 · 4 B = 64 MiB, under the 128 MiB binding limit. */
const SHARD_ROWS = 1 << 18;

export const bench: BenchSpec = {
  name: 'topk',
  description: 'exact top-k by inner product with exclusions: radix select vs per-query insertion',
  async run(ctx) {
    const { gpu } = ctx;
    const rng = new Rng(21);
    const rows: BenchRow[] = [];
    const shapes = ctx.quick
      ? [{ Q: 1, n: 20000, d: 64, ks: [100, 2500] }, { Q: 16, n: 3706, d: 64, ks: [200] }]
      : [{ Q: 1, n: 1 << 20, d: 64, ks: [100, 2500] }, { Q: 1024, n: 3706, d: 64, ks: [200] }];
    let checked = false;
    for (const { Q, n, d, ks } of shapes) {
      // dyadic values keep every f32 dot exact, so the check below is exact (ties included)
      const qData = Float32Array.from({ length: Q * d }, () => rng.int(-8, 8) / 8);
      const shards: Tensor<'f32'>[] = [];
      let itemsData: Float32Array | undefined;
      for (let start = 0; start < n; start += SHARD_ROWS) {
        const r = Math.min(SHARD_ROWS, n - start);
        const data = Float32Array.from({ length: r * d }, () => rng.int(-8, 8) / 8);
        if (n <= 4096) itemsData = data;
        shards.push(gpu.f32(data, [r, d], `items${shards.length}`));
      }
      // each query excludes ~200 history items (ML-1M-like)
      const offsets = [0];
      const excl: number[] = [];
      for (let q = 0; q < Q; q++) {
        for (let e = 0; e < 200; e++) excl.push(rng.int(0, n - 1));
        offsets.push(excl.length);
      }
      const exclOffsets = gpu.u32(offsets, [Q + 1], 'exclOffsets'), exclIds = gpu.u32(excl, [excl.length], 'exclIds');
      const queries = gpu.f32(qData, [Q, d], 'queries');
      for (const k of ks) {
        const topIds = gpu.empty([Q, k], 'u32', 'topIds'), topScores = gpu.empty([Q, k], 'f32', 'topScores');
        const inp = { queries, items: shards, exclOffsets, exclIds };
        if (!checked && itemsData) {
          // correctness of both variants on this shape before timing
          const want = topKRef(qData, itemsData, Q, n, d, k, offsets, excl);
          for (const variant of ['radix', 'naive'] as const) {
            const rec = gpu.recorder();
            topK(rec, inp, k, { topIds, topScores }, { variant });
            await rec.submit();
            const got = await gpu.read(topIds);
            const bad = got.findIndex((v, i) => v !== want.ids[i]);
            if (bad >= 0) throw new Error(`topk ${variant}: topIds[${bad}] = ${got[bad]}, want ${want.ids[bad]}`);
          }
          checked = true;
        }
        const ms: Record<TopKVariant, number> = { radix: 0, naive: 0 };
        for (const variant of ['naive', 'radix'] as const) {
          ms[variant] = await ctx.time((rec) => topK(rec, inp, k, { topIds, topScores }, { variant }), ctx.quick ? 1 : 2);
        }
        for (const variant of ['radix', 'naive'] as const) {
          const extra: Record<string, number> = variant === 'radix' ? { speedup_vs_naive: Math.round((ms.naive / ms.radix) * 100) / 100 } : {};
          // napkin math: the scores GEMV/GEMM (2·Q·n·d) and reading items + queries + writing scores once
          rows.push(await ctx.row({ kernel: 'topk', variant, shape: `Q=${Q} n=${n} d=${d} k=${k}`, ms: ms[variant], flops: 2 * Q * n * d, bytes: 4 * (n * d + Q * d + Q * n + 2 * Q * k), bound: 'compute', extra }));
        }
        [topIds, topScores].forEach((t) => t.release());
      }
      [queries, exclOffsets, exclIds, ...shards].forEach((t) => t.release());
    }
    if (!checked) throw new Error('topk bench: no shape was checked');
    return rows;
  },
};
