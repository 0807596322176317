// Training batches streamed from an out-of-core cache, and a bounded evaluation sample.
// Split: leave-last-out as in memory (split.ts): users with ≥ 3 events train on all but their
// last two; the validation / test targets are those two. Order within an epoch: the
// partitions in a seeded order, and inside that stream a seeded shuffle buffer of
// `shuffleBuffer` sequences (reads stay near each other on disk). The order is a pure function
// of (seed, epoch), so the data position of a checkpoint is (epoch, batches done in the epoch):
// a resumed run recomputes the order (index arithmetic, no reads) and skips those batches.
import { DataRng, mixSeed } from '../rng.js';
import { leaveLastOut, MIN_EVAL_EVENTS, type Split } from '../split.js';
import { stochasticLengthSelect } from '../stochastic_length.js';
import type { TrainBatch } from '../batching.js';
import type { Sequences } from '../types.js';
import type { OocCache } from './reader.js';

export interface StreamBatchOptions {
  batchSize: number;
  maxLen: number;
  seed: number;
  epoch: number;
  /** Sequences in the shuffle buffer; default 4096. */
  shuffleBuffer?: number;
  /** Batches of this epoch already done (resume): skipped without reading. */
  startBatch?: number;
  /** Stochastic Length α (0 = off). */
  stochasticLengthAlpha?: number;
}

/** Train events of a sequence of `len` events (leave-last-out). */
export function trainEvents(len: number): number {
  return len >= MIN_EVAL_EVENTS ? len - 2 : len;
}

/** The epoch's order of trainable sequences (indices into the cache view). */
export function epochOrder(cache: OocCache, seed: number, epoch: number, shuffleBuffer = 4096): Uint32Array {
  const rng = new DataRng(mixSeed(seed, epoch, 0x0c));
  // Partition blocks in a seeded order.
  const blocks: [number, number][] = [];
  let s = 0;
  for (let k = 0; k < cache.count; k++) {
    if (k === cache.count - 1 || cache.part[k + 1] !== cache.part[k]) {
      blocks.push([s, k + 1]);
      s = k + 1;
    }
  }
  const blockOrder = rng.shuffle(Uint32Array.from(blocks.keys()));
  const out = new Uint32Array(cache.count);
  let n = 0;
  const buf = new Uint32Array(Math.max(1, shuffleBuffer));
  let fill = 0;
  for (const b of blockOrder) {
    const [a, e] = blocks[b]!;
    for (let k = a; k < e; k++) {
      if (trainEvents(cache.lengths[k]!) < 2) continue;
      if (fill < buf.length) {
        buf[fill++] = k;
        continue;
      }
      const j = Math.floor(rng.next() * buf.length);
      out[n++] = buf[j]!;
      buf[j] = k;
    }
  }
  // Drain the buffer in random order.
  rng.shuffle(buf.subarray(0, fill));
  for (let j = 0; j < fill; j++) out[n++] = buf[j]!;
  return out.slice(0, n);
}

export function countStreamBatches(cache: OocCache, batchSize: number): number {
  let n = 0;
  for (let k = 0; k < cache.count; k++) if (trainEvents(cache.lengths[k]!) >= 2) n++;
  return Math.ceil(n / batchSize);
}

/** One epoch's training batches (same layout as batchTrainSequences). */
export function* streamTrainBatches(cache: OocCache, o: StreamBatchOptions): Generator<TrainBatch> {
  const order = epochOrder(cache, o.seed, o.epoch, o.shuffleBuffer);
  const alpha = o.stochasticLengthAlpha ?? 0;
  for (let start = (o.startBatch ?? 0) * o.batchSize; start < order.length; start += o.batchSize) {
    const B = Math.min(o.batchSize, order.length - start);
    const parts: { user: number; items: Uint32Array; timestamps: Uint32Array; ratings: Float32Array }[] = [];
    for (let j = 0; j < B; j++) {
      const k = order[start + j]!;
      const events = trainEvents(cache.lengths[k]!);
      const user = cache.users[k]!;
      const sel = alpha > 0 ? stochasticLengthSelect(events, o.maxLen, alpha, o.seed, o.epoch, user) : null;
      if (sel) {
        const first = sel[0]!;
        const s = cache.read(k, first, events);
        const pick = <T extends Uint32Array | Float32Array>(a: T): T => {
          const out = new (a.constructor as new (n: number) => T)(sel.length);
          sel.forEach((i, q) => (out[q] = a[i - first]!));
          return out;
        };
        parts.push({ user, items: pick(s.items), timestamps: pick(s.timestamps), ratings: pick(s.ratings) });
      } else {
        parts.push(cache.read(k, Math.max(0, events - o.maxLen - 1), events));
      }
    }
    const seqOffsets = new Uint32Array(B + 1);
    parts.forEach((p, j) => (seqOffsets[j + 1] = seqOffsets[j]! + p.items.length - 1));
    const L = seqOffsets[B]!;
    const tb: TrainBatch = {
      users: Uint32Array.from(parts, (p) => p.user),
      seqOffsets,
      items: new Uint32Array(L),
      timestamps: new Uint32Array(L),
      ratings: new Float32Array(L),
      targets: new Uint32Array(L),
      targetTimestamps: new Uint32Array(L),
    };
    parts.forEach((p, j) => {
      const d = seqOffsets[j]!;
      const m = p.items.length - 1;
      tb.items.set(p.items.subarray(0, m), d);
      tb.timestamps.set(p.timestamps.subarray(0, m), d);
      tb.ratings.set(p.ratings.subarray(0, m), d);
      tb.targets.set(p.items.subarray(1), d);
      tb.targetTimestamps.set(p.timestamps.subarray(1), d);
    });
    yield tb;
  }
}

/**
 * Validation/test examples for a seeded sample of at most `maxUsers` users with ≥ 3 events
 * (their full sequences read into memory; user ids are renumbered 0..count−1).
 */
export function evalSample(cache: OocCache, maxUsers: number, seed: number, maxLen: number): Split {
  const eligible: number[] = [];
  for (let k = 0; k < cache.count; k++) if (cache.lengths[k]! >= MIN_EVAL_EVENTS) eligible.push(k);
  const rng = new DataRng(mixSeed(seed, 0xe5));
  const picked = eligible.length <= maxUsers ? eligible : Array.from(rng.shuffle(Uint32Array.from(eligible)).subarray(0, maxUsers)).sort((a, b) => a - b);
  const offsets = new Uint32Array(picked.length + 1);
  picked.forEach((k, j) => (offsets[j + 1] = offsets[j]! + cache.lengths[k]!));
  const n = offsets[picked.length]!;
  const seqs: Sequences = { numUsers: picked.length, numItems: cache.meta.numItems, offsets, items: new Uint32Array(n), timestamps: new Uint32Array(n), ratings: new Float32Array(n) };
  picked.forEach((k, j) => {
    const s = cache.read(k);
    seqs.items.set(s.items, offsets[j]!);
    seqs.timestamps.set(s.timestamps, offsets[j]!);
    seqs.ratings.set(s.ratings, offsets[j]!);
  });
  return leaveLastOut(seqs, { maxHistory: maxLen });
}
