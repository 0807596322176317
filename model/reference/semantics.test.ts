// The tape code against dumb loop transcriptions of /tmp/semantics.md and DESIGN §2 (the
// gradient checks cannot catch a forward that computes the wrong function consistently).
import { describe, expect, it } from 'vitest';
import { expectClose } from '../../kernels/testing/compare.js';
import { Rng } from '../../kernels/testing/rng.js';
import { type Config, resolvedDqk, resolvedDv } from '../config.js';
import { batchLayout, timeBucket } from './batch.js';
import { randomBatch, randomParams, tinyConfig } from './fixtures.js';
import { hstuAttentionRef, hstuAttentionVjp, hstuLayerRef } from './hstu.js';
import { referenceLoss } from './model.js';
import * as op from './ops.js';
import { backward, constant, param } from './tape.js';
import { sasrecAttention } from './sasrec.js';

const silu = (x: number) => x / (1 + Math.exp(-x));
const rand = (rng: Rng, n: number) => Float64Array.from({ length: n }, () => rng.uniform(-1, 1));

/** O_i = Σ_j [visible] SiLU(alpha·Q_i·K_j + rab_pos[p_j−p_i+N−1] + rab_time[bucket(qt_i−t_j)]) / norm · V_j, written out. */
function loopAttention(
  c: Config, q: Float64Array, k: Float64Array, v: Float64Array, off: number[], nt: number[], ts: number[],
  alpha: number, rabPos?: Float64Array, rabTime?: Float64Array,
): Float64Array {
  const H = c.numHeads, dqk = resolvedDqk(c), dv = resolvedDv(c), N = c.maxLen;
  const out = new Float64Array(off[off.length - 1]! * H * dv);
  for (let b = 0; b + 1 < off.length; b++) {
    const s = off[b]!, n = off[b + 1]! - s, kk = nt[b]!, hist = n - kk;
    const norm = c.normalizeByLength ? Math.max(1, hist + (kk > 0 ? 1 : 0)) : N;
    const pos = (i: number) => (i < hist ? i : hist);
    const qt = (i: number) => (i < hist - 1 ? ts[s + i + 1]! : ts[s + i]!);
    for (let i = 0; i < n; i++)
      for (let j = 0; j < n; j++) {
        const vis = i < hist ? j <= i : j < hist || j === i;
        if (!vis) continue;
        for (let h = 0; h < H; h++) {
          let dot = 0;
          for (let e = 0; e < dqk; e++) dot += q[(s + i) * H * dqk + h * dqk + e]! * k[(s + j) * H * dqk + h * dqk + e]!;
          let sc = alpha * dot;
          if (rabPos) sc += rabPos[pos(j) - pos(i) + N - 1]!;
          if (rabTime) {
            const delta = Math.abs(qt(i) - ts[s + j]!);
            sc += rabTime[Math.min(128, Math.max(0, Math.floor(Math.log(Math.max(delta, 1)) / 0.301)))]!;
          }
          const a = silu(sc) / norm;
          for (let e = 0; e < dv; e++) out[(s + i) * H * dv + h * dv + e]! += a * v[(s + j) * H * dv + h * dv + e]!;
        }
      }
  }
  return out;
}

