// A synthetic event log at any scale, generated as a stream of chunks (never the whole log):
// - Zipf item popularity (alias tables, O(1) per draw);
// - interests that drift: each user follows one of K item clusters and moves to a neighbouring
//   cluster at session boundaries; items also follow a fixed "next item" chain inside their
//   cluster, so the log has sequential signal for a model to learn;
// - sessions: short gaps inside a session, long gaps between sessions;
// - long-tailed history lengths (log-normal, clipped to [minLen, maxLen], maxLen up to 8,192);
// - global time order: users are interleaved through a min-heap on each active user's next
//   event time, so the output is a time-ordered log, not grouped by user (as real logs are).
import { DataRng, mixSeed } from '../trainer/data/rng.js';

export interface SynthLogOptions {
  users: number;
  items: number;
  events: number;
  seed: number;
  /** Longest history (events of one user). */
  maxLen: number;
  /** Shortest history. */
  minLen: number;
  /** Log-normal sigma of history lengths (larger: longer tail). */
  lengthSigma: number;
  /** Zipf exponent of item popularity. */
  zipf: number;
  /** Interest clusters. */
  clusters: number;
  /** Users generating events at the same time (the interleaving window); 0 = auto, events / 20000
   *  clamped to [1024, 65536], which keeps a 10⁹-event log's timestamps inside u32 seconds. */
  concurrentUsers: number;
  /** Rows per emitted chunk (one Parquet row group). */
  chunkRows: number;
}

export const SYNTH_DEFAULTS: Omit<SynthLogOptions, 'users' | 'items' | 'events'> = {
  seed: 1,
  maxLen: 8192,
  minLen: 3,
  lengthSigma: 1.3,
  zipf: 1.0,
  clusters: 64,
  concurrentUsers: 0,
  chunkRows: 1 << 20,
};

export interface LogChunk {
  count: number;
  users: Int32Array;
  items: Int32Array;
  /** Seconds since the epoch, non-decreasing over the whole log. */
  timestamps: Float64Array;
  /** 1 = view, 2 = click, 3 = purchase. */
  actions: Int32Array;
}

/** Walker's alias table over weights w[0..n-1]. */
class Alias {
  private readonly prob: Float64Array;
  private readonly alias: Int32Array;
  constructor(w: Float64Array) {
    const n = w.length;
    let sum = 0;
    for (const x of w) sum += x;
    this.prob = new Float64Array(n);
    this.alias = new Int32Array(n);
    const scaled = Float64Array.from(w, (x) => (x * n) / sum);
    const small: number[] = [];
    const large: number[] = [];
    scaled.forEach((x, i) => (x < 1 ? small : large).push(i));
    while (small.length && large.length) {
      const s = small.pop()!;
      const l = large[large.length - 1]!;
      this.prob[s] = scaled[s]!;
      this.alias[s] = l;
      scaled[l] = scaled[l]! + scaled[s]! - 1;
      if (scaled[l]! < 1) small.push(large.pop()!);
    }
    for (const i of [...small, ...large]) this.prob[i] = 1;
  }
  draw(rng: DataRng): number {
    const x = rng.next() * this.prob.length;
    const i = Math.floor(x);
    return x - i < this.prob[i]! ? i : this.alias[i]!;
  }
}

function zipfWeights(n: number, s: number): Float64Array {
  return Float64Array.from({ length: n }, (_, r) => 1 / Math.pow(r + 1, s));
}

/** mu of a log-normal whose mean after clipping to [lo, hi] is `target` (bisection on a fixed
 * quantile grid, deterministic). */
function calibrateMu(target: number, sigma: number, lo: number, hi: number): number {
  const z: number[] = [];
  const rng = new DataRng(12345);
  for (let k = 0; k < 20000; k++) z.push(Math.sqrt(-2 * Math.log(1 - rng.next())) * Math.cos(2 * Math.PI * rng.next()));
  const mean = (mu: number) => z.reduce((a, x) => a + Math.min(hi, Math.max(lo, Math.round(Math.exp(mu + sigma * x)))), 0) / z.length;
  let a = -5;
  let b = Math.log(hi) + 5;
  for (let it = 0; it < 60; it++) {
    const m = (a + b) / 2;
    if (mean(m) < target) a = m;
    else b = m;
  }
  return (a + b) / 2;
}

interface ActiveUser {
  user: number;
  left: number;
  next: number;
  cluster: number;
  lastItem: number;
}

/** Generates the log chunk by chunk; `onChunk` may be async (awaited: backpressure). The chunk
 * arrays are reused after `onChunk` returns. Returns the number of distinct users emitted. */
