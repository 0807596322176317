import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createGpu, type Gpu, type Tensor } from '../gpu/index.js';
import { expectClose } from '../testing/compare.js';
import { poison } from '../testing/poison.js';
import { Rng } from '../testing/rng.js';
import { PAD_ID, topK, type TopKVariant } from './topk.js';
import { topKRef } from './topk.ref.js';

let gpu: Gpu;
beforeAll(async () => {
  gpu = await createGpu();
});
afterAll(() => gpu?.dispose());

interface Case {
  Q: number;
  n: number;
  d: number;
  k: number;
  /** Exclusions per query: random count in [0, maxExcl] (duplicates and out-of-range ids mixed in). */
  maxExcl: number;
  /** Values in {−1, −¾, …, 1}: every f32 dot is exact, so ids must match exactly (many ties). */
  dyadic: boolean;
  shards?: number;
  variant?: TopKVariant;
  chunkQueries?: number;
  /** Zero the first query: all its scores tie. */
  zeroQuery?: boolean;
  /** Exclude everything but `keep` items of query 0 (k > candidates: padding). */
  keep?: number;
}

function values(rng: Rng, count: number, dyadic: boolean): Float32Array {
  return dyadic ? Float32Array.from({ length: count }, () => rng.int(-4, 4) / 4) : rng.f32(count);
}

async function check(c: Case, seed: number): Promise<void> {
  const rng = new Rng(seed);
  const { Q, n, d, k } = c;
  const qs = values(rng, Q * d, c.dyadic);
  if (c.zeroQuery) qs.fill(0, 0, d);
  const its = values(rng, n * d, c.dyadic);
  const offsets = [0];
  const excl: number[] = [];
  for (let q = 0; q < Q; q++) {
    if (q === 0 && c.keep !== undefined) {
      for (let i = 0; i < n; i++) if (i % Math.max(1, Math.floor(n / c.keep)) !== 0 || i / Math.max(1, Math.floor(n / c.keep)) >= c.keep) excl.push(i);
      excl.push(excl[0] ?? 0); // a duplicate
    } else {
      const m = rng.int(0, c.maxExcl);
      for (let e = 0; e < m; e++) excl.push(rng.next() < 0.05 ? n + rng.int(0, 5) : rng.int(0, n - 1));
      if (m > 0) excl.push(excl[excl.length - 1]!);
    }
    offsets.push(excl.length);
  }
  const queries = gpu.f32(qs, [Q, d], 'queries');
  const parts = c.shards ?? 1;
  const shards: Tensor<'f32'>[] = [];
  for (let s = 0, start = 0; s < parts; s++) {
    const end = s === parts - 1 ? n : Math.min(n, start + Math.ceil(n / parts) - s);
    shards.push(gpu.f32(its.subarray(start * d, end * d), [end - start, d], `items${s}`));
    start = end;
  }
  const exclOffsets = gpu.u32(offsets, [Q + 1], 'exclOffsets'), exclIds = gpu.u32(excl, [excl.length], 'exclIds');
  const topIds = gpu.empty([Q, k], 'u32', 'topIds'), topScores = gpu.empty([Q, k], 'f32', 'topScores');
  poison(gpu, topIds, topScores);
  const rec = gpu.recorder();
  topK(rec, { queries, items: parts === 1 ? shards[0]! : shards, exclOffsets, exclIds }, k, { topIds, topScores }, { variant: c.variant, chunkQueries: c.chunkQueries });
  await rec.submit();
  const ids = await gpu.read(topIds), scores = await gpu.read(topScores);
  const want = topKRef(qs, its, Q, n, d, k, offsets, excl);
  if (c.dyadic) {
    const bad = [...ids].findIndex((v, i) => v !== want.ids[i]);
    if (bad >= 0) throw new Error(`topIds: first mismatch at [${Math.floor(bad / k)}, ${bad % k}]: got ${ids[bad]}, want ${want.ids[bad]}`);
    expectClose('topScores', scores, want.scores, { atol: 0, rtol: 0, shape: [Q, k] });
  } else {
    expectClose('topScores', scores, want.scores, { atol: 2e-5, rtol: 1e-5, shape: [Q, k] });
    // ids may differ from the reference only between near-equal scores; each id's own score must fit
    for (let i = 0; i < Q * k; i++) {
      if (ids[i] === want.ids[i]) continue;
      const q = Math.floor(i / k), id = ids[i]!;
      expect(id, `topIds[${q}, ${i % k}]`).toBeLessThan(n);
      let s = 0;
      for (let j = 0; j < d; j++) s += qs[q * d + j]! * its[id * d + j]!;
      expect(Math.abs(s - want.scores[i]!), `topIds[${q}, ${i % k}] = ${id}, want ${want.ids[i]}`).toBeLessThan(2e-5);
    }
  }
  // structural checks: no duplicates per row, no excluded id, padding only at the tail
  for (let q = 0; q < Q; q++) {
    const row = [...ids.subarray(q * k, (q + 1) * k)];
    const real = row.filter((v) => v !== PAD_ID);
    expect(new Set(real).size).toBe(real.length);
    const ex = new Set(excl.slice(offsets[q], offsets[q + 1]));
    expect(real.some((v) => ex.has(v))).toBe(false);
    expect(row.slice(real.length).every((v) => v === PAD_ID)).toBe(true);
  }
  [queries, ...shards, exclOffsets, exclIds, topIds, topScores].forEach((t) => t.release());
}

