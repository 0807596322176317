// The GPU ranking model against the float64 reference (model/reference/ranking.ts, itself checked
// by finite differences): head outputs, loss and every gradient (head, action_emb, encoder, item
// table) for HSTU and SASRec; and the M-FALCON equivalence on the GPU (m candidates scored
// together under the target mask = each alone appended at position n).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createGpu, type Gpu } from '../kernels/gpu/index.js';
import { expectClose } from '../kernels/testing/compare.js';
import { Rng } from '../kernels/testing/rng.js';
import type { Config } from './config.js';
import { RankingModel, NUM_TASKS, type RankingHostBatch } from './ranking.js';
import { rankingLossHost } from './ranking_loss.js';
import { referenceRanking, type RefRankingBatch } from './reference/ranking.js';
import { randomRankingBatch, randomRankingParams, singleCandidate } from './reference/ranking_fixtures.js';
import { tinyConfig } from './reference/fixtures.js';

let gpu: Gpu;
beforeAll(async () => (gpu = await createGpu()));
afterAll(() => gpu?.dispose());

const NUM_ITEMS = 9;
const HIST = [3, 0, 1, 2, 0, 4], TARGETS = [2, 3, 1, 0, 0, 1];

const hostBatch = (r: RefRankingBatch): RankingHostBatch => ({
  seqOffsets: Uint32Array.from(r.seqOffsets),
  items: Uint32Array.from(r.items),
  timestamps: Uint32Array.from(r.timestamps!),
  numTargets: Uint32Array.from(r.numTargets),
  actions: Uint32Array.from(r.actions),
});

async function setup(c: Config, seed: number) {
  const rng = new Rng(seed);
  const params = new Map([...randomRankingParams(c, NUM_ITEMS, rng)].map(([k, v]) => [k, Float32Array.from(v)]));
  const params64 = new Map([...params].map(([k, v]) => [k, Float64Array.from(v)]));
  const model = await RankingModel.create(gpu, c, NUM_ITEMS + 1, params);
  return { rng, params64, model };
}

async function logitsOf(model: RankingModel, b: RefRankingBatch): Promise<Float32Array> {
  const rec = gpu.recorder();
  const f = model.forward(rec, hostBatch(b), { train: false, seed: 0 });
  await rec.submit();
  const y = await gpu.read(f.logits);
  f.release();
  return y;
}

const CONFIGS: [string, Record<string, unknown>][] = [
  ['hstu with rab', { model: 'hstu', attnAlpha: -1 }],
  ['sasrec', { model: 'sasrec', numHeads: 2, dim: 6, dqk: 0, dv: 0 }],
];
const cfg = (o: Record<string, unknown>): Config => tinyConfig({ task: 'ranking', maxLen: 6, numActions: 5, headHidden: 5, ratingLossWeight: 0.7, ...o });

