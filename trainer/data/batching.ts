// Jagged batches for training (every position predicts the next item) and for evaluation
// (history + target + exclusion list). Layout follows DESIGN.md §2: `seqOffsets` (B+1) and
// flat `[L]` arrays, nothing padded.
import { DataError } from './errors.js';
import { DataRng, mixSeed } from './rng.js';
import { seqLength } from './sequences.js';
import { stochasticLengthSelect } from './stochastic_length.js';
import type { EvalExamples } from './split.js';
import { PAD_ITEM, type Sequences } from './types.js';

export interface TrainBatch {
  /** Dense user id per sequence (B). */
  users: Uint32Array;
  /** B + 1 prefix sums; every length is in [1, maxLen]. */
  seqOffsets: Uint32Array;
  /** Input items (L). */
  items: Uint32Array;
  /** Input timestamps (L). */
  timestamps: Uint32Array;
  /** Input ratings (L) (0 when the data has none). */
  ratings: Float32Array;
  /** Next item per position (L); `PAD_ITEM` (0) means "no target" (consumers must mask it,
   * though with this batcher every position has a real target). */
  targets: Uint32Array;
  /** Timestamp of the target event per position (L): the "next action's time". */
  targetTimestamps: Uint32Array;
}

export interface TrainBatchOptions {
  batchSize: number;
  /** The model's N: the longest input sequence. */
  maxLen: number;
  shuffleSeed: number;
  epoch: number;
  /** Drop the last incomplete batch; default false. */
  dropLast?: boolean;
  /** Stochastic Length α (stochastic_length.ts); 0 or absent = off. */
  stochasticLengthAlpha?: number;
}

function checkPositiveInt(what: string, v: number): void {
  if (!Number.isInteger(v) || v < 1) throw new DataError(`expected ${what} to be an integer ≥ 1, got ${v}`);
}

/** Users with at least 2 train events (the only ones that give a training target), ascending. */
export function trainableUsers(train: Sequences): Uint32Array {
  const out: number[] = [];
  for (let u = 0; u < train.numUsers; u++) if (seqLength(train, u) >= 2) out.push(u);
  return Uint32Array.from(out);
}

/** Number of batches `batchTrainSequences` yields for these options. */
export function countTrainBatches(train: Sequences, opts: Pick<TrainBatchOptions, 'batchSize' | 'dropLast'>): number {
  const n = trainableUsers(train).length;
  return opts.dropLast ? Math.floor(n / opts.batchSize) : Math.ceil(n / opts.batchSize);
}

/**
 * Training batches for one epoch. Each user's train sequence is cut to its most recent
 * `maxLen + 1` events e_0..e_n (n ≤ maxLen); the inputs are e_0..e_{n−1} (≤ maxLen tokens) and
 * position i's target is e_{i+1} — standard SASRec/HSTU next-item training, every position
 * supervised. Users with < 2 train events have no target and are skipped. Users are shuffled
 * with a permutation seeded by (shuffleSeed, epoch): same seed and epoch → the same batches.
 */
export function* batchTrainSequences(train: Sequences, opts: TrainBatchOptions): Generator<TrainBatch> {
  checkPositiveInt('batchSize', opts.batchSize);
  checkPositiveInt('maxLen', opts.maxLen);
  const users = new DataRng(mixSeed(opts.shuffleSeed, opts.epoch)).shuffle(trainableUsers(train));
  for (let start = 0; start < users.length; start += opts.batchSize) {
    const b = Math.min(opts.batchSize, users.length - start);
    if (b < opts.batchSize && opts.dropLast) return;
    const batchUsers = users.slice(start, start + b);
    const seqOffsets = new Uint32Array(b + 1);
    const alpha = opts.stochasticLengthAlpha ?? 0;
    const sel = alpha > 0 ? Array.from(batchUsers, (u) => stochasticLengthSelect(seqLength(train, u), opts.maxLen, alpha, opts.shuffleSeed, opts.epoch, u)) : null;
    for (let k = 0; k < b; k++) {
      const picked = sel?.[k];
      seqOffsets[k + 1] = seqOffsets[k]! + (picked ? picked.length - 1 : Math.min(seqLength(train, batchUsers[k]!) - 1, opts.maxLen));
    }
    const L = seqOffsets[b]!;
    const batch: TrainBatch = {
      users: batchUsers,
      seqOffsets,
      items: new Uint32Array(L),
      timestamps: new Uint32Array(L),
      ratings: new Float32Array(L),
      targets: new Uint32Array(L),
      targetTimestamps: new Uint32Array(L),
    };
    for (let k = 0; k < b; k++) {
      const u = batchUsers[k]!;
      const len = seqOffsets[k + 1]! - seqOffsets[k]!;
      const picked = sel?.[k];
      if (picked) {
        copySelected(train, u, picked, batch, seqOffsets[k]!);
        continue;
      }
      const src = train.offsets[u + 1]! - len - 1; // first input event
      const dst = seqOffsets[k]!;
      batch.items.set(train.items.subarray(src, src + len), dst);
      batch.timestamps.set(train.timestamps.subarray(src, src + len), dst);
      batch.ratings.set(train.ratings.subarray(src, src + len), dst);
      batch.targets.set(train.items.subarray(src + 1, src + len + 1), dst);
      batch.targetTimestamps.set(train.timestamps.subarray(src + 1, src + len + 1), dst);
    }
    yield batch;
  }
}

