// The `redis` backend of the EmbeddingStore (DESIGN §7): rows of one table on a Redis Cluster
// through ioredis's cluster client (it follows MOVED/ASK during resharding and failover; we add
// a bounded retry for the seconds a failover leaves a slot without a primary).
//
// Keys: `<table>:{<bucket>}:<id>`, bucket = hashId(id) mod B. One hash-tag bucket is one slot,
// so one call (MGET or one Function call) carries all of a step's rows of that bucket; B is fixed
// when the table is created (stored in `<table>:meta`) and chosen so a step's unique rows give
// ≥ 64 rows per call (bucketsForRowsPerStep). Calls of one step go out together, pipelined per
// node (enableAutoPipelining).
// Rows are created on first touch with the per-row seeded init (row_codec.ts initRow).
// Updates (row-wise Adam, applied to each row once per call):
//   atomic  the Function emb_update computes the update on the shard, atomically per row;
//   cas     the worker computes the new rows from the values it read (same float64 math, same
//           bits) and commits them with a per-row version check (emb_cas); rows whose version
//           moved (another worker updated them) fall back to emb_update with the same gradient.
// Durability bound: Redis replicates asynchronously. flush() waits (WAIT) until every primary's
// replica has acknowledged every earlier write of this client; updates acknowledged before a
// flush() survive the loss of one primary; updates after the last flush() may be lost with it.
// An update whose reply is lost (its primary died mid-call) is retried: a `cas` commit is
// idempotent (emb_cas accepts a row that already holds the new value), an `atomic` one may be
// applied twice.
import { Cluster, type Redis } from 'ioredis';
import {
  adamDoubleConstants, decodeRow, encodeRow, hashId, initRow, rowBytes, rowwiseAdamRowDouble, type RowStorage,
} from './row_codec.js';
import { FUNCTIONS_CODE, FUNCTIONS_LIBRARY } from './redis_functions.js';

/** Structurally the EmbeddingStore's RowBlock (trainer/store/store.ts). */
export interface RowBlock {
  ids: Uint32Array;
  w: Float32Array;
  m: Float32Array;
  v: Float32Array;
}

export interface RowwiseAdamOptions {
  lr: number;
  beta1?: number;
  beta2?: number;
  eps?: number;
  weightDecay?: number;
  step: number;
}

export type RedisUpdateMode = 'atomic' | 'cas';

/**
 * `cas` by default: measured (BENCHMARKS.md "Embedding tables on Redis Cluster") 1.6–4.6× the
 * update rows/s of `atomic` at d = 64 and 512, f32 and bf16, because the float work moves from
 * the shard's single Lua thread to the workers, and the rows were read for the forward pass
 * anyway. `atomic` remains the fallback for conflicting rows and the better choice when many
 * workers update the same hot rows at once (every conflict costs a second call).
 */
export const DEFAULT_UPDATE_MODE: RedisUpdateMode = 'cas';

export interface RedisStoreOptions {
  /** Seed nodes, "host:port[,host:port…]". */
  address: string;
  table: string;
  rows: number;
  dim: number;
  storage?: RowStorage;
  seed: number;
  /** Std of the truncated-normal row init (model/params.ts item_emb: 0.02). */
  initStd?: number;
  /** Hash-tag buckets B; only used when the table is created (then read from its meta).
   *  Default: bucketsForRowsPerStep(rowsPerStep). */
  buckets?: number;
  /** Expected distinct rows per step (default 4096), which sets the default B. */
  rowsPerStep?: number;
  mode?: RedisUpdateMode;
  /** Give up on an operation after retrying this long through a failover (default 30 s). */
  retryMs?: number;
}

export interface RedisStoreStats {
  calls: number;
  rowsRead: number;
  rowsUpdated: number;
  rowsCreated: number;
  casConflicts: number;
  retries: number;
}

/** B such that `uniqueRowsPerStep` rows give ≥ 64 rows per call (at least 1, at most 4096). */
export const bucketsForRowsPerStep = (uniqueRowsPerStep: number): number =>
  Math.max(1, Math.min(4096, Math.floor(uniqueRowsPerStep / 64)));

