import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createGpu, type Gpu } from '../gpu/index.js';
import { expectClose } from '../testing/compare.js';
import { jaggedFromLengths, randomJagged, type Jagged } from '../testing/jagged.js';
import { poison } from '../testing/poison.js';
import { expectIsolated } from '../testing/nonfinite.js';
import { Rng } from '../testing/rng.js';
import { softmaxAttention, softmaxAttentionBackward, softmaxAttentionNaive, type SoftmaxAttentionOptions } from './softmax_attention.js';
import { softmaxAttentionBackwardRef, softmaxAttentionRef, type AttnShape } from './softmax_attention.ref.js';

let gpu: Gpu;
beforeAll(async () => {
  gpu = await createGpu();
});
afterAll(() => gpu?.dispose());

const TOL = { atol: 2e-5, rtol: 2e-4 };

async function check(jag: Jagged, H: number, seed: number, spread = 2, DK = 8, DV = 12, launch?: 'cpu' | 'gpu', targets?: number[]): Promise<void> {
  const rng = new Rng(seed);
  const L = jag.total, B = jag.lengths.length;
  const nt = targets ? gpu.u32(Uint32Array.from(targets), [B], 'num_targets') : undefined;
  const o: SoftmaxAttentionOptions = { B, L, H, dk: DK, dv: DV, maxLen: Math.max(jag.maxLen, 1), scale: 1 / Math.sqrt(DK), launch, numTargets: nt };
  const qs = rng.f32(L * H * DK, -spread, spread), ks = rng.f32(L * H * DK, -spread, spread);
  const vs = rng.f32(L * H * DV), dos = rng.f32(L * H * DV);
  const q = gpu.f32(qs, [L, H, DK], 'q'), k = gpu.f32(ks, [L, H, DK], 'k'), v = gpu.f32(vs, [L, H, DV], 'v');
  const off = gpu.u32(jag.seqOffsets, [B + 1], 'seq_offsets'), dOut = gpu.f32(dos, [L, H, DV], 'dout');
  const out = gpu.empty([L, H, DV], 'f32', 'out'), lse = gpu.empty([L, H], 'f32', 'lse');
  const dq = gpu.empty([L, H, DK], 'f32', 'dq'), dk = gpu.empty([L, H, DK], 'f32', 'dk'), dv = gpu.empty([L, H, DV], 'f32', 'dv');
  poison(gpu, out, lse, dq, dk, dv);
  const rec = gpu.recorder();
  softmaxAttention(rec, q, k, v, off, out, lse, o);
  softmaxAttentionBackward(rec, q, k, v, off, out, lse, dOut, dq, dk, dv, o);
  await rec.submit();
  const s: AttnShape = { seqOffsets: jag.seqOffsets, H, dk: DK, dv: DV, scale: o.scale, numTargets: targets };
  const f = softmaxAttentionRef(s, qs, ks, vs);
  const g = softmaxAttentionBackwardRef(s, qs, ks, vs, dos);
  expectClose('out', await gpu.read(out), f.out, { ...TOL, shape: [L, H, DV] });
  expectClose('lse', await gpu.read(lse), f.lse, { ...TOL, shape: [L, H] });
  expectClose('dq', await gpu.read(dq), g.dq, { ...TOL, shape: [L, H, DK] });
  expectClose('dk', await gpu.read(dk), g.dk, { ...TOL, shape: [L, H, DK] });
  expectClose('dv', await gpu.read(dv), g.dv, { ...TOL, shape: [L, H, DV] });
  [q, k, v, off, dOut, out, lse, dq, dk, dv].forEach((t) => t.release());
  nt?.release();
}

