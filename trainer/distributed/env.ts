// The worker's identity from its launcher: RANK, WORLD_SIZE, the Redis address and a run id.
// `npm run train -- --workers W` sets them for the W processes it forks; any other launcher
// (a Kubernetes Indexed Job: RANK from JOB_COMPLETION_INDEX) sets them the same way.
export interface WorkerIdentity {
  rank: number;
  worldSize: number;
  /** Redis Cluster seed node(s), host:port[,host:port…]. */
  redis: string;
  /** Names the run's keys (rendezvous, barriers, all-reduce); all workers of a run share it. */
  runId: string;
}

export function workerIdentityFromEnv(env: NodeJS.ProcessEnv = process.env): WorkerIdentity {
  const rankRaw = env.RANK ?? env.JOB_COMPLETION_INDEX;
  const rank = Number(rankRaw), worldSize = Number(env.WORLD_SIZE);
  if (!Number.isInteger(worldSize) || worldSize < 1) {
    throw new Error(`distributed: expected WORLD_SIZE ≥ 1, got ${String(env.WORLD_SIZE)}. HINT: the launcher sets RANK and WORLD_SIZE (npm run train -- --workers W does)`);
  }
  if (!Number.isInteger(rank) || rank < 0 || rank >= worldSize) {
    throw new Error(`distributed: expected RANK in 0..${worldSize - 1}, got ${String(rankRaw)}. HINT: the launcher sets RANK (or JOB_COMPLETION_INDEX) for each worker`);
  }
  const redis = env.HSTU_REDIS ?? '';
  if (!redis) throw new Error('distributed: HSTU_REDIS is not set. HINT: pass --redis host:port (npm run cluster -- start gives 127.0.0.1:7100)');
  const runId = env.HSTU_RUN_ID ?? '';
  if (!/^[A-Za-z0-9_.-]+$/.test(runId)) throw new Error(`distributed: expected HSTU_RUN_ID of [A-Za-z0-9_.-]+, got "${runId}". HINT: every worker of one run gets the same id`);
  return { rank, worldSize, redis, runId };
}

/**
 * The rank's part of a global batch: a contiguous slice, sizes differing by at most one. With
 * the same global batch order on every worker (same seed), the W slices of a step are exactly
 * the one-worker batch of that step, which the synchronous embedding mode relies on.
 */
export function rankSlice<T>(globalBatch: readonly T[], rank: number, worldSize: number): T[] {
  const n = globalBatch.length;
  const begin = Math.floor((rank * n) / worldSize), end = Math.floor(((rank + 1) * n) / worldSize);
  return globalBatch.slice(begin, end);
}
