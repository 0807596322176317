import type { BenchRow, BenchSpec } from '../testing/bench.js';
import { expectClose } from '../testing/compare.js';
import { Rng } from '../testing/rng.js';
import { EmbeddingTable, planScatter } from '../embedding/embedding.js';
import { adamW, rowwiseAdam, rowwiseBytesPerRow, type AdamWVariant, type RowwiseVariant } from './optim.js';
import { adamWRef, rowwiseAdamRef } from './optim.ref.js';

/** `n` distinct rows of [0, rows), ascending order not required. */
function distinctRows(rng: Rng, n: number, rows: number): Uint32Array {
  const set = new Set<number>();
  while (set.size < n) set.add(rng.int(0, rows - 1));
  return Uint32Array.from(set);
}

export const bench: BenchSpec = {
  name: 'optim',
  description: 'row-wise Adam (f32 / bf16, fused vs split) on touched rows of a large table; dense AdamW (scalar vs vec4)',
  async run(ctx) {
    const { gpu } = ctx;
    const rows: BenchRow[] = [];
    const dim = 64;
    const tableRows = ctx.quick ? 10_000 : 1_000_000;
    const touched = ctx.quick ? 512 : 25_600;
    const rng = new Rng(1);
    const opts = { lr: 1e-3, beta1: 0.9, beta2: 0.98, eps: 1e-8, weightDecay: 0, step: 3 };

    // Correctness of what we time: one step on a small table against the float64 reference.
    {
      const small = new EmbeddingTable(gpu, 1000, dim, 'bench_check', { maxShardRows: 300, optimizerState: true });
      const w0 = rng.f32(1000 * dim);
      small.upload(w0);
      const ids = distinctRows(rng, 200, 1000);
      const plan = planScatter(gpu, ids, 1000);
      const gs = rng.f32(plan.numUnique * dim);
      const g = gpu.upload(gs, [plan.numUnique, dim], 'f32', 'bench:g');
      const rec = gpu.recorder();
      rowwiseAdam(rec, small, plan, g, opts);
      await rec.run();
      const w = Float64Array.from(w0), m = new Float64Array(1000 * dim), v = new Float64Array(1000);
      rowwiseAdamRef(w, m, v, dim, plan.host.uniqueRows, gs, opts);
      expectClose('rowwise adam', await small.read('w'), w, { atol: 1e-6, rtol: 1e-5 });
      plan.release();
      g.release();
      small.dispose();
    }

    const ids = distinctRows(rng, touched, tableRows);
    const plan = planScatter(gpu, ids, tableRows);
    const grads = gpu.upload(rng.f32(touched * dim), [touched, dim], 'f32', 'bench:grads');
    for (const storage of ['f32', 'bf16'] as const) {
      const table = new EmbeddingTable(gpu, tableRows, dim, `bench_${storage}`, { storage, optimizerState: true });
      const bytesPerRow = rowwiseBytesPerRow(dim, storage);
      const ms: Record<string, number> = {};
      for (const v of ['fused', 'split'] as RowwiseVariant[]) ms[v] = await ctx.time((rec) => rowwiseAdam(rec, table, plan, grads, opts, v));
      for (const v of ['fused', 'split'] as RowwiseVariant[]) {
        rows.push(await ctx.row({
          kernel: 'optim', variant: `rowwise adam ${storage} ${v}`, shape: `${touched} of ${tableRows}×${dim} rows, ${table.shards.length} shard(s)`,
          ms: ms[v]!, flops: 0, bytes: touched * (2 * bytesPerRow + dim * 4 + 4), bound: 'memory',
          extra: { mrows_per_s: Math.round((touched / ms[v]!) / 1e1) / 1e2, bytes_per_row: bytesPerRow, plain_adam_bytes_per_row: 12 * dim, speedup_vs_split: Math.round((ms.split! / ms[v]!) * 100) / 100 },
        }));
      }
      table.dispose();
    }
    plan.release();
    grads.release();

    // Dense AdamW.
    const n = ctx.quick ? 65_536 : 4 * 1024 * 1024;
    const ws = rng.f32(n), gs = rng.f32(n);
    const w = gpu.f32(ws), g = gpu.f32(gs), m = gpu.f32(new Float32Array(n)), v = gpu.f32(new Float32Array(n));
    {
      const rec = gpu.recorder();
      adamW(rec, w, g, m, v, { ...opts, step: 1, weightDecay: 0.01 });
      await rec.run();
      const rw = Float64Array.from(ws), rm = new Float64Array(n), rv = new Float64Array(n);
      adamWRef(rw, gs, rm, rv, { ...opts, step: 1, weightDecay: 0.01 });
      expectClose('adamW', await gpu.read(w), rw, { atol: 1e-6, rtol: 1e-5 });
    }
    const ms: Record<string, number> = {};
    for (const variant of ['vec4', 'scalar'] as AdamWVariant[]) ms[variant] = await ctx.time((rec) => adamW(rec, w, g, m, v, { ...opts, weightDecay: 0.01 }, variant));
    for (const variant of ['vec4', 'scalar'] as AdamWVariant[]) {
      rows.push(await ctx.row({
        kernel: 'optim', variant: `adamw ${variant}`, shape: String(n), ms: ms[variant]!, flops: 0, bytes: 28 * n, bound: 'memory',
        extra: { speedup_vs_scalar: Math.round((ms.scalar! / ms[variant]!) * 100) / 100 },
      }));
    }
    [w, g, m, v].forEach((t) => t.release());
    return rows;
  },
};