export const rowKey = (table: string, buckets: number, id: number): string =>
  `${table}:{${hashId(id) % buckets}}:${id}`;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function parseAddress(address: string): { host: string; port: number }[] {
  return address.split(',').map((a) => {
    const m = /^\[?([^\]]+?)\]?:(\d+)$/.exec(a.trim());
    if (!m) throw new Error(`redis store: expected an address host:port, got "${a}". HINT: --redis 127.0.0.1:7100`);
    return { host: m[1]!, port: Number(m[2]) };
  });
}

const RETRYABLE = /CLUSTERDOWN|TRYAGAIN|MOVED|ASK|LOADING|READONLY|MASTERDOWN|ECONNREFUSED|ECONNRESET|EPIPE|Connection is closed|Stream isn't writeable|MaxRetriesPerRequest|Failed to refresh slots cache|None of startup nodes is available|ETIMEDOUT|Too many Cluster redirections|enableOfflineQueue|slots allocation group/i;

export class RedisEmbeddingStore {
  readonly kind = 'redis' as const;
  readonly rows: number;
  readonly dim: number;
  readonly storage: RowStorage;
  readonly table: string;
  readonly mode: RedisUpdateMode;
  readonly stats: RedisStoreStats = { calls: 0, rowsRead: 0, rowsUpdated: 0, rowsCreated: 0, casConflicts: 0, retries: 0 };
  private buckets = 0;
  private readonly rowBytes: number;
  readonly seed: number;
  readonly initStd: number;
  private readonly retryMs: number;
  /** cas mode: the value (with its version) of each row as last read, until it is updated. */
  private readonly lastRead = new Map<number, Buffer>();
  private closed = false;

  private constructor(readonly cluster: Cluster, o: RedisStoreOptions) {
    this.table = o.table;
    this.rows = o.rows;
    this.dim = o.dim;
    this.storage = o.storage ?? 'f32';
    this.seed = o.seed;
    this.initStd = o.initStd ?? 0.02;
    this.mode = o.mode ?? DEFAULT_UPDATE_MODE;
    this.retryMs = o.retryMs ?? 30_000;
    this.rowBytes = rowBytes(this.dim, this.storage);
  }

  /** Connects, checks or creates the table's meta, loads the Functions where missing. */
  static async open(o: RedisStoreOptions): Promise<RedisEmbeddingStore> {
    if (!/^[A-Za-z0-9_.-]+$/.test(o.table)) throw new Error(`redis store: table name "${o.table}" must match [A-Za-z0-9_.-]+`);
    if (!Number.isInteger(o.dim) || o.dim < 1) throw new Error(`redis store: expected dim ≥ 1, got ${o.dim}`);
    if (!Number.isInteger(o.rows) || o.rows < 1 || o.rows > 2 ** 32) throw new Error(`redis store: expected 1 ≤ rows ≤ 2^32, got ${o.rows}`);
    if (o.mode !== undefined && o.mode !== 'atomic' && o.mode !== 'cas') throw new Error(`redis store: expected mode atomic | cas, got ${String(o.mode)}`);
    const cluster = new Cluster(parseAddress(o.address), {
      scaleReads: 'master',
      enableAutoPipelining: true,
      maxRedirections: 64,
      retryDelayOnFailover: 200,
      retryDelayOnClusterDown: 200,
      retryDelayOnTryAgain: 100,
      slotsRefreshTimeout: 2000,
      clusterRetryStrategy: (times: number) => (times > 3 ? null : 100 * times),
      redisOptions: { connectTimeout: 2000, maxRetriesPerRequest: 3 },
    });
    cluster.on('error', () => { /* surfaced per command; retried or reported there */ });
    const store = new RedisEmbeddingStore(cluster, o);
    try {
      await withTimeout(cluster.ping(), 5000);
    } catch (e) {
      cluster.disconnect();
      throw new Error(`redis store: no Redis Cluster answers at ${o.address} (${(e as Error).message}). ` +
        'HINT: start the local one with `npm run cluster -- start`, or pass --redis host:port of a node of your cluster');
    }
    try {
      await store.ensureFunctions();
      await store.ensureMeta(o.buckets ?? bucketsForRowsPerStep(o.rowsPerStep ?? 4096));
    } catch (e) {
      cluster.disconnect();
      throw e;
    }
    return store;
  }

