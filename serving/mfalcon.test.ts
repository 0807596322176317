// M-FALCON equivalence on the GPU: the engine's scores (cached history K/V, candidates in
// microbatches under the target mask, concurrent requests packed into shared passes) equal
// scoring each candidate alone appended at position n — both the GPU model's one-at-a-time
// forward (serving/naive.ts) and the float64 reference model. Also: cache hits, extension of a
// cached history by new events, eviction under a small byte budget.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createGpu, type Gpu } from '../kernels/gpu/index.js';
import { expectClose } from '../kernels/testing/compare.js';
import { Rng } from '../kernels/testing/rng.js';
import { tinyConfig } from '../model/reference/fixtures.js';
import { randomRankingParams } from '../model/reference/ranking_fixtures.js';
import { referenceRanking } from '../model/reference/ranking.js';
import { NUM_TASKS, RankingModel } from '../model/ranking.js';
import type { History } from './cache.js';
import { ENTRY_OVERHEAD_BYTES } from './encoding.js';
import { MfalconEngine, type PassEvent } from './mfalcon.js';
import { scoreOneAtATime } from './naive.js';

const NUM_ITEMS = 37;
const N = 24; // maxLen: histories up to 23 events
const c = tinyConfig({ task: 'ranking', maxLen: N, numActions: 5, headHidden: 7, attnAlpha: -1 });
const TOL = { atol: 3e-5, rtol: 3e-4 };

let gpu: Gpu;
let model: RankingModel;
let params64: Map<string, Float64Array>;
beforeAll(async () => {
  gpu = await createGpu();
  params64 = randomRankingParams(c, NUM_ITEMS, new Rng(7));
  model = await RankingModel.create(gpu, c, NUM_ITEMS + 1, new Map([...params64].map(([k, v]) => [k, Float32Array.from(v)])));
});
afterAll(() => {
  model?.release();
  gpu?.dispose();
});

function randomHistory(rng: Rng, n: number): History {
  const h = { items: new Uint32Array(n), timestamps: new Uint32Array(n), actions: new Uint32Array(n) };
  let t = 1_600_000_000 + rng.int(0, 1000);
  for (let i = 0; i < n; i++) {
    h.items[i] = rng.int(1, NUM_ITEMS);
    h.actions[i] = rng.int(1, 5);
    h.timestamps[i] = t;
    t += Math.floor(Math.exp(rng.uniform(0, 12))); // wide gaps: many rab_time buckets
  }
  return h;
}
const candidatesOf = (rng: Rng, m: number) => Uint32Array.from({ length: m }, () => rng.int(1, NUM_ITEMS));
const lastTime = (h: History) => (h.items.length ? h.timestamps[h.items.length - 1]! : 1_600_000_000) + 3600;
const extend = (h: History, e: History): History => ({
  items: Uint32Array.from([...h.items, ...e.items]),
  timestamps: Uint32Array.from([...h.timestamps, ...e.timestamps.map((t) => t + h.timestamps[h.items.length - 1]! + 10)]),
  actions: Uint32Array.from([...h.actions, ...e.actions]),
});

/** Float64 reference: each candidate alone at position n (one sequence per candidate). */
function reference(h: History, cands: Uint32Array, time: number): Float64Array {
  const n = h.items.length, m = cands.length;
  const seqOffsets = [0], items: number[] = [], timestamps: number[] = [], actions: number[] = [];
  for (const cand of cands) {
    items.push(...h.items, cand);
    timestamps.push(...h.timestamps, time);
    actions.push(...h.actions, 0);
    seqOffsets.push(seqOffsets[seqOffsets.length - 1]! + n + 1);
  }
  const r = referenceRanking(c, params64, { seqOffsets, items, timestamps, actions, numTargets: new Array(m).fill(1), likes: new Array(m).fill(0), ratings: new Array(m).fill(3) });
  const out = new Float64Array(m * NUM_TASKS);
  r.candidates.forEach((row, i) => out.set(r.logits.subarray(row * NUM_TASKS, (row + 1) * NUM_TASKS), i * NUM_TASKS));
  return out;
}

