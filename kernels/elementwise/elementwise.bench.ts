import type { BenchSpec } from '../testing/bench.js';
import { expectClose } from '../testing/compare.js';
import { Rng } from '../testing/rng.js';
import { add, dropout, silu, siluBackward } from './elementwise.js';
import { siluRef } from './elementwise.ref.js';

export const bench: BenchSpec = {
  name: 'elementwise',
  description: 'SiLU forward/backward, add, dropout over L·4·H·d values (memory-bound)',
  async run(ctx) {
    const { gpu } = ctx;
    const n = ctx.quick ? 4096 : 25600 * 200;
    const xs = new Rng(2).f32(n, -4, 4);
    const x = gpu.f32(xs), dy = gpu.f32(new Rng(3).f32(n)), y = gpu.empty([n], 'f32', 'y');
    const check = gpu.recorder();
    silu(check, x, y);
    await check.submit();
    expectClose('silu', await gpu.read(y), siluRef(xs), { atol: 1e-6, rtol: 1e-5 });
    const ops: [string, (rec: Parameters<Parameters<typeof ctx.time>[0]>[0]) => void, number][] = [
      ['silu', (rec) => silu(rec, x, y), 2],
      ['silu_bwd', (rec) => siluBackward(rec, x, dy, y), 3],
      ['add', (rec) => add(rec, x, dy, y), 3],
      ['dropout', (rec) => dropout(rec, x, y, 0.2, 7), 2],
    ];
    const rows = [];
    for (const [variant, record, tensorsTouched] of ops) {
      const ms = await ctx.time(record);
      rows.push(await ctx.row({ kernel: 'elementwise', variant, shape: String(n), ms, flops: 0, bytes: 4 * n * tensorsTouched, bound: 'memory' }));
    }
    [x, dy, y].forEach((t) => t.release());
    return rows;
  },
};
