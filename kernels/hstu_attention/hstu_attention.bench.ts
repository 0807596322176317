// Benchmark: fused HSTU attention (forward, forward+backward) against the naive composition
// (padded [B·H, N, N] scores, a simple matmul kernel, separate bias / SiLU+mask / unpad kernels)
// on the same device in the same run. FLOPs count the useful work of the visible (causal) pairs
// only, for both: forward 2·(dqk + dv) per pair and head, backward another 4·(dqk + dv); so the
// ratio of ms is the speedup. Overrides for partial runs: HSTU_ATTN_BENCH_NS=64,512 (sequence
// lengths), HSTU_ATTN_BENCH_TOKENS (B·N, default 16384), HSTU_ATTN_BENCH_CONFIG=0|1 (H=2/d=32 or
// H=8/d=64 only), HSTU_ATTN_NAIVE_CAP (skip the naive path above this B·H·N²·d).
import type { Gpu, Recorder, Tensor } from '../gpu/index.js';
import { compare } from '../testing/compare.js';
import type { BenchRow, BenchSpec } from '../testing/bench.js';
import { Rng } from '../testing/rng.js';
import { hstuAttention, hstuAttentionBackward, type AttentionGrads, type AttentionInputs, type AttentionOptions } from './hstu_attention.js';
import { NaiveAttention } from './hstu_attention_naive.js';
import { attentionBackwardRef, attentionRef } from './hstu_attention.ref.js';

interface Problem {
  o: AttentionOptions;
  x: AttentionInputs;
  host: { q: Float32Array; k: Float32Array; v: Float32Array; ts: Uint32Array; rabPos: Float32Array; rabTime: Float32Array; dOut: Float32Array; offsets: Uint32Array };
  out: Tensor<'f32'>;
  dOut: Tensor<'f32'>;
  grads: AttentionGrads;
  release(): void;
}

function makeProblem(gpu: Gpu, lengths: number[], H: number, d: number, N: number, seed: number): Problem {
  const rng = new Rng(seed);
  const B = lengths.length;
  const offsets = new Uint32Array(B + 1);
  lengths.forEach((n, b) => (offsets[b + 1] = offsets[b]! + n));
  const L = offsets[B]!;
  const ts = new Uint32Array(L);
  for (let i = 0, t = 1e6; i < L; i++) ts[i] = t += rng.int(0, 5000);
  const host = { q: rng.f32(L * H * d), k: rng.f32(L * H * d), v: rng.f32(L * H * d), ts, rabPos: rng.f32(2 * N - 1), rabTime: rng.f32(129), dOut: rng.f32(L * H * d), offsets };
  const x: AttentionInputs = {
    q: gpu.f32(host.q, [L, H, d], 'bench:q'),
    k: gpu.f32(host.k, [L, H, d], 'bench:k'),
    v: gpu.f32(host.v, [L, H, d], 'bench:v'),
    seqOffsets: gpu.u32(offsets, [B + 1], 'bench:offsets'),
    timestamps: gpu.u32(ts, [L], 'bench:ts'),
    rabPos: gpu.f32(host.rabPos, [2 * N - 1], 'bench:rab_pos'),
    rabTime: gpu.f32(host.rabTime, [129], 'bench:rab_time'),
  };
  const o: AttentionOptions = { B, L, H, dqk: d, dv: d, N, alpha: 1 / Math.sqrt(d), useRab: true, hostOffsets: offsets };
  const out = gpu.empty([L, H, d], 'f32', 'bench:out');
  const dOut = gpu.f32(host.dOut, [L, H, d], 'bench:dout');
  const grads: AttentionGrads = {
    dq: gpu.empty([L, H, d], 'f32', 'bench:dq'),
    dk: gpu.empty([L, H, d], 'f32', 'bench:dk'),
    dv: gpu.empty([L, H, d], 'f32', 'bench:dv'),
    dRabPos: gpu.empty([2 * N - 1], 'f32', 'bench:drab_pos'),
    dRabTime: gpu.empty([129], 'f32', 'bench:drab_time'),
  };
  const release = () => [...Object.values(x), out, dOut, ...Object.values(grads)].forEach((t) => (t as Tensor).release());
  return { o, x, host, out, dOut, grads, release };
}

/** Correctness of both timed paths on one small jagged shape, against the float64 reference. */
async function check(gpu: Gpu): Promise<void> {
  const p = makeProblem(gpu, [13, 0, 1, 24, 7], 2, 8, 24, 5);
  const naive = new NaiveAttention(gpu, p.o);
  const ref = { q: p.host.q, k: p.host.k, v: p.host.v, seqOffsets: p.host.offsets, timestamps: p.host.ts, rabPos: p.host.rabPos, rabTime: p.host.rabTime };
  const want = attentionRef(ref, p.o);
  const g = attentionBackwardRef(ref, p.host.dOut, p.o);
  const tol = { atol: 2e-5, rtol: 2e-4 };
  for (const which of ['fused', 'naive'] as const) {
    const rec = gpu.recorder('bench:check');
    if (which === 'fused') {
      hstuAttention(rec, p.x, p.out, p.o);
      hstuAttentionBackward(rec, p.x, p.dOut, p.grads, p.o);
    } else naive.record(rec, p.x, p.out, { dOut: p.dOut, grads: p.grads });
    await rec.submit();
    const checks: [string, Tensor<'f32'>, ArrayLike<number>][] = [['out', p.out, want], ['dq', p.grads.dq, g.dq], ['dk', p.grads.dk, g.dk], ['dv', p.grads.dv, g.dv]];
    if (which === 'fused') checks.push(['dRabPos', p.grads.dRabPos!, g.dRabPos], ['dRabTime', p.grads.dRabTime!, g.dRabTime]);
    for (const [name, t, w] of checks) {
      const r = compare(`hstu_attention ${which} ${name}`, await gpu.read(t), w, name.startsWith('dRab') ? { atol: 1e-4, rtol: 2e-4 } : tol);
      if (!r.ok) throw new Error(r.report);
    }
  }
  naive.release();
  p.release();
}

