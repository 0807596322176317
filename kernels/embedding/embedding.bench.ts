import type { Recorder } from '../gpu/index.js';
import type { BenchRow, BenchSpec } from '../testing/bench.js';
import { expectClose } from '../testing/compare.js';
import { Rng } from '../testing/rng.js';
import { EmbeddingTable, gatherRows, planScatter, roundBf16, scatterAddRows, uploadIds, type GatherVariant, type ScatterVariant } from './embedding.js';
import { gatherRef, scatterAbsRef, scatterAddRef } from './embedding.ref.js';

/** Skewed ids over `rows` items (popular items repeat, like real interaction logs). */
function skewedIds(rng: Rng, n: number, rows: number): Uint32Array {
  return Uint32Array.from({ length: n }, () => Math.min(rows - 1, Math.floor(rows * rng.next() ** 2)));
}

export const bench: BenchSpec = {
  name: 'embedding',
  description: 'row gather and deterministic scatter-add (segmented vs naive) at B·N = 25600 ids over 3706 items',
  async run(ctx) {
    const { gpu } = ctx;
    const items = 3706;
    const count = ctx.quick ? 512 : 25600;
    const rows: BenchRow[] = [];
    for (const dim of [50, 64]) {
      const rng = new Rng(dim);
      const values = rng.f32(items * dim);
      const tables = (['f32', 'bf16'] as const).map((storage) => {
        const t = new EmbeddingTable(gpu, items, dim, `bench_${storage}`, { storage });
        t.upload(values);
        return t;
      });
      const hostIds = skewedIds(rng, count, items);
      const ids = uploadIds(gpu, hostIds, items);
      const out = gpu.empty([count, dim], 'f32', 'bench:gathered');
      const gs = rng.f32(count * dim);
      const grads = gpu.upload(gs, [count, dim], 'f32', 'bench:grads');
      const plan = planScatter(gpu, hostIds, items);
      const summed = gpu.empty([plan.numUnique, dim], 'f32', 'bench:summed');
      const copyDst = gpu.empty([count, dim], 'f32', 'bench:copy');

      // Correctness of what we time, on this shape.
      for (const t of tables) {
        const rec = gpu.recorder();
        gatherRows(rec, t, ids, out, count);
        await rec.run();
        const stored = t.storage === 'f32' ? values : Float32Array.from(values, roundBf16);
        expectClose(`gather ${t.storage}`, await gpu.read(out), gatherRef(stored, dim, hostIds), { atol: 0, rtol: 0 });
      }
      const ref = scatterAddRef(hostIds, gs, dim);
      const maxSeg = plan.host.segOffsets.subarray(1).reduce((a, s, u) => Math.max(a, s - plan.host.segOffsets[u]!), 0);
      const absMax = scatterAbsRef(hostIds, gs, dim).reduce((a, x) => Math.max(a, x), 0);
      for (const v of ['segmented', 'naive'] as ScatterVariant[]) {
        const rec = gpu.recorder();
        scatterAddRows(rec, plan, grads, dim, summed, v);
        await rec.run();
        expectClose(`scatter ${v}`, await gpu.read(summed), ref.sums, { atol: (maxSeg + 1) * 2 ** -24 * absMax, rtol: 0 });
      }

      const shape = `${count} ids, ${items}×${dim}`;
      const copyMs = await ctx.time((rec: Recorder) => rec.copy(out, copyDst, count * dim * 4));
      rows.push(await ctx.row({ kernel: 'embedding', variant: 'copy (same bytes)', shape, ms: copyMs, flops: 0, bytes: 2 * count * dim * 4, bound: 'memory' }));
      for (const t of tables) {
        const tableBytes = t.storage === 'f32' ? count * dim * 4 : count * t.rowWords * 4;
        const ms: Record<string, number> = {};
        for (const v of ['chunked', 'naive'] as GatherVariant[]) ms[v] = await ctx.time((rec) => gatherRows(rec, t, ids, out, count, undefined, v));
        for (const v of ['chunked', 'naive'] as GatherVariant[]) {
          rows.push(await ctx.row({
            kernel: 'embedding', variant: `gather ${v} ${t.storage}`, shape, ms: ms[v]!, flops: 0, bytes: tableBytes + count * dim * 4 + count * 4, bound: 'memory',
            extra: { vs_copy: round2(copyMs / ms[v]!), speedup_vs_naive: round2(ms.naive! / ms[v]!) },
          }));
        }
      }
      const scatterBytes = count * dim * 4 + count * 4 + plan.numUnique * dim * 4; // grads + order read, sums written
      const times: Record<string, number> = {};
      for (const v of ['segmented', 'naive'] as ScatterVariant[]) {
        times[v] = await ctx.time((rec) => scatterAddRows(rec, plan, grads, dim, summed, v));
      }
      for (const v of ['segmented', 'naive'] as ScatterVariant[]) {
        rows.push(await ctx.row({
          kernel: 'embedding', variant: `scatter ${v}`, shape: `${shape}, ${plan.numUnique} unique`, ms: times[v]!, flops: 0, bytes: scatterBytes, bound: 'memory',
          extra: { speedup_vs_naive: round2(times.naive! / times[v]!) },
        }));
      }
      const t0 = performance.now();
      planScatter(gpu, hostIds, items).release();
      rows.push(await ctx.row({ kernel: 'embedding', variant: 'planScatter (CPU sort + upload)', shape, ms: performance.now() - t0, flops: 0, bytes: 0, bound: 'memory' }));
      tables.forEach((t) => t.dispose());
      [ids, out, grads, summed, copyDst].forEach((t) => t.release());
      plan.release();
    }
    return rows;
  },
};

function round2(x: number): number {
  return Math.round(x * 100) / 100;
}
