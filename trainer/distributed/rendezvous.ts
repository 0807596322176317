// Rendezvous, barriers and heartbeats of W workers, in Redis (DESIGN §7). All keys of a run share
// the hash tag {hstu-run.<runId>}, so they live on one shard and multi-key reads are one call:
//   config         the config digest of the first worker; a worker of another config is refused
//   hb:<rank>      a heartbeat, SET every heartbeatMs with a time-to-live of ttlMs (from a thread of
//                  its own, heartbeat_thread.mjs: a busy event loop is not a dead worker)
//   abort          set by a worker that fails, with its message: the others stop at once
//   bar:<name>     barrier counters (INCR; done when the count reaches W)
// Failure detection: every wait (barrier, all-reduce) checks the peers' heartbeats; a worker
// that died (SIGKILL included) is noticed within ttlMs + one poll, and the survivors throw
// PeerLostError naming its rank. Keys expire (KEY_TTL_MS) so an abandoned run leaves nothing.
import { Worker } from 'node:worker_threads';
import { Cluster } from 'ioredis';
import type { WorkerIdentity } from './env.js';

export class PeerLostError extends Error {}

export interface RendezvousOptions {
  /** Digest of everything that must match between workers (config, data, world size). */
  configDigest: string;
  heartbeatMs?: number;
  ttlMs?: number;
  /** How long to wait for all W workers to join (default 120 s). */
  joinTimeoutMs?: number;
  pollMs?: number;
}

const KEY_TTL_MS = 3_600_000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export function connectCluster(address: string): Cluster {
  const nodes = address.split(',').map((a) => {
    const [host, port] = a.trim().split(':');
    return { host: host!, port: Number(port) };
  });
  const c = new Cluster(nodes, {
    scaleReads: 'master', enableAutoPipelining: true, retryDelayOnFailover: 200, retryDelayOnClusterDown: 200,
    clusterRetryStrategy: (t: number) => (t > 3 ? null : 100 * t), redisOptions: { connectTimeout: 2000 },
  });
  c.on('error', () => { /* surfaced per command */ });
  return c;
}

export class Rendezvous {
  readonly rank: number;
  readonly worldSize: number;
  readonly runId: string;
  private heartbeat: Worker | undefined;
  private readonly ttlMs: number;
  private readonly pollMs: number;
  private closed = false;
  /** After the join barrier every peer has heartbeated; before it, only peers seen alive count. */
  private joined = false;
  private readonly seen = new Set<number>();

  private readonly address: string;

  private constructor(readonly redis: Cluster, id: WorkerIdentity, o: RendezvousOptions) {
    this.address = id.redis;
    this.rank = id.rank;
    this.worldSize = id.worldSize;
    this.runId = id.runId;
    this.ttlMs = o.ttlMs ?? 5000;
    this.pollMs = o.pollMs ?? 10;
  }

  key(suffix: string): string {
    return `hstu:{hstu-run.${this.runId}}:${suffix}`;
  }

  /** Joins the run: checks the config, starts the heartbeat, waits until all W workers joined. */
  static async join(id: WorkerIdentity, o: RendezvousOptions): Promise<Rendezvous> {
    const redis = connectCluster(id.redis);
    const r = new Rendezvous(redis, id, o);
    try {
      await redis.ping();
    } catch (e) {
      redis.disconnect();
      throw new Error(`distributed: no Redis Cluster answers at ${id.redis} (${(e as Error).message}). HINT: npm run cluster -- start, or pass --redis host:port`);
    }
    try {
      const want = `${o.configDigest}|W=${id.worldSize}`;
      await redis.set(r.key('config'), want, 'PX', KEY_TTL_MS, 'NX');
      const got = await redis.get(r.key('config'));
      if (got !== want) {
        throw new Error(`distributed: worker rank ${id.rank} has config ${want}, but run ${id.runId} was started with ${got}. ` +
          'HINT: every worker of a run needs the same config, data and --workers; start a new run (new HSTU_RUN_ID) for another config');
      }
      if (await redis.exists(r.key(`hb:${id.rank}`))) {
        throw new Error(`distributed: rank ${id.rank} already has a live worker in run ${id.runId}. HINT: give each worker its own RANK`);
      }
      await r.startHeartbeat(o.heartbeatMs ?? 500);
      await r.barrier('join', o.joinTimeoutMs ?? 120_000);
      r.joined = true;
    } catch (e) {
      await r.close();
      throw e;
    }
    return r;
  }

  /** How long a dead worker's heartbeat outlives it (the detection bound). */
  get heartbeatTtlMs(): number {
    return this.ttlMs;
  }

