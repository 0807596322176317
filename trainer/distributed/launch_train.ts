// `npm run train -- --workers W …`: forks W training workers (train_worker.ts) on this machine
// through launchWorkers, prefixes their output with the rank, and fails with the first failing
// worker's message. A worker that dies (SIGKILL included) stops the others within the heartbeat
// bound (HSTU_HEARTBEAT_TTL_MS, default 5 s, plus a poll); the launcher SIGTERMs stragglers.
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { launchWorkers, type WorkerExit } from './launch.js';

const ENTRY = join(dirname(fileURLToPath(import.meta.url)), 'train_worker.ts');

/** The train command's arguments without `--workers N`. */
export function withoutWorkersFlag(args: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    if (args[i] === '--workers') i++;
    else if (!args[i]!.startsWith('--workers=')) out.push(args[i]!);
  }
  return out;
}

export async function trainWithWorkers(args: string[], worldSize: number, redis: string, env?: NodeJS.ProcessEnv): Promise<WorkerExit[]> {
  const lastErr = new Map<number, string>();
  const l = launchWorkers({
    worldSize, entry: ENTRY, args: withoutWorkersFlag(args), redis, env, graceMs: 30_000,
    onLine: (rank, line, stream) => {
      if (stream === 'stderr' && line.trim()) lastErr.set(rank, line);
      (stream === 'stderr' ? console.error : console.log)(`[rank ${rank}] ${line}`);
    },
  });
  console.log(`launched ${worldSize} workers, run ${l.runId}, Redis ${redis}`);
  const exits = await l.done;
  const bad = exits.filter((e) => e.code !== 0);
  if (bad.length) {
    // The first to fail is the cause; the others (exit 3) stopped because of it.
    const first = [...bad].sort((a, b) => a.atMs - b.atMs)[0]!;
    const how = first.signal ? `was killed by ${first.signal}` : `exited with code ${first.code}`;
    throw new Error(`worker rank ${first.rank} ${how}${lastErr.has(first.rank) ? ` (${lastErr.get(first.rank)})` : ''}; ${exits.map((e) => `rank ${e.rank}: ${e.signal ?? e.code} after ${(e.atMs / 1000).toFixed(1)} s`).join(', ')}. HINT: fix the cause and continue with --resume <out>/checkpoint.hstu`);
  }
  return exits;
}