describe('topk', () => {
  const CASES: Case[] = [
    { Q: 3, n: 1, d: 3, k: 1, maxExcl: 1, dyadic: true },
    { Q: 5, n: 10, d: 4, k: 10, maxExcl: 4, dyadic: true },
    { Q: 4, n: 10, d: 1, k: 1, maxExcl: 9, dyadic: true },
    { Q: 37, n: 3706, d: 8, k: 200, maxExcl: 300, dyadic: true },
    { Q: 9, n: 3706, d: 50, k: 10, maxExcl: 50, dyadic: false },
    { Q: 3, n: 3706, d: 5, k: 2500, maxExcl: 2000, dyadic: true, keep: 1234 },
    { Q: 2, n: 30000, d: 16, k: 2500, maxExcl: 500, dyadic: true, zeroQuery: true },
    { Q: 3, n: 30000, d: 64, k: 200, maxExcl: 100, dyadic: false, shards: 3 },
    { Q: 11, n: 3706, d: 7, k: 1, maxExcl: 200, dyadic: true, shards: 2, chunkQueries: 4 },
    { Q: 2, n: 10, d: 2, k: 2500, maxExcl: 3, dyadic: true },
  ];
  it.each(CASES.map((c, i) => [i, c] as const))('radix #%i %o', async (i, c) => {
    await check(c, 500 + i);
  });

  it.each([
    { Q: 37, n: 3706, d: 8, k: 200, maxExcl: 300, dyadic: true, variant: 'naive' as const },
    { Q: 2, n: 30000, d: 16, k: 2500, maxExcl: 500, dyadic: true, zeroQuery: true, variant: 'naive' as const },
    { Q: 5, n: 10, d: 4, k: 10, maxExcl: 4, dyadic: true, variant: 'naive' as const, chunkQueries: 2 },
  ])('naive %o', async (c) => {
    await check(c, 900);
  });

  it('rejects bad shapes and arguments', () => {
    const q = gpu.empty([2, 3], 'f32', 'q'), items = gpu.empty([5, 4], 'f32', 'items'), ok = gpu.empty([5, 3], 'f32', 'ok');
    const ids = gpu.empty([2, 4], 'u32', 'ids'), sc = gpu.empty([2, 4], 'f32', 'sc'), off = gpu.empty([2], 'u32', 'off');
    const rec = gpu.recorder();
    expect(() => topK(rec, { queries: q, items }, 4, { topIds: ids, topScores: sc })).toThrow(/expected items as f32 \[rows, 3\], got f32 \[5, 4\]/);
    expect(() => topK(rec, { queries: q, items: ok }, 3, { topIds: ids, topScores: sc })).toThrow(/topIds as u32 \[2, 3\]/);
    expect(() => topK(rec, { queries: q, items: ok }, 0, { topIds: ids, topScores: sc })).toThrow(/k ≥ 1/);
    expect(() => topK(rec, { queries: q, items: ok, exclOffsets: off, exclIds: off }, 4, { topIds: ids, topScores: sc })).toThrow(/exclOffsets as u32 \[3\]/);
    expect(() => topK(rec, { queries: q, items: ok, exclOffsets: off }, 4, { topIds: ids, topScores: sc })).toThrow(/both exclOffsets and exclIds/);
    [q, items, ok, ids, sc, off].forEach((t) => t.release());
  });
});

describe('topk: non-finite scores (documented: a NaN score is not a candidate)', () => {
  // A NaN item row drops that item (never ranked as a number); +Inf ranks first; a NaN query
  // yields padding only (PAD_ID, −Inf), never finite-looking results; other queries unaffected.
  it.each(['radix', 'naive'] as const)('variant %s', async (variant) => {
    const n = 9, d = 3, k = 4;
    const its = new Rng(2).f32(n * d);
    its[4 * d + 1] = NaN; // item 4
    its[6 * d] = Infinity; // item 6: +Inf score for a positive query component... query 0 is all ones
    const qs = Float32Array.of(1, 1, 1, NaN, 0, 0, 0.5, -0.25, 1);
    const queries = gpu.f32(qs, [3, d]), items = gpu.f32(its, [n, d]);
    const exclOffsets = gpu.u32([0, 0, 0, 0], [4]), exclIds = gpu.u32([0], [1]);
    const topIds = gpu.empty([3, k], 'u32', 'topIds'), topScores = gpu.empty([3, k], 'f32', 'topScores');
    poison(gpu, topIds, topScores);
    const rec = gpu.recorder();
    topK(rec, { queries, items, exclOffsets, exclIds }, k, { topIds, topScores }, { variant });
    await rec.submit();
    const ids = await gpu.read(topIds), scores = await gpu.read(topScores);
    expect(ids[0]).toBe(6);
    expect(scores[0]).toBe(Infinity);
    for (const q of [0, 2]) expect([...ids.subarray(q * k, (q + 1) * k)]).not.toContain(4);
    expect([...ids.subarray(k, 2 * k)]).toEqual([PAD_ID, PAD_ID, PAD_ID, PAD_ID]);
    expect([...scores.subarray(k, 2 * k)]).toEqual([-Infinity, -Infinity, -Infinity, -Infinity]);
    [queries, items, exclOffsets, exclIds, topIds, topScores].forEach((t) => t.release());
  });
});