  /** Throws if the run was aborted or a peer's heartbeat expired. */
  async checkPeers(): Promise<void> {
    const keys = [this.key('abort'), ...Array.from({ length: this.worldSize }, (_, r) => this.key(`hb:${r}`))];
    const vals = await this.redis.mget(...keys);
    if (vals[0]) throw new PeerLostError(`distributed: run ${this.runId} aborted: ${vals[0]}`);
    for (let r = 0; r < this.worldSize; r++) {
      if (vals[r + 1] !== null) this.seen.add(r);
      else if (r !== this.rank && (this.joined || this.seen.has(r))) {
        throw new PeerLostError(`distributed: worker rank ${r} stopped (no heartbeat for ${this.ttlMs} ms); rank ${this.rank} stops too. ` +
          'HINT: see that worker\'s log; restart the run from the last checkpoint with --resume');
      }
    }
  }

  /**
   * Waits until `poll` returns true, checking peers every ~10 polls. `timeoutMs` bounds the wait
   * even when every peer is alive (a stuck peer).
   */
  async waitFor(what: string, poll: () => Promise<boolean>, timeoutMs = Infinity): Promise<void> {
    const t0 = Date.now();
    for (let i = 0; ; i++) {
      if (await poll()) return;
      if (i % 10 === 0) {
        try {
          await this.checkPeers();
        } catch (e) {
          // A peer that reached this point and then exited cleanly is not lost: look once more.
          if (await poll()) return;
          throw e;
        }
      }
      if (Date.now() - t0 > timeoutMs) {
        throw new PeerLostError(`distributed: ${what} not reached by all ${this.worldSize} workers within ${timeoutMs} ms (rank ${this.rank}). HINT: a worker is stuck or was never started`);
      }
      await sleep(this.pollMs);
    }
  }

  /** All W workers reach `name` before any continues (names must be unique within a run). */
  async barrier(name: string, timeoutMs = Infinity): Promise<void> {
    const k = this.key(`bar:${name}`);
    const n = await this.redis.incr(k);
    if (n === 1) await this.redis.pexpire(k, KEY_TTL_MS);
    if (n > this.worldSize) throw new Error(`distributed: barrier ${name} reached ${n} times for ${this.worldSize} workers. HINT: two workers share a RANK, or the run id was reused`);
    await this.waitFor(`barrier ${name}`, async () => Number(await this.redis.get(k)) >= this.worldSize, timeoutMs);
  }

  /** Tells the other workers to stop (they throw at their next wait). */
  async abort(message: string): Promise<void> {
    await this.redis.set(this.key('abort'), `rank ${this.rank}: ${message}`, 'PX', KEY_TTL_MS).catch(() => {});
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.stopHeartbeat();
    await this.redis.del(this.key(`hb:${this.rank}`)).catch(() => {});
    await this.redis.quit().catch(() => this.redis.disconnect());
  }

  /** Beats now, then from a thread of its own (heartbeat_thread.mjs); the main thread beats too
   *  until the thread has made its first beat (its start can take longer than a short TTL). */
  private async startHeartbeat(heartbeatMs: number): Promise<void> {
    const key = this.key(`hb:${this.rank}`);
    const beat = () => this.redis.set(key, String(Date.now()), 'PX', this.ttlMs);
    await beat();
    const boot = setInterval(() => { beat().catch(() => {}); }, heartbeatMs);
    try {
      const nodes = this.address.split(',').map((a) => ({ host: a.trim().split(':')[0]!, port: Number(a.trim().split(':')[1]) }));
      const t = new Worker(new URL('./heartbeat_thread.mjs', import.meta.url), { workerData: { nodes, key, heartbeatMs, ttlMs: this.ttlMs } });
      this.heartbeat = t;
      const first = await new Promise<string>((res) => {
        t.once('message', (m) => res(String(m)));
        t.once('error', (e) => res(`error: ${e.message}`));
        t.once('exit', (code) => res(`error: exited with code ${code}`));
      });
      if (first !== 'ready') throw new Error(`distributed: the heartbeat thread of rank ${this.rank} failed (${first}). HINT: check the Redis address (--redis)`);
      t.unref();
    } finally {
      clearInterval(boot);
    }
  }

  /** Stops the heartbeat thread (its last SET done) before the key is deleted. */
  private async stopHeartbeat(): Promise<void> {
    const t = this.heartbeat;
    if (!t) return;
    this.heartbeat = undefined;
    const stopped = new Promise<void>((res) => {
      t.once('message', () => res());
      t.once('exit', () => res());
      t.once('error', () => res());
    });
    t.postMessage('stop');
    await Promise.race([stopped, sleep(2000)]);
    await t.terminate();
  }
}
