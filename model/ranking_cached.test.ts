// The serving pieces of RankingModel (inputRows, hstuProject, hstuFinish, headForward) composed
// the M-FALCON way: encode the history once (history-only batch, K/V kept per layer), then run the
// candidates as new queries over [cached history K/V | candidate K/V] with hstuAttentionCached and
// the target mask. The candidates' scores must equal the full forward's. This is also the worked
// example of the API for serving/.
import { afterAll, beforeAll, describe, it } from 'vitest';
import { createGpu, type Gpu, type Tensor } from '../kernels/gpu/index.js';
import { hstuAttention, hstuAttentionCached } from '../kernels/hstu_attention/hstu_attention.js';
import { expectClose } from '../kernels/testing/compare.js';
import { Rng } from '../kernels/testing/rng.js';
import { uploadBatch } from './batch.js';
import { NUM_TASKS, RankingModel, type RankingHostBatch } from './ranking.js';
import { randomRankingBatch, randomRankingParams } from './reference/ranking_fixtures.js';
import { tinyConfig } from './reference/fixtures.js';

let gpu: Gpu;
beforeAll(async () => (gpu = await createGpu()));
afterAll(() => gpu?.dispose());

const NUM_ITEMS = 9;

describe('ranking serving pieces (HSTU, cached history K/V)', () => {
  it.each([[4, 3], [1, 2], [5, 1]])('history %i + %i candidates: cached path = full forward', async (h, m) => {
    const c = tinyConfig({ task: 'ranking', maxLen: 8, numActions: 5, headHidden: 5, attnAlpha: -1 });
    const rng = new Rng(40 + h);
    const params = new Map([...randomRankingParams(c, NUM_ITEMS, rng)].map(([k, v]) => [k, Float32Array.from(v)]));
    const model = await RankingModel.create(gpu, c, NUM_ITEMS + 1, params);
    const owned: { release(): void }[] = [];
    const keep = <T extends { release(): void }>(x: T): T => (owned.push(x), x);
    try {
      const r = randomRankingBatch(rng, [h], [m], NUM_ITEMS, c.numActions);
      const full: RankingHostBatch = {
        seqOffsets: Uint32Array.from(r.seqOffsets), items: Uint32Array.from(r.items), timestamps: Uint32Array.from(r.timestamps!),
        numTargets: Uint32Array.from(r.numTargets), actions: Uint32Array.from(r.actions),
      };
      // Ground truth: the full forward.
      let rec = gpu.recorder();
      const f = model.forward(rec, full, { train: false, seed: 0 });
      await rec.submit();
      const want = (await gpu.read(f.logits)).subarray(h * NUM_TASKS);
      f.release();

      const a = model.hstuAttentionOptions();
      const d = c.dim, n = h + m;
      const rab = (l: number) => model.hstuRab(l);
      // Both phases' inputs come from one upload of the whole sequence (positions: history i, candidates h).
      const gb = keep(uploadBatch(gpu, full, c.maxLen, NUM_ITEMS + 1, c.positionAnchor));
      const actions = keep(gpu.u32(full.actions, [n], 'actions'));
      rec = gpu.recorder();
      const x0 = keep(model.inputRows(rec, gb, actions)).x0;
      const t = (rows: number, w: number, label: string): Tensor<'f32'> => keep(gpu.empty([rows, w], 'f32', label));
      let xh = t(h, d, 'xh'), xc = t(m, d, 'xc');
      rec.copy(x0, xh, h * d * 4);
      rec.copy(x0, xc, m * d * 4, h * d * 4, 0);
      const histOff = keep(gpu.u32([0, h])), allOff = keep(gpu.u32([0, n])), newOff = keep(gpu.u32([0, m]));
      const histTs = keep(gpu.u32(full.timestamps.subarray(0, h))), nt = keep(gpu.u32([m]));
      for (let l = 0; l < c.numLayers; l++) {
        // History phase (once per user): project, attend causally, finish; keep K, V.
        const ph = keep(model.hstuProject(rec, l, xh, h));
        const oh = t(h, a.H * a.dv, 'oh');
        hstuAttention(rec, { q: ph.q, k: ph.k, v: ph.v, seqOffsets: histOff, timestamps: histTs, ...rab(l) }, oh, { ...a, B: 1, L: h, hostOffsets: [0, h] });
        // Candidate phase: new queries over [cached K/V | candidates' K/V] with the target mask.
        const pc = keep(model.hstuProject(rec, l, xc, m));
        const kAll = t(n, a.H * a.dqk, 'k_all'), vAll = t(n, a.H * a.dv, 'v_all');
        rec.copy(ph.k, kAll, h * a.H * a.dqk * 4).copy(pc.k, kAll, m * a.H * a.dqk * 4, 0, h * a.H * a.dqk * 4);
        rec.copy(ph.v, vAll, h * a.H * a.dv * 4).copy(pc.v, vAll, m * a.H * a.dv * 4, 0, h * a.H * a.dv * 4);
        const oc = t(m, a.H * a.dv, 'oc');
        hstuAttentionCached(rec, { qNew: pc.q, k: kAll, v: vAll, seqOffsets: allOff, newOffsets: newOff, timestamps: gb.timestamps, numTargets: nt, ...rab(l) }, oc,
          { ...a, B: 1, L: n, hostOffsets: [0, n], hostNumTargets: [m], hostNewOffsets: [0, m] });
        xh = keep(model.hstuFinish(rec, l, xh, oh, ph.u, h)).y;
        xc = keep(model.hstuFinish(rec, l, xc, oc, pc.u, m)).y;
      }
      const y = keep(model.headForward(rec, xc, m)).y;
      await rec.submit();
      expectClose('cached candidate scores', await gpu.read(y), want, { atol: 2e-5, rtol: 2e-4, shape: [m, NUM_TASKS] });
    } finally {
      owned.forEach((x) => x.release());
      model.release();
    }
  });
});
