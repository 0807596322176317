// One data-parallel worker's side of a training step (issue 19, synchronous mode). Every worker
// builds the same global batch (same seed, same order) and trains on its rank's contiguous slice
// of the sequences (env.ts rankSlice's split). The step:
//   1. the slice's item rows are read from the Redis store into the device cache (fresh: other
//      ranks updated rows since the last step, so the cache is invalidated after every step),
//   2. forward + backward on the slice; the loss is a mean over the slice's target positions, so
//      each rank scales its gradients (and loss) by L_r / L (its share of the global batch's
//      positions): the sums below are then the one-worker gradients of the whole batch,
//   3. dense gradients (and the loss) summed by the exact all-reduce (dense_allreduce.ts: the TCP
//      ring by default, or through Redis; identical bits on every rank, digest checked each
//      call), then AdamW on the device: every rank's dense parameters stay bit-identical,
//   4. item-row gradients: embeddingSync 'sync' combines them (sparse_sync.ts): one row-wise
//      Adam per row per step, applied on Redis by the row's owner rank, then a barrier;
//      'atomic' / 'cas' (sparse_async.ts) apply the rank's own rows, started before step 3 and
//      awaited after it, with no all-gather and no barrier.
// With 'sync', W workers with B/W sequences each take the steps of one worker with batch B up to float
// reassociation (the L_r / L scaling, the summation order, and Redis's float64 row-wise Adam
// against the device's f32 kernel), provided the step's randomness does not depend on a
// sequence's position in the batch: shared negatives (per-position negatives and dropout masks
// are drawn per position of the batch a process sees, so a slice draws other ones).
import type { Gpu } from '../../kernels/gpu/index.js';
import type { Config } from '../../model/config.js';
import type { Encoder } from '../../model/encoder.js';
import { DivergenceError } from '../divergence.js';
import { recordGradients, type HostTrainBatch } from '../train.js';
import type { HostTier } from '../store/host_tier.js';
import type { RedisEmbeddingStore } from '../store/redis_store.js';
import { hashId } from '../store/row_codec.js';
import { RedisAllReduce } from './allreduce.js';
import { openDenseAllReduce, type AllReduceTransport, type DenseAllReduce } from './dense_allreduce.js';
import type { WorkerIdentity } from './env.js';
import { Rendezvous } from './rendezvous.js';
import { startOwnUpdate, type EmbeddingSync } from './sparse_async.js';
import { applySynchronous } from './sparse_sync.js';
import { clientBytes, minus, WireTotals } from './wire_meter.js';

/** The sequences [begin, end) of a jagged batch, rebased (rank r of W: env.ts rankSlice's split). */
export function sliceBatch(tb: HostTrainBatch, rank: number, worldSize: number): HostTrainBatch {
  const B = tb.seqOffsets.length - 1;
  const s0 = Math.floor((rank * B) / worldSize), s1 = Math.floor(((rank + 1) * B) / worldSize);
  const t0 = tb.seqOffsets[s0]!, t1 = tb.seqOffsets[s1]!;
  return {
    seqOffsets: tb.seqOffsets.slice(s0, s1 + 1).map((o) => o - t0),
    items: tb.items.slice(t0, t1),
    timestamps: tb.timestamps.slice(t0, t1),
    targets: tb.targets.slice(t0, t1),
    ...(tb.targetTimestamps ? { targetTimestamps: tb.targetTimestamps.slice(t0, t1) } : {}),
  };
}

/** Positions with a target (the loss's mean is over these). */
const targetCount = (t: Uint32Array): number => t.reduce((n, x) => n + (x !== 0 ? 1 : 0), 0);

/** Milliseconds per part of the steps so far (rank-local). */
export interface StepTimes {
  steps: number;
  storeRead: number;
  compute: number;
  allReduce: number;
  /** Item-row gradients. sync: all-gather, row-wise Adam on Redis, barrier. atomic / cas: the
   *  rank's own rows' write, from its start (before the all-reduce, which it overlaps) to its end. */
  storeWrite: number;
  /** Whole steps (the parts overlap in the asynchronous modes). */
  total: number;
}

export interface WorkerSyncOptions {
  allReduceTransport: AllReduceTransport;
  embeddingSync: EmbeddingSync;
}

export class WorkerSync {
  readonly times: StepTimes = { steps: 0, storeRead: 0, compute: 0, allReduce: 0, storeWrite: 0, total: 0 };
  /** Client-side bytes per part: storeRead / storeWrite (the store's connections), coordination
   *  (the rendezvous connection: barriers, the sync all-gather, a Redis all-reduce), ring. */
  readonly wire = new WireTotals();
  /** Row-wise Adam updates this rank applied per row id (tests: no update lost). */
  readonly rowUpdates = new Map<number, number>();