  /** Opens a table that exists on the cluster, with the dim, storage, rows, seed and buckets of its meta. */
  static async openExisting(address: string, table: string, mode?: RedisUpdateMode): Promise<RedisEmbeddingStore> {
    const probe = new Cluster(parseAddress(address), { clusterRetryStrategy: (t: number) => (t > 3 ? null : 100 * t), redisOptions: { connectTimeout: 2000 } });
    probe.on('error', () => {});
    let raw: string | null;
    try {
      raw = await withTimeout(probe.get(`${table}:meta`), 5000);
    } catch (e) {
      throw new Error(`redis store: no Redis Cluster answers at ${address} (${(e as Error).message}). HINT: npm run cluster -- start, or pass --redis host:port of a node of your cluster`);
    } finally {
      probe.disconnect();
    }
    if (raw === null) throw new Error(`redis store: no table "${table}" at ${address} (no key ${table}:meta). HINT: check the table name; a table is created by its first run or import`);
    const m = JSON.parse(raw) as Record<string, string>;
    return RedisEmbeddingStore.open({
      address, table, rows: Number(m.rows), dim: Number(m.dim), storage: m.storage as RowStorage,
      seed: Number(m.seed), initStd: Number(m.initStd), buckets: Number(m.buckets), ...(mode ? { mode } : {}),
    });
  }

  get bucketCount(): number {
    return this.buckets;
  }

  private metaKey(): string {
    return `${this.table}:meta`;
  }

  private async ensureMeta(b: number): Promise<void> {
    const want: Record<string, string> = {
      layout: 'v1', dim: String(this.dim), storage: this.storage, rows: String(this.rows),
      seed: String(this.seed), initStd: String(this.initStd),
    };
    if (!Number.isInteger(b) || b < 1) throw new Error(`redis store: expected buckets ≥ 1, got ${b}`);
    // HSETNX on a field per key would race between workers; a Lua-free create: SET NX of a JSON.
    const json = JSON.stringify({ ...want, buckets: String(b) });
    await this.cluster.set(this.metaKey(), json, 'NX');
    const got = JSON.parse((await this.cluster.get(this.metaKey())) ?? '{}') as Record<string, string>;
    for (const [k, v] of Object.entries(want)) {
      if (got[k] !== v) {
        throw new Error(`redis store: table "${this.table}" on the cluster has ${k} = ${got[k]}, this run has ${v}. ` +
          'HINT: a run of another config wrote this table; use another table name (--store-table) or delete its keys');
      }
    }
    this.buckets = Number(got.buckets);
  }

  /** Loads the hstu_emb library into every primary whose loaded code differs. */
  async ensureFunctions(): Promise<void> {
    for (const node of this.cluster.nodes('master')) {
      const listed = (await node.call('FUNCTION', 'LIST', 'LIBRARYNAME', FUNCTIONS_LIBRARY, 'WITHCODE')) as unknown[];
      const code = findLibraryCode(listed);
      if (code === FUNCTIONS_CODE) continue;
      try {
        await node.call('FUNCTION', 'LOAD', 'REPLACE', FUNCTIONS_CODE);
      } catch (e) {
        throw new Error(`redis store: could not load the ${FUNCTIONS_LIBRARY} Functions on ${node.options.host}:${node.options.port} ` +
          `(${(e as Error).message}). HINT: the cluster needs Redis ≥ 7.0 with FUNCTION allowed for this user; ` +
          'or load them yourself: npx tsx -e "import(\'./trainer/store/redis_functions.ts\').then(m=>process.stdout.write(m.FUNCTIONS_CODE))" | redis-cli -x -p PORT FUNCTION LOAD REPLACE on each primary');
      }
    }
  }

  private key(id: number): string {
    return rowKey(this.table, this.buckets, id);
  }

  private checkIds(ids: Uint32Array, what: string): void {
    if (this.closed) throw new Error(`redis store: ${what} after close()`);
    for (let i = 0; i < ids.length; i++) {
      if (ids[i]! >= this.rows) {
        throw new Error(`redis store: ${what}: item id ${ids[i]} at position ${i} is outside the table (${this.rows} rows). HINT: the data has more items than the table was built for`);
      }
    }
  }

  /** Distinct ids grouped by bucket: bucket → positions into `uniq`. */
  private group(uniq: number[]): Map<number, number[]> {
    const groups = new Map<number, number[]>();
    for (let u = 0; u < uniq.length; u++) {
      const b = hashId(uniq[u]!) % this.buckets;
      let g = groups.get(b);
      if (!g) groups.set(b, (g = []));
      g.push(u);
    }
    return groups;
  }

