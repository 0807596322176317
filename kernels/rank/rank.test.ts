import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createGpu, type Gpu } from '../gpu/index.js';
import { poison } from '../testing/poison.js';
import { Rng } from '../testing/rng.js';
import { prepareExclusions, RANK_NON_FINITE, rankTargets, rankTargetsChunk, uploadExclusions } from './rank.js';
import { rankRef } from './rank.ref.js';

let gpu: Gpu;
beforeAll(async () => (gpu = await createGpu()));
afterAll(() => gpu?.dispose());

async function run(scores: Float32Array, Q: number, I: number, targets: Uint32Array, excl: { offsets: Uint32Array; ids: Uint32Array }) {
  const prepared = prepareExclusions(targets, excl, I);
  const s = gpu.f32(scores, [Q, I]), t = gpu.u32(targets), r = gpu.empty([Q], 'u32', 'ranks');
  const e = uploadExclusions(gpu, prepared);
  poison(gpu, r);
  const rec = gpu.recorder();
  rankTargets(rec, s, t, e.offsets, e.ids, r, { numQueries: Q, numItems: I });
  await rec.submit();
  const got = await gpu.read(r);
  [s, t, r, e.offsets, e.ids].forEach((x) => x.release());
  return got;
}

describe('rank', () => {
  it.each([[1, 2], [3, 7], [50, 1682], [7, 3707]])('matches the reference with ties and exclusions, Q=%i items=%i', async (Q, I) => {
    const rng = new Rng(Q * 31 + I);
    // Coarse scores make ties common.
    const scores = Float32Array.from({ length: Q * I }, () => Math.round(rng.uniform(-3, 3) * 4) / 4);
    const targets = Uint32Array.from({ length: Q }, () => rng.int(1, I - 1));
    const lists = Array.from({ length: Q }, (_, q) => Array.from({ length: rng.int(0, 20) }, () => (rng.next() < 0.1 ? targets[q]! : rng.int(0, I - 1))));
    const offsets = new Uint32Array(Q + 1);
    lists.forEach((l, q) => (offsets[q + 1] = offsets[q]! + l.length));
    const got = await run(scores, Q, I, targets, { offsets, ids: Uint32Array.from(lists.flat()) });
    for (let q = 0; q < Q; q++) expect(got[q], `query ${q}`).toBe(rankRef(scores, I, q, targets[q]!, lists[q]!.filter((x) => x !== targets[q])));
  });

  it('a perfect score ranks 0 and excluding every better item ranks 0', async () => {
    const scores = Float32Array.from([9, 0.1, 0.5, 0.9, 0.3]); // item 0 (padding) is never ranked
    const targets = Uint32Array.from([2]);
    expect(Array.from(await run(scores, 1, 5, targets, { offsets: Uint32Array.from([0, 0]), ids: new Uint32Array(0) }))).toEqual([1]);
    expect(Array.from(await run(scores, 1, 5, targets, { offsets: Uint32Array.from([0, 2]), ids: Uint32Array.from([3, 3]) }))).toEqual([0]);
  });

  it('rejects out-of-range exclusions', () => {
    expect(() => prepareExclusions(Uint32Array.from([1]), { offsets: Uint32Array.from([0, 1]), ids: Uint32Array.from([10]) }, 5)).toThrow(/out of range/);
  });
});

describe('rank: NaN scores', () => {
  it('a NaN target or eligible item gives RANK_NON_FINITE (never rank 0); excluded, padding NaN and ±Inf do not', async () => {
    const I = 6;
    const base = [0.5, 0.1, 0.4, 0.9, 0.3, 0.2];
    const rows = [
      [0.5, 0.1, NaN, 0.9, 0.3, 0.2], // target 2 NaN
      [0.5, 0.1, 0.4, NaN, 0.3, 0.2], // item 3 NaN (eligible)
      [0.5, 0.1, 0.4, 0.9, NaN, 0.2], // item 4 NaN but excluded
      [NaN, 0.1, 0.4, 0.9, 0.3, 0.2], // padding item 0 NaN: never ranked
      [0.5, 0.1, 0.4, Infinity, -Infinity, 0.2], // ±Inf order as numbers
      base,
    ];
    const Q = rows.length;
    const scores = Float32Array.from(rows.flat());
    const targets = new Uint32Array(Q).fill(2);
    const lists = rows.map((_, q) => (q === 2 ? [4] : []));
    const offsets = new Uint32Array(Q + 1);
    lists.forEach((l, q) => (offsets[q + 1] = offsets[q]! + l.length));
    const got = await run(scores, Q, I, targets, { offsets, ids: Uint32Array.from(lists.flat()) });
    expect(Array.from(got)).toEqual([RANK_NON_FINITE, RANK_NON_FINITE, 1, 1, 1, 1]);
    for (let q = 0; q < Q; q++) expect(rankRef(scores, I, q, 2, lists[q]!)).toBe(got[q]);
  });
});

