// End-to-end ranking training on tiny synthetic data (ratings depend on the item's cluster and the
// user's home cluster): the loss falls, metrics.jsonl has the retrieval conventions with keys auc,
// ne, logloss, rmse and the baselines, the checkpoints say 'ranking', and loadRankingModel
// rebuilds a model that scores exactly like the trained one; `resume` continues a run bit-exactly
// (mid-epoch, with the model-selection state) and refuses the other task's or another shape's checkpoint.
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createGpu, type Gpu } from '../kernels/gpu/index.js';
import { loadCheckpoint } from './checkpoint.js';
import { loadRankingModel } from './ranking_checkpoint.js';
import { prepareRankingSplit } from './ranking_data.js';
import { scoreRanking, trainRanking } from './ranking_train.js';
import { tinyRunConfig, tinyRunData } from './tiny_run.js';

let gpu: Gpu;
beforeAll(async () => (gpu = await createGpu()));
afterAll(() => gpu?.dispose());
const quiet = () => {};

describe.each(['hstu', 'sasrec'] as const)('ranking training (%s)', (model) => {
  it('trains, writes metrics.jsonl and a ranking checkpoint that loadRankingModel restores', async () => {
    const dir = mkdtempSync(join(tmpdir(), `hstu-rank-${model}-`));
    const extra = model === 'sasrec' ? { dqk: 0, dv: 0 } : {};
    const c = tinyRunConfig({ task: 'ranking', model, epochs: 3, evalEvery: 1, rankingCandidates: 4, rankingWindows: 2, lr: 0.01, ...extra });
    const data = tinyRunData();
    const r = await trainRanking({ config: c, data, outDir: dir, log: quiet, gpu });
    expect(r.losses.every(Number.isFinite)).toBe(true);
    const n = r.losses.length, third = Math.floor(n / 3);
    const mean = (a: number[]) => a.reduce((x, y) => x + y, 0) / a.length;
    expect(mean(r.losses.slice(-third))).toBeLessThan(mean(r.losses.slice(0, third)));
    const lines = readFileSync(join(dir, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines.filter((l) => l.split === 'validation')).toHaveLength(3);
    const final = lines.find((l) => l.best_epoch !== undefined)!;
    expect(final.split).toBe('test');
    for (const k of ['auc', 'ne', 'logloss', 'rmse']) expect(Number.isFinite(final[k]), k).toBe(true);
    expect(lines.map((l) => l.model)).toEqual(expect.arrayContaining([model, 'item-mean', 'user-item-bias']));
    const ck = loadCheckpoint(join(dir, 'best.hstu'));
    expect(ck.task).toBe('ranking');
    expect(ck.epoch).toBe(final.best_epoch);
    // The last checkpoint restores the trained model: same test scores.
    const loaded = await loadRankingModel(gpu, join(dir, 'checkpoint.hstu'));
    try {
      const rs = prepareRankingSplit(data, loaded.config);
      const s = await scoreRanking(loaded.model, rs.all, rs.test);
      const again = await scoreRanking(loaded.model, rs.all, rs.test);
      expect(Array.from(s.pLike)).toEqual(Array.from(again.pLike));
      for (const [name, p] of r.params) {
        const b = loaded.checkpoint.params.find((x) => x.name === name)!;
        expect(Array.from(b.data), name).toEqual(Array.from(p));
      }
    } finally {
      loaded.model.release();
    }
  });
});

describe('ranking checkpoints', () => {
  it('loadRankingModel and resume reject a retrieval checkpoint with a hint', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hstu-rank-ret-'));
    const { train } = await import('./train.js');
    await train({ config: tinyRunConfig(), data: tinyRunData(), maxSteps: 1, noEval: true, outDir: dir, log: quiet, gpu });
    await expect(loadRankingModel(gpu, join(dir, 'checkpoint.hstu'))).rejects.toThrow(/retrieval.*HINT: train one with --task=ranking/);
    const c = tinyRunConfig({ task: 'ranking' });
    await expect(trainRanking({ config: c, data: tinyRunData(), resume: join(dir, 'checkpoint.hstu'), maxSteps: 2, noEval: true, log: quiet, gpu })).rejects.toThrow(/holds a 'retrieval' model.*HINT: resume it with --task=retrieval/);
  });
});

