// A local Redis Cluster on loopback for tests, CI and single-machine runs (DESIGN §7):
//   npm run cluster -- start|stop|status [--port 7100] [--primaries 3] [--replicas 1] [--dir <run dir>]
// Nodes use ports port .. port + primaries·(1 + replicas) − 1, bind 127.0.0.1 only (protected
// mode on), keep their data, logs, nodes.conf and pidfile in <run dir>/<port>/, and run
// daemonized until `stop`. Production points `--redis` at a real cluster instead.
// The exported functions let tests start their own throwaway clusters on other ports (fault tests
// kill primaries and move slots, which must never disturb the shared CI cluster).
import { execFile, execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);
const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '..');

export interface ClusterOptions {
  /** First port; node k listens on port + k. */
  port: number;
  primaries: number;
  /** Replicas per primary. */
  replicas: number;
  /** Run directory (default <repo>/.run/redis-cluster-<port>). */
  dir?: string;
  /** cluster-node-timeout: how long a primary may be silent before its replica takes over. */
  nodeTimeoutMs?: number;
}

export const DEFAULT_CLUSTER: ClusterOptions = { port: 7100, primaries: 3, replicas: 1 };

export const runDir = (o: ClusterOptions): string => o.dir ?? join(REPO, '.run', `redis-cluster-${o.port}`);
export const nodePorts = (o: ClusterOptions): number[] =>
  Array.from({ length: o.primaries * (1 + o.replicas) }, (_, k) => o.port + k);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Installs redis-server when missing (scripts/install-redis.sh; Debian apt). */
export function ensureRedisInstalled(): void {
  try {
    execFileSync('bash', [join(REPO, 'scripts', 'install-redis.sh')], { stdio: ['ignore', 'inherit', 'inherit'] });
  } catch {
    throw new Error('cluster: redis-server is not available. HINT: install Redis >= 7.0 (see scripts/install-redis.sh)');
  }
}

