// End to end with dot-product logits (--similarity=dot --temperature=1, eSASRec's logits u·e):
// SASRec and HSTU train on the tiny synthetic run with a finite, falling loss, on the device
// table (either loss path) and on the host store, and evaluate to finite metrics; the retrieval
// server then ranks a dot checkpoint by u·e over the raw item rows (device and host-tier paths),
// and a checkpoint written before the key existed loads as cosine.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createGpu, type Gpu } from '../kernels/gpu/index.js';
import { uploadBatch } from '../model/batch.js';
import { Retriever } from '../serving/retrieval.js';
import { loadCheckpoint } from './checkpoint.js';
import { generateSynthetic } from './data/index.js';
import { tinyRunConfig, tinyRunData } from './tiny_run.js';
import { train } from './train.js';

let gpu: Gpu;
beforeAll(async () => (gpu = await createGpu()));
afterAll(() => gpu?.dispose());
const quiet = () => {};
const DOT = { similarity: 'dot', temperature: 1 };
const mean = (a: number[]) => a.reduce((x, y) => x + y, 0) / a.length;

describe('training with dot-product logits', () => {
  it.each([
    ['SASRec', { model: 'sasrec', dqk: 0, dv: 0 }],
    ['HSTU, catalogue path', { sampledSoftmaxPath: 'catalogue' }],
    ['HSTU, gathered path', { sampledSoftmaxPath: 'gathered' }],
    ['HSTU, shared negatives', { negativeSampling: 'shared' }],
    ['HSTU, host store', { embeddingStore: 'host', deviceCacheRows: 40, negativeSampling: 'shared', batchSize: 4, numNegatives: 8, lr: 0.02 }],
  ])('%s: the loss stays finite and falls', async (_name, o) => {
    const r = await train({ config: tinyRunConfig({ ...DOT, ...o, epochs: 4 }), data: tinyRunData(), maxSteps: 24, noEval: true, log: quiet, gpu });
    expect(r.losses).toHaveLength(24);
    expect(r.losses.every(Number.isFinite)).toBe(true);
    expect(mean(r.losses.slice(-6))).toBeLessThan(0.95 * mean(r.losses.slice(0, 3)));
  });

  it('SASRec with dot logits evaluates (validation and test) to finite metrics', async () => {
    const r = await train({ config: tinyRunConfig({ ...DOT, model: 'sasrec', dqk: 0, dv: 0, epochs: 2 }), data: tinyRunData(), log: quiet, gpu });
    expect(r.losses.every(Number.isFinite)).toBe(true);
    for (const rec of [r.best!, r.test!]) {
      for (const k of ['hr@10', 'ndcg@10', 'mrr'] as const) expect(rec[k] >= 0 && rec[k] <= 1, `${rec.split} ${k} = ${rec[k]}`).toBe(true);
    }
  });
});

describe('serving a dot checkpoint', () => {
  it('ranks by u·e over the raw item rows (device and host-tier paths); an old checkpoint loads as cosine', async () => {
    const data = generateSynthetic({ seed: 5, numUsers: 40, numItems: 300, numClusters: 10, minEvents: 8, maxEvents: 30 });
    const cfg = { ...DOT, negativeSampling: 'shared', batchSize: 8 };
    const dirD = mkdtempSync(join(tmpdir(), 'hstu-dot-d-')), dirH = mkdtempSync(join(tmpdir(), 'hstu-dot-h-'));
    await train({ config: tinyRunConfig(cfg), data, maxSteps: 4, noEval: true, outDir: dirD, log: quiet, gpu });
    await train({ config: tinyRunConfig({ ...cfg, embeddingStore: 'host', deviceCacheRows: 150 }), data, maxSteps: 4, noEval: true, outDir: dirH, log: quiet, gpu });
    const ck = loadCheckpoint(join(dirD, 'checkpoint.hstu'));
    expect(ck.config.similarity).toBe('dot');
    const dev = await Retriever.load(gpu, ck);
    const host = await Retriever.load(gpu, join(dirH, 'checkpoint.hstu'));
    const old = await Retriever.load(gpu, { ...ck, config: Object.fromEntries(Object.entries(ck.config).filter(([k]) => k !== 'similarity')) });
    try {
      expect(dev.config.similarity).toBe('dot');
      expect(old.config.similarity).toBe('cosine');
      const w = ck.params.find((p) => p.name === 'item_emb')!.data as Float32Array;
      const d = dev.config.dim, rows = w.length / d;
      for (const [items, ts] of [[[5, 9, 200], [100, 200, 300]], [[250], [7]]]) {
        const h = { items: Uint32Array.from(items!), timestamps: Uint32Array.from(ts!) };
        // The user vector: the encoder's output at the last history token.
        const b = uploadBatch(gpu, { seqOffsets: Uint32Array.of(0, items!.length), items: h.items, timestamps: h.timestamps }, dev.config.maxLen, rows, dev.config.positionAnchor);
        const rec = gpu.recorder();
        const f = dev.encoder.forward(rec, b, { train: false, seed: 0 });
        await rec.submit();
        const u = (await gpu.read(f.out)).subarray((items!.length - 1) * d, items!.length * d);
        f.release();
        b.release();
        const excl = new Set([0, ...items!]);
        const score = (i: number) => w.subarray(i * d, (i + 1) * d).reduce((s, x, c) => s + x * u[c]!, 0);
        const want = Array.from({ length: rows }, (_, i) => i).filter((i) => !excl.has(i)).map((i) => ({ i, s: score(i) })).sort((a, b) => b.s - a.s || a.i - b.i).slice(0, 25);
        const a = await dev.retrieve(h, 25), hb = await host.retrieve(h, 25), c = await old.retrieve(h, 25);
        expect(Array.from(a.ids)).toEqual(want.map((x) => x.i));
        a.scores.forEach((s, j) => expect(Math.abs(s - want[j]!.s)).toBeLessThan(1e-4 * Math.max(1, Math.abs(want[j]!.s))));
        expect(Array.from(hb.ids)).toEqual(Array.from(a.ids));
        hb.scores.forEach((s, j) => expect(Math.abs(s - a.scores[j]!)).toBeLessThan(1e-5 * Math.max(1, Math.abs(s))));
        // As cosine the same weights rank otherwise, with scores in [−1, 1].
        expect(Array.from(c.ids)).not.toEqual(Array.from(a.ids));
        expect(c.scores.every((s) => Math.abs(s) <= 1 + 1e-6)).toBe(true);
      }
    } finally {
      dev.release();
      host.release();
      old.release();
    }
  });
});