  /** Runs `op`, retrying through failovers and reshards for up to retryMs. */
  private async retry<T>(what: string, op: () => Promise<T>): Promise<T> {
    const t0 = Date.now();
    for (let attempt = 0; ; attempt++) {
      try {
        this.stats.calls++;
        return await op();
      } catch (e) {
        const msg = (e as Error).message ?? String(e);
        if (/Function not found|No matching library/i.test(msg) && attempt === 0) {
          await this.ensureFunctions();
          continue;
        }
        if (!RETRYABLE.test(msg) || Date.now() - t0 > this.retryMs) {
          throw new Error(`redis store: ${what} failed: ${msg}` + (RETRYABLE.test(msg)
            ? ` (still failing after ${this.retryMs} ms of retries). HINT: check the cluster with \`npm run cluster -- status\` or redis-cli --cluster check`
            : ''));
        }
        this.stats.retries++;
        await sleep(Math.min(1000, 100 * (attempt + 1)));
        try {
          await this.cluster.refreshSlotsCache?.();
        } catch { /* the next attempt reports */ }
      }
    }
  }

  private checkValue(id: number, val: Buffer): void {
    if (val.length !== this.rowBytes) {
      throw new Error(`redis store: row ${this.key(id)} has ${val.length} bytes, expected ${this.rowBytes} (dim ${this.dim}, ${this.storage}). ` +
        'HINT: the table was written with another dim or storage; use another table name or delete its keys');
    }
  }

  private initValue(id: number): Buffer {
    const w = new Float32Array(this.dim);
    initRow(this.seed, id, this.dim, this.initStd, w);
    const out = Buffer.alloc(this.rowBytes);
    encodeRow(out, 0, this.dim, this.storage, 0, 0, w, 0, new Float32Array(this.dim), 0);
    return out;
  }

  /** Raw values of distinct ids (created on first touch when `create`, else init values unstored). */
  private async readValues(uniq: number[], create: boolean): Promise<Buffer[]> {
    const out: Buffer[] = new Array(uniq.length);
    const groups = this.group(uniq);
    await Promise.all([...groups.values()].map(async (pos) => {
      const keys = pos.map((u) => this.key(uniq[u]!));
      let vals = await this.retry('read', () => this.cluster.mgetBuffer(...keys));
      const missing = pos.filter((_, i) => vals[i] === null);
      if (missing.length > 0 && create) {
        const blob = Buffer.concat(missing.map((u) => this.initValue(uniq[u]!)));
        const mk = missing.map((u) => this.key(uniq[u]!));
        const created = await this.retry('create', () => this.cluster.fcall('emb_create', mk.length, ...mk, String(this.rowBytes), blob));
        this.stats.rowsCreated += Number(created);
        // Another worker may have created and updated some of them meanwhile: read back.
        vals = await this.retry('read', () => this.cluster.mgetBuffer(...keys));
      }
      pos.forEach((u, i) => {
        const val = vals[i] ?? (create ? null : this.initValue(uniq[u]!));
        if (val === null) throw new Error(`redis store: row ${keys[i]} vanished right after it was created. HINT: is another process deleting this table's keys?`);
        this.checkValue(uniq[u]!, val);
        out[u] = val;
      });
    }));
    this.stats.rowsRead += uniq.length;
    return out;
  }

  /** The rows of `ids` in the order given (repeats allowed: each distinct id is fetched once). */
  async read(ids: Uint32Array): Promise<RowBlock> {
    return this.readInternal(ids, true);
  }

  private async readInternal(ids: Uint32Array, create: boolean): Promise<RowBlock> {
    this.checkIds(ids, 'read');
    const d = this.dim;
    const index = new Map<number, number>();
    const uniq: number[] = [];
    for (const id of ids) if (!index.has(id)) index.set(id, uniq.push(id) - 1);
    const vals = await this.readValues(uniq, create);
    const block: RowBlock = { ids: ids.slice(), w: new Float32Array(ids.length * d), m: new Float32Array(ids.length * d), v: new Float32Array(ids.length) };
    for (let i = 0; i < ids.length; i++) {
      const val = vals[index.get(ids[i]!)!]!;
      block.v[i] = decodeRow(val, 0, d, this.storage, block.w, i * d, block.m, i * d).v;
    }
    if (this.mode === 'cas' && create) uniq.forEach((id, u) => this.lastRead.set(id, vals[u]!));
    return block;
  }