describe('semantics helpers', () => {
  it('timeBucket follows clamp(floor(ln(max(|Δ|,1))/0.301), 0, 128)', () => {
    expect(timeBucket(0)).toBe(0);
    expect(timeBucket(1)).toBe(0);
    expect(timeBucket(-1)).toBe(0);
    expect(timeBucket(2)).toBe(2); // ln 2 / 0.301 = 2.30
    expect(timeBucket(-2)).toBe(2);
    expect(timeBucket(86400)).toBe(Math.floor(Math.log(86400) / 0.301));
    expect(timeBucket(1e60)).toBe(128);
  });

  it('positions and query times: history i<h−1 uses t_{i+1}, h−1 its own, targets their own at position h', () => {
    const ts = [10, 20, 30, 40, 50, 7];
    const lay = batchLayout({ seqOffsets: [0, 5, 5, 6], items: [1, 2, 3, 4, 5, 6], timestamps: ts, targets: [0, 0, 0, 0, 0, 0], negatives: [], numTargets: [2, 0, 0] }, 5, 9);
    expect(Array.from(lay.positions)).toEqual([0, 1, 2, 3, 3, 0]);
    expect(Array.from(lay.queryTimes)).toEqual([20, 30, 30, 40, 50, 7]);
    // With next-event times, the last history token (index 2, and the lone token of sequence 2) uses them.
    const next = batchLayout({ seqOffsets: [0, 5, 5, 6], items: [1, 2, 3, 4, 5, 6], timestamps: ts, targets: [0, 0, 0, 0, 0, 0], negatives: [], numTargets: [2, 0, 0], nextTimestamps: [99, 98, 97] }, 5, 9);
    expect(Array.from(next.queryTimes)).toEqual([20, 30, 99, 40, 50, 97]);
  });

  it('batch validation names what it expected', () => {
    const ok = { seqOffsets: [0, 2], items: [1, 2], targets: [2, 0], negatives: [1, 3], timestamps: [1, 2] };
    expect(() => batchLayout({ ...ok, items: [1, 0] }, 5, 3)).toThrow(/expected items\[1\] in 1..3, got 0/);
    expect(() => batchLayout({ ...ok, seqOffsets: [0, 2], numTargets: [3] }, 5, 3)).toThrow(/numTargets\[0\] in 0..2, got 3/);
    expect(() => batchLayout(ok, 1, 3)).toThrow(/length in 0..1, got 2/);
    expect(() => batchLayout({ ...ok, negatives: [1, 2, 3] }, 5, 3)).toThrow(/negatives of length L·R/);
  });
});