export async function generateLog(o: SynthLogOptions, onChunk: (c: LogChunk) => void | Promise<void>): Promise<{ events: number; users: number }> {
  if (!(o.users >= 1 && o.items >= 2 && o.events >= 1)) throw new Error('synth: expected users ≥ 1, items ≥ 2, events ≥ 1. HINT: see --help.');
  if (o.minLen < 1 || o.maxLen < o.minLen) throw new Error(`synth: expected 1 ≤ minLen ≤ maxLen, got ${o.minLen}, ${o.maxLen}`);
  const rng = new DataRng(mixSeed(o.seed, 0x5e17));
  const K = Math.max(1, Math.min(o.clusters, o.items));
  const perCluster = Math.ceil(o.items / K);
  const globalPop = new Alias(zipfWeights(o.items, o.zipf));
  const clusterPop = new Alias(zipfWeights(perCluster, o.zipf));
  // Item r (popularity rank r) is in cluster r % K at rank ⌊r / K⌋ inside it; its chain successor
  // is a fixed pseudo-random item of the same cluster.
  const successor = (item: number) => {
    const c = item % K;
    const j = mixSeed(item, o.seed) % perCluster;
    const s = c + j * K;
    return s < o.items ? s : c;
  };
  // Lengths: log-normal clipped to [minLen, maxLen], drawn for every user up front (4 bytes a
  // user) and scaled up until they sum to at least `events`, so the log has exactly `events` rows.
  if (o.users * o.maxLen < o.events) throw new Error(`synth: ${o.users} users × max length ${o.maxLen} < ${o.events} events. HINT: more --users or a larger --max-len.`);
  const mu = calibrateMu(Math.min(o.maxLen, Math.max(o.minLen, o.events / o.users)), o.lengthSigma, o.minLen, o.maxLen);
  const lengths = new Int32Array(o.users);
  let total = 0;
  for (let u = 0; u < o.users; u++) {
    const z = Math.sqrt(-2 * Math.log(1 - rng.next())) * Math.cos(2 * Math.PI * rng.next());
    total += lengths[u] = Math.min(o.maxLen, Math.max(o.minLen, Math.round(Math.exp(mu + o.lengthSigma * z))));
  }
  while (total < o.events) {
    const f = (1.001 * o.events) / total;
    total = 0;
    for (let u = 0; u < o.users; u++) total += lengths[u] = Math.min(o.maxLen, Math.ceil(lengths[u]! * f));
  }
  const drawLen = (u: number) => lengths[u]!;
  const T0 = 1_600_000_000;
  // Min-heap of active users on `next`.
  const heap: ActiveUser[] = [];
  const less = (a: ActiveUser, b: ActiveUser) => a.next < b.next || (a.next === b.next && a.user < b.user);
  const push = (x: ActiveUser) => {
    heap.push(x);
    let i = heap.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!less(heap[i]!, heap[p]!)) break;
      [heap[i], heap[p]] = [heap[p]!, heap[i]!];
      i = p;
    }
  };
  const siftDown = () => {
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < heap.length && less(heap[l]!, heap[m]!)) m = l;
      if (r < heap.length && less(heap[r]!, heap[m]!)) m = r;
      if (m === i) return;
      [heap[i], heap[m]] = [heap[m]!, heap[i]!];
      i = m;
    }
  };
  let nextUser = 0;
  let now = T0;
  const admit = () => {
    if (nextUser >= o.users) return;
    push({ user: nextUser, left: drawLen(nextUser++), next: now + rng.exp(3600), cluster: rng.int(0, K - 1), lastItem: -1 });
  };
  const concurrent = o.concurrentUsers > 0 ? o.concurrentUsers : Math.min(65536, Math.max(1024, Math.round(o.events / 20000)));
  for (let k = 0; k < Math.min(concurrent, o.users); k++) admit();

  const n = o.chunkRows;
  const chunk: LogChunk = { count: 0, users: new Int32Array(n), items: new Int32Array(n), timestamps: new Float64Array(n), actions: new Int32Array(n) };
  let emitted = 0;
  while (emitted < o.events && heap.length) {
    const a = heap[0]!;
    now = a.next;
    let item: number;
    const r = rng.next();
    if (a.lastItem >= 0 && r < 0.45) item = successor(a.lastItem);
    else if (r < 0.85) {
      const s = a.cluster + clusterPop.draw(rng) * K;
      item = s < o.items ? s : a.cluster;
    } else item = globalPop.draw(rng);
    const k = chunk.count++;
    chunk.users[k] = a.user;
    chunk.items[k] = item;
    chunk.timestamps[k] = Math.floor(now);
    const act = rng.next();
    chunk.actions[k] = act < 0.8 ? 1 : act < 0.97 ? 2 : 3;
    emitted++;
    a.lastItem = item;
    a.left--;
    if (a.left === 0) {
      heap[0] = heap[heap.length - 1]!;
      heap.pop();
      siftDown();
      admit();
    } else {
      // A session ends with probability 1/8: a long gap and maybe a drift to a neighbouring cluster.
      if (rng.next() < 0.125) {
        a.next = now + 3600 + rng.exp(86400);
        const d = rng.next();
        if (d < 0.3) a.cluster = (a.cluster + 1) % K;
        else if (d < 0.6) a.cluster = (a.cluster + K - 1) % K;
        a.lastItem = -1;
      } else a.next = now + 1 + rng.exp(60);
      siftDown();
    }
    if (chunk.count === n) {
      await onChunk(chunk);
      chunk.count = 0;
    }
  }
  if (chunk.count) await onChunk(chunk);
  return { events: emitted, users: nextUser };
}
