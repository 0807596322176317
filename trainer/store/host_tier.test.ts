// The host tier end to end: with a cache holding every row it gives the device store's bits
// (losses and every parameter after N steps); with a small cache (evictions, write-backs and
// prefetches every step) it still gives the same bits (the cache moves rows, it never changes
// arithmetic); resume is bit-exact; bad inputs get clear errors.
import { mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bigCatalogue, expectSameBits, smallCatalogue } from './tier_fixtures.js';
import { createGpu, type Gpu } from '../../kernels/gpu/index.js';
import { generateSynthetic } from '../data/index.js';
import { loadCheckpoint } from '../checkpoint.js';
import { train } from '../train.js';
import { tinyRunConfig } from '../tiny_run.js';

let gpu: Gpu;
beforeAll(async () => (gpu = await createGpu()));
afterAll(() => gpu?.dispose());
const quiet = () => {};



describe('embeddingStore host', () => {
  it('cache holding every row: same losses and parameters as the device store, bit for bit (per-position negatives)', async () => {
    const data = smallCatalogue();
    const dev = await train({ config: tinyRunConfig(), data, maxSteps: 5, noEval: true, log: quiet, gpu });
    const host = await train({ config: tinyRunConfig({ embeddingStore: 'host', deviceCacheRows: data.numItems }), data, maxSteps: 5, noEval: true, log: quiet, gpu });
    expect(host.params.has('item_emb')).toBe(true);
    expectSameBits(dev, host);
  });

  it('small cache (10% of the rows, evictions every step): the device store\'s bits, shared negatives', async () => {
    const data = bigCatalogue();
    const cfg = { negativeSampling: 'shared', batchSize: 8 };
    const dev = await train({ config: tinyRunConfig(cfg), data, maxSteps: 6, noEval: true, log: quiet, gpu });
    const host = await train({ config: tinyRunConfig({ ...cfg, embeddingStore: 'host', deviceCacheRows: 200 }), data, maxSteps: 6, noEval: true, log: quiet, gpu });
    expectSameBits(dev, host);
    const st = host.cacheStats!;
    expect(st.evictions).toBeGreaterThan(100);
    expect(st.writebacks).toBeGreaterThan(100);
    expect(st.prefetched).toBeGreaterThan(100);
  });

  it('small cache (10% of the rows): the device store\'s bits, per-position negatives on the gathered loss path', async () => {
    const data = bigCatalogue();
    const cfg = { negativeSampling: 'per-position', sampledSoftmaxPath: 'gathered', batchSize: 2, numNegatives: 2 };
    const dev = await train({ config: tinyRunConfig(cfg), data, maxSteps: 6, noEval: true, log: quiet, gpu });
    const host = await train({ config: tinyRunConfig({ ...cfg, embeddingStore: 'host', deviceCacheRows: 200 }), data, maxSteps: 6, noEval: true, log: quiet, gpu });
    expectSameBits(dev, host);
    expect(host.cacheStats!.evictions).toBeGreaterThan(100);
  });

  it('evaluates by streamed full ranking with the same metrics as the device store', async () => {
    const data = bigCatalogue();
    const cfg = { negativeSampling: 'shared', batchSize: 8, epochs: 1 };
    const dev = await train({ config: tinyRunConfig(cfg), data, log: quiet, gpu });
    const host = await train({ config: tinyRunConfig({ ...cfg, embeddingStore: 'host', deviceCacheRows: 1200 }), data, log: quiet, gpu });
    // The same record, coverage / popularity bias of the streamed top-10 lists included.
    expect(dev.best?.['coverage@10']).toBeGreaterThan(0);
    expect(host.best).toEqual(dev.best);
    expect(host.test).toEqual(dev.test);
  });

  it('resumes bit-exactly from a host-tier checkpoint (rows streamed to their own file), bf16 table', async () => {
    const data = bigCatalogue();
    const cfg = tinyRunConfig({ negativeSampling: 'shared', batchSize: 8, embeddingStore: 'host', deviceCacheRows: 400, embeddingBf16: true });
    const dirA = mkdtempSync(join(tmpdir(), 'hstu-host-a-'));
    const dirB = mkdtempSync(join(tmpdir(), 'hstu-host-b-'));
    const straight = await train({ config: cfg, data, maxSteps: 8, noEval: true, outDir: dirA, log: quiet, gpu });
    await train({ config: cfg, data, maxSteps: 4, noEval: true, outDir: dirB, log: quiet, gpu });
    const ck = loadCheckpoint(join(dirB, 'checkpoint.hstu'));
    expect(ck.params.some((b) => b.name === 'item_emb')).toBe(false);
    expect(readdirSync(dirB).filter((f) => f.endsWith('.rows'))).toEqual(['checkpoint.hstu.step4.rows']);
    const resumed = await train({ config: cfg, data, maxSteps: 8, noEval: true, outDir: dirB, resume: join(dirB, 'checkpoint.hstu'), log: quiet, gpu });
    expect(resumed.losses).toEqual(straight.losses.slice(4));
    expectSameBits({ ...straight, losses: [] }, { ...resumed, losses: [] });
    // The older rows file is gone once the newer manifest is in place.
    expect(readdirSync(dirB).filter((f) => f.endsWith('.rows'))).toEqual(['checkpoint.hstu.step8.rows']);
  });

  it('refuses a cache larger than the table, a cache too small for one step, and a checkpoint of other data', async () => {
    const data = smallCatalogue();
    await expect(train({ config: tinyRunConfig({ embeddingStore: 'host', deviceCacheRows: 500 }), data, maxSteps: 1, noEval: true, log: quiet, gpu }))
      .rejects.toThrow(/deviceCacheRows 500 is larger than the table \(61 rows\).*HINT/);
    await expect(train({ config: tinyRunConfig({ embeddingStore: 'host', deviceCacheRows: 30 }), data, maxSteps: 1, noEval: true, log: quiet, gpu }))
      .rejects.toThrow(/per-position' scores the whole catalogue.*HINT: use --negativeSampling=shared/);
    await expect(train({ config: tinyRunConfig({ embeddingStore: 'host', deviceCacheRows: 20, negativeSampling: 'shared' }), data, maxSteps: 1, noEval: true, log: quiet, gpu }))
      .rejects.toThrow(/one step touches \d+ rows but the cache holds 19.*HINT: raise --deviceCacheRows/);
    const dir = mkdtempSync(join(tmpdir(), 'hstu-host-c-'));
    await train({ config: tinyRunConfig({ embeddingStore: 'host', deviceCacheRows: 61 }), data, maxSteps: 1, noEval: true, outDir: dir, log: quiet, gpu });
    const other = generateSynthetic({ seed: 3, numUsers: 96, numItems: 70, numClusters: 6, minEvents: 8, maxEvents: 30 });
    for (const store of ['host', 'device']) {
      await expect(train({ config: tinyRunConfig({ embeddingStore: store, deviceCacheRows: 61, negativeSampling: 'shared' }), data: other, maxSteps: 2, noEval: true, resume: join(dir, 'checkpoint.hstu'), log: quiet, gpu }))
        .rejects.toThrow(/its item table has 61 rows \(60 items\), the data has 70 items.*HINT/);
    }
  });
});
