// Ranking under config `similarity`: cosine ranks by cos(u, e) (L2-normalised item rows), dot by
// u·e over the RAW item rows, so an item's norm counts. Checked on every ranking path: the
// one-matrix evaluation (trainer/eval.ts), the streamed evaluation and its top-K lists
// (trainer/store/streamed_eval.ts, streamed_topk.ts), against float64 brute force, on an item
// table whose row norms are spread over two decades (so the two rankings really differ).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createGpu, type Gpu } from '../kernels/gpu/index.js';
import { Rng } from '../kernels/testing/rng.js';
import { createEncoder, type Encoder } from '../model/encoder.js';
import { initParams } from '../model/params.js';
import { batchEvalExamples, itemCounts, itemPopularity, type EvalExamples } from './data/index.js';
import { evaluateRetrieval } from './eval.js';
import { DeviceEmbeddingStore } from './store/device_store.js';
import { HostEmbeddingStore } from './store/host_store.js';
import { evaluateStreamed, userVectors } from './store/streamed_eval.js';
import { normalisedCopy, streamedTopK } from './store/streamed_topk.js';
import { tinyRunConfig, tinyRunData } from './tiny_run.js';
import { prepareSplit } from './train.js';

let gpu: Gpu;
beforeAll(async () => (gpu = await createGpu()));
afterAll(() => gpu?.dispose());

type Sim = 'cosine' | 'dot';

/** Row r of `w` as float64, L2-normalised for cosine (eps 1e-6, as the evaluation). */
function row64(w: Float32Array, r: number, d: number, sim: Sim): Float64Array {
  const x = Float64Array.from(w.subarray(r * d, (r + 1) * d));
  if (sim === 'cosine') {
    const n = Math.max(Math.hypot(...x), 1e-6);
    for (let c = 0; c < d; c++) x[c]! /= n;
  }
  return x;
}
const dot = (u: Float32Array, q: number, e: Float64Array) => e.reduce((s, v, c) => s + v * u[q * e.length + c]!, 0);

/** Bounds on each example's rank from float64 scores: items scoring above the target by more than
 *  f32 noise (lo) and above it within the noise (hi); a rank outside [lo, hi] is wrong. */
function rankBounds(ex: EvalExamples, users: Float32Array, w: Float32Array, d: number, sim: Sim): { lo: number; hi: number }[] {
  const rows = w.length / d;
  const items = Array.from({ length: rows }, (_, r) => row64(w, r, d, sim));
  const out: { lo: number; hi: number }[] = [];
  for (const eb of batchEvalExamples(ex, ex.count)) {
    for (let q = 0; q < eb.targets.length; q++) {
      const t = eb.targets[q]!;
      const excl = new Set(eb.excludeItems.subarray(eb.excludeOffsets[q], eb.excludeOffsets[q + 1]));
      const st = dot(users, q, items[t]!);
      const noise = 1e-5 * Math.max(1, Math.abs(st));
      let lo = 0, hi = 0;
      for (let i = 1; i < rows; i++) {
        if (i === t || excl.has(i)) continue;
        const s = dot(users, q, items[i]!);
        if (s > st + noise) lo++;
        if (s > st - noise) hi++;
      }
      out.push({ lo, hi });
    }
  }
  return out;
}

function expectRanks(got: Uint32Array, want: { lo: number; hi: number }[], what: string): void {
  let exact = 0;
  want.forEach(({ lo, hi }, q) => {
    expect(got[q]!, `${what}: example ${q}`).toBeGreaterThanOrEqual(lo);
    expect(got[q]!, `${what}: example ${q}`).toBeLessThanOrEqual(hi);
    if (lo === hi) exact++;
  });
  expect(exact).toBeGreaterThan(want.length * 0.9);
}

