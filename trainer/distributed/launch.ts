// Forks W worker processes on this machine with RANK, WORLD_SIZE, HSTU_REDIS and HSTU_RUN_ID set
// (the same variables any other launcher sets; see README "Beyond one machine"). The workers find
// each other in Redis; the launcher only starts them and reports how they ended: when one fails,
// the others stop by themselves within their heartbeat bound (rendezvous.ts), and the launcher
// SIGTERMs any still running after `graceMs` more.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

export interface LaunchOptions {
  worldSize: number;
  /** Script run by every worker (TypeScript, through tsx). */
  entry: string;
  args?: string[];
  redis: string;
  runId?: string;
  env?: NodeJS.ProcessEnv;
  /** After the first failure, how long the others may take to stop by themselves. */
  graceMs?: number;
  /** Receives each worker's output lines, prefixed with its rank. */
  onLine?: (rank: number, line: string, stream: 'stdout' | 'stderr') => void;
}

export interface WorkerExit {
  rank: number;
  code: number | null;
  signal: NodeJS.Signals | null;
  /** ms since the launch. */
  atMs: number;
}

export interface Launched {
  runId: string;
  children: ChildProcess[];
  /** Resolves when every worker exited. */
  done: Promise<WorkerExit[]>;
}

export const newRunId = (): string => `run-${Date.now().toString(36)}-${randomBytes(3).toString('hex')}`;

export function launchWorkers(o: LaunchOptions): Launched {
  if (!Number.isInteger(o.worldSize) || o.worldSize < 1) throw new Error(`launch: expected --workers ≥ 1, got ${o.worldSize}`);
  const runId = o.runId ?? newRunId();
  const t0 = Date.now();
  const children: ChildProcess[] = [];
  const exits: Promise<WorkerExit>[] = [];
  let failed = false;
  let killTimer: NodeJS.Timeout | undefined;
  const onFailure = () => {
    if (failed) return;
    failed = true;
    killTimer = setTimeout(() => { for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGTERM'); }, o.graceMs ?? 30_000);
  };
  for (let rank = 0; rank < o.worldSize; rank++) {
    const child = spawn(process.execPath, ['--import', 'tsx', o.entry, ...(o.args ?? [])], {
      cwd: REPO, // `--import tsx` resolves from here
      env: { ...process.env, ...o.env, RANK: String(rank), WORLD_SIZE: String(o.worldSize), HSTU_REDIS: o.redis, HSTU_RUN_ID: runId },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    children.push(child);
    for (const stream of ['stdout', 'stderr'] as const) {
      let rest = '';
      child[stream]!.on('data', (b: Buffer) => {
        const lines = (rest + b.toString()).split('\n');
        rest = lines.pop()!;
        for (const l of lines) o.onLine?.(rank, l, stream);
      });
      child[stream]!.on('end', () => { if (rest) o.onLine?.(rank, rest, stream); });
    }
    exits.push(new Promise((resolve) => child.on('exit', (code, signal) => {
      if (code !== 0) onFailure();
      resolve({ rank, code, signal, atMs: Date.now() - t0 });
    })));
  }
  const done = Promise.all(exits).finally(() => clearTimeout(killTimer));
  return { runId, children, done };
}
