// `npm run eval -- --ranks FILE`: the per-user ranks it writes reproduce the run's own test metrics.
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DataRng } from './data/rng.js';
import { hitRate, mrr, ndcg } from './data/metrics.js';
import { evalCommand, trainCommand } from './cli.js';
import { auc } from './ranking_metrics.js';
import { readComparisonFile, readRanksFile, RANKING_PREDICTIONS_FORMAT, RANKS_FORMAT, type RankingPredictionsFile } from './ranks_file.js';

/** A tiny ML-100K-format log: 37 users with 6–10 rated events each. */
function tinyLog(dir: string): string {
  const data = join(dir, 'u.data');
  const rng = new DataRng(5);
  const lines: string[] = [];
  for (let u = 1; u <= 37; u++) for (let e = 0; e < 6 + (u % 5); e++) lines.push(`${u}\t${rng.int(1, 25)}\t${rng.int(1, 5)}\t${1e8 + u * 1000 + e * 60}`);
  writeFileSync(data, lines.join('\n') + '\n');
  return data;
}

describe('ranks file', () => {
  it('eval --ranks writes every test user\'s rank; their means equal the run\'s test metrics', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ranks-'));
    const data = tinyLog(dir);
    const out = join(dir, 'run');
    const common = ['--data', data, '--format', 'ml-100k'];
    await trainCommand([...common, '--dim=8', '--numLayers=1', '--maxLen=12', '--epochs=2', '--numNegatives=4', '--batchSize=16', '--out', out]);
    const file = join(dir, 'ranks.json');
    await evalCommand(['--checkpoint', join(out, 'best.hstu'), ...common, '--ranks', file]);
    const r = readRanksFile(file);
    expect([r.format, r.model, r.test.users.length, r.validation.users.length]).toEqual([RANKS_FORMAT, 'hstu', 37, 37]);
    expect(new Set(r.test.users).size).toBe(37);
    const final = JSON.parse(readFileSync(join(out, 'metrics.jsonl'), 'utf8').trim().split('\n').at(-1)!);
    expect(final.split).toBe('test');
    const mean = (f: (rank: number) => number) => r.test.ranks.reduce((s, x) => s + f(x), 0) / r.test.ranks.length;
    expect(mean((x) => hitRate(x, 10))).toBeCloseTo(final['hr@10'], 12);
    expect(mean((x) => ndcg(x, 10))).toBeCloseTo(final['ndcg@10'], 12);
    expect(mean(mrr)).toBeCloseTo(final.mrr, 12);
  }, 120_000);

  it('with --evalMaxUsers=n the file holds the n evaluated users (it threw: "expected 37 ranks, got n")', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ranks-max-'));
    const data = tinyLog(dir);
    const out = join(dir, 'run');
    const common = ['--data', data, '--format', 'ml-100k'];
    await trainCommand([...common, '--dim=8', '--numLayers=1', '--maxLen=12', '--epochs=1', '--numNegatives=4', '--batchSize=16', '--evalMaxUsers=5', '--out', out]);
    const all = join(dir, 'all.json');
    await evalCommand(['--checkpoint', join(out, 'best.hstu'), ...common, '--ranks', all]);
    const r = readRanksFile(all);
    expect([r.test.users.length, r.validation.users.length]).toEqual([5, 5]);
    expect(r.test.users).toEqual(['1', '2', '3', '4', '5']); // the first five examples, in user order
    const final = JSON.parse(readFileSync(join(out, 'metrics.jsonl'), 'utf8').trim().split('\n').at(-1)!);
    expect(r.test.ranks.reduce((s, x) => s + ndcg(x, 10), 0) / 5).toBeCloseTo(final['ndcg@10'], 12);
  }, 120_000);

  it.each([1, 2])('ranking (rankingEvalGroup %i): eval --ranks writes each test candidate\'s like label and P(like); their AUC is the run\'s test AUC', async (g) => {
    const dir = mkdtempSync(join(tmpdir(), 'ranks-rank-'));
    const data = tinyLog(dir);
    const out = join(dir, 'run');
    const common = ['--data', data, '--format', 'ml-100k'];
    await trainCommand([...common, '--task=ranking', '--dim=8', '--numLayers=1', '--maxLen=12', '--epochs=2', '--batchSize=16', '--rankingCandidates=2', `--rankingEvalGroup=${g}`, '--out', out]);
    const file = join(dir, 'pred.json');
    await evalCommand(['--checkpoint', join(out, 'best.hstu'), ...common, '--ranks', file]);
    const r = readComparisonFile(file) as RankingPredictionsFile;
    expect([r.format, r.model, r.candidatesPerUser, r.test.users.length]).toEqual([RANKING_PREDICTIONS_FORMAT, 'hstu', g, 37 * g]);
    expect(new Set(r.test.users).size).toBe(37 * g);
    if (g > 1) expect(r.test.users.slice(0, 2)).toEqual(['1#0', '1#1']);
    const recs = readFileSync(join(out, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    const test = recs.find((x) => x.split === 'test' && x.model === 'hstu');
    expect(auc(r.test.pLike, r.test.likes)).toBeCloseTo(test.auc, 12);
    expect(recs.find((x) => x.model === 'user-item-bias').auc).toBeGreaterThan(0);
  }, 120_000);

  it('refuses files that are not ranks files, or hold impossible ranks', () => {
    const dir = mkdtempSync(join(tmpdir(), 'ranks-bad-'));
    const f = (name: string, body: unknown) => {
      const p = join(dir, name);
      writeFileSync(p, typeof body === 'string' ? body : JSON.stringify(body));
      return p;
    };
    const ok = { format: RANKS_FORMAT, checkpoint: 'x', model: 'hstu', seed: 1, numItems: 10, validation: { users: ['1'], ranks: [3] }, test: { users: ['1'], ranks: [9] } };
    expect(readRanksFile(f('ok.json', ok)).test.ranks).toEqual([9]);
    expect(() => readRanksFile(f('a.json', '{oops'))).toThrow(/cannot read a ranks file.*HINT/);
    expect(() => readRanksFile(f('b.json', { ...ok, format: 'x' }))).toThrow(/expected format/);
    expect(() => readRanksFile(f('c.json', { ...ok, test: { users: ['1', '2'], ranks: [1] } }))).toThrow(/equally long/);
    expect(() => readRanksFile(f('d.json', { ...ok, test: { users: ['1'], ranks: [10] } }))).toThrow(/test rank 0 is 10/);
    const pred = { ...ok, format: RANKING_PREDICTIONS_FORMAT, validation: { users: ['1'], likes: [1], pLike: [0.5] }, test: { users: ['1'], likes: [0], pLike: [0.2] } };
    expect(readComparisonFile(f('e.json', pred)).format).toBe(RANKING_PREDICTIONS_FORMAT);
    expect(readComparisonFile(f('e2.json', ok)).format).toBe(RANKS_FORMAT);
    expect(() => readComparisonFile(f('g.json', { ...pred, test: { users: ['1'], likes: [0], pLike: [1.5] } }))).toThrow(/test pLike 0 is 1.5/);
    expect(() => readComparisonFile(f('h.json', { ...pred, test: { users: ['1'], likes: [], pLike: [0.5] } }))).toThrow(/equally long/);
  });
});
