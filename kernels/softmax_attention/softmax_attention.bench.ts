import type { Gpu, Recorder, Tensor } from '../gpu/index.js';
import type { BenchRow, BenchSpec } from '../testing/bench.js';
import { expectClose } from '../testing/compare.js';
import { jaggedFromLengths } from '../testing/jagged.js';
import { Rng } from '../testing/rng.js';
import { softmaxAttention, softmaxAttentionBackward, softmaxAttentionNaive, type SoftmaxAttentionOptions } from './softmax_attention.js';
import { softmaxAttentionBackwardRef, softmaxAttentionRef } from './softmax_attention.ref.js';

interface Inputs {
  o: SoftmaxAttentionOptions;
  q: Tensor<'f32'>; k: Tensor<'f32'>; v: Tensor<'f32'>; off: Tensor<'u32'>; dOut: Tensor<'f32'>;
  out: Tensor<'f32'>; lse: Tensor<'f32'>; dq: Tensor<'f32'>; dk: Tensor<'f32'>; dv: Tensor<'f32'>; scores: Tensor<'f32'>;
  host: { seqOffsets: Uint32Array; q: Float32Array; k: Float32Array; v: Float32Array; dOut: Float32Array };
  release(): void;
}

/** B sequences of full length N (SASRec batches are mostly full after truncation). */
function inputs(gpu: Gpu, B: number, N: number, H: number, d: number, seed: number): Inputs {
  const rng = new Rng(seed);
  const jag = jaggedFromLengths(Array.from({ length: B }, () => N));
  const L = jag.total;
  const o: SoftmaxAttentionOptions = { B, L, H, dk: d, dv: d, maxLen: N, scale: 1 / Math.sqrt(d) };
  const host = { seqOffsets: jag.seqOffsets, q: rng.f32(L * H * d), k: rng.f32(L * H * d), v: rng.f32(L * H * d), dOut: rng.f32(L * H * d) };
  const t = {
    q: gpu.f32(host.q, [L, H, d], 'attn:q'), k: gpu.f32(host.k, [L, H, d], 'attn:k'), v: gpu.f32(host.v, [L, H, d], 'attn:v'),
    off: gpu.u32(host.seqOffsets, [B + 1], 'attn:seq_offsets'), dOut: gpu.f32(host.dOut, [L, H, d], 'attn:dout'),
    out: gpu.empty([L, H, d], 'f32', 'attn:out'), lse: gpu.empty([L, H], 'f32', 'attn:lse'),
    dq: gpu.empty([L, H, d], 'f32', 'attn:dq'), dk: gpu.empty([L, H, d], 'f32', 'attn:dk'), dv: gpu.empty([L, H, d], 'f32', 'attn:dv'),
    scores: gpu.empty([B * H, N, N], 'f32', 'attn:scores'),
  };
  return { o, ...t, host, release: () => Object.values(t).forEach((x) => x.release()) };
}

const fwd = (x: Inputs) => (rec: Recorder) => softmaxAttention(rec, x.q, x.k, x.v, x.off, x.out, x.lse, x.o);
const fwdBwd = (x: Inputs) => (rec: Recorder) => {
  softmaxAttention(rec, x.q, x.k, x.v, x.off, x.out, x.lse, x.o);
  softmaxAttentionBackward(rec, x.q, x.k, x.v, x.off, x.out, x.lse, x.dOut, x.dq, x.dk, x.dv, x.o);
};
const naive = (x: Inputs) => (rec: Recorder) => softmaxAttentionNaive(rec, x.q, x.k, x.v, x.off, x.scores, x.out, x.o);

export const bench: BenchSpec = {
  name: 'softmax_attention',
  description: 'causal multi-head softmax attention over jagged batches (SASRec): online-softmax forward, forward+backward, vs naive padded scores',
  async run(ctx) {
    const { gpu } = ctx;
    const d = ctx.quick ? 8 : 50;
    const tokens = ctx.quick ? 64 : 16000;
    const Ns = ctx.quick ? [8] : [50, 200];

    // Correctness first, on one small shape, for every variant timed below.
    {
      const x = inputs(gpu, 3, 17, 2, d, 1);
      const s = { seqOffsets: x.host.seqOffsets, H: 2, dk: d, dv: d, scale: x.o.scale };
      const f = softmaxAttentionRef(s, x.host.q, x.host.k, x.host.v);
      const g = softmaxAttentionBackwardRef(s, x.host.q, x.host.k, x.host.v, x.host.dOut);
      const tol = { atol: 2e-5, rtol: 2e-4 };
      const rec = gpu.recorder('bench:check');
      fwdBwd(x)(rec);
      await rec.submit();
      expectClose('out', await gpu.read(x.out), f.out, tol);
      expectClose('lse', await gpu.read(x.lse), f.lse, tol);
      expectClose('dq', await gpu.read(x.dq), g.dq, tol);
      expectClose('dk', await gpu.read(x.dk), g.dk, tol);
      expectClose('dv', await gpu.read(x.dv), g.dv, tol);
      const recN = gpu.recorder('bench:check-naive');
      naive(x)(recN);
      await recN.submit();
      expectClose('naive out', await gpu.read(x.out), f.out, tol);
      x.release();
    }

    const rows: BenchRow[] = [];
    for (const N of Ns) {
      for (const H of [1, 2]) {
        const B = Math.round(tokens / N);
        const x = inputs(gpu, B, N, H, d, 2);
        const shape = `B=${B} N=${N} H=${H} d=${d}`;
        // Causal half: pairs (i, j ≤ i) per sequence and head.
        const pairs = B * H * ((N * (N + 1)) / 2);
        const L = B * N;
        // Forward: Q·K (2d) + P·V (2d) per pair. Backward: recompute Q·K, dO·V, dV, dK (dK/dV pass)
        // and Q·K, dO·V, dQ (dQ pass): 14d per pair. Bytes: each tensor read/written once.
        const fwdFlops = 4 * d * pairs, bwdFlops = 14 * d * pairs;
        const fwdBytes = 4 * (L * H * (4 * d + 1));
        const bwdBytes = fwdBytes + 4 * L * H * (7 * d + 1);
        const msFast = await ctx.time(fwd(x));
        const msNaive = await ctx.time(naive(x));
        const msBoth = await ctx.time(fwdBwd(x));
        // The naive baseline computes the full padded N×N (no causal skipping): useful flops are the same causal half.
        rows.push(await ctx.row({ kernel: 'softmax_attention', variant: 'forward', shape, ms: msFast, flops: fwdFlops, bytes: fwdBytes, bound: 'compute', extra: { speedup_vs_naive: Math.round((msNaive / msFast) * 100) / 100 } }));
        rows.push(await ctx.row({ kernel: 'softmax_attention', variant: 'naive_forward', shape, ms: msNaive, flops: fwdFlops, bytes: fwdBytes + 4 * 3 * B * H * N * N, bound: 'compute' }));
        rows.push(await ctx.row({ kernel: 'softmax_attention', variant: 'forward+backward', shape, ms: msBoth, flops: fwdFlops + bwdFlops, bytes: bwdBytes, bound: 'compute', extra: { backward_ms: Math.round((msBoth - msFast) * 1e4) / 1e4 } }));
        x.release();
      }
    }
    return rows;
  },
};