describe('softmax attention (jagged, causal)', () => {
  const cases: [number, number, number][] = [];
  for (const N of [37, 1]) for (const H of [1, 2]) for (const seed of [1, 2]) cases.push([N, H, seed]);
  it.each(cases)('random batch N=%i H=%i seed=%i: out, lse, dq, dk, dv', async (N, H, seed) => {
    const rng = new Rng(1000 * N + 10 * H + seed);
    await check(randomJagged(rng, 6, N), H, seed);
  });

  it('large scores (online softmax rescaling across key blocks), lengths 0, 1, 37, 20', async () => {
    await check(jaggedFromLengths([0, 1, 37, 0, 20]), 2, 7, 6);
  });

  it.each([[5, 3], [6, 10]])('other head dims dk=%i dv=%i (row vector widths 1 and 2)', async (dk, dv) => {
    await check(randomJagged(new Rng(dk), 4, 19), 2, dk + dv, 2, dk, dv);
  });

  // The largest head dim compiled (MAX_HEAD_DIM): eSASRec's d = 256 with one head. Rows of 256
  // floats per lane stress private memory; a short batch keeps lavapipe's compile the cost.
  it('largest head dim dk=dv=256, lengths 0, 1, 13, 9', async () => {
    await check(jaggedFromLengths([0, 1, 13, 9]), 1, 57, 1, 256, 256);
  }, 240_000);

  it.each(['cpu', 'gpu'] as const)('launch shape %s on this device (lengths up to 70: several token blocks)', async (launch) => {
    await check(jaggedFromLengths([70, 0, 1, 65, 3]), 2, 21, 3, 8, 12, launch);
  });

  // Target mask: candidates see the history and themselves. Lengths 0 and 1, all-candidate
  // sequences (history 0: a candidate's first visible key is itself, after masked ones),
  // num_targets larger than the length (clamped), several token blocks, both launch shapes.
  it.each(['cpu', 'gpu'] as const)('target mask (launch %s): lengths 0, 1, 9, 70, 4, 23 with 0, 1, 3, 8, 4, 30 targets', async (launch) => {
    await check(jaggedFromLengths([0, 1, 9, 70, 4, 23]), 2, 31, 3, 8, 12, launch, [0, 1, 3, 8, 4, 30]);
  });

  it('target mask, head dims with row vector width 1 (dk=5, dv=3)', async () => {
    await check(jaggedFromLengths([6, 2, 11]), 3, 33, 2, 5, 3, undefined, [2, 2, 1]);
  });

  it('target mask reference: a candidate scored with others equals it scored alone at position h', () => {
    const rng = new Rng(41);
    const H = 2, dk = 4, dv = 3, h = 5, m = 3;
    const L = h + m;
    const q = rng.f32(L * H * dk, -2, 2), k = rng.f32(L * H * dk, -2, 2), v = rng.f32(L * H * dv);
    const all = softmaxAttentionRef({ seqOffsets: [0, L], H, dk, dv, scale: 0.5, numTargets: [m] }, q, k, v);
    for (let c = 0; c < m; c++) {
      const pick = (x: Float32Array, w: number) => Float32Array.from([...x.subarray(0, h * H * w), ...x.subarray((h + c) * H * w, (h + c + 1) * H * w)]);
      const alone = softmaxAttentionRef({ seqOffsets: [0, h + 1], H, dk, dv, scale: 0.5 }, pick(q, dk), pick(k, dk), pick(v, dv));
      expectClose(`candidate ${c}`, all.out.subarray((h + c) * H * dv, (h + c + 1) * H * dv), alone.out.subarray(h * H * dv), { atol: 1e-12, rtol: 1e-12 });
    }
  });

  it('empty batch (L = 0) records nothing and does not throw', async () => {
    await check(jaggedFromLengths([0, 0]), 1, 3);
  });

  it('naive composition (benchmark baseline) matches the reference', async () => {
    const rng = new Rng(77);
    const jag = randomJagged(rng, 5, 13), H = 2, L = jag.total, B = 5, N = 13, DK = 8, DV = 12;
    const o: SoftmaxAttentionOptions = { B, L, H, dk: DK, dv: DV, maxLen: N, scale: 0.4 };
    const qs = rng.f32(L * H * DK, -2, 2), ks = rng.f32(L * H * DK, -2, 2), vs = rng.f32(L * H * DV);
    const q = gpu.f32(qs), k = gpu.f32(ks), v = gpu.f32(vs), off = gpu.u32(jag.seqOffsets);
    const scores = gpu.empty([B * H, N, N], 'f32', 'scores'), out = gpu.empty([L, H, DV], 'f32', 'out');
    poison(gpu, scores, out);
    const rec = gpu.recorder();
    softmaxAttentionNaive(rec, q, k, v, off, scores, out, o);
    await rec.submit();
    const f = softmaxAttentionRef({ seqOffsets: jag.seqOffsets, H, dk: DK, dv: DV, scale: 0.4 }, qs, ks, vs);
    expectClose('naive out', await gpu.read(out), f.out, TOL);
    [q, k, v, off, scores, out].forEach((t) => t.release());
  });

  it('reference backward matches central finite differences', () => {
    const rng = new Rng(11);
    const jag = jaggedFromLengths([3, 0, 1, 4]);
    const H = 2, dk = 3, dv = 2, L = jag.total;
    const s: AttnShape = { seqOffsets: jag.seqOffsets, H, dk, dv, scale: 0.7 };
    const q = Array.from({ length: L * H * dk }, () => rng.uniform(-1.5, 1.5));
    const k = Array.from({ length: L * H * dk }, () => rng.uniform(-1.5, 1.5));
    const v = Array.from({ length: L * H * dv }, () => rng.uniform());
    const dOut = Array.from({ length: L * H * dv }, () => rng.uniform());
    const loss = (qq: number[], kk: number[], vv: number[]) => softmaxAttentionRef(s, qq, kk, vv).out.reduce((a, x, i) => a + x * dOut[i]!, 0);
    const g = softmaxAttentionBackwardRef(s, q, k, v, dOut);
    const eps = 1e-6;
    const fd = (xs: number[], which: 0 | 1 | 2, idx: number) => {
      const plus = [...xs], minus = [...xs];
      plus[idx]! += eps;
      minus[idx]! -= eps;
      const args = (x: number[]): [number[], number[], number[]] => (which === 0 ? [x, k, v] : which === 1 ? [q, x, v] : [q, k, x]);
      return (loss(...args(plus)) - loss(...args(minus))) / (2 * eps);
    };
    q.forEach((_, i) => expect(Math.abs(g.dq[i]! - fd(q, 0, i))).toBeLessThan(1e-7));
    k.forEach((_, i) => expect(Math.abs(g.dk[i]! - fd(k, 1, i))).toBeLessThan(1e-7));
    v.forEach((_, i) => expect(Math.abs(g.dv[i]! - fd(v, 2, i))).toBeLessThan(1e-7));
    // The gradients are not trivially zero.
    expect(Math.max(...g.dq.map(Math.abs))).toBeGreaterThan(1e-3);
    expect(Math.max(...g.dk.map(Math.abs))).toBeGreaterThan(1e-3);
  });

  it('reference forward: a length-1 sequence copies V and has lse = scale·q·k', () => {
    const s: AttnShape = { seqOffsets: [0, 1], H: 1, dk: 2, dv: 2, scale: 0.5 };
    const r = softmaxAttentionRef(s, [1, 2], [3, -1], [4, 5]);
    expect([...r.out]).toEqual([4, 5]);
    expect(r.lse[0]).toBeCloseTo(0.5 * (3 - 2), 12);
  });

  it('rejects bad shapes with expected/got messages', () => {
    const o: SoftmaxAttentionOptions = { B: 1, L: 2, H: 2, dk: 4, dv: 3, maxLen: 2, scale: 0.5 };
    const q = gpu.empty([2, 2, 4], 'f32', 'q'), v = gpu.empty([2, 2, 3], 'f32', 'v'), off = gpu.u32([0, 2], [2], 'off');
    const lse = gpu.empty([2, 2], 'f32', 'lse'), bad = gpu.empty([2, 2, 5], 'f32', 'bad');
    const rec = gpu.recorder();
    expect(() => softmaxAttention(rec, q, bad, v, off, v, lse, o)).toThrow(/expected k of shape \[L, H, dk\] = \[2, 2, 4\] = 16 elements, got 20/);
    expect(() => softmaxAttention(rec, q, q, v, off, bad, lse, o)).toThrow(/expected out .* got 20/);
    expect(() => softmaxAttention(rec, q, q, v, off, v, v, o)).toThrow(/expected lse of shape \[L, H\]/);
    expect(() => softmaxAttention(rec, q, q, v, off, v, lse, { ...o, B: 2 })).toThrow(/expected seqOffsets .* 3 elements, got 2/);
    expect(() => softmaxAttention(rec, q, q, v, off, v, lse, { ...o, H: 0 })).toThrow(/expected H an integer/);
    expect(() => softmaxAttention(rec, q, q, v, off, v, lse, { ...o, maxLen: 1 })).toThrow(/expected L ≤ B·maxLen/);
    expect(() => softmaxAttentionBackward(rec, q, q, v, off, v, lse, v, q, q, v, o)).toThrow(/distinct/);
    expect(() => softmaxAttention(rec, q, q, v, off, v, lse, o)).toThrow(/distinct .* aliases/);
    expect(() => softmaxAttention(rec, q, q, v, off, v, lse, { ...o, dk: 257 })).toThrow(/expected dk an integer in \[1, 256\], got 257/);
    expect(rec.size).toBe(0);
    [q, v, off, lse, bad].forEach((t) => t.release());
  });
});

