// End to end with --positionAnchor=end (positions counted from the sequence end, as the original
// SASRec's left padding does): SASRec and HSTU train on the tiny synthetic run with a finite,
// falling loss, evaluate (one-matrix and streamed paths) to finite metrics, and a checkpoint
// serves with its anchor (the encoder refuses a batch counted at another one, so each path that
// runs here passed the config's anchor to uploadBatch).
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createGpu, type Gpu } from '../kernels/gpu/index.js';
import { parseOverrides } from '../model/config.js';
import { Retriever } from '../serving/retrieval.js';
import { loadCheckpoint } from './checkpoint.js';
import { tinyRunConfig, tinyRunData } from './tiny_run.js';
import { train } from './train.js';

let gpu: Gpu;
beforeAll(async () => (gpu = await createGpu()));
afterAll(() => gpu?.dispose());
const quiet = () => {};
const END = parseOverrides(['--positionAnchor=end']);
const mean = (a: number[]) => a.reduce((x, y) => x + y, 0) / a.length;
const SASREC = { model: 'sasrec', dqk: 0, dv: 0 };

describe('training with positions anchored at the end', () => {
  it.each([
    ['SASRec', SASREC],
    ['HSTU', {}],
  ])('%s: the loss stays finite and falls', async (_name, o) => {
    const r = await train({ config: tinyRunConfig({ ...END, ...o, epochs: 4 }), data: tinyRunData(), maxSteps: 24, noEval: true, log: quiet, gpu });
    expect(r.losses).toHaveLength(24);
    expect(r.losses.every(Number.isFinite)).toBe(true);
    expect(mean(r.losses.slice(-6))).toBeLessThan(0.95 * mean(r.losses.slice(0, 3)));
  });

  it.each([
    ['SASRec, one-matrix evaluation', SASREC],
    // The host store evaluates through the streamed path (user vectors, then chunks of rows).
    ['HSTU, host store, streamed evaluation', { embeddingStore: 'host', deviceCacheRows: 40, negativeSampling: 'shared', batchSize: 4, numNegatives: 8 }],
  ])('%s: validation and test metrics are finite', async (_name, o) => {
    const r = await train({ config: tinyRunConfig({ ...END, ...o, epochs: 1 }), data: tinyRunData(), log: quiet, gpu });
    expect(r.losses.every(Number.isFinite)).toBe(true);
    for (const rec of [r.best!, r.test!]) {
      for (const k of ['hr@10', 'ndcg@10', 'mrr'] as const) expect(rec[k] >= 0 && rec[k] <= 1, `${rec.split} ${k} = ${rec[k]}`).toBe(true);
    }
  });
});

describe('serving an end-anchored checkpoint', () => {
  it('retrieves with its anchor; the same weights read as start-anchored rank otherwise', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hstu-anchor-'));
    await train({ config: tinyRunConfig({ ...END, ...SASREC }), data: tinyRunData(), maxSteps: 6, noEval: true, outDir: dir, log: quiet, gpu });
    const ck = loadCheckpoint(join(dir, 'checkpoint.hstu'));
    expect(ck.config.positionAnchor).toBe('end');
    const end = await Retriever.load(gpu, ck);
    // A checkpoint written before the key existed: loads as 'start'.
    const start = await Retriever.load(gpu, { ...ck, config: Object.fromEntries(Object.entries(ck.config).filter(([k]) => k !== 'positionAnchor')) });
    try {
      expect(end.config.positionAnchor).toBe('end');
      expect(start.config.positionAnchor).toBe('start');
      const h = { items: Uint32Array.of(5, 9, 30), timestamps: Uint32Array.of(100, 200, 300) };
      const a = await end.retrieve(h, 20), b = await start.retrieve(h, 20);
      expect(a.ids.length).toBe(20);
      expect(a.scores.every(Number.isFinite)).toBe(true);
      // Three tokens at positions 17..19 instead of 0..2: another user vector, another score list.
      expect(Array.from(a.scores)).not.toEqual(Array.from(b.scores));
    } finally {
      end.release();
      start.release();
    }
  });
});