export function redisInstalled(): boolean {
  try {
    execFileSync('redis-server', ['--version'], { stdio: 'ignore' });
    execFileSync('redis-cli', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** redis-cli against one node; resolves to stdout, rejects on a connection error. */
export async function cli(port: number, ...args: string[]): Promise<string> {
  const { stdout } = await run('redis-cli', ['-h', '127.0.0.1', '-p', String(port), ...args], { timeout: 30_000 });
  if (/^Could not connect/m.test(stdout)) throw new Error(stdout.trim());
  return stdout;
}

async function ping(port: number): Promise<boolean> {
  try {
    return (await cli(port, 'ping')).trim() === 'PONG';
  } catch {
    return false;
  }
}

function nodeConf(port: number, dir: string, nodeTimeoutMs: number): string {
  return [
    `port ${port}`,
    'bind 127.0.0.1',
    'protected-mode yes',
    'daemonize yes',
    `dir ${dir}`,
    `pidfile ${join(dir, 'redis.pid')}`,
    `logfile ${join(dir, 'redis.log')}`,
    'cluster-enabled yes',
    'cluster-config-file nodes.conf',
    `cluster-node-timeout ${nodeTimeoutMs}`,
    // A replica takes over however long it has been disconnected (tests kill primaries at will).
    'cluster-replica-validity-factor 0',
    // The embedding rows are the training state: append-only file, fsync every second. RDB
    // snapshots off (they fork a full copy of the shard's memory).
    'appendonly yes',
    'appendfsync everysec',
    'save ""',
    '',
  ].join('\n');
}

export interface ClusterStatus {
  up: number[];
  down: number[];
  ok: boolean;
  /** CLUSTER INFO's cluster_state of the first node that answers. */
  state: string;
}

export async function clusterStatus(o: ClusterOptions): Promise<ClusterStatus> {
  const up: number[] = [], down: number[] = [];
  let state = 'unreachable';
  for (const p of nodePorts(o)) {
    if (await ping(p)) {
      up.push(p);
      if (state === 'unreachable') {
        const m = /cluster_state:(\w+)/.exec(await cli(p, 'cluster', 'info'));
        state = m?.[1] ?? 'unknown';
      }
    } else down.push(p);
  }
  return { up, down, ok: down.length === 0 && state === 'ok', state };
}

/** Waits until every node that answers reports cluster_state:ok and knows `nodes` nodes. */
export async function waitClusterOk(ports: number[], nodes: number, timeoutMs = 60_000): Promise<void> {
  const t0 = Date.now();
  for (;;) {
    let ok = true;
    for (const p of ports) {
      try {
        const info = await cli(p, 'cluster', 'info');
        if (!/cluster_state:ok/.test(info) || !new RegExp(`cluster_known_nodes:${nodes}\\b`).test(info)) ok = false;
      } catch {
        ok = false;
      }
      if (!ok) break;
    }
    if (ok) return;
    if (Date.now() - t0 > timeoutMs) throw new Error(`cluster: nodes ${ports.join(',')} not ok after ${timeoutMs} ms. HINT: look at the redis.log files in the run directory`);
    await sleep(200);
  }
}

/** Starts the nodes and creates the cluster (idempotent: a healthy running cluster is left alone). */
export async function startCluster(o: ClusterOptions, log: (s: string) => void = () => {}): Promise<void> {
  ensureRedisInstalled();
  const ports = nodePorts(o);
  const status = await clusterStatus(o);
  if (status.ok) {
    log(`cluster already running on 127.0.0.1:${ports[0]}-${ports.at(-1)}`);
    return;
  }
  if (status.up.length > 0) {
    throw new Error(`cluster: ports ${status.up.join(',')} already answer but the cluster is not healthy (${status.state}). ` +
      `HINT: npm run cluster -- stop${o.port !== DEFAULT_CLUSTER.port ? ` --port ${o.port}` : ''}, then start again`);
  }
  const dir = runDir(o);
  rmSync(dir, { recursive: true, force: true });
  for (const p of ports) {
    const nd = join(dir, String(p));
    mkdirSync(nd, { recursive: true });
    writeFileSync(join(nd, 'redis.conf'), nodeConf(p, nd, o.nodeTimeoutMs ?? 2000));
    execFileSync('redis-server', [join(nd, 'redis.conf')], { stdio: 'ignore' });
  }
  for (const p of ports) {
    const t0 = Date.now();
    while (!(await ping(p))) {
      if (Date.now() - t0 > 10_000) throw new Error(`cluster: node ${p} did not start. HINT: see ${join(dir, String(p), 'redis.log')}`);
      await sleep(50);
    }
  }
  await run('redis-cli', ['--cluster', 'create', ...ports.map((p) => `127.0.0.1:${p}`),
    '--cluster-replicas', String(o.replicas), '--cluster-yes'], { timeout: 60_000 });
  await waitClusterOk(ports, ports.length);
  log(`cluster up: ${o.primaries} primaries + ${o.primaries * o.replicas} replicas on 127.0.0.1:${ports[0]}-${ports.at(-1)} (data in ${dir})`);
}

function pidOf(dir: string, port: number): number | null {
  const f = join(dir, String(port), 'redis.pid');
  if (!existsSync(f)) return null;
  const pid = Number(readFileSync(f, 'utf8').trim());
  return Number.isInteger(pid) && pid > 0 ? pid : null;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** SIGKILLs one node (fault tests); returns its pid. */
export function killNode(o: ClusterOptions, port: number): number {
  const pid = pidOf(runDir(o), port);
  if (pid === null) throw new Error(`cluster: no pidfile for node ${port}`);
  process.kill(pid, 'SIGKILL');
  return pid;
}

/** Stops every node by its pidfile and removes the run directory. */
export async function stopCluster(o: ClusterOptions, log: (s: string) => void = () => {}): Promise<void> {
  const dir = runDir(o);
  const pids: number[] = [];
  for (const p of nodePorts(o)) {
    const pid = pidOf(dir, p);
    if (pid !== null && alive(pid)) {
      process.kill(pid, 'SIGTERM');
      pids.push(pid);
    }
  }
  const t0 = Date.now();
  while (pids.some(alive)) {
    if (Date.now() - t0 > 10_000) {
      for (const pid of pids.filter(alive)) process.kill(pid, 'SIGKILL');
      break;
    }
    await sleep(50);
  }
  rmSync(dir, { recursive: true, force: true });
  log(pids.length ? `cluster stopped (${pids.length} nodes)` : 'cluster was not running');
}

function parseCli(args: string[]): { cmd: string; o: ClusterOptions } {
  const o: ClusterOptions = { ...DEFAULT_CLUSTER };
  const cmd = args[0] ?? '';
  for (let i = 1; i < args.length; i += 2) {
    const k = args[i], v = args[i + 1];
    if (v === undefined) throw new Error(`cluster: ${k} needs a value`);
    if (k === '--port') o.port = Number(v);
    else if (k === '--primaries') o.primaries = Number(v);
    else if (k === '--replicas') o.replicas = Number(v);
    else if (k === '--dir') o.dir = resolve(v);
    else throw new Error(`cluster: unknown option ${k}. HINT: npm run cluster -- start|stop|status [--port 7100] [--primaries 3] [--replicas 1] [--dir <run dir>]`);
  }
  if (!Number.isInteger(o.port) || o.port < 1024 || o.port > 65535 - 10_000) throw new Error(`cluster: expected --port in 1024..55535, got ${o.port}`);
  if (!Number.isInteger(o.primaries) || o.primaries < 3) throw new Error(`cluster: Redis Cluster needs ≥ 3 primaries, got ${o.primaries}`);
  if (!Number.isInteger(o.replicas) || o.replicas < 0) throw new Error(`cluster: expected --replicas ≥ 0, got ${o.replicas}`);
  return { cmd, o };
}

async function main(args: string[]): Promise<number> {
  const { cmd, o } = parseCli(args);
  const log = (s: string) => console.log(`[cluster] ${s}`);
  if (cmd === 'start') await startCluster(o, log);
  else if (cmd === 'stop') await stopCluster(o, log);
  else if (cmd === 'status') {
    const s = await clusterStatus(o);
    log(`state ${s.state}; up: ${s.up.join(',') || 'none'}; down: ${s.down.join(',') || 'none'}`);
    return s.ok ? 0 : 1;
  } else {
    console.error('usage: npm run cluster -- start|stop|status [--port 7100] [--primaries 3] [--replicas 1] [--dir <run dir>]');
    return 2;
  }
  return 0;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main(process.argv.slice(2)).then((c) => process.exit(c), (e: Error) => {
    console.error(`[cluster] ${e.message}`);
    process.exit(1);
  });
}
