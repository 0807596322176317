// The tuner: spec parsing and the seeded random search (CPU), the ranking table on hand-made runs
// (CPU), and the smoke grid end to end on synthetic data (GPU, seconds): a run budget stops the
// first invocation, the second resumes and runs only the rest, and the known-best point (a
// sensible learning rate against lr 0, the untrained model) is picked on validation.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createGpu, type Gpu } from '../kernels/gpu/index.js';
import { defaultConfig, type Config } from '../model/config.js';
import { expandSpec } from './sweep-spec.js';
import type { RunRecord } from './sweep-run.js';
import { readRuns } from './sweep.js';
import { parseTuneSpec, selectionMetric } from './tune-spec.js';
import { tuneTable } from './tune-report.js';
import { parseTuneCli, runTune } from './tune.js';

const SMOKE = 'scripts/sweeps/tune-smoke.json';
const base = { dataset: { kind: 'synthetic' }, base: { maxLen: 8 } };

describe('tune specs', () => {
  it('random search: seeded draws inside the ranges, choices from the grid, same spec → same points', () => {
    const json = { ...base, search: 'random', grid: { dim: [8, 16] }, ranges: { lr: { min: 1e-4, max: 1e-2, log: true }, numLayers: { min: 1, max: 3, int: true } }, samples: 20, seeds: [1, 2] };
    const a = expandSpec(parseTuneSpec(json, 't').sweep);
    const b = expandSpec(parseTuneSpec(json, 't').sweep);
    expect(a.map((p) => p.id)).toEqual(b.map((p) => p.id));
    expect(a.every((p) => p.config.lr >= 1e-4 && p.config.lr <= 1e-2 && [8, 16].includes(p.config.dim) && [1, 2, 3].includes(p.config.numLayers))).toBe(true);
    expect(new Set(a.map((p) => p.config.lr)).size).toBeGreaterThan(10); // really drawn
    expect(a.length).toBeLessThanOrEqual(40);
    const other = expandSpec(parseTuneSpec({ ...json, searchSeed: 2 }, 't').sweep);
    expect(other.map((p) => p.id)).not.toEqual(a.map((p) => p.id));
  });
  it('rejects bad specs with a hint', () => {
    expect(() => parseTuneSpec({ ...base, grid: { lr: [1] }, search: 'bayes' }, 't')).toThrow(/"search".*HINT/);
    expect(() => parseTuneSpec({ ...base, grid: { lr: [1] }, samples: 3 }, 't')).toThrow(/random search.*HINT/);
    expect(() => parseTuneSpec({ ...base, search: 'random', ranges: { lr: { min: 1, max: 0 } }, samples: 2 }, 't')).toThrow(/min ≤ max.*HINT/);
    expect(() => parseTuneSpec({ ...base, search: 'random', ranges: { lr: { min: 0, max: 1, log: true } }, samples: 2 }, 't')).toThrow(/min > 0/);
    expect(() => parseTuneSpec({ ...base, search: 'random', ranges: { lr: { min: 0, max: 1 } } }, 't')).toThrow(/"samples".*HINT/);
    expect(() => parseTuneSpec({ ...base, grid: { lr: [1] }, budget: { runs: 0 } }, 't')).toThrow(/budget.runs.*HINT/);
    expect(() => parseTuneSpec({ ...base, grid: { lr: [1] }, budget: { hours: 1 } }, 't')).toThrow(/"budget".*HINT/);
    expect(() => expandSpec(parseTuneSpec({ ...base, grid: { lrr: [1] } }, 't').sweep)).toThrow(/unknown config key 'lrr'/);
  });
  it('picks by NDCG@10 for retrieval and AUC for ranking unless the spec says', () => {
    const r = parseTuneSpec({ ...base, grid: { lr: [1e-3] } }, 't').sweep;
    expect(selectionMetric(r, expandSpec(r))).toBe('ndcg@10');
    const k = parseTuneSpec({ ...base, base: { task: 'ranking' }, grid: { lr: [1e-3] } }, 't').sweep;
    expect(selectionMetric(k, expandSpec(k))).toBe('auc');
    const h = parseTuneSpec({ ...base, grid: { lr: [1e-3] }, metric: 'hr@10' }, 't').sweep;
    expect(selectionMetric(h, expandSpec(h))).toBe('hr@10');
  });
  it('command line: --help, budgets, errors', () => {
    expect(parseTuneCli(['--help'])).toBeUndefined();
    expect(parseTuneCli(['--spec', 'x.json', '--budget-runs', '3', '--budget-minutes', '1.5'])).toEqual({ specPath: 'x.json', budget: { runs: 3, minutes: 1.5 } });
    expect(() => parseTuneCli(['--spec', 'x.json', '--budget-runs', '2.5'])).toThrow(/whole number.*HINT/);
    expect(() => parseTuneCli([])).toThrow(/--spec is required.*HINT/);
    expect(() => parseTuneCli(['--spec', 'x', '--colour'])).toThrow(/unknown argument.*HINT/);
  });
});

