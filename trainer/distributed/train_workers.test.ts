// Data-parallel training workers (train_worker.ts) on the local Redis Cluster: W = 2 workers with
// per-worker batch B/2 take the steps of one worker with batch B (synchronous embedding mode,
// exact all-reduce), bit-identical across ranks; a worker SIGKILLed mid-run stops the other
// within a bounded time with a clear message, and --resume from the last checkpoint finishes
// the run. Skips without the cluster.
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { applyOverrides, defaultConfig } from '../../model/config.js';
import { generateSynthetic } from '../data/index.js';
import { parseSyntheticSpec } from '../data/synthetic.js';
import { train } from '../train.js';
import { clusterReachable, SKIP_MESSAGE, TEST_REDIS_ADDRESS } from '../store/redis_testing.js';
import { launchWorkers as launch, type LaunchOptions, type Launched } from './launch.js';
import { sliceBatch } from './worker_sync.js';

const up = await clusterReachable();
if (!up) console.warn(`train_workers.test.ts: ${SKIP_MESSAGE}`);
const ENTRY = fileURLToPath(new URL('./train_worker.ts', import.meta.url));

const SYNTH = 'users=96,items=60,seed=3';
// Shared negatives and no dropout: the step's randomness does not depend on where a sequence
// sits in the batch, so slices see what the whole batch sees (worker_sync.ts).
const CFG = { model: 'hstu', maxLen: 20, dim: 16, numLayers: 2, numHeads: 2, dqk: 8, dv: 8, dropout: 0, numNegatives: 16, batchSize: 16, lr: 0.005, seed: 7, negativeSampling: 'shared' };
const cfgArgs = (o: Record<string, unknown> = {}) => Object.entries({ ...CFG, ...o }).map(([k, v]) => `--${k}=${v}`);

describe('sliceBatch', () => {
  it('splits a jagged batch into contiguous rebased slices whose concatenation is the batch', () => {
    const tb = { seqOffsets: Uint32Array.of(0, 2, 5, 6, 9, 10), items: Uint32Array.from({ length: 10 }, (_, i) => i + 1), timestamps: Uint32Array.from({ length: 10 }, (_, i) => 100 + i), targets: Uint32Array.from({ length: 10 }, (_, i) => 20 + i) };
    for (const W of [1, 2, 3, 5, 7]) {
      const parts = Array.from({ length: W }, (_, r) => sliceBatch(tb, r, W));
      expect(parts.reduce((n, p) => n + p.seqOffsets.length - 1, 0)).toBe(5);
      expect(Array.from(parts.flatMap((p) => [...p.items]))).toEqual([...tb.items]);
      expect(Array.from(parts.flatMap((p) => [...p.targets]))).toEqual([...tb.targets]);
      for (const p of parts) expect(p.seqOffsets[0]).toBe(0);
      for (const p of parts) expect(p.seqOffsets[p.seqOffsets.length - 1]).toBe(p.items.length);
    }
  });
});

/** What train_worker.ts prints with HSTU_PRINT_LOSSES=1. */
interface WorkerReport {
  rank: number;
  losses: number[];
  transport: string;
  rowUpdates: [number, number][];
  store: { casConflicts: number; rowsUpdated: number };
}