describe('tape forward = loop transcription', () => {
  const lengths = [4, 0, 1, 5, 3, 2];
  const numTargets = [0, 0, 0, 2, 1, 0];
  for (const variant of [
    { name: 'rab, alpha 1/sqrt(dqk)', over: { attnAlpha: -1 }, rab: true },
    { name: 'no rab, normalise by length', over: { normalizeByLength: true, useRab: false }, rab: false },
    { name: 'rab, alpha 0.3, H=1, dqk 4', over: { numHeads: 1, dqk: 4, dv: 5, attnAlpha: 0.3 }, rab: true },
  ]) {
    it(`HSTU attention (${variant.name})`, () => {
      const rng = new Rng(21);
      const c = tinyConfig(variant.over);
      const H = c.numHeads, dqk = resolvedDqk(c), dv = resolvedDv(c);
      const batch = randomBatch(rng, lengths, 9, 0, numTargets);
      const lay = batchLayout(batch, c.maxLen, 9);
      const L = lay.L, ts = Array.from(batch.timestamps!);
      const q = rand(rng, L * H * dqk), k = rand(rng, L * H * dqk), v = rand(rng, L * H * dv);
      const rabPos = variant.rab ? rand(rng, 2 * c.maxLen - 1) : undefined;
      const rabTime = variant.rab ? rand(rng, 129) : undefined;
      const alpha = c.attnAlpha === 0 ? 1 : c.attnAlpha === -1 ? 1 / Math.sqrt(dqk) : c.attnAlpha;
      const got = hstuAttentionRef(c, q, k, v, lay, rabPos, rabTime, ts);
      const want = loopAttention(c, q, k, v, Array.from(batch.seqOffsets), numTargets, ts, alpha, rabPos, rabTime);
      expectClose('O', got, want, { atol: 1e-12, rtol: 1e-10 });
    });
  }

  it('HSTU layer: y = x + (U ⊙ LN(O))·W_o + b_o with n = LN(x), SiLU(n·W_uvqk)', () => {
    const rng = new Rng(22);
    const c = tinyConfig({ attnAlpha: -1 });
    const H = c.numHeads, dqk = resolvedDqk(c), dv = resolvedDv(c), d = c.dim, W = H * (2 * dv + 2 * dqk);
    const batch = randomBatch(rng, lengths, 9, 0, numTargets);
    const lay = batchLayout(batch, c.maxLen, 9);
    const L = lay.L, ts = Array.from(batch.timestamps!);
    const x = rand(rng, L * d);
    const p = { w_uvqk: rand(rng, d * W), w_o: rand(rng, H * dv * d), b_o: rand(rng, d), rab_pos: rand(rng, 2 * c.maxLen - 1), rab_time: rand(rng, 129) };
    const ln = (row: Float64Array) => {
      const mu = row.reduce((a, b) => a + b, 0) / row.length;
      const va = row.reduce((a, b) => a + (b - mu) ** 2, 0) / row.length;
      return row.map((e) => (e - mu) / Math.sqrt(va + 1e-6));
    };
    const U = new Float64Array(L * H * dv), V = new Float64Array(L * H * dv), Q = new Float64Array(L * H * dqk), K = new Float64Array(L * H * dqk);
    for (let t = 0; t < L; t++) {
      const n = ln(x.slice(t * d, t * d + d));
      for (let col = 0; col < W; col++) {
        let z = 0;
        for (let e = 0; e < d; e++) z += n[e]! * p.w_uvqk[e * W + col]!;
        z = silu(z);
        if (col < H * dv) U[t * H * dv + col] = z;
        else if (col < 2 * H * dv) V[t * H * dv + col - H * dv] = z;
        else if (col < 2 * H * dv + H * dqk) Q[t * H * dqk + col - 2 * H * dv] = z;
        else K[t * H * dqk + col - 2 * H * dv - H * dqk] = z;
      }
    }
    const O = loopAttention(c, Q, K, V, Array.from(batch.seqOffsets), numTargets, ts, 1 / Math.sqrt(dqk), p.rab_pos, p.rab_time);
    const y = new Float64Array(L * d);
    for (let t = 0; t < L; t++) {
      const lo = ln(O.slice(t * H * dv, (t + 1) * H * dv));
      for (let j = 0; j < d; j++) {
        let s = x[t * d + j]! + p.b_o[j]!;
        for (let e = 0; e < H * dv; e++) s += U[t * H * dv + e]! * lo[e]! * p.w_o[e * d + j]!;
        y[t * d + j] = s;
      }
    }
    const got = hstuLayerRef(c, x, p, lay, ts);
    expectClose('U', got.u, U, { atol: 1e-12, rtol: 1e-10 });
    expectClose('O', got.o, O, { atol: 1e-12, rtol: 1e-10 });
    expectClose('y', got.y, y, { atol: 1e-12, rtol: 1e-10 });
  });

  it('SASRec attention: causal softmax(Q·Kᵀ/sqrt(d/H))·V per head', () => {
    const rng = new Rng(23);
    const c = tinyConfig({ model: 'sasrec', dqk: 0, dv: 0 });
    const H = c.numHeads, d = c.dim, dh = d / H;
    const batch = randomBatch(rng, [4, 0, 1, 5], 9, 0);
    const lay = batchLayout(batch, c.maxLen, 9);
    const L = lay.L;
    const q = rand(rng, L * d), k = rand(rng, L * d), v = rand(rng, L * d);
    const got = sasrecAttention(c, constant(q, [L, d]), constant(k, [L, d]), constant(v, [L, d]), lay).data;
    const want = new Float64Array(L * d);
    const off = Array.from(batch.seqOffsets);
    for (let b = 0; b + 1 < off.length; b++)
      for (let i = off[b]!; i < off[b + 1]!; i++)
        for (let h = 0; h < H; h++) {
          const w: number[] = [];
          for (let j = off[b]!; j <= i; j++) {
            let s = 0;
            for (let e = 0; e < dh; e++) s += q[i * d + h * dh + e]! * k[j * d + h * dh + e]!;
            w.push(Math.exp(s / Math.sqrt(dh)));
          }
          const z = w.reduce((a, x) => a + x, 0);
          for (let j = off[b]!; j <= i; j++)
            for (let e = 0; e < dh; e++) want[i * d + h * dh + e]! += (w[j - off[b]!]! / z) * v[j * d + h * dh + e]!;
        }
    expectClose('O', got, want, { atol: 1e-12, rtol: 1e-10 });
  });

  it('loss = mean over targeted tokens of −log softmax([cos(u,e_t), cos(u,e_neg≠t)]/tau)[0]', () => {
    const rng = new Rng(24);
    const c = tinyConfig();
    const R = 3;
    const params = randomParams(c, 7, rng);
    const batch = randomBatch(rng, [3, 0, 1, 5, 4], 7, R);
    const { loss, outputs } = referenceLoss(c, params, batch);
    const emb = params.get('item_emb')!, d = c.dim;
    const cos = (t: number, item: number) => {
      let dot = 0, nn = 0;
      for (let e = 0; e < d; e++) { dot += outputs[t * d + e]! * emb[item * d + e]!; nn += emb[item * d + e]! ** 2; }
      return dot / Math.sqrt(nn);
    };
    let total = 0, count = 0, masked = 0;
    for (let t = 0; t < batch.targets.length; t++) {
      const tg = batch.targets[t]!;
      if (tg === 0) continue;
      const logits = [cos(t, tg) / c.temperature];
      for (let r = 0; r < R; r++) {
        const ng = batch.negatives[t * R + r]!;
        if (ng === tg) masked++;
        else logits.push(cos(t, ng) / c.temperature);
      }
      const lse = Math.log(logits.reduce((a, x) => a + Math.exp(x), 0));
      total += lse - logits[0]!;
      count++;
    }
    expect(masked).toBeGreaterThan(0);
    expect(Math.abs(loss - total / count)).toBeLessThan(1e-10);
    // Outputs are unit rows.
    for (let t = 0; t < outputs.length / d; t++) {
      let s = 0;
      for (let e = 0; e < d; e++) s += outputs[t * d + e]! ** 2;
      expect(Math.abs(s - 1)).toBeLessThan(1e-12);
    }
  });
});