  /**
   * One row-wise Adam step; `grads` is [ids.length, dim]. Repeated ids have their gradient rows
   * summed first, in order of position (deterministic), so each row is updated once.
   */
  async applyRowwiseAdam(ids: Uint32Array, grads: Float32Array, opts: RowwiseAdamOptions): Promise<void> {
    this.checkIds(ids, 'applyRowwiseAdam');
    const d = this.dim;
    if (grads.length !== ids.length * d) throw new Error(`redis store: expected grads of ${ids.length}×${d} values, got ${grads.length}`);
    const k = adamDoubleConstants(opts);
    const index = new Map<number, number>();
    const uniq: number[] = [];
    for (const id of ids) if (!index.has(id)) index.set(id, uniq.push(id) - 1);
    let g = grads;
    if (uniq.length !== ids.length) {
      g = new Float32Array(uniq.length * d);
      for (let i = 0; i < ids.length; i++) {
        const u = index.get(ids[i]!)!;
        for (let c = 0; c < d; c++) g[u * d + c] = Math.fround(g[u * d + c]! + grads[i * d + c]!);
      }
    }
    let pending = uniq.map((_, u) => u);
    if (this.mode === 'cas') pending = await this.commitCas(uniq, g, k);
    await this.applyAtomic(uniq, g, pending, k);
    this.stats.rowsUpdated += uniq.length;
  }

  /** cas: new rows from the values read; returns the positions that must go the atomic way. */
  private async commitCas(uniq: number[], g: Float32Array, k: ReturnType<typeof adamDoubleConstants>): Promise<number[]> {
    const d = this.dim, rb = this.rowBytes;
    const unread = uniq.filter((id) => !this.lastRead.has(id));
    if (unread.length > 0) {
      const vals = await this.readValues(unread, true);
      unread.forEach((id, i) => this.lastRead.set(id, vals[i]!));
    }
    const sw = new Float32Array(d), sm = new Float32Array(d);
    const fallback: number[] = [];
    await Promise.all([...this.group(uniq).values()].map(async (pos) => {
      const versions = Buffer.alloc(4 * pos.length), rows = Buffer.alloc(rb * pos.length);
      pos.forEach((u, i) => {
        const old = this.lastRead.get(uniq[u]!)!;
        versions.writeUInt32LE(old.readUInt32LE(0), 4 * i);
        rowwiseAdamRowDouble(old, 0, rows, i * rb, d, this.storage, g, u * d, k, sw, sm);
      });
      const keys = pos.map((u) => this.key(uniq[u]!));
      const conflicts = (await this.retry('cas update', () => this.cluster.fcall('emb_cas', keys.length, ...keys, String(rb), versions, rows))) as number[];
      for (const c of conflicts) fallback.push(pos[c - 1]!);
    }));
    for (const id of uniq) this.lastRead.delete(id);
    this.stats.casConflicts += fallback.length;
    return fallback;
  }

  private async applyAtomic(uniq: number[], g: Float32Array, positions: number[], k: ReturnType<typeof adamDoubleConstants>): Promise<void> {
    if (positions.length === 0) return;
    const d = this.dim;
    const consts = [k.lr, k.beta1, k.beta2, k.eps, k.wd, k.bc1, k.bc2].map(String);
    const groups = this.group(positions.map((p) => uniq[p]!));
    await Promise.all([...groups.values()].map(async (idx) => {
      let pos = idx.map((i) => positions[i]!);
      for (let round = 0; pos.length > 0; round++) {
        if (round === 3) throw new Error(`redis store: rows ${pos.map((u) => this.key(uniq[u]!)).join(', ')} keep disappearing. HINT: is another process deleting this table's keys?`);
        const keys = pos.map((u) => this.key(uniq[u]!));
        const blob = Buffer.alloc(4 * d * pos.length);
        pos.forEach((u, i) => blob.set(new Uint8Array(g.buffer, g.byteOffset + 4 * u * d, 4 * d), 4 * i * d));
        const missing = (await this.retry('atomic update', () => this.cluster.fcall('emb_update', keys.length, ...keys, String(d), this.storage, ...consts, blob))) as number[];
        if (missing.length === 0) break;
        pos = missing.map((i) => pos[i - 1]!);
        await this.readValues(pos.map((u) => uniq[u]!), true); // creates them; the next round updates
      }
    }));
  }

