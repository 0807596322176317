// Exact, deterministic all-reduce over a TCP ring; Redis only for the rendezvous (each rank
// publishes the address it listens on). Ring reduce-scatter then all-gather, the buffer cut into
// W chunks: chunk c is summed in the fixed order of ranks c, c+1, …, c−1 (mod W), each hop
// adding its own values in f32, and the finished chunk is copied around unchanged, so every rank
// ends with the same bits (a fixed order, not the Redis transport's rank order: the two
// transports may differ in the last bit; one run uses one).
// Each rank sends and receives 2·P·(W−1)/W values per call, against P up and W·P down through
// Redis, and nothing passes through a third process. Check: every message of a call carries the
// digest of the sender's previous result; each rank compares its predecessor's with its own, so a
// difference anywhere in the ring is reported at the next call.
// Listens on HSTU_RING_HOST (default 127.0.0.1), an ephemeral port.
import { createServer, connect, type Server, type Socket } from 'node:net';
import { digestWords } from './allreduce.js';
import { PeerLostError, type Rendezvous } from './rendezvous.js';

/** Reads exact byte counts from a socket. */
class Reader {
  private chunks: Buffer[] = [];
  private have = 0;
  private waiter: (() => void) | undefined;
  private error: Error | undefined;
  constructor(sock: Socket) {
    sock.on('data', (b: Buffer) => {
      this.chunks.push(b);
      this.have += b.length;
      this.waiter?.();
    });
    const fail = (e: Error) => {
      this.error = e;
      this.waiter?.();
    };
    sock.on('error', fail);
    sock.on('close', () => fail(new Error('ring: the connection to the previous rank closed')));
  }
  async read(n: number, rdv: Rendezvous): Promise<Buffer> {
    let waited = 0;
    while (this.have < n) {
      if (this.error) throw this.error;
      await new Promise<void>((res) => {
        this.waiter = res;
        setTimeout(res, 200);
      });
      this.waiter = undefined;
      if ((waited += 1) % 5 === 0) await rdv.checkPeers();
    }
    const all = this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks);
    const out = all.subarray(0, n);
    const rest = all.subarray(n);
    this.chunks = rest.length ? [rest] : [];
    this.have = rest.length;
    return out;
  }
}

function write(sock: Socket, b: Uint8Array): Promise<void> {
  return new Promise((res, rej) => sock.write(b, (e) => (e ? rej(e) : res())));
}

/**
 * A ring connection failed: most likely its peer died. Waits up to the heartbeat bound for the
 * rendezvous to say so (PeerLostError naming the rank, as every other wait reports it), else
 * throws `e` with a hint.
 */
async function peerLostOr(e: Error, rdv: Rendezvous): Promise<never> {
  if (e instanceof PeerLostError) throw e;
  const until = Date.now() + rdv.heartbeatTtlMs + 2000;
  while (Date.now() < until) {
    await rdv.checkPeers();
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`distributed: ring all-reduce: ${e.message}, and every worker still heartbeats. HINT: a network problem between the workers (HSTU_RING_HOST), or use --allReduceTransport=redis`);
}

export class RingAllReduce {
  private lastDigest = 0;
  readonly stats = { calls: 0, bytesUp: 0, bytesDown: 0, ms: 0 };

  /** Digest (FNV-1a over the words) of the last result. */
  get digest(): number {
    return this.lastDigest;
  }

  private constructor(private readonly rdv: Rendezvous, private readonly server: Server, private readonly next: Socket, private readonly prev: Reader, private readonly prevSock: Socket) {}

