// The trainer with embeddingStore 'redis' (one worker) against the host store with the same
// per-row init: the device cache moves rows between the device and the store and never changes
// arithmetic, and a Redis f32 row round-trips exactly, so losses and every parameter match bit
// for bit, with a cache of every row and with a small cache (evictions, scheduled write-backs).
// Needs the local Redis Cluster (npm run cluster -- start; .ci/run starts it); skips without it.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bigCatalogue, expectSameBits, smallCatalogue } from './tier_fixtures.js';
import { Cluster } from 'ioredis';
import { createGpu, type Gpu } from '../../kernels/gpu/index.js';
import { train } from '../train.js';
import { tinyRunConfig } from '../tiny_run.js';
import { clusterReachable, SKIP_MESSAGE, TEST_REDIS_ADDRESS, uniqueTable } from './redis_testing.js';

const up = await clusterReachable();
if (!up) console.warn(`redis_tier.test.ts: ${SKIP_MESSAGE}`);

let gpu: Gpu;
beforeAll(async () => (gpu = await createGpu()));
afterAll(() => gpu?.dispose());
const quiet = () => {};



/** Keys of tables whose name starts with `prefix`, on every primary. */
async function keysOf(prefix: string): Promise<number> {
  const [host, port] = TEST_REDIS_ADDRESS.split(':');
  const admin = new Cluster([{ host: host!, port: Number(port) }]);
  let n = 0;
  try {
    for (const node of admin.nodes('master').length ? admin.nodes('master') : (await admin.ping(), admin.nodes('master'))) {
      let cursor = '0';
      do {
        const [next, keys] = await node.scan(cursor, 'MATCH', `${prefix}_*`, 'COUNT', 1000);
        cursor = next;
        n += keys.length;
      } while (cursor !== '0');
    }
  } finally {
    await admin.quit();
  }
  return n;
}

describe('embeddingStore redis: errors without a cluster', () => {
  it('no cluster at the address: a clear error with a hint', async () => {
    await expect(train({ config: tinyRunConfig({ embeddingStore: 'redis', redisAddress: '127.0.0.1:7199' }), data: smallCatalogue(), maxSteps: 1, noEval: true, log: quiet, gpu }))
      .rejects.toThrow(/no Redis Cluster answers at 127\.0\.0\.1:7199.*HINT: start the local one with `npm run cluster -- start`/);
  });
});

describe.skipIf(!up)('embeddingStore redis on the local cluster (one worker)', () => {
  const redis = (o: Record<string, unknown>) => ({ embeddingStore: 'redis', redisAddress: TEST_REDIS_ADDRESS, redisTable: uniqueTable('tier'), ...o });

  it('cache holding every row: the host store\'s bits (per-row init), per-position negatives; the run\'s table is dropped', async () => {
    const data = smallCatalogue();
    const host = await train({ config: tinyRunConfig({ embeddingStore: 'host', itemRowInit: 'per-row', deviceCacheRows: data.numItems }), data, maxSteps: 5, noEval: true, log: quiet, gpu });
    const cfg = redis({ deviceCacheRows: data.numItems });
    const r = await train({ config: tinyRunConfig(cfg), data, maxSteps: 5, noEval: true, log: quiet, gpu });
    expect(r.params.has('item_emb')).toBe(true);
    expectSameBits(host, r);
    expect(await keysOf(cfg.redisTable as string)).toBe(0);
  });

  it('per-row init differs from the table init (the comparison is not vacuous)', async () => {
    const data = smallCatalogue();
    const table = await train({ config: tinyRunConfig({ embeddingStore: 'host', deviceCacheRows: data.numItems }), data, maxSteps: 1, noEval: true, log: quiet, gpu });
    const perRow = await train({ config: tinyRunConfig({ embeddingStore: 'host', itemRowInit: 'per-row', deviceCacheRows: data.numItems }), data, maxSteps: 1, noEval: true, log: quiet, gpu });
    expect(perRow.losses[0]).not.toBe(table.losses[0]);
  });

  it('small cache (evictions every step) and a write-back every 2 steps: the host store\'s bits, shared negatives', async () => {
    const data = bigCatalogue();
    const cfg = { negativeSampling: 'shared', batchSize: 8, deviceCacheRows: 200, itemRowInit: 'per-row' };
    const host = await train({ config: tinyRunConfig({ ...cfg, embeddingStore: 'host' }), data, maxSteps: 6, noEval: true, log: quiet, gpu });
    const r = await train({ config: tinyRunConfig(redis({ ...cfg, storeWriteBackSteps: 2 })), data, maxSteps: 6, noEval: true, log: quiet, gpu });
    expectSameBits(host, r);
    expect(r.cacheStats!.evictions).toBeGreaterThan(100);
    expect(r.cacheStats!.writebacks).toBeGreaterThan(100);
  });

  it('resumes bit-exactly from its checkpoint (rows file) into a fresh table', async () => {
    const data = bigCatalogue();
    const cfg = tinyRunConfig(redis({ negativeSampling: 'shared', batchSize: 8, deviceCacheRows: 400 }));
    const dirA = mkdtempSync(join(tmpdir(), 'hstu-redis-a-'));
    const dirB = mkdtempSync(join(tmpdir(), 'hstu-redis-b-'));
    const straight = await train({ config: cfg, data, maxSteps: 6, noEval: true, outDir: dirA, log: quiet, gpu });
    await train({ config: cfg, data, maxSteps: 3, noEval: true, outDir: dirB, log: quiet, gpu });
    // Another table prefix (and address spelling) is placement, not config: no "differs" note.
    const lines: string[] = [];
    const moved = { ...cfg, redisTable: uniqueTable('moved'), redisAddress: `${TEST_REDIS_ADDRESS},${TEST_REDIS_ADDRESS}` };
    const resumed = await train({ config: moved, data, maxSteps: 6, noEval: true, outDir: dirB, resume: join(dirB, 'checkpoint.hstu'), log: (l) => lines.push(l), gpu });
    expect(lines.filter((l) => /config differs/.test(l))).toEqual([]);
    expect(resumed.losses).toEqual(straight.losses.slice(3));
    expectSameBits({ ...straight, losses: [] }, { ...resumed, losses: [] });
  });
});
