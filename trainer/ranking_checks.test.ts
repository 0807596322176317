// Ranking data that cannot be evaluated, or whose like task has one class, is refused before
// training (today: a failure after training, or a log(0) head bias blamed on the learning rate).
import { describe, expect, it } from 'vitest';
import { applyOverrides, defaultConfig } from '../model/config.js';
import { fromTriples } from './data/testing.js';
import { prepareRankingSplit } from './ranking_data.js';
import { trainRanking } from './ranking_train.js';

const cfg = (o: Record<string, unknown> = {}) => applyOverrides(defaultConfig, { task: 'ranking', maxLen: 8, rankingCandidates: 2, ...o });

/** `users` users with `k` events each; ratings cycle 1..5 (the rating is the line index in fromTriples, so remap). */
function data(k: number, users = 10) {
  const rows: [number, number, number][] = [];
  for (let u = 1; u <= users; u++) for (let j = 0; j < k; j++) rows.push([u, 1 + ((u * 3 + j) % 11), 100 + j]);
  const x = fromTriples(rows);
  for (let e = 0; e < x.count; e++) x.ratings[e] = 1 + (e % 5);
  return x;
}

describe('ranking: degenerate data refused before training', () => {
  it('all users with 2 events: a clear error before training', async () => {
    expect(() => prepareRankingSplit(data(2), cfg())).toThrow(/no user has the 3 or more events that ranking evaluation needs.*10 with 2 events.*HINT/s);
    // trainRanking stops at the data check: no GPU is created, no step is taken
    await expect(trainRanking({ config: cfg(), data: data(2), log: () => {} })).rejects.toThrow(/no user has the 3 or more events/);
  });

  it('rankingEvalGroup 3 needs 7 events per user', () => {
    expect(() => prepareRankingSplit(data(6), cfg({ rankingEvalGroup: 3 }))).toThrow(/7 or more events.*lower --rankingEvalGroup/s);
    expect(prepareRankingSplit(data(8), cfg({ rankingEvalGroup: 3 })).test.length).toBe(10);
  });

  it('--likeThreshold=100 (no like) and --likeThreshold=0 (all likes) are refused, naming the rating range', () => {
    expect(() => prepareRankingSplit(data(6), cfg({ likeThreshold: 100 }))).toThrow(/likeThreshold 100, no training rating is a like \(ratings range over \[1, 5\]\).*-Infinity.*HINT: pick --likeThreshold in \(1, 5\]/s);
    expect(() => prepareRankingSplit(data(6), cfg({ likeThreshold: 0 }))).toThrow(/likeThreshold 0, every training rating is a like/);
    expect(prepareRankingSplit(data(6), cfg({ likeThreshold: 4 })).test.length).toBe(10);
  });
});