/** A tiny encoder whose item rows (ids ≥ 1) are scaled by factors in [0.1, 10]. */
async function spreadEncoder(similarity: Sim) {
  const c = tinyRunConfig({ similarity });
  const data = tinyRunData();
  const split = prepareSplit(data, c);
  const enc = await createEncoder(gpu, c, data.numItems, initParams(c, data.numItems - 1, c.seed));
  const d = c.dim, rng = new Rng(17);
  const w = await enc.items.read('w');
  for (let r = 1; r < enc.items.rows; r++) {
    const f = Math.exp(rng.uniform(Math.log(0.1), Math.log(10)));
    for (let k = 0; k < d; k++) w[r * d + k]! *= f;
  }
  enc.items.upload(w);
  return { c, data, split, enc, w };
}

const usersOf = (enc: Encoder, ex: EvalExamples, maxLen: number) => userVectors(gpu, enc, ex, { maxLen, encoderRows: enc.items.rows });

describe('evaluation ranks by the config\'s similarity', () => {
  it('one-matrix path: cosine ranks = float64 cosine, dot ranks = float64 u·e over raw rows; they differ', async () => {
    const { c, split, enc, w } = await spreadEncoder('dot');
    try {
      const users = await usersOf(enc, split.test, c.maxLen);
      const cos = await evaluateRetrieval(gpu, enc, split.test, { maxLen: c.maxLen });
      const cos2 = await evaluateRetrieval(gpu, enc, split.test, { maxLen: c.maxLen, similarity: 'cosine' });
      const dotR = await evaluateRetrieval(gpu, enc, split.test, { maxLen: c.maxLen, similarity: 'dot' });
      expectRanks(cos.ranks, rankBounds(split.test, users, w, c.dim, 'cosine'), 'cosine');
      expect(Array.from(cos2.ranks)).toEqual(Array.from(cos.ranks)); // the default is cosine
      expectRanks(dotR.ranks, rankBounds(split.test, users, w, c.dim, 'dot'), 'dot');
      const moved = dotR.ranks.filter((r, q) => r !== cos.ranks[q]).length;
      expect(moved).toBeGreaterThan(split.test.count * 0.3);
    } finally {
      enc.release();
    }
  });

  it('a large-norm item outranks a better-aligned small one under dot, not under cosine', async () => {
    const { c, split, enc, w } = await spreadEncoder('dot');
    try {
      const d = c.dim;
      // The first test example whose target is not in its own history (so its user vector does
      // not depend on the rows set below).
      const ex = split.test;
      const q = Array.from({ length: ex.count }, (_, i) => i).find((i) => !ex.historyItems.subarray(ex.historyOffsets[i], ex.historyOffsets[i + 1]).includes(ex.targets[i]!))!;
      const one: EvalExamples = { ...ex, count: 1, users: ex.users.slice(q, q + 1), targets: ex.targets.slice(q, q + 1), targetTimestamps: ex.targetTimestamps.slice(q, q + 1), targetRatings: ex.targetRatings.slice(q, q + 1), historyOffsets: Uint32Array.of(0, ex.historyOffsets[q + 1]! - ex.historyOffsets[q]!), historyItems: ex.historyItems.slice(ex.historyOffsets[q], ex.historyOffsets[q + 1]), historyTimestamps: ex.historyTimestamps.slice(ex.historyOffsets[q], ex.historyOffsets[q + 1]), historyRatings: ex.historyRatings.slice(ex.historyOffsets[q], ex.historyOffsets[q + 1]), targetPositions: ex.targetPositions.slice(q, q + 1) };
      const hist = new Set(one.historyItems);
      const t = one.targets[0]!;
      const big = Array.from({ length: enc.items.rows }, (_, i) => i).find((i) => i > 0 && i !== t && !hist.has(i))!;
      const u = await usersOf(enc, one, c.maxLen);
      const n = Math.hypot(...u);
      // target: exactly along u, norm 0.1; `big`: 30° off u, norm 10.
      const rng = new Rng(3);
      const v = rng.f32(d);
      const vu = v.reduce((s, x, k) => s + x * u[k]!, 0) / (n * n);
      for (let k = 0; k < d; k++) v[k]! -= vu * u[k]!;
      const nv = Math.hypot(...v);
      for (let k = 0; k < d; k++) {
        w[t * d + k] = (0.1 * u[k]!) / n;
        w[big * d + k] = 10 * (Math.cos(Math.PI / 6) * (u[k]! / n) + Math.sin(Math.PI / 6) * (v[k]! / nv));
      }
      enc.items.upload(w);
      expect(Array.from(await usersOf(enc, one, c.maxLen))).toEqual(Array.from(u)); // unchanged user
      const cos = await evaluateRetrieval(gpu, enc, one, { maxLen: c.maxLen, similarity: 'cosine' });
      const dotR = await evaluateRetrieval(gpu, enc, one, { maxLen: c.maxLen, similarity: 'dot' });
      expect(cos.ranks[0]).toBe(0); // cos = 1: nothing beats it
      expect(dotR.ranks[0]).toBeGreaterThanOrEqual(1); // u·e_big ≈ 8.7‖u‖ > 0.1‖u‖
      expectRanks(dotR.ranks, rankBounds(one, u, w, d, 'dot'), 'dot');
    } finally {
      enc.release();
    }
  });

  it('streamed path (chunks of 5 rows) and its top-10 lists: the one-matrix path\'s dot ranks and beyond-accuracy metrics', async () => {
    const { c, split, enc } = await spreadEncoder('dot');
    try {
      const popularity = itemPopularity(itemCounts(split.train));
      const o = { maxLen: c.maxLen, popularity };
      for (const similarity of ['dot', 'cosine'] as const) {
        const whole = await evaluateRetrieval(gpu, enc, split.test, { ...o, similarity });
        const streamed = await evaluateStreamed(gpu, enc, split.test, new DeviceEmbeddingStore(enc.items), { ...o, encoderRows: enc.items.rows, chunkRows: 5, listQueries: 4, similarity });
        expect(Array.from(streamed.ranks), similarity).toEqual(Array.from(whole.ranks));
        expect(streamed.beyond, similarity).toEqual(whole.beyond);
      }
    } finally {
      enc.release();
    }
  });
});