/** Wall time of submit + wait, ms per repetition, after one warm-up. lavapipe's timestamp queries
 *  under-report long dispatches here (118 ms vs 640 ms of wall for the same pass), so this bench
 *  does not use ctx.time. Includes ~0.1 ms of submit overhead per rep. */
async function wallTime(gpu: Gpu, record: (rec: Recorder) => void, reps: number): Promise<number> {
  const warm = gpu.recorder('bench:warmup');
  record(warm);
  await warm.run();
  const rec = gpu.recorder('bench:timed');
  for (let i = 0; i < reps; i++) record(rec);
  const t0 = performance.now();
  await rec.run();
  return (performance.now() - t0) / reps;
}

export const bench: BenchSpec = {
  name: 'hstu_attention',
  description: 'fused HSTU pointwise attention (fwd, fwd+bwd, rab + causal mask) vs naive padded N×N composition',
  async run(ctx) {
    const { gpu } = ctx;
    await check(gpu);
    const rows: BenchRow[] = [];
    const env = process.env.HSTU_ATTN_BENCH_NS;
    const Ns = ctx.quick ? [32] : env ? env.split(',').map(Number) : [64, 128, 256, 512, 1024];
    const allConfigs = [{ H: 2, d: 32 }, { H: 8, d: 64 }];
    const pick = process.env.HSTU_ATTN_BENCH_CONFIG; // '0' or '1': one of allConfigs only
    const configs = ctx.quick ? [{ H: 2, d: 8 }] : pick ? [allConfigs[Number(pick)]!] : allConfigs;
    const tokens = ctx.quick ? 96 : Number(process.env.HSTU_ATTN_BENCH_TOKENS ?? 16384);
    // The naive path costs ~24·d FLOPs per causal pair at naive-matmul speed: skip it where one
    // forward+backward would exceed this many pair·dims (N=1024 at H=8, d=64 takes minutes).
    const naiveCap = ctx.quick ? Infinity : Number(process.env.HSTU_ATTN_NAIVE_CAP ?? 4.5e9);
    for (const { H, d } of configs) {
      for (const N of Ns) {
        const B = Math.max(1, Math.round(tokens / N));
        const p = makeProblem(gpu, Array.from({ length: B }, () => N), H, d, N, N + H);
        const pairs = (B * H * N * (N + 1)) / 2;
        const fwdFlops = pairs * 2 * (2 * d);
        const bwdFlops = pairs * 4 * (2 * d);
        const shape = `B=${B} N=${N} H=${H} dqk=dv=${d} rab`;
        const bytesFwd = 4 * p.o.L * H * d * 4;
        const reps = ctx.quick ? 1 : 1;
        const fF = await wallTime(gpu, (rec) => hstuAttention(rec, p.x, p.out, p.o), reps);
        const fFB = await wallTime(gpu, (rec) => {
          hstuAttention(rec, p.x, p.out, p.o);
          hstuAttentionBackward(rec, p.x, p.dOut, p.grads, p.o);
        }, reps);
        let nF = NaN, nFB = NaN, note = '';
        const naiveWork = B * H * N * N * d;
        if (naiveWork <= naiveCap) {
          const naive = new NaiveAttention(gpu, p.o);
          nF = await wallTime(gpu, (rec) => naive.record(rec, p.x, p.out), reps);
          nFB = await wallTime(gpu, (rec) => naive.record(rec, p.x, p.out, { dOut: p.dOut, grads: p.grads }), reps);
          note = `wall clock; naive in chunks of ${naive.chunk} seqs; naive skips rab grads`;
          naive.release();
        } else note = `wall clock; naive skipped (B·H·N²·d = ${naiveWork.toExponential(2)} > cap ${naiveCap.toExponential(2)}; minutes on lavapipe)`;
        const sp = (a: number, b: number) => (Number.isFinite(b) ? Math.round((b / a) * 100) / 100 : 'n/a');
        rows.push(await ctx.row({ kernel: 'hstu_attention', variant: 'fused fwd', shape, ms: fF, flops: fwdFlops, bytes: bytesFwd, extra: { speedup_vs_naive: sp(fF, nF), naive_ms: Number.isFinite(nF) ? Math.round(nF * 100) / 100 : 'n/a', note } }));
        rows.push(await ctx.row({ kernel: 'hstu_attention', variant: 'fused fwd+bwd', shape, ms: fFB, flops: fwdFlops + bwdFlops, bytes: bytesFwd * 2.5, extra: { speedup_vs_naive: sp(fFB, nFB), naive_ms: Number.isFinite(nFB) ? Math.round(nFB * 100) / 100 : 'n/a', note } }));
        if (Number.isFinite(nF)) {
          rows.push(await ctx.row({ kernel: 'hstu_attention', variant: 'naive fwd', shape, ms: nF, flops: fwdFlops, bytes: bytesFwd }));
          rows.push(await ctx.row({ kernel: 'hstu_attention', variant: 'naive fwd+bwd', shape, ms: nFB, flops: fwdFlops + bwdFlops, bytes: bytesFwd * 2.5 }));
        }
        p.release();
      }
    }
    return rows;
  },
};