  /** Overwrites rows (write-back, import); versions advance by one. */
  async write(block: RowBlock): Promise<void> {
    this.checkIds(block.ids, 'write');
    const d = this.dim, n = block.ids.length, rb = this.rowBytes;
    if (block.w.length !== n * d || block.m.length !== n * d || block.v.length !== n) {
      throw new Error(`redis store: write expected w and m of ${n}×${d} values and v of ${n}, got ${block.w.length}, ${block.m.length} and ${block.v.length}`);
    }
    const uniq = [...block.ids];
    if (new Set(uniq).size !== n) throw new Error('redis store: write got a repeated id. HINT: deduplicate the block first');
    await Promise.all([...this.group(uniq).values()].map(async (pos) => {
      const blob = Buffer.alloc(rb * pos.length);
      pos.forEach((u, i) => encodeRow(blob, i * rb, d, this.storage, 0, block.v[u]!, block.w, u * d, block.m, u * d));
      const keys = pos.map((u) => this.key(uniq[u]!));
      await this.retry('write', () => this.cluster.fcall('emb_write', keys.length, ...keys, String(rb), blob));
    }));
    for (const id of uniq) this.lastRead.delete(id);
  }

  /**
   * Every row once, ascending ids in chunks of at most chunkRows; rows never touched come back
   * as their init values and are not created.
   */
  async *scan(chunkRows: number): AsyncIterable<RowBlock> {
    if (!Number.isInteger(chunkRows) || chunkRows < 1) throw new Error(`redis store: expected chunkRows ≥ 1, got ${chunkRows}`);
    for (let a = 0; a < this.rows; a += chunkRows) {
      const n = Math.min(chunkRows, this.rows - a);
      yield await this.readInternal(Uint32Array.from({ length: n }, (_, i) => a + i), false);
    }
  }

  /** Ids of the rows that exist, per primary (ascending), by SCAN of each primary's keys. */
  async existingIdsByPrimary(): Promise<{ node: string; ids: number[] }[]> {
    const out: { node: string; ids: number[] }[] = [];
    const prefix = `${this.table}:{`;
    for (const node of this.cluster.nodes('master')) {
      const ids: number[] = [];
      let cursor = '0';
      do {
        const [next, keys] = await node.scan(cursor, 'MATCH', `${this.table}:{*}:*`, 'COUNT', 1000);
        cursor = next;
        for (const key of keys) if (key.startsWith(prefix)) ids.push(Number(key.slice(key.lastIndexOf(':') + 1)));
      } while (cursor !== '0');
      ids.sort((x, y) => x - y);
      out.push({ node: `${node.options.host}:${node.options.port}`, ids });
    }
    return out;
  }

  /**
   * Waits until each primary's replicas acknowledged every earlier write of this client
   * (WAIT 1): the durability point of the bound documented at the top of this file.
   */
  async flush(timeoutMs = 5000): Promise<void> {
    await Promise.all(this.cluster.nodes('master').map(async (node: Redis) => {
      const info = String(await node.call('INFO', 'replication'));
      const replicas = Number(/connected_slaves:(\d+)/.exec(info)?.[1] ?? 0);
      if (replicas === 0) return;
      const acked = Number(await node.call('WAIT', 1, timeoutMs));
      if (acked < 1) {
        throw new Error(`redis store: no replica of ${node.options.host}:${node.options.port} acknowledged the writes within ${timeoutMs} ms. HINT: check replication (redis-cli -p ${node.options.port} INFO replication)`);
      }
    }));
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.lastRead.clear();
    await this.cluster.quit().catch(() => this.cluster.disconnect());
  }
}

function findLibraryCode(listed: unknown[]): string | null {
  for (const lib of listed) {
    if (!Array.isArray(lib)) continue;
    const i = lib.indexOf('library_code');
    if (i >= 0) return String(lib[i + 1]);
  }
  return null;
}

async function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  let t: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([p, new Promise<T>((_, rej) => { t = setTimeout(() => rej(new Error(`no answer within ${ms} ms`)), ms); })]);
  } finally {
    clearTimeout(t);
  }
}
