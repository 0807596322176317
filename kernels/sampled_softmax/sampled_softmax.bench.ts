import type { Tensor } from '../gpu/index.js';
import type { BenchRow, BenchSpec } from '../testing/bench.js';
import { expectClose } from '../testing/compare.js';
import { Rng } from '../testing/rng.js';
import { sampledSoftmaxBackward, sampledSoftmaxLoss, sampleNegatives, type SampledSoftmaxInputs, type Variant } from './sampled_softmax.js';
import { gatherRef, sampledSoftmaxBackwardRef, sampledSoftmaxRef, sampleNegativesRef } from './sampled_softmax.ref.js';

/** ML-1M-sized item table. */
const NUM_ITEMS = 3706;

export const bench: BenchSpec = {
  name: 'sampled_softmax',
  description: 'sampled-softmax loss over cosine logits (R=128 uniform negatives, d=50): fused vs materialised logits',
  async run(ctx) {
    const { gpu } = ctx;
    const R = 128, d = 50, tau = 0.05;
    // forward at B=128·N=200 rows; fwd+bwd at the largest row count whose dNeg [P, R, d] fits one
    // 128 MiB storage binding (the trainer runs the backward in such row chunks).
    const pFwd = ctx.quick ? 64 : 128 * 200;
    const pBwd = ctx.quick ? 64 : 4096;
    const rng = new Rng(11);
    const itemsData = rng.f32(NUM_ITEMS * d);
    const items = gpu.f32(itemsData, [NUM_ITEMS, d], 'items');
    const made: Tensor[] = [items];

    const setup = async (P: number, check: boolean) => {
      const uData = rng.f32(P * d);
      const posData = Uint32Array.from({ length: P }, () => rng.int(0, NUM_ITEMS - 1));
      const wData = Float32Array.from({ length: P }, (_, r) => (r % 200 === 199 ? 0 : 1)); // last position of each sequence
      const inp: SampledSoftmaxInputs = {
        u: gpu.f32(uData, [P, d], 'u'),
        posIds: gpu.u32(posData, [P], 'posIds'),
        negIds: gpu.empty([P, R], 'u32', 'negIds'),
        items,
        weights: gpu.f32(wData, [P], 'weights'),
      };
      const rec = gpu.recorder();
      sampleNegatives(rec, inp.negIds, { P, R, numItems: NUM_ITEMS, seed: 5 });
      await rec.submit();
      made.push(inp.u, inp.posIds, inp.negIds, inp.weights!);
      if (check) {
        // correctness of what is timed, on this shape, both variants, before timing
        const negData = sampleNegativesRef(P, R, NUM_ITEMS, 5);
        const ref = { P, R, d, temperature: tau, eps: 1e-6, u: uData, posIds: posData, negIds: negData, weights: wData, posEmb: gatherRef(itemsData, posData, d), negEmb: gatherRef(itemsData, negData, d) };
        const want = sampledSoftmaxRef(ref);
        const g = sampledSoftmaxBackwardRef(ref);
        for (const variant of ['fused', 'naive'] as const) {
          const rowLoss = gpu.empty([P], 'f32', 'rowLoss'), loss = gpu.empty([1], 'f32', 'loss');
          const dU = gpu.empty([P, d], 'f32', 'dU'), dPos = gpu.empty([P, d], 'f32', 'dPos'), dNeg = gpu.empty([P, R, d], 'f32', 'dNeg');
          const c = gpu.recorder();
          sampledSoftmaxLoss(c, inp, { P, R, d, temperature: tau }, { rowLoss, loss }, { variant });
          sampledSoftmaxBackward(c, inp, { P, R, d, temperature: tau }, { rowLoss }, { dU, dPos, dNeg }, { variant });
          await c.submit();
          expectClose(`${variant} rowLoss`, await gpu.read(rowLoss), want.rowLoss, { atol: 6e-3, rtol: 1e-4 });
          const scale = Math.max(...g.dU.map(Math.abs));
          expectClose(`${variant} dU`, await gpu.read(dU), g.dU, { atol: 2e-4 * scale, rtol: 2e-3 });
          [rowLoss, loss, dU, dPos, dNeg].forEach((t) => t.release());
        }
      }
      return inp;
    };

    const rows: BenchRow[] = [];
    const fwdFlops = (P: number) => P * (R + 1) * 4 * d + P * 2 * d;
    const fwdBytes = (P: number) => 4 * (P * d + P * (R + 1) * d + P * (R + 2) + P);
    // backward: recompute the logits (fwd work) + 3 FMAs per element of each item row and of dU
    const bwdFlops = (P: number) => fwdFlops(P) + P * (R + 1) * 6 * d + P * 4 * d;
    const bwdBytes = (P: number) => fwdBytes(P) + 4 * (P * (R + 1) * d * 2 + P * d * 2);

    await setup(64, true); // correctness of both variants (fwd + bwd) on P=64 before timing
    {
      const P = pFwd;
      const inp = await setup(P, false);
      const rowLoss = gpu.empty([P], 'f32', 'rowLoss'), loss = gpu.empty([1], 'f32', 'loss');
      const ms: Record<Variant, number> = { fused: 0, naive: 0 };
      for (const variant of ['naive', 'fused'] as const) {
        ms[variant] = await ctx.time((rec) => sampledSoftmaxLoss(rec, inp, { P, R, d, temperature: tau }, { rowLoss, loss }, { variant }), ctx.quick ? 2 : 3);
      }
      for (const variant of ['fused', 'naive'] as const) {
        const extra: Record<string, number> = variant === 'fused' ? { speedup_vs_naive: Math.round((ms.naive / ms.fused) * 100) / 100 } : {};
        rows.push(await ctx.row({ kernel: 'sampled_softmax', variant: `fwd_${variant}`, shape: `P=${P} R=${R} d=${d}`, ms: ms[variant], flops: fwdFlops(P), bytes: fwdBytes(P), bound: 'memory', extra }));
      }
      made.push(rowLoss, loss);
    }
    {
      const P = pBwd;
      const inp = await setup(P, false);
      const rowLoss = gpu.empty([P], 'f32', 'rowLoss'), loss = gpu.empty([1], 'f32', 'loss');
      const dU = gpu.empty([P, d], 'f32', 'dU'), dPos = gpu.empty([P, d], 'f32', 'dPos'), dNeg = gpu.empty([P, R, d], 'f32', 'dNeg');
      const ms: Record<Variant, number> = { fused: 0, naive: 0 };
      const shape = { P, R, d, temperature: tau };
      for (const variant of ['naive', 'fused'] as const) {
        ms[variant] = await ctx.time((rec) => {
          sampledSoftmaxLoss(rec, inp, shape, { rowLoss, loss }, { variant });
          sampledSoftmaxBackward(rec, inp, shape, { rowLoss }, { dU, dPos, dNeg }, { variant });
        }, ctx.quick ? 2 : 3);
      }
      for (const variant of ['fused', 'naive'] as const) {
        const extra: Record<string, number> = variant === 'fused' ? { speedup_vs_naive: Math.round((ms.naive / ms.fused) * 100) / 100 } : {};
        rows.push(await ctx.row({ kernel: 'sampled_softmax', variant: `fwd+bwd_${variant}`, shape: `P=${P} R=${R} d=${d}`, ms: ms[variant], flops: fwdFlops(P) + bwdFlops(P), bytes: fwdBytes(P) + bwdBytes(P), bound: 'memory', extra }));
      }
      made.push(rowLoss, loss, dU, dPos, dNeg);
    }
    made.forEach((t) => t.release());
    return rows;
  },
};