describe('M-FALCON = each candidate alone at position n', () => {
  it.each([
    [1, 1, 1],
    [7, 13, 4],
    [23, 9, 64],
    [0, 5, 2],
    [12, 17, 5],
  ])('history %i, %i candidates, microbatch %i (no cache): = one-at-a-time GPU forward and float64 reference', async (n, m, bm) => {
    const rng = new Rng(100 + n * 31 + m);
    const engine = new MfalconEngine(model, { microbatch: bm, cacheBytes: 0, windowMs: 0 });
    const h = randomHistory(rng, n), cands = candidatesOf(rng, m), time = lastTime(h);
    const got = await engine.score({ userId: 'u', history: h, candidates: cands, candidateTime: time });
    expect(got.cache).toBe('off');
    expect(got.scores.length).toBe(m * NUM_TASKS);
    const alone = await scoreOneAtATime(model, h, cands, time);
    expectClose('mfalcon vs one-at-a-time', got.scores, alone, { ...TOL, shape: [m, NUM_TASKS] });
    expectClose('mfalcon vs float64 reference', got.scores, reference(h, cands, time), { ...TOL, shape: [m, NUM_TASKS] });
  });

  it('cache: a repeat is a hit, an extended history re-encodes only the new events (+ the last cached one); scores stay exact', async () => {
    const rng = new Rng(5);
    const engine = new MfalconEngine(model, { microbatch: 3, windowMs: 0 });
    const passes: PassEvent[] = [];
    engine.onPass = (e) => passes.push(e);
    const h = randomHistory(rng, 15), cands = candidatesOf(rng, 8), time = lastTime(h);
    const a = await engine.score({ userId: 'alice', history: h, candidates: cands, candidateTime: time });
    expect([a.cache, a.encodedEvents]).toEqual(['miss', 15]);
    const b = await engine.score({ userId: 'alice', history: h, candidates: cands, candidateTime: time });
    expect([b.cache, b.encodedEvents]).toEqual(['hit', 0]);
    expect(Array.from(b.scores)).toEqual(Array.from(a.scores));
    expectClose('first request', a.scores, await scoreOneAtATime(model, h, cands, time), TOL);
    // Another user with the same history does not share alice's entry.
    expect((await engine.score({ userId: 'bob', history: h, candidates: cands, candidateTime: time })).cache).toBe('miss');
    // alice watched 3 more movies.
    const h2 = extend(h, randomHistory(rng, 3)), t2 = lastTime(h2);
    const encodesBefore = passes.filter((p) => p.kind === 'encode').length;
    const e = await engine.score({ userId: 'alice', history: h2, candidates: cands, candidateTime: t2 });
    expect([e.cache, e.encodedEvents]).toEqual(['extend', 4]);
    const enc = passes.filter((p) => p.kind === 'encode').slice(encodesBefore);
    expect(enc.map((p) => p.tokens)).toEqual([4]);
    expectClose('extended history vs one-at-a-time', e.scores, await scoreOneAtATime(model, h2, cands, t2), { ...TOL, shape: [8, NUM_TASKS] });
    expectClose('extended history vs reference', e.scores, reference(h2, cands, t2), { ...TOL, shape: [8, NUM_TASKS] });
    // The extension replaced alice's old entry; the extended one is now a hit.
    expect((await engine.score({ userId: 'alice', history: h2, candidates: cands, candidateTime: t2 })).cache).toBe('hit');
    // Extending a one-event history (the only cached row is the one re-encoded) and extending twice in a row.
    const one = randomHistory(rng, 1), e1 = extend(one, randomHistory(rng, 2)), e2 = extend(e1, randomHistory(rng, 1));
    for (const [hh, kind, events] of [[one, 'miss', 1], [e1, 'extend', 3], [e2, 'extend', 2]] as const) {
      const r = await engine.score({ userId: 'carol', history: hh, candidates: cands, candidateTime: lastTime(hh) });
      expect([r.cache, r.encodedEvents]).toEqual([kind, events]);
      expectClose(`carol ${hh.items.length}`, r.scores, await scoreOneAtATime(model, hh, cands, lastTime(hh)), TOL);
    }
    const s = engine.cacheStats();
    expect([s.hits, s.extensions, s.misses, s.entries]).toEqual([2, 3, 3, 3]);
    engine.close();
    expect(engine.cacheStats().bytes).toBe(0);
  });

  it('a byte budget of ~2 entries evicts the least recently used; results stay exact', async () => {
    const rng = new Rng(6);
    const perEntry = c.numLayers * 10 * c.numHeads * (2 + 3) * 4 + 10 * 12 + ENTRY_OVERHEAD_BYTES; // 10 events, dqk 2, dv 3; + host history and JS estimate
    const engine = new MfalconEngine(model, { microbatch: 4, windowMs: 0, cacheBytes: 2 * perEntry + 1 });
    const users = ['a', 'b', 'c'].map((id) => ({ id, h: randomHistory(rng, 10) }));
    const cands = candidatesOf(rng, 5);
    for (const u of users) await engine.score({ userId: u.id, history: u.h, candidates: cands, candidateTime: lastTime(u.h) });
    expect(engine.cacheStats()).toMatchObject({ entries: 2, evictions: 1, bytes: 2 * perEntry });
    const again = await engine.score({ userId: 'a', history: users[0]!.h, candidates: cands, candidateTime: lastTime(users[0]!.h) });
    expect(again.cache).toBe('miss'); // 'a' was the least recently used
    expectClose('after eviction', again.scores, await scoreOneAtATime(model, users[0]!.h, cands, lastTime(users[0]!.h)), TOL);
    expect((await engine.score({ userId: 'c', history: users[2]!.h, candidates: cands, candidateTime: lastTime(users[2]!.h) })).cache).toBe('hit');
  });

  it('an entry evicted while its request is in flight stays valid until that request is scored', async () => {
    const rng = new Rng(11);
    const perEntry = c.numLayers * 9 * c.numHeads * (2 + 3) * 4 + 9 * 12 + ENTRY_OVERHEAD_BYTES;
    // Room for one entry: both histories are encoded in one pass, the second insert evicts the
    // first while the first request still waits for its score pass.
    const engine = new MfalconEngine(model, { microbatch: 2, windowMs: 30, cacheBytes: perEntry });
    const reqs = [0, 1].map((i) => {
      const h = randomHistory(rng, 9);
      return { userId: `e${i}`, history: h, candidates: candidatesOf(rng, 5), candidateTime: lastTime(h) };
    });
    const outs = await Promise.all(reqs.map((r) => engine.score(r)));
    expect(engine.cacheStats()).toMatchObject({ entries: 1, evictions: 1 });
    for (const [i, r] of reqs.entries()) expectClose(`request ${i}`, outs[i]!.scores, await scoreOneAtATime(model, r.history, r.candidates, r.candidateTime), TOL);
  });

  it('concurrent requests share GPU passes (microbatches packed) and every score stays exact', async () => {
    const rng = new Rng(8);
    const engine = new MfalconEngine(model, { microbatch: 3, windowMs: 30, maxPassCandidates: 1000 });
    const passes: PassEvent[] = [];
    engine.onPass = (e) => passes.push(e);
    const reqs = [4, 19, 1, 11].map((n, i) => {
      const h = randomHistory(rng, n);
      return { userId: `user${i}`, history: h, candidates: candidatesOf(rng, 2 + i * 3), candidateTime: lastTime(h) };
    });
    const outs = await Promise.all(reqs.map((r) => engine.score(r)));
    const scorePasses = passes.filter((p) => p.kind === 'score');
    const microbatches = reqs.reduce((a, r) => a + Math.ceil(r.candidates.length / 3), 0);
    expect(scorePasses.reduce((a, p) => a + p.sequences, 0)).toBe(microbatches);
    expect(scorePasses.length).toBe(1); // all 4 requests' microbatches in one pass
    expect(passes.filter((p) => p.kind === 'encode').map((p) => p.sequences)).toEqual([4]); // all 4 histories encoded in one pass
    for (const [i, r] of reqs.entries()) {
      expectClose(`request ${i}`, outs[i]!.scores, await scoreOneAtATime(model, r.history, r.candidates, r.candidateTime), { ...TOL, shape: [r.candidates.length, NUM_TASKS] });
    }
    // Warm: the same four again, concurrently: all hits, still exact.
    const warm = await Promise.all(reqs.map((r) => engine.score(r)));
    expect(warm.map((w) => w.cache)).toEqual(['hit', 'hit', 'hit', 'hit']);
    warm.forEach((w, i) => expect(Array.from(w.scores)).toEqual(Array.from(outs[i]!.scores)));
  });

  it('rejects out-of-range ids, actions and sizes with a HINT (and the cache is untouched)', async () => {
    const engine = new MfalconEngine(model, { windowMs: 0 });
    const h = randomHistory(new Rng(9), 3);
    const base = { userId: 'x', history: h, candidates: Uint32Array.of(1, 2), candidateTime: lastTime(h) };
    await expect(engine.score({ ...base, candidates: Uint32Array.of(1, NUM_ITEMS + 1) })).rejects.toThrow(/candidate dense item id 38.*HINT/);
    await expect(engine.score({ ...base, candidates: new Uint32Array(0) })).rejects.toThrow(/no candidates.*HINT/);
    await expect(engine.score({ ...base, history: { ...h, actions: Uint32Array.of(1, 6, 2) } })).rejects.toThrow(/action 6, expected 1\.\.5.*HINT/);
    await expect(engine.score({ ...base, history: randomHistory(new Rng(1), N) })).rejects.toThrow(/at most 23.*HINT/);
    expect(engine.cacheStats()).toMatchObject({ entries: 0, hits: 0, misses: 0 });
  });
});
