// M-FALCON at long N (1024 … 8192): the engine's scores for a long history equal the float64
// reference model's, with the rab_pos table and the position offsets of each N.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createGpu, type Gpu } from '../kernels/gpu/index.js';
import { expectClose } from '../kernels/testing/compare.js';
import { Rng } from '../kernels/testing/rng.js';
import { tinyConfig } from '../model/reference/fixtures.js';
import { randomRankingParams } from '../model/reference/ranking_fixtures.js';
import { referenceRanking } from '../model/reference/ranking.js';
import { NUM_TASKS, RankingModel } from '../model/ranking.js';
import { MfalconEngine } from './mfalcon.js';

const NUM_ITEMS = 37;
const TOL = { atol: 3e-5, rtol: 3e-4 };
let gpu: Gpu;
beforeAll(async () => {
  gpu = await createGpu();
});
afterAll(() => gpu?.dispose());

describe('M-FALCON at long N', () => {
  it.each([
    [1024, 400],
    [2048, 300],
    [4096, 200],
    [8192, 200],
  ])('N = %i, history %i, 3 candidates: = float64 reference (cache miss, then hit)', async (N, n) => {
    const c = tinyConfig({ task: 'ranking', maxLen: N, numActions: 5, headHidden: 7, attnAlpha: -1 });
    const rng = new Rng(N + n);
    const params64 = randomRankingParams(c, NUM_ITEMS, rng);
    const model = await RankingModel.create(gpu, c, NUM_ITEMS + 1, new Map([...params64].map(([k, v]) => [k, Float32Array.from(v)])));
    try {
      const h = { items: new Uint32Array(n), timestamps: new Uint32Array(n), actions: new Uint32Array(n) };
      let t = 1_600_000_000;
      for (let i = 0; i < n; i++) {
        h.items[i] = rng.int(1, NUM_ITEMS);
        h.actions[i] = rng.int(1, 5);
        h.timestamps[i] = t;
        t += Math.floor(Math.exp(rng.uniform(0, 12)));
      }
      const cands = Uint32Array.from({ length: 3 }, () => rng.int(1, NUM_ITEMS));
      const time = t + 3600;
      const engine = new MfalconEngine(model, { microbatch: 2, windowMs: 0 });
      const got = await engine.score({ userId: 'u', history: h, candidates: cands, candidateTime: time });
      const again = await engine.score({ userId: 'u', history: h, candidates: cands, candidateTime: time });
      expect([got.cache, again.cache]).toEqual(['miss', 'hit']);
      const seqOffsets = [0], items: number[] = [], timestamps: number[] = [], actions: number[] = [];
      for (const cand of cands) {
        items.push(...h.items, cand);
        timestamps.push(...h.timestamps, time);
        actions.push(...h.actions, 0);
        seqOffsets.push(seqOffsets[seqOffsets.length - 1]! + n + 1);
      }
      const r = referenceRanking(c, params64, { seqOffsets, items, timestamps, actions, numTargets: [1, 1, 1], likes: [0, 0, 0], ratings: [3, 3, 3] });
      const want = new Float64Array(3 * NUM_TASKS);
      r.candidates.forEach((row, i) => want.set(r.logits.subarray(row * NUM_TASKS, (row + 1) * NUM_TASKS), i * NUM_TASKS));
      expectClose(`N=${N}`, got.scores, want, { ...TOL, shape: [3, NUM_TASKS] });
      expect(Array.from(again.scores)).toEqual(Array.from(got.scores));
      engine.close();
    } finally {
      model.release();
    }
  }, 300_000);
});
