// The sweep: spec parsing and expansion (CPU), and the smoke spec end to end (GPU, ~10 s): every
// point trained once into runs.jsonl with consistent FLOPs, fit.json with per-family fits, the
// plots and report; a second invocation skips every finished point; a torn last line (a crash
// mid-write) is dropped and only its point reruns.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createGpu, type Gpu } from '../kernels/gpu/index.js';
import { flopShapeOf, rankingTrainingFlops, trainingFlops } from '../model/flops.js';
import { RANKING_TASKS } from '../model/ranking_params.js';
import { prepareRankingSplit, rankingTrainExamples } from '../trainer/ranking_data.js';
import { generateSynthetic } from '../trainer/data/index.js';
import { expandSpec, loadSpec, metricOf, parseSpec } from './sweep-spec.js';
import { epochLengths, loadDataset, type RunRecord } from './sweep-run.js';
import { readRuns, runSweep } from './sweep.js';
import type { FitFile } from './report.js';

const SMOKE = 'scripts/sweeps/smoke.json';
const SMOKE_RANKING = 'scripts/sweeps/smoke-ranking.json';

describe('sweep specs', () => {
  const base = { dataset: { kind: 'synthetic' }, base: { maxLen: 8 } };
  it('expands a grid × list × seeds, merging base, and dedupes identical runs', () => {
    const spec = parseSpec({ ...base, grid: { model: ['hstu', 'sasrec'], dim: [8, 16] }, points: [{ model: 'hstu', dim: 8 }, { dim: 32, computeBudget: 1e9 }], seeds: [1, 2] }, 't');
    const pts = expandSpec(spec);
    expect(pts.length).toBe((4 + 1) * 2); // the list's first point duplicates a grid point
    expect(new Set(pts.map((p) => p.id)).size).toBe(pts.length);
    expect(pts.every((p) => p.config.maxLen === 8)).toBe(true);
    expect(pts.filter((p) => p.computeBudget === 1e9).map((p) => p.config.seed)).toEqual([1, 2]);
  });
  it('rejects bad specs with a hint', () => {
    expect(() => parseSpec({ ...base, points: [{}], colour: 1 }, 't')).toThrow(/unknown key 'colour'.*HINT/);
    expect(() => parseSpec({ ...base }, 't')).toThrow(/nothing to run.*HINT/);
    expect(() => parseSpec({ ...base, points: [{}], metric: 'hr@11' }, 't')).toThrow(/metric.*HINT/);
    expect(() => parseSpec({ dataset: { kind: 'ftp' }, points: [{}] }, 't')).toThrow(/dataset.kind.*HINT/);
    expect(() => expandSpec(parseSpec({ ...base, points: [{ numLayer: 2 }] }, 't'))).toThrow(/unknown config key 'numLayer'.*numLayers/);
    expect(() => expandSpec(parseSpec({ ...base, points: [{ computeBudget: -1 }] }, 't'))).toThrow(/computeBudget.*HINT/);
    expect(() => loadSpec('/nonexistent/spec.json')).toThrow(/HINT/);
    expect(() => expandSpec(parseSpec({ ...base, points: [{}, { task: 'ranking' }] }, 't'))).toThrow(/differs from the first point.*HINT/);
    const ranking = parseSpec({ ...base, points: [{ task: 'ranking' }], metric: 'ndcg@10' }, 't');
    expect(() => metricOf(ranking, expandSpec(ranking))).toThrow(/not a ranking metric.*HINT/);
    const defaults = parseSpec({ ...base, points: [{ task: 'ranking' }] }, 't');
    expect(metricOf(defaults, expandSpec(defaults))).toBe('ne');
  });
});

describe('sweep data', () => {
  it('falls back to the synthetic data when the file is absent, and says so', async () => {
    const notes: string[] = [];
    const synthetic = { numUsers: 30, numItems: 20, numClusters: 4, minEvents: 5, maxEvents: 8 };
    const ds = await loadDataset({ kind: 'file', paths: ['/nonexistent/u.data'], format: 'ml-100k', fallback: 'synthetic', synthetic }, (s) => notes.push(s));
    expect(ds.name).toMatch(/^synthetic/);
    expect(ds.fallbackNote).toMatch(/none of \/nonexistent\/u.data exists/);
    expect(notes.join('\n')).toMatch(/synthetic default/);
    await expect(loadDataset({ kind: 'file', paths: ['/nonexistent/u.data'], format: 'ml-100k' }, () => {})).rejects.toThrow(/HINT/);
  });
});

