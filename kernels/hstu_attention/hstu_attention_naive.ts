// Naive composition of HSTU attention, the benchmark's baseline (and a second, independent
// implementation the bench checks against the reference): per chunk of sequences, pad Q, K, V to
// [Bc·H, N, d], materialise S = alpha·Q·Kᵀ [Bc·H, N, N] with a simple matmul kernel, add the bias,
// SiLU + mask + scale, O = A·V, unpad. Backward: dA = dO·Vᵀ, dS = dA·SiLU'(S)/norm (masked),
// dQ = alpha·dS·K, dK = alpha·dSᵀ·Q, dV = Aᵀ·dO. The rab gradients are NOT computed (a fair
// baseline would need a scatter over N² entries; leaving it out only flatters the naive side).
import { readFileSync } from 'node:fs';
import { Params, grid, type Gpu, type KernelSource, type Recorder, type Tensor } from '../gpu/index.js';
import { attentionFlags, bucketTable, type AttentionGrads, type AttentionInputs, type AttentionOptions } from './hstu_attention.js';

const EW = readFileSync(new URL('./hstu_attention_naive.wgsl', import.meta.url), 'utf8');
const MM = readFileSync(new URL('./hstu_attention_naive_matmul.wgsl', import.meta.url), 'utf8');
const OPS = { bias: 0, silu_mask: 1, silu_bwd: 2, pad: 3, unpad: 4 } as const;

function ew(op: keyof typeof OPS): KernelSource {
  return { name: `hstu_attention_naive_${op}`, wgsl: EW, defines: { OP: OPS[op] } };
}

function matmul(rec: Recorder, a: Tensor, b: Tensor, c: Tensor, batch: number, M: number, N: number, K: number, alpha: number, transA: boolean, transB: boolean): void {
  const total = batch * M * N;
  const params = new Params().u32(M).u32(N).u32(K).u32(total).f32(alpha).u32(0).u32(0).u32(0).done();
  rec.dispatch({ name: 'hstu_attention_naive_matmul', wgsl: MM, defines: { TRANS_A: transA, TRANS_B: transB } }, [a, b, c], grid(Math.ceil(total / 64)), params);
}

/** Scratch buffers of the naive path, sized for chunks of `chunk` sequences. Call release(). */
export class NaiveAttention {
  readonly chunk: number;
  private readonly t: Record<string, Tensor<'f32'>> = {};
  constructor(private readonly gpu: Gpu, private readonly o: AttentionOptions, maxScoreFloats = 1 << 23) {
    const { H, N, dqk, dv, B } = o;
    this.chunk = Math.max(1, Math.min(B, Math.floor(maxScoreFloats / (H * N * N))));
    const bh = this.chunk * H;
    const mk = (name: string, n: number) => (this.t[name] = gpu.empty([n], 'f32', `hstu_attention_naive:${name}`));
    mk('q', bh * N * dqk); mk('k', bh * N * dqk); mk('v', bh * N * dv); mk('o', bh * N * dv);
    mk('s', bh * N * N); mk('a', bh * N * N); mk('da', bh * N * N);
    mk('dq', bh * N * dqk); mk('dk', bh * N * dqk); mk('dv', bh * N * dv);
  }
  release(): void {
    for (const t of Object.values(this.t)) t.release();
  }

  private ew(rec: Recorder, x: AttentionInputs, op: keyof typeof OPS, b0: number, cols: number, src: Tensor, dst: Tensor, rows: number): void {
    const { H, N } = this.o;
    const total = rows * H * N * cols;
    const params = new Params().u32(H).u32(N).u32(cols).u32(total).u32(b0).f32(1 / (this.o.normalizer ?? N)).u32(attentionFlags(x)).u32(0).done();
    const dU = x.seqOffsets;
    rec.dispatch(ew(op), [x.seqOffsets, x.timestamps ?? dU, x.numTargets ?? dU, x.rabPos ?? src, x.rabTime ?? src, src, dst, bucketTable(this.gpu), x.nextTimestamps ?? dU], grid(Math.ceil(total / 64)), params);
  }

  /** Records forward (and backward when dOut/grads are given) for every chunk. */
  record(rec: Recorder, x: AttentionInputs, out: Tensor<'f32'>, back?: { dOut: Tensor<'f32'>; grads: AttentionGrads }): void {
    const { B, H, N, dqk, dv, alpha } = this.o;
    const t = this.t as Record<'q' | 'k' | 'v' | 'o' | 's' | 'a' | 'da' | 'dq' | 'dk' | 'dv', Tensor<'f32'>>;
    for (let b0 = 0; b0 < B; b0 += this.chunk) {
      const rows = Math.min(this.chunk, B - b0);
      const bh = rows * H;
      this.ew(rec, x, 'pad', b0, dqk, x.q, t.q, rows);
      this.ew(rec, x, 'pad', b0, dqk, x.k, t.k, rows);
      this.ew(rec, x, 'pad', b0, dv, x.v, t.v, rows);
      matmul(rec, t.q, t.k, t.s, bh, N, N, dqk, alpha, false, true);
      if (this.o.useRab) this.ew(rec, x, 'bias', b0, N, t.a, t.s, rows); // src unused (t.s is the read_write side)
      this.ew(rec, x, 'silu_mask', b0, N, t.s, t.a, rows);
      matmul(rec, t.a, t.v, t.o, bh, N, dv, N, 1, false, false);
      this.ew(rec, x, 'unpad', b0, dv, t.o, out, rows);
      if (!back) continue;
      this.ew(rec, x, 'pad', b0, dv, back.dOut, t.o, rows); // t.o now holds padded dO
      matmul(rec, t.o, t.v, t.da, bh, N, N, dv, 1, false, true); // dA = dO·Vᵀ
      this.ew(rec, x, 'silu_bwd', b0, N, t.s, t.da, rows); // dS (in place)
      matmul(rec, t.da, t.k, t.dq, bh, N, dqk, N, alpha, false, false); // dQ = alpha·dS·K
      matmul(rec, t.da, t.q, t.dk, bh, N, dqk, N, alpha, true, false); // dK = alpha·dSᵀ·Q
      matmul(rec, t.a, t.o, t.dv, bh, N, dv, N, 1, true, false); // dV = Aᵀ·dO
      this.ew(rec, x, 'unpad', b0, dqk, t.dq, back.grads.dq, rows);
      this.ew(rec, x, 'unpad', b0, dqk, t.dk, back.grads.dk, rows);
      this.ew(rec, x, 'unpad', b0, dv, t.dv, back.grads.dv, rows);
    }
  }
}