describe.each(CONFIGS)('GPU ranking model = float64 reference: %s', (_name, o) => {
  it('head outputs, loss, and every gradient (head, action_emb, encoder, item table)', async () => {
    const c = cfg(o);
    const { rng, params64, model } = await setup(c, 31);
    try {
      const rb = randomRankingBatch(rng, HIST, TARGETS, NUM_ITEMS, c.numActions);
      const ref = referenceRanking(c, params64, rb);
      const rec = gpu.recorder();
      const f = model.forward(rec, hostBatch(rb), { train: true, seed: 5 }); // dropout 0: = eval
      await rec.submit();
      const logits = await gpu.read(f.logits);
      expectClose('logits', logits, ref.logits, { atol: 1e-4, rtol: 1e-3, shape: [logits.length / NUM_TASKS, NUM_TASKS] });
      expect(Array.from(f.candidateRows)).toEqual(ref.candidates);
      const lossOut = rankingLossHost(logits, NUM_TASKS, f.candidateRows, rb.likes, rb.ratings, c.ratingLossWeight);
      expect(Math.abs(lossOut.loss - ref.loss)).toBeLessThan(1e-4 * Math.max(1, ref.loss));
      const dLogits = gpu.f32(lossOut.dLogits, [logits.length / NUM_TASKS, NUM_TASKS], 'dlogits');
      const rec2 = gpu.recorder();
      const g = model.backward(rec2, f, dLogits);
      await rec2.submit();
      for (const p of model.denseParams()) {
        const want = ref.grads.get(p.name)!;
        const scale = Math.max(...Array.from(want, Math.abs), 1e-3);
        expectClose(`grad ${p.name}`, await gpu.read(p.g), want, { atol: 2e-4 * scale, rtol: 2e-3 });
      }
      const actionGrad = await gpu.read(model.extra.get('action_emb').g);
      expect(Array.from(actionGrad.subarray(0, c.dim))).toEqual(new Array(c.dim).fill(0));
      expect(actionGrad.some((v) => v !== 0)).toBe(true);
      const itemGrad = new Float64Array((NUM_ITEMS + 1) * c.dim);
      const rows = await gpu.read(g.itemGrad);
      g.plan.host.uniqueRows.forEach((r, u) => itemGrad.set(rows.subarray(u * c.dim, (u + 1) * c.dim), r * c.dim));
      const want = ref.grads.get('item_emb')!;
      expectClose('grad item_emb', itemGrad, want, { atol: 2e-4 * Math.max(...Array.from(want, Math.abs)), rtol: 2e-3 });
      g.release();
      f.release();
      dLogits.release();
    } finally {
      model.release();
    }
  });

  it('m candidates together under the target mask = each alone appended at position n', async () => {
    const c = cfg(o);
    const { rng, model } = await setup(c, 32);
    try {
      const rb = randomRankingBatch(rng, HIST, TARGETS, NUM_ITEMS, c.numActions);
      const all = await logitsOf(model, rb);
      const rows = [...hostBatch(rb).seqOffsets].slice(1).flatMap((end, b) => Array.from({ length: TARGETS[b]! }, (_, j) => end - TARGETS[b]! + j));
      let k = 0;
      for (let b = 0; b < HIST.length; b++) {
        for (let j = 0; j < TARGETS[b]!; j++, k++) {
          const one = singleCandidate(rb, b, j);
          const alone = await logitsOf(model, one);
          const last = one.items.length - 1;
          expectClose(`seq ${b} candidate ${j}`, all.subarray(rows[k]! * NUM_TASKS, (rows[k]! + 1) * NUM_TASKS), alone.subarray(last * NUM_TASKS, (last + 1) * NUM_TASKS), { atol: 2e-5, rtol: 2e-4 });
        }
      }
      expect(k).toBe(7);
    } finally {
      model.release();
    }
  });
});

describe('ranking model input checks', () => {
  it('rejects candidates with an action, history without one, and a retrieval config', async () => {
    const c = cfg({ model: 'hstu' });
    const { rng, model } = await setup(c, 33);
    try {
      const rb = hostBatch(randomRankingBatch(rng, [2], [1], NUM_ITEMS, c.numActions));
      const rec = gpu.recorder();
      expect(() => model.forward(rec, { ...rb, actions: Uint32Array.of(1, 2, 3) }, { train: false, seed: 0 })).toThrow(/candidate token 2 has action 3/);
      expect(() => model.forward(rec, { ...rb, actions: Uint32Array.of(0, 2, 0) }, { train: false, seed: 0 })).toThrow(/history token 0 has action 0.*HINT/);
      expect(() => model.forward(rec, { ...rb, actions: Uint32Array.of(9, 2, 0) }, { train: false, seed: 0 })).toThrow(/expected 1\.\.5/);
    } finally {
      model.release();
    }
    await expect(RankingModel.create(gpu, { ...c, task: 'retrieval' }, NUM_ITEMS + 1, new Map())).rejects.toThrow(/task 'ranking'/);
  });
});
