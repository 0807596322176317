// Streamed full ranking is exact: ranks summed over tiny chunks of the table equal float64 brute
// force (every item scored, history excluded, ties to the smaller id) on every example; and the
// streamed top-K merge equals the float64 top-K.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createGpu, type Gpu } from '../../kernels/gpu/index.js';
import { Rng } from '../../kernels/testing/rng.js';
import { batchEvalExamples, buildSequences, generateSynthetic, leaveLastOut } from '../data/index.js';
import { HostEmbeddingStore } from './host_store.js';
import { createEncoder } from '../../model/encoder.js';
import { initParams } from '../../model/params.js';
import { itemCounts, itemPopularity } from '../data/index.js';
import { evaluateRetrieval } from '../eval.js';
import { tinyRunConfig, tinyRunData } from '../tiny_run.js';
import { prepareSplit } from '../train.js';
import { DeviceEmbeddingStore } from './device_store.js';
import { evaluateStreamed, normaliseRows, streamedRanks } from './streamed_eval.js';
import { streamedTopK } from './streamed_topk.js';

let gpu: Gpu;
beforeAll(async () => (gpu = await createGpu()));
afterAll(() => gpu?.dispose());

const D = 12;

function normalised64(w: Float32Array, d: number): Float64Array {
  const out = new Float64Array(w.length);
  for (let r = 0; r < w.length / d; r++) {
    let s = 0;
    for (let c = 0; c < d; c++) s += w[r * d + c]! ** 2;
    const n = Math.max(Math.sqrt(s), 1e-6);
    for (let c = 0; c < d; c++) out[r * d + c] = w[r * d + c]! / n;
  }
  return out;
}
const dot64 = (u: Float32Array, q: number, t: Float64Array, i: number, d: number) => {
  let s = 0;
  for (let c = 0; c < d; c++) s += u[q * d + c]! * t[i * d + c]!;
  return s;
};

async function randomStore(rows: number, seed: number): Promise<{ store: HostEmbeddingStore; w: Float32Array }> {
  const rng = new Rng(seed);
  const w = rng.f32(rows * D, -1, 1);
  const store = new HostEmbeddingStore(rows, D, { init: (x, r0) => x.set(w.subarray(r0 * D, r0 * D + x.length)) });
  return { store, w };
}

describe('streamed full ranking', () => {
  it('ranks over chunks of 7 rows (5 queries per batch) equal float64 brute force on every example', async () => {
    const data = generateSynthetic({ seed: 2, numUsers: 23, numItems: 90, numClusters: 5, minEvents: 5, maxEvents: 25 });
    const ex = leaveLastOut(buildSequences(data), { maxHistory: 20 }).test;
    const { store, w } = await randomStore(data.numItems, 4);
    const users = new Rng(8).f32(ex.count * D, -1, 1);
    const got = await streamedRanks(gpu, users, ex, store, { chunkRows: 7, queryBatch: 5 });
    const t = normalised64(w, D);
    let exact = 0;
    for (const eb of batchEvalExamples(ex, ex.count)) {
      for (let q = 0; q < eb.targets.length; q++) {
        const target = eb.targets[q]!;
        const excl = new Set(eb.excludeItems.subarray(eb.excludeOffsets[q], eb.excludeOffsets[q + 1]));
        const st = dot64(users, q, t, target, D);
        let lo = 0, hi = 0; // strictly better by more than f32 noise / within it
        for (let i = 1; i < data.numItems; i++) {
          if (i === target || excl.has(i)) continue;
          const s = dot64(users, q, t, i, D);
          if (s > st + 1e-5) lo++;
          if (s > st - 1e-5) hi++;
        }
        expect(got[q]!, `example ${q}`).toBeGreaterThanOrEqual(lo);
        expect(got[q]!, `example ${q}`).toBeLessThanOrEqual(hi);
        if (lo === hi) exact++;
      }
    }
    expect(exact).toBeGreaterThan(ex.count * 0.9);
    // One chunk holding everything gives the same ranks.
    expect(Array.from(await streamedRanks(gpu, users, ex, store, {}))).toEqual(Array.from(got));
  });

  it('coverage@10 / popularity bias from streamed top-10 lists (chunks of 5 rows, 4 examples a pass) equal the one-matrix path\'s', async () => {
    const c = tinyRunConfig();
    const data = tinyRunData();
    const split = prepareSplit(data, c);
    const enc = await createEncoder(gpu, c, data.numItems, initParams(c, data.numItems - 1, c.seed));
    try {
      const popularity = itemPopularity(itemCounts(split.train));
      const whole = await evaluateRetrieval(gpu, enc, split.test, { maxLen: c.maxLen, popularity });
      const streamed = await evaluateStreamed(gpu, enc, split.test, new DeviceEmbeddingStore(enc.items), { maxLen: c.maxLen, encoderRows: enc.items.rows, popularity, chunkRows: 5, listQueries: 4 });
      expect(Array.from(streamed.ranks)).toEqual(Array.from(whole.ranks));
      expect(whole.beyond!.lists).toBe(split.test.count);
      expect(streamed.beyond).toEqual(whole.beyond);
      // Without popularity the streamed result has no beyond-accuracy fields (and costs no scan).
      expect((await evaluateStreamed(gpu, enc, split.test, new DeviceEmbeddingStore(enc.items), { maxLen: c.maxLen, encoderRows: enc.items.rows })).beyond).toBeUndefined();
    } finally {
      enc.release();
    }
  });

  it('normaliseRows gives unit rows and leaves zero rows zero', () => {
    const w = Float32Array.of(3, 4, 0, 0);
    normaliseRows(w, 2);
    expect(Array.from(w)).toEqual([Math.fround(0.6), Math.fround(0.8), 0, 0]);
  });
});

describe('streamed top-K', () => {
  it.each([[1, 5], [3, 17], [4, 200]])('%i queries, chunks of %i rows: equals float64 top-K with exclusions', async (Q, chunkRows) => {
    const rows = 131, k = 10;
    const { store, w } = await randomStore(rows, 9 + Q);
    const rng = new Rng(Q);
    const queries = rng.f32(Q * D, -1, 1);
    const exclude = Array.from({ length: Q }, () => Uint32Array.from(new Set([0, ...Array.from({ length: 6 }, () => rng.int(0, rows - 1))])));
    const got = await streamedTopK(gpu, queries, store, k, exclude, { chunkRows });
    const t = normalised64(w, D);
    for (let q = 0; q < Q; q++) {
      const ex = new Set(exclude[q]);
      const want = Array.from({ length: rows }, (_, i) => i).filter((i) => !ex.has(i)).map((i) => ({ i, s: dot64(queries, q, t, i, D) }))
        .sort((a, b) => b.s - a.s || a.i - b.i).slice(0, k);
      expect(Array.from(got.ids.subarray(q * k, (q + 1) * k)), `query ${q}`).toEqual(want.map((x) => x.i));
      want.forEach((x, j) => expect(Math.abs(got.scores[q * k + j]! - x.s)).toBeLessThan(1e-5));
    }
  });
});