describe('streamed top-K by dot product', () => {
  it('equals float64 top-K by u·e over raw rows; normalisedCopy keeps raw rows for dot', async () => {
    const rows = 131, D = 12, k = 10, Q = 3;
    const rng = new Rng(9);
    const w = rng.f32(rows * D, -1, 1);
    for (let r = 0; r < rows; r++) { const f = rng.uniform(0.1, 10); for (let c = 0; c < D; c++) w[r * D + c]! *= f; }
    const store = new HostEmbeddingStore(rows, D, { init: (x, r0) => x.set(w.subarray(r0 * D, r0 * D + x.length)) });
    const queries = rng.f32(Q * D, -1, 1);
    const exclude = Array.from({ length: Q }, () => Uint32Array.from(new Set([0, rng.int(0, rows - 1), rng.int(0, rows - 1)])));
    const copy = await normalisedCopy(store, 40, 'dot');
    for (const source of [store, copy]) {
      const got = await streamedTopK(gpu, queries, source, k, exclude, { chunkRows: 17, similarity: 'dot' });
      for (let q = 0; q < Q; q++) {
        const ex = new Set(exclude[q]);
        const want = Array.from({ length: rows }, (_, i) => i).filter((i) => !ex.has(i)).map((i) => ({ i, s: dot(queries, q, row64(w, i, D, 'dot')) }))
          .sort((a, b) => b.s - a.s || a.i - b.i).slice(0, k);
        expect(Array.from(got.ids.subarray(q * k, (q + 1) * k)), `query ${q}`).toEqual(want.map((x) => x.i));
        want.forEach((x, j) => expect(Math.abs(got.scores[q * k + j]! - x.s)).toBeLessThan(1e-4 * Math.max(1, Math.abs(x.s))));
      }
    }
    const chunks: Float32Array[] = [];
    for await (const ch of copy.chunks(rows)) chunks.push(ch.w);
    expect(Array.from(chunks[0]!.subarray(0, 3 * D))).toEqual(Array.from(w.subarray(0, 3 * D)));
  });
});
