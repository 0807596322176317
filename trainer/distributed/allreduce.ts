// Exact, deterministic all-reduce (and all-gather) of the workers' buffers through Redis.
// Call k of a run: every rank writes its buffer in chunks of chunkBytes under keys spread over
// `spread` hash tags (so a large buffer is spread over the shards), then INCRs a ready counter;
// once all W ranks are ready, each rank reads all W buffers and sums them IN RANK ORDER 0..W−1
// with a float64 accumulator rounded once to f32. Every rank performs the same operations on the
// same bytes, so every rank gets the same bits, whatever W; the sum is not the float64 sum
// rounded (each rank's buffer is already f32), only a fixed, reproducible one.
// Checked each call: the header of a rank's buffer carries the digest (FNV-1a over the words) of
// its result of the previous call; a rank whose result differed is reported at the next call
// (and by verifyLast() at the end of a run).
// Cleanup: a rank that has read call k's buffers deletes its own buffers of call k−1 (every rank
// has written call k, so every rank has finished reading k−1); all keys also expire.
// Versus the TCP ring (ring_allreduce.ts): a rank moves P bytes up and W·P down here, against
// 2·P·(W−1)/W each way for the ring, and every byte passes through a shard. Measured
// (BENCHMARKS.md): equal at ML-100K's 36k dense values and W = 2, the ring 1.6–2.1× faster at W = 4
// or 1M values, so dense gradients take the ring; this transport serves variable-length
// all-gathers (the synchronous embedding mode) and launchers where workers cannot connect to each
// other.
import type { Rendezvous } from './rendezvous.js';

const HEADER = 8; // [u32 digest of the previous result][u32 payload bytes]

export function digestWords(b: Uint8Array): number {
  let h = 0x811c9dc5;
  const n = b.length >>> 2;
  const u = new Uint32Array(b.buffer, b.byteOffset, n);
  for (let i = 0; i < n; i++) h = Math.imul(h ^ u[i]!, 16777619);
  for (let i = n * 4; i < b.length; i++) h = Math.imul(h ^ b[i]!, 16777619);
  return h >>> 0;
}

export interface AllReduceStats {
  calls: number;
  bytesUp: number;
  bytesDown: number;
  ms: number;
}

export class RedisAllReduce {
  private k = 0;
  private lastDigest = 0;
  readonly stats: AllReduceStats = { calls: 0, bytesUp: 0, bytesDown: 0, ms: 0 };

  constructor(private readonly rdv: Rendezvous, private readonly chunkBytes = 1 << 20, private readonly spread = 16, private readonly ttlMs = 600_000) {}

  private chunkKey(call: number, chunk: number, rank: number): string {
    // A hash tag per (chunk mod spread) spreads a buffer's chunks over the cluster's slots.
    return `hstu:{hstu-run.${this.rdv.runId}.ar${chunk % this.spread}}:${call}:${chunk}:${rank}`;
  }

  /** Every rank's buffer of this call, in rank order (the caller's own included). */
  async allGather(data: Uint8Array): Promise<Buffer[]> {
    const t0 = performance.now();
    const r = this.rdv, call = ++this.k, W = r.worldSize;
    const payload = Buffer.alloc(HEADER + data.length);
    payload.writeUInt32LE(this.lastDigest, 0);
    payload.writeUInt32LE(data.length, 4);
    payload.set(data, HEADER);
    const chunks = Math.max(1, Math.ceil(payload.length / this.chunkBytes));
    await Promise.all(Array.from({ length: chunks }, (_, c) =>
      r.redis.set(this.chunkKey(call, c, r.rank), payload.subarray(c * this.chunkBytes, (c + 1) * this.chunkBytes), 'PX', this.ttlMs)));
    // The chunk count of each rank goes with its ready mark.
    const ready = r.key(`ar:${call}:ready`);
    await r.redis.hset(ready, String(r.rank), String(chunks));
    await r.redis.pexpire(ready, this.ttlMs);
    let counts: Record<string, string> = {};
    await r.waitFor(`all-reduce call ${call}`, async () => {
      counts = await r.redis.hgetall(ready);
      return Object.keys(counts).length >= W;
    });
    const out = await Promise.all(Array.from({ length: W }, async (_, rank) => {
      const n = Number(counts[String(rank)]);
      const parts = await Promise.all(Array.from({ length: n }, (_, c) => r.redis.getBuffer(this.chunkKey(call, c, rank))));
      if (parts.some((p) => p === null)) throw new Error(`distributed: all-reduce call ${call}: rank ${rank}'s buffer expired or was lost. HINT: a Redis primary failed mid-step; restart from the last checkpoint`);
      const buf = Buffer.concat(parts as Buffer[]);
      if (buf.length < HEADER || buf.readUInt32LE(4) !== buf.length - HEADER) throw new Error(`distributed: all-reduce call ${call}: rank ${rank}'s buffer is torn`);
      return buf;
    }));
    for (let rank = 0; rank < W; rank++) {
      const d = out[rank]!.readUInt32LE(0);
      if (call > 1 && d !== this.lastDigest) {
        throw new Error(`distributed: all-reduce results differed at call ${call - 1}: rank ${rank} got digest ${d.toString(16)}, rank ${r.rank} got ${this.lastDigest.toString(16)}. ` +
          'HINT: the workers are not running the same code or config; this is a bug if they are');
      }
    }
    if (call > 1) {
      const prev = Number(await r.redis.hget(r.key(`ar:${call - 1}:ready`), String(r.rank)) ?? 0);
      await Promise.all(Array.from({ length: prev }, (_, c) => r.redis.del(this.chunkKey(call - 1, c, r.rank))));
    }
    this.stats.calls++;
    this.stats.bytesUp += payload.length;
    this.stats.bytesDown += out.reduce((a, b) => a + b.length, 0);
    this.stats.ms += performance.now() - t0;
    return out.map((b) => b.subarray(HEADER));
  }

  /** Σ over ranks of `data` (same length on every rank), identical bits on every rank. */
  async sumF32(data: Float32Array): Promise<Float32Array> {
    const parts = await this.allGather(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
    const n = data.length, out = new Float32Array(n), acc = new Float64Array(n);
    for (let rank = 0; rank < parts.length; rank++) {
      const p = parts[rank]!;
      if (p.length !== 4 * n) throw new Error(`distributed: all-reduce: rank ${rank} sent ${p.length / 4} values, this rank ${n}. HINT: the workers' dense parameters differ (another config?)`);
      const f = new Float32Array(p.buffer.slice(p.byteOffset, p.byteOffset + p.length));
      for (let i = 0; i < n; i++) acc[i] = acc[i]! + f[i]!;
    }
    out.set(acc);
    this.lastDigest = digestWords(new Uint8Array(out.buffer));
    return out;
  }

  /** Compares the last result's digest across ranks now (end of a run). */
  async verifyLast(): Promise<void> {
    const r = this.rdv;
    const k = r.key(`ar:verify:${this.k}`);
    await r.redis.hset(k, String(r.rank), String(this.lastDigest));
    await r.redis.pexpire(k, this.ttlMs);
    let all: Record<string, string> = {};
    await r.waitFor('all-reduce digest check', async () => Object.keys(all = await r.redis.hgetall(k)).length >= r.worldSize);
    for (const [rank, d] of Object.entries(all)) {
      if (Number(d) !== this.lastDigest) throw new Error(`distributed: all-reduce results differ: rank ${rank} digest ${Number(d).toString(16)}, rank ${r.rank} ${this.lastDigest.toString(16)}`);
    }
  }
}
