// Retrieval serving of a host-tier checkpoint (item rows in a .rows file): the history rows go
// through the device cache and top-K streams the catalogue in chunks; it returns what the device
// path returns for the bit-identical device-store checkpoint.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createGpu, type Gpu } from '../kernels/gpu/index.js';
import { generateSynthetic } from '../trainer/data/index.js';
import { train } from '../trainer/train.js';
import { tinyRunConfig } from '../trainer/tiny_run.js';
import { Retriever } from './retrieval.js';

let gpu: Gpu;
beforeAll(async () => (gpu = await createGpu()));
afterAll(() => gpu?.dispose());
const quiet = () => {};

describe('Retriever over a host-tier checkpoint', () => {
  it('returns the device path\'s top-K (ids and scores) for the same trained model', async () => {
    const data = generateSynthetic({ seed: 5, numUsers: 40, numItems: 700, numClusters: 10, minEvents: 8, maxEvents: 30 });
    const cfg = { negativeSampling: 'shared', batchSize: 8 };
    const dirD = mkdtempSync(join(tmpdir(), 'hstu-srv-d-')), dirH = mkdtempSync(join(tmpdir(), 'hstu-srv-h-'));
    await train({ config: tinyRunConfig(cfg), data, maxSteps: 4, noEval: true, outDir: dirD, log: quiet, gpu });
    await train({ config: tinyRunConfig({ ...cfg, embeddingStore: 'host', deviceCacheRows: 300 }), data, maxSteps: 4, noEval: true, outDir: dirH, log: quiet, gpu });
    const dev = await Retriever.load(gpu, join(dirD, 'checkpoint.hstu'));
    const host = await Retriever.load(gpu, join(dirH, 'checkpoint.hstu'));
    try {
      for (const [items, ts] of [[[5, 9, 400], [100, 200, 300]], [[650], [7]], [[1, 2, 3, 4, 5, 6, 7, 8], [1, 2, 3, 4, 5, 6, 7, 8]]]) {
        const h = { items: Uint32Array.from(items!), timestamps: Uint32Array.from(ts!) };
        const a = await dev.retrieve(h, 25), b = await host.retrieve(h, 25);
        expect(Array.from(b.ids)).toEqual(Array.from(a.ids));
        b.scores.forEach((s, i) => expect(Math.abs(s - a.scores[i]!)).toBeLessThan(1e-6));
        for (const x of items!) expect(Array.from(b.ids)).not.toContain(x);
      }
    } finally {
      dev.release();
      host.release();
    }
  });
});
