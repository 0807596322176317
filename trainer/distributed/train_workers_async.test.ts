// The asynchronous embedding modes (embeddingSync 'atomic' | 'cas', sparse_async.ts) in the
// trainer, W = 2 workers on the local Redis Cluster: the run trains (the loss falls), the dense
// parameters stay identical on both ranks (the all-reduced loss has the same bits), and no row
// update is lost: every row's stored version equals the number of row-wise Adam updates the
// ranks applied to it. Shared negatives make both ranks touch the same negative rows every step,
// so in `cas` mode commits conflict and must fall back to `atomic` (counted, and still no update
// lost). Skips without the cluster.
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { RedisEmbeddingStore, rowKey } from '../store/redis_store.js';
import { clusterReachable, deleteTable, SKIP_MESSAGE, TEST_REDIS_ADDRESS } from '../store/redis_testing.js';
import { launchWorkers, type Launched } from './launch.js';

const up = await clusterReachable();
if (!up) console.warn(`train_workers_async.test.ts: ${SKIP_MESSAGE}`);
const ENTRY = fileURLToPath(new URL('./train_worker.ts', import.meta.url));

const SYNTH = 'users=96,items=60,seed=3';
const CFG = { model: 'hstu', maxLen: 20, dim: 16, numLayers: 2, numHeads: 2, dqk: 8, dv: 8, dropout: 0, numNegatives: 16, batchSize: 16, lr: 0.01, seed: 7, negativeSampling: 'shared', epochs: 2 };
const STEPS = 12; // 96 users, batch 16: 6 steps an epoch

interface WorkerReport {
  rank: number;
  losses: number[];
  rowUpdates: [number, number][];
  store: { casConflicts: number; rowsUpdated: number };
}

describe.skipIf(!up)('asynchronous embedding modes in the trainer (W = 2, local cluster)', () => {
  const launched: Launched[] = [];
  afterEach(() => {
    for (const l of launched.splice(0)) for (const c of l.children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  });

  async function run(mode: 'atomic' | 'cas') {
    const reports = new Map<number, WorkerReport>();
    const err: string[] = [];
    const args = ['--synthetic', SYNTH, '--store', 'redis', '--redis', TEST_REDIS_ADDRESS, `--embeddingSync=${mode}`, ...Object.entries(CFG).map(([k, v]) => `--${k}=${v}`)];
    const l = launchWorkers({ worldSize: 2, entry: ENTRY, args, redis: TEST_REDIS_ADDRESS, env: { HSTU_PRINT_LOSSES: '1', HSTU_KEEP_TABLE: '1' },
      onLine: (rank, line, stream) => {
        if (stream === 'stderr') err.push(`[rank ${rank}] ${line}`);
        else if (line.startsWith('{"rank"')) reports.set(rank, JSON.parse(line) as WorkerReport);
      } });
    launched.push(l);
    const exits = await l.done;
    expect(exits.map((e) => e.code), err.join('\n')).toEqual([0, 0]);
    // The run's table, kept (HSTU_KEEP_TABLE): every row's version against the updates applied.
    const store = await RedisEmbeddingStore.openExisting(TEST_REDIS_ADDRESS, `items_${l.runId}`);
    try {
      const applied = new Map<number, number>();
      for (const r of reports.values()) for (const [id, n] of r.rowUpdates) applied.set(id, (applied.get(id) ?? 0) + n);
      const existing = (await store.existingIdsByPrimary()).flatMap((p) => p.ids);
      const versions = new Map<number, number>();
      for (const id of existing) {
        const v = await store.cluster.getBuffer(rowKey(store.table, store.bucketCount, id));
        versions.set(id, v!.readUInt32LE(0));
      }
      return { reports, applied, versions };
    } finally {
      await deleteTable(store.cluster, store.table);
      await store.close();
    }
  }

  function checkRun(r: Awaited<ReturnType<typeof run>>) {
    const a = r.reports.get(0)!, b = r.reports.get(1)!;
    expect(a.losses).toHaveLength(STEPS);
    expect(b.losses).toEqual(a.losses); // the all-reduced loss: the same bits on both ranks
    const mean = (x: number[]) => x.reduce((s, v) => s + v, 0) / x.length;
    expect(mean(a.losses.slice(-3)), `losses ${a.losses.join(', ')}`).toBeLessThan(0.95 * mean(a.losses.slice(0, 3)));
    // Both ranks updated rows, and some rows were updated by both in one step (shared negatives).
    expect(a.rowUpdates.length).toBeGreaterThan(0);
    expect(b.rowUpdates.length).toBeGreaterThan(0);
    // No update lost: each stored row's version is the count of updates applied to it; every
    // updated row exists.
    let updates = 0;
    for (const [id, n] of r.applied) {
      expect(r.versions.get(id), `row ${id}`).toBe(n);
      updates += n;
    }
    for (const [id, v] of r.versions) expect(v, `row ${id} (never updated)`).toBe(r.applied.get(id) ?? 0);
    expect(updates).toBe(a.store.rowsUpdated + b.store.rowsUpdated);
    expect(Math.max(...r.applied.values())).toBeGreaterThan(STEPS); // some row got more than one update a step
  }

  it('cas: trains, no update lost, and conflicting commits fall back to atomic', async () => {
    const r = await run('cas');
    checkRun(r);
    const conflicts = r.reports.get(0)!.store.casConflicts + r.reports.get(1)!.store.casConflicts;
    expect(conflicts).toBeGreaterThan(0);
  }, 180_000);

  it('atomic: trains, no update lost', async () => {
    const r = await run('atomic');
    checkRun(r);
    expect(r.reports.get(0)!.store.casConflicts + r.reports.get(1)!.store.casConflicts).toBe(0);
  }, 180_000);
});