/** Ranks of `scores` [Q, I] summed over chunks of C items by rankTargetsChunk. */
async function runChunked(scores: Float32Array, Q: number, I: number, C: number, targets: Uint32Array, lists: number[][]): Promise<Uint32Array> {
  const offsets = new Uint32Array(Q + 1);
  lists.forEach((l, q) => (offsets[q + 1] = offsets[q]! + l.length));
  const e = uploadExclusions(gpu, prepareExclusions(targets, { offsets, ids: Uint32Array.from(lists.flat()) }, I));
  const t = gpu.u32(targets), r = gpu.u32(new Uint32Array(Q), [Q], 'ranks');
  const owned = [];
  const rec = gpu.recorder();
  for (let base = 0; base < I; base += C) {
    const n = Math.min(C, I - base);
    const chunk = new Float32Array(Q * (n + Q)).fill(NaN); // other queries' target columns are never read
    for (let q = 0; q < Q; q++) {
      for (let i = 0; i < n; i++) chunk[q * (n + Q) + i] = scores[q * I + base + i]!;
      chunk[q * (n + Q) + n + q] = scores[q * I + targets[q]!]!;
    }
    const s = gpu.f32(chunk, [Q, n + Q]);
    owned.push(s);
    rankTargetsChunk(rec, s, t, e.offsets, e.ids, r, { numQueries: Q, chunkItems: n, base });
  }
  await rec.submit();
  const got = await gpu.read(r);
  [...owned, t, r, e.offsets, e.ids].forEach((x) => x.release());
  return got;
}

describe('rank over streamed chunks: NaN scores', () => {
  it('a NaN target or eligible item in any chunk gives RANK_NON_FINITE, as the one-matrix kernel', async () => {
    const I = 6;
    const rows = [
      [0.5, 0.1, NaN, 0.9, 0.3, 0.2], // target 2 NaN
      [0.5, 0.1, 0.4, NaN, 0.3, 0.2], // item 3 NaN (eligible), second chunk
      [0.5, 0.1, 0.4, 0.9, NaN, 0.2], // item 4 NaN but excluded
      [NaN, 0.1, 0.4, 0.9, 0.3, 0.2], // padding item 0 NaN: never ranked
      [0.5, NaN, 0.4, 0.9, 0.3, 0.2], // item 1 NaN in the first chunk, later chunks clean
      [0.5, 0.1, 0.4, 0.9, 0.3, 0.2],
    ];
    const Q = rows.length;
    const scores = Float32Array.from(rows.flat());
    const targets = new Uint32Array(Q).fill(2);
    const lists = rows.map((_, q) => (q === 2 ? [4] : []));
    for (const C of [1, 2, 4, 6]) {
      const got = await runChunked(scores, Q, I, C, targets, lists);
      expect(Array.from(got), `chunk ${C}`).toEqual([RANK_NON_FINITE, RANK_NON_FINITE, 1, 1, RANK_NON_FINITE, 1]);
    }
  });
});

describe('rank over streamed chunks', () => {
  it.each([[1, 5, 5], [4, 37, 10], [9, 300, 64], [3, 129, 1]])('Σ over chunks equals the reference, Q=%i items=%i chunk=%i', async (Q, I, C) => {
    const rng = new Rng(Q * 7 + I + C);
    const scores = Float32Array.from({ length: Q * I }, () => Math.round(rng.uniform(-3, 3) * 4) / 4);
    const targets = Uint32Array.from({ length: Q }, () => rng.int(1, I - 1));
    const lists = Array.from({ length: Q }, (_, q) => Array.from({ length: rng.int(0, 12) }, () => (rng.next() < 0.1 ? targets[q]! : rng.int(0, I - 1))));
    const got = await runChunked(scores, Q, I, C, targets, lists);
    for (let q = 0; q < Q; q++) expect(got[q], `query ${q}`).toBe(rankRef(scores, I, q, targets[q]!, lists[q]!.filter((x) => x !== targets[q])));
  });
});
