// scripts/compare-runs.ts end to end on small hand-made files: the gaps it prints are the files'
// own, grouped ranking files are resampled by user, and mismatched files are refused with a hint.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DataRng } from '../trainer/data/rng.js';
import { RANKING_PREDICTIONS_FORMAT, RANKS_FORMAT } from '../trainer/ranks_file.js';
import { compareRuns } from './compare-runs.js';

const dir = mkdtempSync(join(tmpdir(), 'compare-runs-'));
const file = (name: string, body: object): string => {
  const p = join(dir, name);
  writeFileSync(p, JSON.stringify(body));
  return p;
};
/** The JSON lines compareRuns prints, by metric. */
const run = (argv: string[]): Map<string, Record<string, number>> => {
  const lines: string[] = [];
  compareRuns([...argv, '--samples', '500'], (l) => lines.push(l));
  return new Map(lines.filter((l) => l.startsWith('{')).map((l) => JSON.parse(l)).map((j) => [j.metric, j]));
};

describe('compare-runs', () => {
  const users = Array.from({ length: 40 }, (_, u) => String(u + 1));
  const ranksFile = (name: string, rank: (u: number) => number) => {
    const split = { users, ranks: users.map((_, u) => rank(u)) };
    return file(name, { format: RANKS_FORMAT, checkpoint: name, model: 'm', seed: 1, numItems: 500, validation: split, test: split });
  };

  it('retrieval: HR@10 gap of the per-user means; seeds on one side are averaged per user', () => {
    const a = ranksFile('a.json', (u) => (u < 30 ? 3 : 40)); // HR@10 0.75
    const b1 = ranksFile('b1.json', (u) => (u < 10 ? 3 : 40)); // 0.25
    const b2 = ranksFile('b2.json', (u) => (u < 20 ? 3 : 40)); // 0.5
    const r = run(['--a', a, '--b', `${b1},${b2}`]).get('hr@10')!;
    expect([r.a, r.b, r.users, r.b_runs]).toEqual([0.75, 0.375, 40, 2]);
    expect(r.diff).toBeCloseTo(0.375, 12);
    expect(r.p).toBeLessThan(0.01);
  });

  it('ranking groups: AUC over all candidates, bootstrap over users; mixed group sizes are refused', () => {
    const rng = new DataRng(3);
    const g = 3;
    const keys = users.flatMap((u) => Array.from({ length: g }, (_, j) => `${u}#${j}`));
    const likes = keys.map((_, i) => i % 2);
    const pred = (name: string, noise: number, group = g) => {
      const split = { users: keys, likes, pLike: likes.map((y) => Math.min(1, Math.max(0, 0.5 + (y - 0.5) * 0.2 + noise * (rng.next() - 0.5)))) };
      return file(name, { format: RANKING_PREDICTIONS_FORMAT, checkpoint: name, model: 'm', seed: 1, numItems: 500, candidatesPerUser: group, validation: split, test: split });
    };
    const good = pred('good.json', 0.1), bad = pred('bad.json', 2);
    const r = run(['--a', good, '--b', bad]).get('auc(like)')!;
    expect(r.users).toBe(40); // users, not the 120 candidates
    expect(r.a).toBe(1);
    expect(r.diff).toBeGreaterThan(0.2);
    expect(() => run(['--a', good, '--b', pred('one.json', 0.1, 1)])).toThrow(/1 candidates per user, but .*has 3.*HINT.*rankingEvalGroup/s);
    expect(() => run(['--a', good, '--b', ranksFile('r.json', () => 1)])).toThrow(/HINT: compare retrieval with retrieval/);
  });
});