describe('smoke sweep end to end', () => {
  let gpu: Gpu;
  let out: string;
  beforeAll(async () => {
    gpu = await createGpu();
    out = mkdtempSync(join(tmpdir(), 'sweep-test-'));
  });
  afterAll(() => {
    gpu?.dispose();
    if (out) rmSync(out, { recursive: true, force: true });
  });
  const quiet = () => {};

  it('runs every point, fits, plots, reports; then resumes', async () => {
    const first = await runSweep({ specPath: SMOKE, outDir: out, gpu, log: quiet });
    const points = expandSpec(loadSpec(SMOKE));
    expect(first.ran.length).toBe(points.length);
    const runs = readRuns(join(out, 'runs.jsonl'));
    expect(runs.map((r) => r.id).sort()).toEqual(points.map((p) => p.id).sort());
    const spec = loadSpec(SMOKE);
    const data = generateSynthetic(spec.dataset.synthetic ?? {});
    for (const r of runs) {
      const perEpoch = trainingFlops(flopShapeOf(r.config), epochLengths(data, r.config)).total;
      expect(r.train_flops).toBe(perEpoch * r.epochs);
      expect(r.losses.length).toBe(r.steps);
      expect(r.losses.every(Number.isFinite)).toBe(true);
      expect(r.test['ndcg@10']).toBeGreaterThan(0);
      expect(r.params.embedding).toBeGreaterThan(0);
      expect(r.validation_curve.length).toBe(r.epochs);
      const budget = points.find((p) => p.id === r.id)!.computeBudget;
      if (budget !== undefined) expect(r.epochs).toBe(Math.max(1, Math.round(budget / perEpoch)));
    }
    const fit = JSON.parse(readFileSync(join(out, 'fit.json'), 'utf8')) as FitFile;
    for (const family of ['hstu', 'sasrec']) {
      const f = fit.families[family]!;
      expect('power' in f, JSON.stringify(f)).toBe(true);
      if (!('power' in f)) continue;
      expect(Number.isFinite(f.r2) && Number.isFinite(f.power.b)).toBe(true);
      expect(f.power.intervals.b.lo).toBeLessThan(f.power.b);
      expect(f.power.intervals.b.hi).toBeGreaterThan(f.power.b);
    }
    expect(readFileSync(join(out, 'scaling.svg'), 'utf8')).toMatch(/^<svg/);
    expect(readFileSync(join(out, 'loss_curves.png')).subarray(1, 4).toString()).toBe('PNG');
    const report = readFileSync(join(out, 'report.md'), 'utf8');
    const hstu = fit.families.hstu!;
    if ('power' in hstu) expect(report).toContain(String(Number(hstu.power.b.toPrecision(3))));
    expect(report).toContain('![scaling.png](scaling.png)');

    // Resume: nothing to run; then a torn last line reruns exactly that point.
    expect((await runSweep({ specPath: SMOKE, outDir: out, gpu, log: quiet })).ran).toEqual([]);
    const path = join(out, 'runs.jsonl');
    const lines = readFileSync(path, 'utf8').trimEnd().split('\n');
    const last = JSON.parse(lines[lines.length - 1]!) as RunRecord;
    writeFileSync(path, lines.slice(0, -1).join('\n') + '\n' + lines[lines.length - 1]!.slice(0, 40));
    const again = await runSweep({ specPath: SMOKE, outDir: out, gpu, log: quiet });
    expect(again.ran).toEqual([last.id]);
    const rerun = readRuns(path).find((r) => r.id === last.id)!;
    expect(rerun.losses).toEqual(last.losses); // seeded: the rerun is the same run
    expect(readRuns(path).length).toBe(points.length);
  });

  it('ranking: runs, FLOPs from each epoch\'s examples, NE fitted', async () => {
    const dir = join(out, 'ranking');
    await runSweep({ specPath: SMOKE_RANKING, outDir: dir, gpu, log: quiet });
    const spec = loadSpec(SMOKE_RANKING);
    const data = generateSynthetic(spec.dataset.synthetic ?? {});
    const runs = readRuns(join(dir, 'runs.jsonl'));
    expect(runs.length).toBe(expandSpec(spec).length);
    for (const r of runs) {
      expect(r.task).toBe('ranking');
      expect(r.test.ne! > 0 && r.test.auc! >= 0 && r.test.auc! <= 1).toBe(true);
      const train = prepareRankingSplit(data, r.config).train;
      let want = 0;
      for (let e = 0; e < r.epochs; e++) {
        const ex = rankingTrainExamples(train, r.config, e).map((x) => [x.candEnd - x.histStart, x.candEnd - x.cut] as const);
        want += rankingTrainingFlops(flopShapeOf(r.config), ex, { hidden: r.config.headHidden, tasks: RANKING_TASKS.length }).total;
      }
      expect(r.train_flops).toBe(want);
    }
    const fit = JSON.parse(readFileSync(join(dir, 'fit.json'), 'utf8')) as FitFile;
    expect(fit.metric).toBe('ne');
    expect(Object.keys(fit.families).sort()).toEqual(['hstu', 'sasrec']);
    expect(readFileSync(join(dir, 'report.md'), 'utf8')).toContain('test NE');
  });
});