describe.skipIf(!up)('training workers on the local cluster', () => {
  const launched: Launched[] = [];
  const launchWorkers = (o: LaunchOptions) => { const l = launch(o); launched.push(l); return l; };
  afterEach(() => {
    for (const l of launched.splice(0)) for (const c of l.children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  });

  async function runWorkers(W: number, args: string[], env: NodeJS.ProcessEnv = {}) {
    const losses = new Map<number, number[]>();
    const reports = new Map<number, WorkerReport>();
    const err: string[] = [];
    const l = launchWorkers({ worldSize: W, entry: ENTRY, args, redis: TEST_REDIS_ADDRESS, env: { HSTU_PRINT_LOSSES: '1', ...env },
      onLine: (rank, line, stream) => {
        if (stream === 'stderr') err.push(`[rank ${rank}] ${line}`);
        else if (line.startsWith('{"rank"')) {
          const r = JSON.parse(line) as WorkerReport;
          losses.set(rank, r.losses);
          reports.set(rank, r);
        }
      } });
    return { l, losses, reports, err };
  }

  it('W = 2 with batch B/2 each: the losses of W = 1 with batch B step by step (up to float reassociation), identical bits on both ranks, over the ring and through Redis', async () => {
    const args = ['--synthetic', SYNTH, '--store', 'redis', '--redis', TEST_REDIS_ADDRESS, '--max-steps', '5', ...cfgArgs({ epochs: 1 })];
    const one = await runWorkers(1, args);
    const two = await runWorkers(2, args);
    const [e1, e2] = [await one.l.done, await two.l.done];
    expect(e1.map((e) => e.code), one.err.join('\n')).toEqual([0]);
    expect(e2.map((e) => e.code), two.err.join('\n')).toEqual([0, 0]);
    const a = one.losses.get(0)!, b0 = two.losses.get(0)!, b1 = two.losses.get(1)!;
    expect(a).toHaveLength(5);
    expect(two.reports.get(0)!.transport).toBe('ring'); // the default dense transport
    expect(b1).toEqual(b0); // the all-reduced loss: the same bits on every rank
    for (let s = 0; s < 5; s++) expect(Math.abs(b0[s]! - a[s]!) / a[s]!, `step ${s}: ${b0[s]} vs ${a[s]}`).toBeLessThan(1e-5);
    expect(new Set(a).size).toBe(5); // the losses move: the comparison is not of constants
    // The dense all-reduce through Redis instead of the ring: another fixed summation order, the
    // same steps up to float reassociation, identical bits on both ranks.
    const viaRedis = await runWorkers(2, [...args, '--allReduceTransport=redis']);
    expect((await viaRedis.l.done).map((e) => e.code), viaRedis.err.join('\n')).toEqual([0, 0]);
    expect(viaRedis.reports.get(0)!.transport).toBe('redis');
    const r0 = viaRedis.losses.get(0)!;
    expect(viaRedis.losses.get(1)).toEqual(r0);
    for (let s = 0; s < 5; s++) expect(Math.abs(r0[s]! - b0[s]!) / b0[s]!, `step ${s}: ${r0[s]} vs ${b0[s]}`).toBeLessThan(1e-5);
    // And the one-process trainer on the same data (host store, the redis store's per-row init):
    // its row-wise Adam runs in f32 on the device, the workers' in float64 on Redis.
    const c = applyOverrides(defaultConfig, { ...CFG, epochs: 1, embeddingStore: 'host', itemRowInit: 'per-row' });
    const ref = await train({ config: c, data: generateSynthetic(parseSyntheticSpec(SYNTH, c.seed)), maxSteps: 5, noEval: true, log: () => {} });
    for (let s = 0; s < 5; s++) expect(Math.abs(ref.losses[s]! - a[s]!) / a[s]!, `step ${s}: ${ref.losses[s]} vs ${a[s]}`).toBeLessThan(1e-4);
  }, 120_000);

  it('a worker killed with SIGKILL: the other stops within the heartbeat bound with a clear message; --resume finishes the run', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hstu-workers-'));
    const args = ['--synthetic', SYNTH, '--store', 'redis', '--redis', TEST_REDIS_ADDRESS, '--out', dir, ...cfgArgs({ epochs: 4, evalEvery: 1 })];
    const env = { HSTU_HEARTBEAT_MS: '200', HSTU_HEARTBEAT_TTL_MS: '1500' };
    const run = await runWorkers(2, args, env);
    const t0 = Date.now();
    while (!existsSync(join(dir, 'checkpoint.hstu')) && Date.now() - t0 < 90_000) await new Promise((r) => setTimeout(r, 100));
    expect(existsSync(join(dir, 'checkpoint.hstu')), run.err.join('\n')).toBe(true);
    const killedAt = Date.now();
    run.l.children[1]!.kill('SIGKILL');
    const exits = await run.l.done;
    const stoppedMs = Date.now() - killedAt;
    expect(exits[1]!.signal).toBe('SIGKILL');
    // Rank 0 may have finished the run in the meantime only if the kill came after its last step.
    expect(exits[0]!.code, run.err.join('\n')).toBe(3);
    expect(run.err.join('\n')).toMatch(/worker rank 1 stopped \(no heartbeat for 1500 ms\); rank 0 stops too.*HINT: .*--resume/);
    expect(stoppedMs).toBeLessThan(15_000);
    const resumed = await runWorkers(2, [...args, '--resume', join(dir, 'checkpoint.hstu')], env);
    const e = await resumed.l.done;
    expect(e.map((x) => x.code), resumed.err.join('\n')).toEqual([0, 0]);
    const lines = readFileSync(join(dir, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(lines[lines.length - 1].split).toBe('test');
    expect(lines.filter((l) => l.split === 'validation').map((l) => l.epoch)).toEqual([1, 2, 3, 4]);
  }, 240_000);
});