  /** `ar` carries the sync mode's all-gathers (and, with the redis transport, the dense sums:
   *  one call sequence, the same on every rank). */
  private constructor(readonly rdv: Rendezvous, readonly id: WorkerIdentity, private readonly ar: RedisAllReduce, private readonly dense: DenseAllReduce, readonly embeddingSync: EmbeddingSync) {}

  /** Joins the run (config digest checked: a worker of another config or data is refused) and
   *  opens the dense all-reduce (every rank calls this at the same point). */
  static async join(id: WorkerIdentity, configDigest: string, o: WorkerSyncOptions = { allReduceTransport: 'ring', embeddingSync: 'sync' }): Promise<WorkerSync> {
    const rdv = await Rendezvous.join(id, {
      configDigest,
      heartbeatMs: Number(process.env.HSTU_HEARTBEAT_MS ?? 500),
      ttlMs: Number(process.env.HSTU_HEARTBEAT_TTL_MS ?? 5000),
    });
    try {
      const ar = new RedisAllReduce(rdv);
      const dense = await openDenseAllReduce(rdv, o.allReduceTransport, ar);
      return new WorkerSync(rdv, id, ar, dense, o.embeddingSync);
    } catch (e) {
      await rdv.close();
      throw e;
    }
  }

  /** The dense transport in use. */
  get allReduceTransport(): AllReduceTransport {
    return this.dense.transport;
  }

  /** Rank 0 drops the run's table at the end, unless HSTU_KEEP_TABLE=1 (tests inspect it). */
  get dropsTable(): boolean {
    return this.isLeader && process.env.HSTU_KEEP_TABLE !== '1';
  }

  get isLeader(): boolean {
    return this.id.rank === 0;
  }

  /** The run's item table on Redis: one name for every rank. */
  get table(): string {
    return `items_${this.id.runId}`;
  }

  barrier(name: string): Promise<void> {
    return this.rdv.barrier(name);
  }

  /** Rank 0's `value` for every rank (after a barrier): e.g. its early-stopping verdict. */
  async agree(name: string, value: boolean): Promise<boolean> {
    const k = this.rdv.key(`agree:${name}`);
    if (this.isLeader) await this.rdv.redis.set(k, value ? '1' : '0', 'PX', 3_600_000);
    await this.rdv.barrier(`agree:${name}`);
    return (await this.rdv.redis.get(k)) === '1';
  }

