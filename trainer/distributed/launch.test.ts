// Real worker processes (launchWorkers + allreduce_worker.ts) on the local Redis Cluster: a clean
// run, and a worker SIGKILLed mid-run, after which the others stop by themselves with a clear
// message within a bounded time. Skips without the cluster.
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { clusterReachable, SKIP_MESSAGE, TEST_REDIS_ADDRESS } from '../store/redis_testing.js';
import { launchWorkers as launch, type LaunchOptions, type Launched } from './launch.js';

const up = await clusterReachable();
if (!up) console.warn(`launch.test.ts: ${SKIP_MESSAGE}`);
const ENTRY = fileURLToPath(new URL('./allreduce_worker.ts', import.meta.url));

describe.skipIf(!up)('forked workers', () => {
  // A failing assertion must not leave workers behind.
  const launched: Launched[] = [];
  const launchWorkers = (o: LaunchOptions) => { const l = launch(o); launched.push(l); return l; };
  afterEach(() => {
    for (const l of launched.splice(0)) for (const c of l.children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  });
  it('W = 2 workers all-reduce with identical digests every step and exit 0', async () => {
    const lines: { rank: number; step?: number; digest?: number }[] = [];
    const l = launchWorkers({ worldSize: 2, entry: ENTRY, args: ['3000', '4'], redis: TEST_REDIS_ADDRESS,
      onLine: (rank, line, stream) => { if (stream === 'stdout') lines.push(JSON.parse(line)); else console.error(`[rank ${rank}] ${line}`); } });
    const exits = await l.done;
    expect(exits.map((e) => e.code)).toEqual([0, 0]);
    for (let step = 1; step <= 4; step++) {
      const d = lines.filter((x) => x.step === step).map((x) => x.digest);
      expect(d).toHaveLength(2);
      expect(d[0]).toBe(d[1]);
    }
  }, 60_000);

  it('a worker killed with SIGKILL: the others stop within the heartbeat bound with a clear message', async () => {
    const errs: string[] = [];
    let stepsSeen = 0;
    const l = launchWorkers({ worldSize: 3, entry: ENTRY, args: ['1000', '100000', '20'], redis: TEST_REDIS_ADDRESS,
      env: { HSTU_HEARTBEAT_MS: '100', HSTU_HEARTBEAT_TTL_MS: '800' },
      graceMs: 60_000,
      onLine: (rank, line, stream) => { if (stream === 'stderr') errs.push(`${rank}: ${line}`); else if (rank === 0) stepsSeen++; } });
    while (stepsSeen < 3) await new Promise((r) => setTimeout(r, 20));
    const killedAt = Date.now();
    l.children[1]!.kill('SIGKILL');
    const exits = await l.done;
    const stoppedIn = Date.now() - killedAt;
    expect(exits[1]!.signal).toBe('SIGKILL');
    expect(exits[0]!.code).toBe(3);
    expect(exits[2]!.code).toBe(3);
    expect(errs.some((e) => /^0: distributed: worker rank 1 stopped \(no heartbeat for 800 ms\); rank 0 stops too\. HINT/.test(e))).toBe(true);
    expect(stoppedIn).toBeLessThan(30_000); // generous bound; designed: ttl (0.8 s) + one poll
  }, 90_000);
});
