// End-to-end ranking training on tiny synthetic data (ratings depend on the item's cluster and the
// user's home cluster): the loss falls, metrics.jsonl has the retrieval conventions with keys auc,
// ne, logloss, rmse and the baselines, the checkpoints say 'ranking', and loadRankingModel
// rebuilds a model that scores exactly like the trained one.
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
  it('loadRankingModel rejects a retrieval checkpoint with a hint', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hstu-rank-ret-'));
    const { train } = await import('./train.js');
    await train({ config: tinyRunConfig(), data: tinyRunData(), maxSteps: 1, noEval: true, outDir: dir, log: quiet, gpu });
    await expect(loadRankingModel(gpu, join(dir, 'checkpoint.hstu'))).rejects.toThrow(/retrieval.*HINT: train one with --task=ranking/);
  });
});
