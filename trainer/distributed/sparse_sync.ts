// Synchronous embedding mode: the gradient rows of all W workers are summed before ONE row-wise
// Adam update per row per step, so W workers with per-worker batch B/W take the same steps as one
// worker with batch B, up to float reassociation of the gradient sums.
//   1. each worker has its step's touched ids (distinct) and their summed gradient rows;
//   2. all-gather (RedisAllReduce.allGather) of (ids, rows) from every rank;
//   3. every worker forms the same union: ids ascending, each id's rows summed in rank order
//      (float64 accumulator, rounded once to f32): the same bits on every worker;
//   4. rank r applies the update to the ids with hashId(id) mod W = r (each row once, in parallel);
//   5. a barrier: no worker reads rows of the next step before every update landed.
// The asynchronous modes (store modes `atomic` and `cas` without this) let each worker update its
// own rows as they come (Persia-style): faster, without this equivalence.
import { hashId } from '../store/row_codec.js';
import type { RowwiseAdamOptions } from '../store/redis_store.js';
import type { RedisAllReduce } from './allreduce.js';
import type { Rendezvous } from './rendezvous.js';

export interface SparseGrads {
  ids: Uint32Array;
  grads: Float32Array;
}

function pack(g: SparseGrads): Uint8Array {
  const b = Buffer.alloc(4 + 4 * g.ids.length + 4 * g.grads.length);
  b.writeUInt32LE(g.ids.length, 0);
  Buffer.from(g.ids.buffer, g.ids.byteOffset, g.ids.byteLength).copy(b, 4);
  Buffer.from(g.grads.buffer, g.grads.byteOffset, g.grads.byteLength).copy(b, 4 + 4 * g.ids.length);
  return b;
}

function unpack(b: Buffer, dim: number): SparseGrads {
  const n = b.readUInt32LE(0);
  if (b.length !== 4 + 4 * n + 4 * n * dim) throw new Error(`distributed: sparse gradients of ${n} rows do not fit dim ${dim}. HINT: the workers' embedding dims differ`);
  const copy = Buffer.from(b.subarray(4));
  return {
    ids: new Uint32Array(copy.buffer, copy.byteOffset, n).slice(),
    grads: new Float32Array(copy.buffer.slice(copy.byteOffset + 4 * n, copy.byteOffset + 4 * n + 4 * n * dim)),
  };
}

/** The union of every rank's rows: ids ascending, rows summed in rank order (same bits everywhere). */
export function combineSparse(perRank: SparseGrads[], dim: number): SparseGrads {
  const acc = new Map<number, Float64Array>();
  for (const g of perRank) {
    g.ids.forEach((id, i) => {
      let a = acc.get(id);
      if (!a) acc.set(id, (a = new Float64Array(dim)));
      for (let c = 0; c < dim; c++) a[c] = a[c]! + g.grads[i * dim + c]!;
    });
  }
  const ids = Uint32Array.from([...acc.keys()].sort((x, y) => x - y));
  const grads = new Float32Array(ids.length * dim);
  ids.forEach((id, i) => grads.set(acc.get(id)!, i * dim));
  return { ids, grads };
}

export interface RowUpdater {
  readonly dim: number;
  applyRowwiseAdam(ids: Uint32Array, grads: Float32Array, opts: RowwiseAdamOptions): Promise<void>;
}

/** Steps 2–5 above; returns the union (for logging and tests). */
export async function applySynchronous(
  store: RowUpdater, mine: SparseGrads, opts: RowwiseAdamOptions, ar: RedisAllReduce, rdv: Rendezvous,
): Promise<SparseGrads> {
  const d = store.dim;
  const all = (await ar.allGather(pack(mine))).map((b) => unpack(b, d));
  const union = combineSparse(all, d);
  const W = rdv.worldSize, own: number[] = [];
  union.ids.forEach((id, i) => { if (hashId(id) % W === rdv.rank) own.push(i); });
  const ids = Uint32Array.from(own.map((i) => union.ids[i]!));
  const grads = new Float32Array(own.length * d);
  own.forEach((i, k) => grads.set(union.grads.subarray(i * d, (i + 1) * d), k * d));
  if (ids.length > 0) await store.applyRowwiseAdam(ids, grads, opts);
  await rdv.barrier(`sparse-applied:${opts.step}`);
  return union;
}