describe('ranking resume', () => {
  // The tiny run with one window per user has 6 batches an epoch: 2k = 16 steps straight cross two
  // evaluations (epochs 1 and 2); the resume at k = 8 lands mid-epoch 2, after the first one.
  const k = 8;
  const config = () => tinyRunConfig({ task: 'ranking', epochs: 3, evalEvery: 1, rankingCandidates: 4, rankingWindows: 1, lr: 0.01 });
  const validationLines = (dir: string) =>
    readFileSync(join(dir, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>)
      .filter((l) => l.split === 'validation').map(({ train_tokens_per_s: _, ...rest }) => rest);

  it('resumes bit-exactly: 2k steps straight = k steps + resume + k steps', async () => {
    const dirA = mkdtempSync(join(tmpdir(), 'hstu-rank-a-'));
    const dirB = mkdtempSync(join(tmpdir(), 'hstu-rank-b-'));
    const data = tinyRunData();
    const straight = await trainRanking({ config: config(), data, maxSteps: 2 * k, outDir: dirA, log: quiet, gpu });
    expect(straight.losses).toHaveLength(2 * k);
    expect(straight.epoch).toBe(2);
    await trainRanking({ config: config(), data, maxSteps: k, outDir: dirB, log: quiet, gpu });
    const ck = loadCheckpoint(join(dirB, 'checkpoint.hstu'));
    expect([ck.step, ck.epoch]).toEqual([k, 1]); // mid-epoch 2 (6 steps an epoch)
    expect(ck.trainerState.best).toBeDefined();
    const logs: string[] = [];
    const resumed = await trainRanking({ config: config(), data, maxSteps: 2 * k, outDir: dirB, resume: join(dirB, 'checkpoint.hstu'), log: (l) => logs.push(l), gpu });
    expect(logs[0]).toMatch(new RegExp(`resumed from .* at step ${k} \\(epoch 1\\)`));
    expect([resumed.step, resumed.epoch]).toEqual([2 * k, 2]);
    expect(resumed.losses).toEqual(straight.losses.slice(k));
    expect([...resumed.params.keys()].sort()).toEqual([...straight.params.keys()].sort());
    for (const [name, a] of straight.params) {
      const b = resumed.params.get(name)!;
      expect(Buffer.from(b.buffer, b.byteOffset, b.byteLength).equals(Buffer.from(a.buffer, a.byteOffset, a.byteLength)), `param ${name} differs`).toBe(true);
    }
    // Model selection continued from the checkpoint: the same best epoch and metrics.
    expect(resumed.best).toEqual(straight.best);
    expect(resumed.test).toEqual(straight.test);
    expect(validationLines(dirB)).toEqual(validationLines(dirA));
    expect(validationLines(dirA).map((l) => l.epoch)).toEqual([1, 2]);
  });

  it('refuses a checkpoint of another model shape with a hint', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hstu-rank-shape-'));
    await trainRanking({ config: config(), data: tinyRunData(), maxSteps: 1, noEval: true, outDir: dir, log: quiet, gpu });
    const resume = join(dir, 'checkpoint.hstu');
    const again = (over: Record<string, unknown>) => trainRanking({ config: tinyRunConfig({ ...config(), ...over }), data: tinyRunData(), resume, maxSteps: 2, noEval: true, log: quiet, gpu });
    await expect(again({ dim: 8 })).rejects.toThrow(/another model shape: dim \(checkpoint 16, now 8\).*HINT: resume with the config/);
    await expect(again({ model: 'sasrec', dqk: 0, dv: 0 })).rejects.toThrow(/another model shape: model \(checkpoint "hstu", now "sasrec"\).*HINT/);
    await expect(again({ batchSize: 200 })).rejects.toThrow(/not inside epoch.*HINT: resume with the batchSize/);
  });
});