describe('tune table', () => {
  const cfg = (lr: number, seed: number): Config => ({ ...defaultConfig, lr, seed });
  const run = (lr: number, seed: number, v: number, test = v): RunRecord => ({ id: `${lr}-${seed}`, config: cfg(lr, seed), validation: { 'ndcg@10': v, ne: v }, test: { 'ndcg@10': test, ne: test }, best_epoch: seed, wall_s: 1 }) as unknown as RunRecord;
  const planned = [1, 2, 3].flatMap((lr) => [1, 2].map((s) => cfg(lr, s)));
  it('ranks configs by the validation mean over seeds, never by test; partial configs cannot win', () => {
    // lr 1: mean .25 (complete), lr 2: mean .3 (complete, but worse test), lr 3: .9 with 1 of 2 seeds
    const runs = [run(1, 1, 0.2, 0.9), run(1, 2, 0.3, 0.9), run(2, 1, 0.35, 0.1), run(2, 2, 0.25, 0.1), run(3, 1, 0.9)];
    const t = tuneTable('t', 'ndcg@10', runs, planned);
    expect(t.rows.map((r) => r.params.lr)).toEqual([3, 2, 1]);
    expect(t.best!.params.lr).toBe(2);
    expect(t.best!.validation_mean).toBeCloseTo(0.3, 15);
    expect(t.best!.validation_sd).toBeCloseTo(Math.sqrt(0.005), 12);
    expect(t.best!.test_mean['ndcg@10']).toBeCloseTo(0.1, 15);
    expect(t.rows[0]!.complete).toBe(false);
    expect(Object.keys(t.best!.params)).toEqual(['lr']);
  });
  it('lower-is-better metrics rank the other way; with no complete config the best partial one is named', () => {
    const t = tuneTable('t', 'ne', [run(1, 1, 0.5), run(2, 1, 0.4)], planned);
    expect(t.direction).toBe('lower is better');
    expect(t.best!.params.lr).toBe(2);
    expect(t.note).toMatch(/no config has all its seeds/);
  });
});

describe('tune smoke end to end', () => {
  let gpu: Gpu;
  let out: string;
  beforeAll(async () => {
    gpu = await createGpu();
    out = mkdtempSync(join(tmpdir(), 'tune-test-'));
  });
  afterAll(() => {
    gpu?.dispose();
    if (out) rmSync(out, { recursive: true, force: true });
  });
  const quiet = () => {};

  it('stops at the run budget, resumes without rerunning, and picks the sensible learning rate', async () => {
    const points = expandSpec(parseTuneSpec(JSON.parse(readFileSync(SMOKE, 'utf8')), SMOKE).sweep);
    expect(points.length).toBe(4);
    const first = await runTune({ specPath: SMOKE, outDir: out, budget: { runs: 2 }, gpu, log: quiet });
    expect(first.ran).toEqual(points.slice(0, 2).map((p) => p.id)); // lr 0, both seeds
    expect(first.stoppedBy).toMatch(/budget of 2 runs/);
    expect(first.table.note).toBeUndefined(); // lr 0 is complete, so it is the best so far
    expect(first.table.best!.params.lr).toBe(0);

    const second = await runTune({ specPath: SMOKE, outDir: out, gpu, log: quiet });
    expect(second.ran).toEqual(points.slice(2).map((p) => p.id)); // only the rest
    expect(second.stoppedBy).toBeUndefined();
    const runs = readRuns(join(out, 'runs.jsonl'));
    expect(runs.map((r) => r.id).sort()).toEqual(points.map((p) => p.id).sort());
    const t = second.table;
    expect(t.rows.length).toBe(2);
    expect(t.best!.params.lr).toBe(0.01);
    expect(t.best!.seeds).toEqual([1, 2]);
    const want = runs.filter((r) => r.config.lr === 0.01).map((r) => r.validation['ndcg@10']!);
    expect(t.best!.validation_mean).toBeCloseTo((want[0]! + want[1]!) / 2, 12);
    expect(t.rows[1]!.validation_mean).toBeLessThan(t.best!.validation_mean);
    expect(runs.every((r) => r.best_epoch >= 1 && r.best_epoch <= 3 && typeof r.test['coverage@10'] === 'number')).toBe(true);

    const json = JSON.parse(readFileSync(join(out, 'tune.json'), 'utf8')) as { best: { config: Config }; metric: string };
    expect(json.metric).toBe('ndcg@10');
    expect(json.best.config.lr).toBe(0.01);
    const md = readFileSync(join(out, 'tune.md'), 'utf8');
    expect(md).toMatch(/\*\*Best:\*\* lr=0\.01/);
    expect(md).toContain(t.best!.validation_mean.toFixed(4));

    expect((await runTune({ specPath: SMOKE, outDir: out, gpu, log: quiet })).ran).toEqual([]);
  });
});