describe('hstuAttentionVjp (for the attention kernels\' backward tests)', () => {
  it('dq, dk, dv, dRabPos, dRabTime = finite differences of Σ dO ⊙ O', () => {
    const rng = new Rng(26);
    const c = tinyConfig({ attnAlpha: -1 });
    const H = c.numHeads, dqk = resolvedDqk(c), dv = resolvedDv(c);
    const batch = randomBatch(rng, [4, 0, 1, 5], 9, 0, [0, 0, 0, 2]);
    const lay = batchLayout(batch, c.maxLen, 9);
    const L = lay.L, ts = Array.from(batch.timestamps!);
    const ins = [rand(rng, L * H * dqk), rand(rng, L * H * dqk), rand(rng, L * H * dv), rand(rng, 2 * c.maxLen - 1), rand(rng, 129)];
    const dO = rand(rng, L * H * dv);
    const f = (a: Float64Array[]) => hstuAttentionRef(c, a[0]!, a[1]!, a[2]!, lay, a[3], a[4], ts).reduce((s, o, i) => s + o * dO[i]!, 0);
    const g = hstuAttentionVjp(c, ins[0]!, ins[1]!, ins[2]!, lay, ins[3], ins[4], ts, dO);
    const grads = [g.dq, g.dk, g.dv, g.dRabPos!, g.dRabTime!];
    for (let which = 0; which < 5; which++) {
      let nonzero = 0;
      for (let i = 0; i < ins[which]!.length; i++) {
        const up = ins.map((a) => a.slice()), dn = ins.map((a) => a.slice());
        up[which]![i]! += 1e-6; dn[which]![i]! -= 1e-6;
        const fd = (f(up) - f(dn)) / 2e-6;
        expect(Math.abs(fd - grads[which]![i]!)).toBeLessThan(1e-7 * Math.max(1, Math.abs(fd)));
        if (Math.abs(fd) > 1e-9) nonzero++;
      }
      expect(nonzero).toBeGreaterThan(0);
    }
  });
});

// op-level checks for ops the model does not use in every path.
describe('ops', () => {
  it('exp, log, softmax rows (masked) have finite-difference gradients', () => {
    const rng = new Rng(25);
    const x0 = Float64Array.from({ length: 12 }, () => rng.uniform(0.2, 2));
    const keep = Uint8Array.from({ length: 12 }, (_, i) => (i % 4 === 3 ? 0 : 1));
    const w = Float64Array.from({ length: 12 }, () => rng.uniform(-1, 1));
    const f = (x: Float64Array) => {
      const t = param(x, [3, 4]);
      const y = op.sum(op.mul(op.add(op.softmaxRows(op.log(t), keep), op.exp(t)), constant(w, [3, 4])));
      return { t, y };
    };
    const { t, y } = f(x0);
    backward(y);
    for (let i = 0; i < 12; i++) {
      const xp = x0.slice(), xm = x0.slice();
      xp[i]! += 1e-6; xm[i]! -= 1e-6;
      const fd = (f(xp).y.data[0]! - f(xm).y.data[0]!) / 2e-6;
      expect(Math.abs(fd - t.grad![i]!)).toBeLessThan(1e-7 * Math.max(1, Math.abs(fd)));
    }
  });
});