/** Stochastic Length: sequence = the picked events of user u (ascending indices into its row). */
function copySelected(train: Sequences, u: number, picked: Uint32Array, batch: TrainBatch, dst: number): void {
  const base = train.offsets[u]!;
  for (let q = 0; q + 1 < picked.length; q++) {
    const e = base + picked[q]!;
    const next = base + picked[q + 1]!;
    batch.items[dst + q] = train.items[e]!;
    batch.timestamps[dst + q] = train.timestamps[e]!;
    batch.ratings[dst + q] = train.ratings[e]!;
    batch.targets[dst + q] = train.items[next]!;
    batch.targetTimestamps[dst + q] = train.timestamps[next]!;
  }
}

export interface EvalBatch {
  /** Index of the first example of this batch in the `EvalExamples`. */
  exampleStart: number;
  users: Uint32Array;
  /** History (B + 1 offsets; flat [L] arrays), already truncated to the split's maxHistory. */
  seqOffsets: Uint32Array;
  items: Uint32Array;
  timestamps: Uint32Array;
  ratings: Float32Array;
  /** Target item per example (B), its timestamp and rating. */
  targets: Uint32Array;
  targetTimestamps: Uint32Array;
  targetRatings: Float32Array;
  /**
   * Items to exclude from ranking, per example (CSR: B + 1 offsets, flat ids ascending, distinct):
   * every item in the user's FULL history before the target (not only the truncated part), minus
   * the target itself and minus the padding id. The target is always ranked.
   */
  excludeOffsets: Uint32Array;
  excludeItems: Uint32Array;
}

/**
 * Evaluation batches in example order (no shuffling): at most `batchSize` examples and, when
 * given, at most `maxTokens` history tokens (a batch ends before the example that would pass
 * it; an example longer than `maxTokens` alone still forms a batch). Long histories (N = 2048
 * and up) otherwise make one batch's activations outgrow a storage binding.
 */
export function* batchEvalExamples(ex: EvalExamples, batchSize: number, maxTokens = Infinity): Generator<EvalBatch> {
  checkPositiveInt('batchSize', batchSize);
  if (!(maxTokens >= 1)) throw new Error(`batchEvalExamples: expected maxTokens ≥ 1, got ${maxTokens}`);
  const stamp = new Uint32Array(ex.numItems); // stamp[item] = k + 1 when item seen for example k
  let stampId = 0;
  const src = ex.source;
  for (let start = 0, b = 0; start < ex.count; start += b) {
    b = 1;
    while (b < batchSize && start + b < ex.count && ex.historyOffsets[start + b + 1]! - ex.historyOffsets[start]! <= maxTokens) b++;
    const h0 = ex.historyOffsets[start]!;
    const h1 = ex.historyOffsets[start + b]!;
    const seqOffsets = new Uint32Array(b + 1);
    for (let k = 0; k <= b; k++) seqOffsets[k] = ex.historyOffsets[start + k]! - h0;
    const excl: number[] = [];
    const excludeOffsets = new Uint32Array(b + 1);
    for (let k = 0; k < b; k++) {
      const e = start + k;
      const target = ex.targets[e]!;
      const base = src.offsets[ex.users[e]!]!;
      const from = excl.length;
      stampId++;
      for (let p = base; p < base + ex.targetPositions[e]!; p++) {
        const it = src.items[p]!;
        if (it === target || it === PAD_ITEM || stamp[it] === stampId) continue;
        stamp[it] = stampId;
        excl.push(it);
      }
      const sorted = excl.slice(from).sort((x, y) => x - y);
      for (let j = 0; j < sorted.length; j++) excl[from + j] = sorted[j]!;
      excludeOffsets[k + 1] = excl.length;
    }
    yield {
      exampleStart: start,
      users: ex.users.slice(start, start + b),
      seqOffsets,
      items: ex.historyItems.slice(h0, h1),
      timestamps: ex.historyTimestamps.slice(h0, h1),
      ratings: ex.historyRatings.slice(h0, h1),
      targets: ex.targets.slice(start, start + b),
      targetTimestamps: ex.targetTimestamps.slice(start, start + b),
      targetRatings: ex.targetRatings.slice(start, start + b),
      excludeOffsets,
      excludeItems: Uint32Array.from(excl),
    };
  }
}
