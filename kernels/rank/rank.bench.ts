import type { BenchSpec } from '../testing/bench.js';
import { Rng } from '../testing/rng.js';
import { prepareExclusions, rankTargets, uploadExclusions } from './rank.js';
import { rankRef } from './rank.ref.js';

export const bench: BenchSpec = {
  name: 'rank',
  description: 'full-ranking eval: rank of each target among all items, history excluded',
  async run(ctx) {
    const { gpu } = ctx;
    const Q = ctx.quick ? 16 : 1024, I = ctx.quick ? 500 : 3707;
    const rng = new Rng(5);
    const scores = rng.f32(Q * I);
    const targets = Uint32Array.from({ length: Q }, () => rng.int(1, I - 1));
    const offsets = Uint32Array.from({ length: Q + 1 }, (_, q) => q * 50);
    const ids = Uint32Array.from({ length: Q * 50 }, () => rng.int(1, I - 1));
    const prepared = prepareExclusions(targets, { offsets, ids }, I);
    const s = gpu.f32(scores, [Q, I]), t = gpu.u32(targets), r = gpu.empty([Q], 'u32', 'ranks');
    const e = uploadExclusions(gpu, prepared);
    const record = (rec: Parameters<Parameters<typeof ctx.time>[0]>[0]) => rankTargets(rec, s, t, e.offsets, e.ids, r, { numQueries: Q, numItems: I });
    const check = gpu.recorder();
    record(check);
    await check.submit();
    const got = await gpu.read(r);
    const want = rankRef(scores, I, 0, targets[0]!, ids.subarray(0, 50).filter((x) => x !== targets[0]));
    if (got[0] !== want) throw new Error(`rank bench: query 0 ranked ${got[0]}, reference ${want}`);
    const ms = await ctx.time(record);
    const row = await ctx.row({ kernel: 'rank', variant: 'count', shape: `${Q}x${I}`, ms, flops: 0, bytes: 4 * Q * I, bound: 'memory' });
    [s, t, r, e.offsets, e.ids].forEach((x) => x.release());
    return [row];
  },
};
