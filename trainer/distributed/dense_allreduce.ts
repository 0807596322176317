// The trainer's dense-gradient all-reduce, over the transport the config names
// (`allReduceTransport`):
//   ring   TCP ring between the workers (ring_allreduce.ts), Redis only for the rendezvous: each
//          rank moves 2·P·(W−1)/W values each way and no byte passes through a Redis shard, which
//          also serves the embedding rows. Measured (BENCHMARKS.md "Embedding tables on Redis
//          Cluster"): equal to Redis at ML-100K's 36k values and W = 2, 1.6× faster at W = 4 and
//          2.1× at 1M values. The default.
//   redis  through Redis (allreduce.ts): P up and W·P down per rank; for launchers where the
//          workers cannot accept TCP connections from each other.
// Both give identical bits on every rank and check it every call (each message carries the
// digest of the sender's previous result); finish() checks the last call's digest through Redis,
// which no later call would. The two transports sum in different fixed orders (ring: chunk c in
// ring order c, c+1, …; redis: rank order in float64), so they may differ in the last bit: one
// run uses one.
import { RedisAllReduce } from './allreduce.js';
import type { Rendezvous } from './rendezvous.js';
import { RingAllReduce } from './ring_allreduce.js';

export type AllReduceTransport = 'ring' | 'redis';

export interface DenseAllReduce {
  readonly transport: AllReduceTransport;
  /** Σ over ranks (same length everywhere), identical bits on every rank. */
  sumF32(data: Float32Array): Promise<Float32Array>;
  /** Bytes this rank sent / received for the all-reduce so far (payload, headers included). */
  readonly stats: { calls: number; bytesUp: number; bytesDown: number; ms: number };
  /** Compares the last result's digest across ranks (end of a run). */
  finish(): Promise<void>;
  close(): void;
}

/** The ring (opened now: every rank must call this at the same point) or the Redis transport. */
export async function openDenseAllReduce(rdv: Rendezvous, transport: AllReduceTransport, redisAr?: RedisAllReduce): Promise<DenseAllReduce> {
  if (transport === 'redis') {
    const ar = redisAr ?? new RedisAllReduce(rdv);
    return { transport, stats: ar.stats, sumF32: (d) => ar.sumF32(d), finish: () => ar.verifyLast(), close: () => {} };
  }
  if (transport !== 'ring') throw new Error(`distributed: allReduceTransport must be 'ring' or 'redis', got '${String(transport)}'. HINT: --allReduceTransport=ring`);
  const ring = await RingAllReduce.open(rdv);
  let calls = 0;
  return {
    transport,
    stats: ring.stats,
    sumF32: (d) => { calls++; return ring.sumF32(d); },
    finish: () => compareDigests(rdv, `ring:${calls}`, ring.digest),
    close: () => ring.close(),
  };
}

/** Every rank publishes `digest` under `name`; throws unless all W are equal. */
export async function compareDigests(rdv: Rendezvous, name: string, digest: number): Promise<void> {
  const k = rdv.key(`digest:${name}`);
  await rdv.redis.hset(k, String(rdv.rank), String(digest));
  await rdv.redis.pexpire(k, 600_000);
  let all: Record<string, string> = {};
  await rdv.waitFor(`all-reduce digest check ${name}`, async () => Object.keys(all = await rdv.redis.hgetall(k)).length >= rdv.worldSize);
  for (const [rank, d] of Object.entries(all)) {
    if (Number(d) !== digest) {
      throw new Error(`distributed: all-reduce results differ at the last call: rank ${rank} digest ${Number(d).toString(16)}, rank ${rdv.rank} ${digest.toString(16)}. HINT: the workers are not running the same code or config; this is a bug if they are`);
    }
  }
}
