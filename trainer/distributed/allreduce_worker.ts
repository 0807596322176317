// A worker that only joins a run and all-reduces a dense buffer each step: the process the
// multi-process tests kill, and the all-reduce benchmark (BENCHMARKS.md). Run by launchWorkers:
//   RANK=r WORLD_SIZE=W HSTU_REDIS=… HSTU_RUN_ID=… [HSTU_ALLREDUCE=ring] tsx trainer/distributed/allreduce_worker.ts <values> <steps> [stepSleepMs]
// Prints one JSON line per step ({rank, step, digest, ms}) and a summary; exits 3 with the
// PeerLostError message when another worker stops.
import { RedisAllReduce, digestWords } from './allreduce.js';
import { RingAllReduce } from './ring_allreduce.js';
import { workerIdentityFromEnv } from './env.js';
import { PeerLostError, Rendezvous } from './rendezvous.js';

async function main(): Promise<number> {
  const id = workerIdentityFromEnv();
  const [values = '1000', steps = '10', sleepMs = '0'] = process.argv.slice(2);
  const n = Number(values), S = Number(steps), pause = Number(sleepMs);
  const rdv = await Rendezvous.join(id, {
    configDigest: `allreduce-worker:${n}`,
    heartbeatMs: Number(process.env.HSTU_HEARTBEAT_MS ?? 500),
    ttlMs: Number(process.env.HSTU_HEARTBEAT_TTL_MS ?? 5000),
  });
  try {
    // HSTU_ALLREDUCE=ring: the TCP ring; default: through Redis.
    const ring = process.env.HSTU_ALLREDUCE === 'ring' ? await RingAllReduce.open(rdv) : undefined;
    const ar = ring ?? new RedisAllReduce(rdv);
    const buf = new Float32Array(n);
    for (let step = 1; step <= S; step++) {
      for (let i = 0; i < n; i++) buf[i] = Math.fround(Math.sin(i * 0.001 + step * 0.1 + id.rank) * (1 + id.rank));
      const t0 = performance.now();
      const sum = await ar.sumF32(buf);
      console.log(JSON.stringify({ rank: id.rank, step, digest: digestWords(new Uint8Array(sum.buffer)), ms: +(performance.now() - t0).toFixed(3) }));
      if (pause > 0) await new Promise((r) => setTimeout(r, pause));
    }
    if (ar instanceof RedisAllReduce) await ar.verifyLast();
    await rdv.barrier('done');
    ring?.close();
    console.log(JSON.stringify({ rank: id.rank, summary: ar.stats }));
    return 0;
  } catch (e) {
    if (e instanceof PeerLostError) {
      console.error(e.message);
      return 3;
    }
    await rdv.abort((e as Error).message);
    throw e;
  } finally {
    await rdv.close();
  }
}

main().then((c) => process.exit(c), (e: Error) => {
  console.error(e.message);
  process.exit(1);
});
