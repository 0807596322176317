// The 2-worker Redis row of `npm run plan -- --validate`: its planner input, and that it says why
// it is skipped when no cluster answers (running it needs a cluster and minutes: BENCHMARKS.md).
import { describe, expect, it } from 'vitest';
import { validationRows } from './plan-validate.js';

describe('planner validation: the 2-worker Redis row', () => {
  it('is one of the rows, planned as 2 workers on Redis sharing this device, the all-reduce through Redis', () => {
    const row = validationRows('127.0.0.1:7500').find((r) => r.name === 'redis-2-workers');
    expect(row).toBeDefined();
    expect(row!.config.embeddingStore).toBe('redis');
    expect(row!.config.redisAddress).toBe('127.0.0.1:7500');
    expect(row!.input).toMatchObject({ workers: 2, store: 'redis', workersShareDevice: true, allReduceVia: 'redis' });
    expect(row!.judge).toBe('median');
    expect(validationRows().length).toBeGreaterThanOrEqual(4);
  });

  it('says clearly when no cluster answers at the address, with the command that starts one', async () => {
    // Port 1 on loopback: nothing listens there (connection refused at once).
    const row = validationRows('127.0.0.1:1').find((r) => r.name === 'redis-2-workers')!;
    await expect(row.unavailable!()).resolves.toMatch(/no Redis Cluster answers at 127\.0\.0\.1:1\. HINT: npm run cluster -- start/);
  });
});