  /** One data-parallel step on the global batch `tb`; returns the global mean loss. */
  async step(gpu: Gpu, enc: Encoder, c: Config, tb: HostTrainBatch, step: number, lr: number, tier: HostTier): Promise<number> {
    const { rank, worldSize } = this.id;
    const store = (this.store = tier.store as RedisEmbeddingStore);
    const mine = sliceBatch(tb, rank, worldSize);
    const total = targetCount(tb.targets);
    const share = total > 0 ? targetCount(mine.targets) / total : 0;
    const dense = [...enc.dense.byName.values()];
    const sizes = dense.map((p) => p.g.numel);
    const flat = new Float32Array(sizes.reduce((a, b) => a + b, 0) + 1); // + the loss
    let itemIds: Uint32Array = new Uint32Array(0), itemGrads: Float32Array = new Float32Array(0);
    const tStep = performance.now();
    const w0 = this.wireNow(store);
    let t = performance.now();
    let w1 = w0;
    if (mine.seqOffsets.length > 1 && mine.items.length > 0) {
      const prep = await tier.beforeStep(c, mine, step);
      this.times.storeRead += performance.now() - t;
      w1 = this.wireNow(store);
      t = performance.now();
      const rec = gpu.recorder('train:worker');
      const g = recordGradients(rec, gpu, enc, c, prep.batch, step, prep.tableRows, true, prep.lossOpts);
      try {
        await rec.submit();
        const loss = (await gpu.read(g.loss))[0]!;
        let off = 0;
        for (const p of dense) {
          const x = await gpu.read(p.g);
          for (let i = 0; i < x.length; i++) flat[off + i] = x[i]! * share;
          off += x.length;
        }
        flat[off] = loss * share;
        itemIds = tier.cache.idsOfSlots(g.plan.host.uniqueRows);
        itemGrads = await gpu.read(g.itemGrad);
        for (let i = 0; i < itemGrads.length; i++) itemGrads[i] = itemGrads[i]! * share;
      } finally {
        g.release();
      }
    }
    this.times.compute += performance.now() - t;
    const adam = { lr, beta1: c.beta1, beta2: c.beta2, weightDecay: c.weightDecay, step: step + 1 };
    // Asynchronous modes: the rank's own rows go to Redis now, overlapping the all-reduce.
    const tWrite = performance.now();
    let writeMs = 0;
    const own = this.embeddingSync === 'sync' ? undefined
      : startOwnUpdate(store, { ids: itemIds, grads: itemGrads }, adam).then(() => { writeMs = performance.now() - tWrite; });
    own?.catch(() => {}); // awaited below; keep an early rejection from going unhandled meanwhile
    t = performance.now();
    const sum = await this.dense.sumF32(flat);
    this.times.allReduce += performance.now() - t;
    const loss = sum[sum.length - 1]!;
    for (let i = 0; i < sum.length; i++) {
      if (!Number.isFinite(sum[i]!)) {
        await own?.catch(() => {}); // (its rows are finite: startOwnUpdate checked them)
        throw new DivergenceError(`training diverged at step ${step}: ${i === sum.length - 1 ? 'the loss' : 'a dense gradient'} is ${sum[i]} (summed over ${worldSize} workers). HINT: lower --lr, or set --gradClipNorm`, step, i === sum.length - 1 ? 'loss' : 'dense');
      }
    }
    let off = 0;
    for (const p of dense) {
      gpu.write(p.g, sum.subarray(off, off + p.g.numel));
      off += p.g.numel;
    }
    const rec2 = gpu.recorder('train:worker_dense');
    enc.dense.step(rec2, adam);
    await rec2.submit();
    if (own) {
      await own;
      this.times.storeWrite += writeMs;
      this.countUpdates(itemIds);
    } else {
      t = performance.now();
      const union = await applySynchronous(store, { ids: itemIds, grads: itemGrads }, adam, this.ar, this.rdv);
      this.times.storeWrite += performance.now() - t;
      this.countUpdates(union.ids.filter((id) => hashId(id) % worldSize === rank));
    }
    tier.cache.invalidate(); // other ranks updated rows: read them fresh next step
    const w2 = this.wireNow(store);
    this.wire.add('storeRead', minus(w1.store, w0.store));
    this.wire.add('storeWrite', minus(w2.store, w1.store));
    this.wire.add('coordination', minus(w2.coordination, w0.coordination));
    this.wire.add('ring', minus(w2.ring, w0.ring));
    this.times.total += performance.now() - tStep;
    this.times.steps++;
    return loss;
  }

  private store: RedisEmbeddingStore | undefined;

  /** The Redis store's counters (calls, rows read / updated, cas conflicts, retries). */
  get storeStats(): RedisEmbeddingStore['stats'] | undefined {
    return this.store && { ...this.store.stats };
  }

  private countUpdates(ids: Uint32Array): void {
    for (const id of ids) this.rowUpdates.set(id, (this.rowUpdates.get(id) ?? 0) + 1);
  }

  /** Cumulative client-side bytes of the store's, the rendezvous's and the ring's connections. */
  private wireNow(store: RedisEmbeddingStore) {
    const ring = this.dense.transport === 'ring' ? { sent: this.dense.stats.bytesUp, received: this.dense.stats.bytesDown } : { sent: 0, received: 0 };
    return { store: clientBytes(store.cluster), coordination: clientBytes(this.rdv.redis), ring };
  }

  /** One line of mean ms per step per part and bytes per step per part (rank-local). */
  timesLine(): string {
    const n = Math.max(1, this.times.steps);
    const f = (x: number) => (x / n).toFixed(1);
    const writeWhat = this.embeddingSync === 'sync' ? 'item rows (all-gather + row-wise Adam on Redis + barrier)' : `item rows (own rows' row-wise Adam on Redis, ${this.embeddingSync}, overlapping the all-reduce)`;
    const bytes = Object.entries(this.wire.perStep(this.times.steps)).map(([k, v]) => `${k} ${v.sent}/${v.received}`).join(', ');
    return `rank ${this.id.rank} step time split over ${this.times.steps} steps (ms/step): compute ${f(this.times.compute)}, store read ${f(this.times.storeRead)}, dense all-reduce (${this.dense.transport}) ${f(this.times.allReduce)}, ${writeWhat} ${f(this.times.storeWrite)}, whole step ${f(this.times.total)}; bytes/step sent/received: ${bytes}; store ${JSON.stringify(this.storeStats ?? {})}`;
  }

  /** End of a successful run: the last all-reduce's digest compared across ranks. */
  async finish(): Promise<void> {
    await this.dense.finish();
  }

  async close(): Promise<void> {
    this.dense.close();
    await this.rdv.close();
  }
}
