// The top-K lists behind coverage@10 / popularity bias: the GPU lists equal the float64 reference
// (history and padding excluded, ties to the smaller id, short rows padded), and the full
// evaluation gains the beyond-accuracy fields without changing its ranks.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createGpu, type Gpu } from '../kernels/gpu/index.js';
import { topKRef } from '../kernels/topk/topk.ref.js';
import { createEncoder } from '../model/encoder.js';
import { initParams } from '../model/params.js';
import { BeyondAccuracyAccumulator, EMPTY_SLOT, itemCounts, itemPopularity, type EvalBatch } from './data/index.js';
import { evaluateRetrieval } from './eval.js';
import { hostTopLists, listExclusions, recordTopLists } from './eval_top_lists.js';
import { tinyRunConfig, tinyRunData } from './tiny_run.js';
import { prepareSplit } from './train.js';

let gpu: Gpu;
beforeAll(async () => (gpu = await createGpu()));
afterAll(() => gpu?.dispose());

/** Keeps every list it is given (the test's window into what the metrics saw). */
class Recording extends BeyondAccuracyAccumulator {
  kept: number[][] = [];
  override add(list: ArrayLike<number>): void {
    this.kept.push(Array.from(list));
    super.add(list);
  }
}

describe('top-K lists for beyond-accuracy metrics', () => {
  it('listExclusions adds the padding id to every example', () => {
    const ex = listExclusions({ excludeOffsets: Uint32Array.from([0, 2, 2, 3]), excludeItems: Uint32Array.from([3, 5, 1]) });
    expect(Array.from(ex.offsets)).toEqual([0, 3, 4, 6]);
    expect(Array.from(ex.ids)).toEqual([0, 3, 5, 0, 0, 1]);
  });

  it('GPU lists equal the float64 reference on dyadic values (many exact ties), with a short row', async () => {
    const Q = 5, n = 37, d = 4, k = 10;
    let s = 12345;
    const rnd = () => ((s = (s * 1103515245 + 12345) >>> 0) >>> 16) % 9;
    const qs = Float32Array.from({ length: Q * d }, () => (rnd() - 4) / 4);
    const items = Float32Array.from({ length: n * d }, () => (rnd() - 4) / 4);
    // example 2 excludes all but 3 real items: its list is short (padding slots).
    const hist = [[1, 2, 30], [], Array.from({ length: n - 4 }, (_, i) => i + 4), [5], [36, 35, 7]].map((h) => [...h].sort((a, b) => a - b));
    const excludeOffsets = Uint32Array.from([0, ...hist.map((_, q) => hist.slice(0, q + 1).flat().length)]);
    const eb = { targets: new Uint32Array(Q), excludeOffsets, excludeItems: Uint32Array.from(hist.flat()) } as unknown as EvalBatch;
    const tq = gpu.upload(qs, [Q, d], 'f32', 't:q');
    const ti = gpu.upload(items, [n, d], 'f32', 't:i');
    const rec = gpu.recorder('t');
    const pending = recordTopLists(rec, gpu, tq, ti, eb, k);
    await rec.submit();
    const acc = new Recording(itemPopularity(new Float64Array(n).fill(1)), k);
    await pending.collect(acc);
    pending.release();
    tq.release();
    ti.release();
    const ex = listExclusions(eb);
    const ref = topKRef(qs, items, Q, n, d, k, ex.offsets, ex.ids);
    expect(acc.kept.flat()).toEqual(Array.from(ref.ids));
    expect(acc.kept[2]!.filter((id) => id !== EMPTY_SLOT)).toHaveLength(3);
    expect(acc.kept.flat()).not.toContain(0);
  });

  it('host lists (CPU adapters) equal the float64 reference: ties, NaN, ±0, −Infinity, short rows, ids ≥ n ignored', () => {
    for (const [Q, n, k] of [[7, 41, 10], [3, 7, 10], [2, 1, 3]] as const) {
      let s = 777 + n;
      const rnd = () => ((s = (s * 1103515245 + 12345) >>> 0) >>> 16) % 7;
      const scores = Float32Array.from({ length: Q * n }, () => (rnd() - 3) / 2); // dyadic: many exact ties
      const put = (q: number, i: number, v: number) => { if (q < Q && i < n) scores[q * n + i] = v; };
      put(0, 3, NaN); put(0, 9, NaN); put(1, 2, -0); put(1, 5, 0); put(1, 6, Infinity); put(2, 4, -Infinity); put(0, 0, 100);
      const hist = Array.from({ length: Q }, (_, q) => (q === 3 ? Array.from({ length: n - 3 }, (_, i) => i) : [0, q + 1, n + 5]).sort((a, b) => a - b));
      const excl = { offsets: Uint32Array.from([0, ...hist.map((_, q) => hist.slice(0, q + 1).flat().length)]), ids: Uint32Array.from(hist.flat()) };
      const got = hostTopLists(scores, Q, n, excl, k);
      for (let q = 0; q < Q; q++) {
        const ref = topKRef([1], scores.subarray(q * n, (q + 1) * n), 1, n, 1, k, [0, hist[q]!.length], hist[q]!);
        expect(Array.from(got.subarray(q * k, (q + 1) * k)), `Q ${Q} n ${n} row ${q}`).toEqual(Array.from(ref.ids));
      }
      if (Q > 3) expect(Array.from(got.subarray(3 * k, 4 * k)).filter((id) => id !== EMPTY_SLOT)).toHaveLength(3);
      expect(Array.from(got)).not.toContain(0); // the padding id is excluded everywhere (row 0's score 100 included)
    }
  });

  it('evaluateRetrieval: host and device lists give the same beyond-accuracy metrics', async () => {
    const c = tinyRunConfig();
    const data = tinyRunData();
    const split = prepareSplit(data, c);
    const enc = await createEncoder(gpu, c, data.numItems, initParams(c, data.numItems - 1, c.seed));
    try {
      const popularity = itemPopularity(itemCounts(split.train));
      const host = await evaluateRetrieval(gpu, enc, split.test, { maxLen: c.maxLen, popularity, topLists: 'host' });
      const device = await evaluateRetrieval(gpu, enc, split.test, { maxLen: c.maxLen, popularity, topLists: 'device' });
      expect(host.beyond!.lists).toBe(split.test.count);
      expect(host.beyond).toEqual(device.beyond);
      expect(Array.from(host.ranks)).toEqual(Array.from(device.ranks));
    } finally {
      enc.release();
    }
  });

  it('evaluateRetrieval: one list per example, coverage/bias in range, ranks unchanged', async () => {
    const c = tinyRunConfig();
    const data = tinyRunData();
    const split = prepareSplit(data, c);
    const enc = await createEncoder(gpu, c, data.numItems, initParams(c, data.numItems - 1, c.seed));
    try {
      const plain = await evaluateRetrieval(gpu, enc, split.test, { maxLen: c.maxLen });
      const popularity = itemPopularity(itemCounts(split.train));
      const withLists = await evaluateRetrieval(gpu, enc, split.test, { maxLen: c.maxLen, popularity });
      expect(plain.beyond).toBeUndefined();
      expect(Array.from(withLists.ranks)).toEqual(Array.from(plain.ranks));
      const b = withLists.beyond!;
      expect(b.lists).toBe(split.test.count);
      expect(b.coverage * (data.numItems - 1)).toBeGreaterThanOrEqual(10);
      expect(b.coverage).toBeLessThanOrEqual(1);
      expect(b.popPercentile > 0 && b.popPercentile < 1).toBe(true);
      expect(Number.isFinite(b.avgRecPopularity) && b.avgRecPopularity > 0).toBe(true);
    } finally {
      enc.release();
    }
  });
});
