// Ranking examples and batches: candidates = the last k training events before the evaluation
// cut (labels absent from the history), random earlier windows, leave-last-out eval examples,
// truncation to N, actions and labels; and the baselines on a case with a known answer.
import { describe, expect, it } from 'vitest';
import { applyOverrides, defaultConfig } from '../model/config.js';
import { fromTriples } from './data/testing.js';
import { buildSequences, generateSynthetic, leaveLastOut } from './data/index.js';
import { actionOf, buildRankingBatch, prepareRankingSplit, rankingBatches, rankingTrainExamples } from './ranking_data.js';
import { fitItemMean, fitUserItemBias, labelsOf, predictBaseline } from './ranking_baselines.js';
import { evaluateBaselines } from './ranking_train.js';

const cfg = (o: Record<string, unknown> = {}) => applyOverrides(defaultConfig, { task: 'ranking', maxLen: 6, rankingCandidates: 2, rankingWindows: 3, batchSize: 2, ...o });

describe('ranking data', () => {
  // user 1: 9 events (items 11..19, ratings = line index 0..8), user 2: 2 events, user 3: 4 events.
  const rows: [number, number, number][] = [];
  for (let i = 0; i < 9; i++) rows.push([1, 11 + i, 100 + i]);
  rows.push([2, 30, 5], [2, 31, 6]);
  for (let i = 0; i < 4; i++) rows.push([3, 40 + i, 50 + i]);
  const data = fromTriples(rows);

  it('validation / test: the second-to-last / last event as the single candidate, history ≤ N − 1', () => {
    const c = cfg();
    const rs = prepareRankingSplit(data, c);
    expect(rs.validation.map((e) => [e.user, e.histStart, e.cut, e.candEnd])).toEqual([[0, 2, 7, 8], [2, 0, 2, 3]]);
    expect(rs.test.map((e) => [e.user, e.histStart, e.cut, e.candEnd])).toEqual([[0, 3, 8, 9], [2, 0, 3, 4]]);
    const b = buildRankingBatch(rs.all, rs.test, [0, 1], c);
    // user 1's test: history = events 3..7 (items 14..18), candidate = item 19 with rating 8.
    const id = (raw: number) => data.itemRawIds.indexOf(raw);
    expect(Array.from(b.items)).toEqual([14, 15, 16, 17, 18, 19, 40, 41, 42, 43].map(id));
    expect(Array.from(b.numTargets)).toEqual([1, 1]);
    expect(Array.from(b.seqOffsets)).toEqual([0, 6, 10]);
    expect(Array.from(b.actions)).toEqual([3, 4, 5, 5, 5, 0, 5, 5, 5, 0].map((a) => Math.min(a, 5))); // ratings 3..7 → actions clamped to 5
    expect(Array.from(b.ratings)).toEqual([8, 14]);
    expect(Array.from(b.likes)).toEqual([1, 1]);
  });

  it('rankingEvalGroup g: the last g events are the test group, the g before them validation; history ≤ N − g', () => {
    const c = cfg({ rankingEvalGroup: 2 });
    const rs = prepareRankingSplit(data, c);
    // user 1 (9 events): validation = events 5, 6 after history 1..4; test = 7, 8 after history 3..6.
    // user 3 (4 events) has < 2g + 1 = 5 events: training only, like user 2.
    expect(rs.validation.map((e) => [e.user, e.histStart, e.cut, e.candEnd])).toEqual([[0, 1, 5, 7]]);
    expect(rs.test.map((e) => [e.user, e.histStart, e.cut, e.candEnd])).toEqual([[0, 3, 7, 9]]);
    expect(Array.from(rs.train.offsets)).toEqual([0, 5, 7, 11]); // user 1 keeps 9 − 2g, the others all
    const b = buildRankingBatch(rs.all, rs.test, [0], c);
    const id = (raw: number) => data.itemRawIds.indexOf(raw);
    expect(Array.from(b.items)).toEqual([14, 15, 16, 17, 18, 19].map(id));
    expect(Array.from(b.numTargets)).toEqual([2]);
    expect(Array.from(b.actions)).toEqual([3, 4, 5, 5, 0, 0]); // the validation group's ratings are history for test
    expect(Array.from(b.ratings)).toEqual([7, 8]);
    expect(Array.from(labelsOf(rs.all, rs.test, 4).ratings)).toEqual([7, 8]);
    expect(() => prepareRankingSplit(data, cfg({ rankingEvalGroup: 6 }))).toThrow(/rankingEvalGroup < maxLen.*HINT/);
  });

  it('rankingEvalGroup 1 is leave-last-out: the same training events as the retrieval split', () => {
    const s = generateSynthetic({ seed: 5, numUsers: 40, numItems: 60 } as Parameters<typeof generateSynthetic>[0]);
    const rs = prepareRankingSplit(s, cfg({ maxLen: 20 }));
    const lo = leaveLastOut(buildSequences(s), { maxHistory: 19 });
    expect(Array.from(rs.train.offsets)).toEqual(Array.from(lo.train.offsets));
    expect(Array.from(rs.train.items)).toEqual(Array.from(lo.train.items));
    expect(rs.test.map((e) => e.cut)).toEqual(Array.from(lo.test.targetPositions));
    expect(rs.validation.map((e) => e.cut - e.histStart)).toEqual(Array.from({ length: lo.validation.count }, (_, k) => lo.validation.historyOffsets[k + 1]! - lo.validation.historyOffsets[k]!));
  });

  it('training windows: the last k before the cut first, then seeded random cuts; labels never in the history', () => {
    const c = cfg();
    const rs = prepareRankingSplit(data, c);
    const ex = rankingTrainExamples(rs.train, c, 0);
    // user 1 has 7 training events, user 2 has 2 (all in training: < 3 events), user 3 has 2.
    expect(ex.filter((e) => e.user === 0)[0]).toEqual({ user: 0, histStart: 1, cut: 5, candEnd: 7 });
    expect(ex.filter((e) => e.user === 1)[0]).toEqual({ user: 1, histStart: 0, cut: 1, candEnd: 2 });
    expect(ex).toHaveLength(9);
    for (const e of ex) {
      expect(e.cut).toBeGreaterThanOrEqual(1);
      expect(e.candEnd - e.histStart).toBeLessThanOrEqual(c.maxLen);
      expect(e.candEnd - e.cut).toBeGreaterThanOrEqual(1);
      expect(e.candEnd - e.cut).toBeLessThanOrEqual(c.rankingCandidates);
      expect(e.candEnd).toBeLessThanOrEqual(rs.train.offsets[e.user + 1]! - rs.train.offsets[e.user]!);
    }
    expect(rankingTrainExamples(rs.train, c, 0)).toEqual(ex); // seeded
    expect(rankingTrainExamples(rs.train, c, 1)).not.toEqual(ex); // a new epoch draws new cuts
    let seqs = 0;
    for (const b of rankingBatches(rs.train, ex, c, 3)) {
      seqs += b.numTargets.length;
      expect(b.numTargets.length).toBeLessThanOrEqual(2);
      const cands = b.numTargets.reduce((a, x) => a + x, 0);
      expect(b.likes).toHaveLength(cands);
      expect(Array.from(b.actions).filter((a) => a === 0)).toHaveLength(cands);
    }
    expect(seqs).toBe(ex.length);
  });

  it('actions round and clamp ratings; data without ratings is rejected with a hint', () => {
    expect([0, 1, 2.6, 5, 7].map((r) => actionOf(r, 5))).toEqual([1, 1, 3, 5, 5]);
    expect(() => prepareRankingSplit({ ...data, hasRatings: false }, cfg())).toThrow(/ratings.*HINT/);
    expect(() => rankingTrainExamples(buildSequences(data), cfg({ rankingCandidates: 6 }), 0)).toThrow(/rankingCandidates < maxLen/);
  });

  it('baselines: item-mean is the smoothed like-rate; bias LR learns a user effect', () => {
    const s = generateSynthetic({ seed: 3, numUsers: 150, numItems: 60 } as Parameters<typeof generateSynthetic>[0]);
    const c = cfg({ maxLen: 20, likeThreshold: 4 });
    const rs = prepareRankingSplit(s, c);
    const im = fitItemMean(rs.train, 4);
    // An item never trained on gets the global like-rate.
    const tr = rs.train, n = tr.offsets[tr.numUsers]!;
    const global = Array.from(tr.ratings.subarray(0, n)).filter((r) => r >= 4).length / n;
    expect(im(0, 0).pLike).toBeCloseTo(global, 12);
    const bias = fitUserItemBias(tr, 4, rs.all, rs.validation);
    const p = predictBaseline(bias.model, rs.all, rs.test);
    expect(p.pLike.every((x) => x > 0 && x < 1)).toBe(true);
    const lab = labelsOf(rs.all, rs.test, 4);
    expect(lab.likes).toHaveLength(rs.test.length);
    const r = evaluateBaselines(rs.all, tr, rs.validation, rs.test, 4);
    for (const m of Object.values(r)) for (const k of ['auc', 'ne', 'logloss', 'rmse']) expect(Number.isFinite(m[k] as number), `${m.model} ${k}`).toBe(true);
    expect(r['user-item-bias'].ne).toBeLessThan(1);
  });
});