  /** Opens the ring: listen, publish the address, connect to rank + 1, accept rank − 1. */
  static async open(rdv: Rendezvous, host = process.env.HSTU_RING_HOST ?? '127.0.0.1'): Promise<RingAllReduce> {
    const W = rdv.worldSize;
    let accepted: (s: Socket) => void = () => {};
    const gotPrev = new Promise<Socket>((res) => { accepted = res; });
    const server = createServer((s) => { s.setNoDelay(true); accepted(s); });
    await new Promise<void>((res, rej) => server.listen(0, host, res).on('error', rej));
    const port = (server.address() as { port: number }).port;
    await rdv.redis.set(rdv.key(`ring:${rdv.rank}`), `${host}:${port}`, 'PX', 3_600_000);
    await rdv.barrier('ring-listen');
    const [nh, np] = (await rdv.redis.get(rdv.key(`ring:${(rdv.rank + 1) % W}`)))!.split(':');
    const next = connect(Number(np), nh!);
    next.setNoDelay(true);
    await new Promise<void>((res, rej) => next.on('connect', res).on('error', rej));
    const prevSock = await gotPrev;
    server.close(); // no further connections
    return new RingAllReduce(rdv, server, next, new Reader(prevSock), prevSock);
  }

  /** Σ over ranks of `data` (same length everywhere); identical bits on every rank. */
  async sumF32(data: Float32Array): Promise<Float32Array> {
    const t0 = performance.now();
    const W = this.rdv.worldSize, r = this.rdv.rank, n = data.length;
    const out = Float32Array.from(data);
    if (W === 1) return out;
    const lo = (c: number) => Math.floor((c * n) / W), hi = (c: number) => Math.floor(((c + 1) * n) / W);
    const mod = (x: number) => ((x % W) + W) % W;
    const header = Buffer.alloc(8);
    header.writeUInt32LE(this.lastDigest, 0);
    header.writeUInt32LE(n, 4);
    // The header goes first each call: predecessor's previous digest and length.
    const [, got] = await this.exchange(header, 8);
    this.stats.bytesUp += 8;
    this.stats.bytesDown += 8;
    if (got.readUInt32LE(4) !== n) throw new Error(`distributed: ring all-reduce: rank ${mod(r - 1)} sent ${got.readUInt32LE(4)} values, rank ${r} has ${n}. HINT: the workers' dense parameters differ (another config?)`);
    if (got.readUInt32LE(0) !== this.lastDigest) {
      const msg = `distributed: ring all-reduce results differed at the previous call: rank ${mod(r - 1)} digest ${got.readUInt32LE(0).toString(16)}, rank ${r} ${this.lastDigest.toString(16)}. HINT: the workers are not running the same code or config`;
      await this.rdv.abort(msg); // only this rank sees it: stop the others too
      throw new Error(msg);
    }
    const view = (c: number) => new Uint8Array(out.buffer, 4 * lo(c), 4 * (hi(c) - lo(c)));
    // Reduce-scatter: at step s, send chunk r − s, receive chunk r − s − 1 and add own values.
    for (let s = 0; s < W - 1; s++) {
      const sc = mod(r - s), rc = mod(r - s - 1);
      const [, b] = await this.exchange(view(sc), 4 * (hi(rc) - lo(rc)));
      const f = new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.length));
      for (let i = 0; i < f.length; i++) out[lo(rc) + i] = f[i]! + out[lo(rc) + i]!;
      this.stats.bytesUp += 4 * (hi(sc) - lo(sc));
      this.stats.bytesDown += b.length;
    }
    // Rank r now holds the finished chunk r + 1. All-gather: pass finished chunks on unchanged.
    for (let s = 0; s < W - 1; s++) {
      const sc = mod(r + 1 - s), rc = mod(r - s);
      const [, b] = await this.exchange(view(sc), 4 * (hi(rc) - lo(rc)));
      view(rc).set(b);
      this.stats.bytesUp += 4 * (hi(sc) - lo(sc));
      this.stats.bytesDown += b.length;
    }
    this.lastDigest = digestWords(new Uint8Array(out.buffer));
    this.stats.calls++;
    this.stats.ms += performance.now() - t0;
    return out;
  }

  /** Sends `out` to the next rank while reading `n` bytes from the previous one. */
  private exchange(out: Uint8Array, n: number): Promise<[void, Buffer]> {
    return Promise.all([write(this.next, out), this.prev.read(n, this.rdv)]).catch((e: Error) => peerLostOr(e, this.rdv));
  }

  close(): void {
    this.next.destroy();
    this.prevSock.destroy();
    this.server.close();
  }
}
