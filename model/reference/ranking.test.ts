// The float64 ranking reference: gradients of every tensor (head and action embeddings included)
// against central finite differences, and the M-FALCON equivalence (m candidates scored together
// under the target mask = each scored alone appended at position n).
import { describe, expect, it } from 'vitest';
import { Rng } from '../../kernels/testing/rng.js';
import type { Config } from '../config.js';
import { RANKING_TASKS, rankingParamLayout } from '../ranking_params.js';

const NUM_TASKS_REF = RANKING_TASKS.length;
import { referenceRanking, referenceRankingLoss, type RefRankingBatch } from './ranking.js';
import { randomRankingBatch, randomRankingParams, singleCandidate } from './ranking_fixtures.js';
import { tinyConfig } from './fixtures.js';
import { finiteDifferenceCheck } from './fd_check.js';

const NUM_ITEMS = 7, TOL = 1e-5;
// Histories 3, 0 (candidates only), 1, 2, and an empty sequence; 2, 3, 1, 0, 0 candidates.
const HIST = [3, 0, 1, 2, 0], TARGETS = [2, 3, 1, 0, 0];

const rankCfg = (o: Record<string, unknown> = {}): Config => tinyConfig({ task: 'ranking', maxLen: 6, numActions: 5, headHidden: 5, ratingLossWeight: 0.7, ...o });

function gradCheck(c: Config, params: Map<string, Float64Array>, batch: RefRankingBatch, rng: Rng) {
  const { grads } = referenceRanking(c, params, batch);
  return finiteDifferenceCheck(rankingParamLayout(c, NUM_ITEMS), params, grads, () => referenceRankingLoss(c, params, batch), rng);
}

describe('ranking reference', () => {
  it.each([
    ['HSTU with rab, H=2, dqk≠dv', {}],
    ['SASRec, H=2', { model: 'sasrec', dqk: 0, dv: 0 }],
  ])('%s: gradients of every tensor (head, action_emb) = finite differences', (_name, o) => {
    const rng = new Rng(21);
    const c = rankCfg(o);
    const params = randomRankingParams(c, NUM_ITEMS, rng);
    const batch = randomRankingBatch(rng, HIST, TARGETS, NUM_ITEMS, c.numActions);
    const r = referenceRanking(c, params, batch);
    expect(Number.isFinite(r.loss) && r.loss > 0).toBe(true);
    // Candidates read no action row: action_emb row 0 has exactly zero gradient.
    expect(Array.from(r.grads.get('action_emb')!.subarray(0, c.dim))).toEqual(new Array(c.dim).fill(0));
    for (const rep of gradCheck(c, params, batch, rng)) {
      expect(rep.worst, `${rep.name}: relative error`).toBeLessThan(TOL);
      const unused = c.model === 'hstu' && !c.useRab && rep.name.includes('rab_');
      if (!unused) expect(rep.nonzero, `${rep.name}: some gradient is non-zero`).toBeGreaterThan(0);
    }
  });

  it.each([
    ['HSTU with rab', {}],
    ['SASRec', { model: 'sasrec', dqk: 0, dv: 0 }],
  ])('%s: m candidates together = each alone appended at position n', (_name, o) => {
    const rng = new Rng(22);
    const c = rankCfg(o);
    const params = randomRankingParams(c, NUM_ITEMS, rng);
    const batch = randomRankingBatch(rng, HIST, TARGETS, NUM_ITEMS, c.numActions);
    const all = referenceRanking(c, params, batch);
    let k = 0;
    for (let b = 0; b < HIST.length; b++) {
      for (let j = 0; j < TARGETS[b]!; j++, k++) {
        const alone = referenceRanking(c, params, singleCandidate(batch, b, j));
        const row = all.candidates[k]!;
        for (let t = 0; t < NUM_TASKS_REF; t++) {
          expect(Math.abs(all.logits[row * NUM_TASKS_REF + t]! - alone.logits[alone.candidates[0]! * NUM_TASKS_REF + t]!), `seq ${b} cand ${j} ${RANKING_TASKS[t]}`).toBeLessThan(1e-12);
        }
      }
    }
    expect(k).toBe(6);
  });

  it('rejects bad batches with clear errors', () => {
    const rng = new Rng(23);
    const c = rankCfg();
    const params = randomRankingParams(c, NUM_ITEMS, rng);
    const batch = randomRankingBatch(rng, [2], [1], NUM_ITEMS, c.numActions);
    expect(() => referenceRanking(c, params, { ...batch, likes: [] })).toThrow(/one per candidate/);
    expect(() => referenceRanking(c, params, { ...batch, numTargets: [4] })).toThrow(/numTargets\[0\]/);
  });
});