describe('softmax attention: non-finite inputs are isolated', () => {
  // Inf in one candidate's Q, K and V (every head): its own rows are non-finite, the history it
  // sees gets non-finite dK/dV (the math), every other row stays bit-identical to the clean run.
  it.each(['cpu', 'gpu'] as const)('target mask, launch %s', async (launch) => {
    const jag = jaggedFromLengths([9, 6]), targets = [4, 2], H = 2, DK = 8, DV = 12, bad = 6;
    const L = jag.total, B = 2;
    const rng = new Rng(5);
    const qs = rng.f32(L * H * DK), ks = rng.f32(L * H * DK), vs = rng.f32(L * H * DV), dos = rng.f32(L * H * DV);
    const run = async (poisoned: boolean) => {
      const [q0, k0, v0] = [Float32Array.from(qs), Float32Array.from(ks), Float32Array.from(vs)];
      if (poisoned) for (let h = 0; h < H; h++) { q0[(bad * H + h) * DK] = Infinity; k0[(bad * H + h) * DK + 1] = -Infinity; v0[(bad * H + h) * DV + 2] = Infinity; }
      const nt = gpu.u32(Uint32Array.from(targets), [B], 'num_targets');
      const o: SoftmaxAttentionOptions = { B, L, H, dk: DK, dv: DV, maxLen: jag.maxLen, scale: 1 / Math.sqrt(DK), launch, numTargets: nt };
      const q = gpu.f32(q0, [L, H, DK], 'q'), k = gpu.f32(k0, [L, H, DK], 'k'), v = gpu.f32(v0, [L, H, DV], 'v');
      const off = gpu.u32(jag.seqOffsets, [B + 1], 'seq_offsets'), dOut = gpu.f32(dos, [L, H, DV], 'dout');
      const out = gpu.empty([L, H, DV], 'f32', 'out'), lse = gpu.empty([L, H], 'f32', 'lse');
      const dq = gpu.empty([L, H, DK], 'f32', 'dq'), dk = gpu.empty([L, H, DK], 'f32', 'dk'), dv = gpu.empty([L, H, DV], 'f32', 'dv');
      poison(gpu, out, lse, dq, dk, dv);
      const rec = gpu.recorder();
      softmaxAttention(rec, q, k, v, off, out, lse, o);
      softmaxAttentionBackward(rec, q, k, v, off, out, lse, dOut, dq, dk, dv, o);
      await rec.submit();
      const r = { out: await gpu.read(out), dq: await gpu.read(dq), dk: await gpu.read(dk), dv: await gpu.read(dv) };
      [q, k, v, off, dOut, out, lse, dq, dk, dv, nt].forEach((t) => t.release());
      return r;
    };
    const a = await run(false), b = await run(true);
    expectIsolated('out', b.out, a.out, [bad], H * DV);
    expectIsolated('dq', b.dq, a.dq, [bad], H * DK);
    expectIsolated('dk', b.dk, a.dk, [0, 1, 2, 3, 4, bad], H * DK);
    expectIsolated('dv', b.dv, a.dv, [0, 1, 2, 3, 4, bad], H * DV);
  });
});
