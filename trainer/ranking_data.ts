// Ranking examples and jagged batches (issue 5 "Data"). Per user, events sorted by time
// (buildSequences) and split leave-last-out (the last event = test, second-to-last = validation).
//   training: per user and epoch, `rankingWindows` examples over the training events (all but the
//     last two): the first takes the last k = rankingCandidates training interactions as candidates
//     (their labels are not in the history) and the events before them as history; the others cut
//     the sequence at seeded random points c (history = events before c, candidates = the next ≤ k
//     events), which shows the model every part of long histories across epochs.
//   validation / test: the second-to-last / last interaction as the single candidate, history =
//     every event before it (the validation event included for test). With rankingEvalGroup
//     g > 1, the last g events are one test example of g candidates and the g before them one
//     validation example (leave-last-2g-out), scored under the same target mask as training.
// Histories keep the most recent events so that history + candidates ≤ maxLen (N). Actions: the
// rating, rounded and clamped to 1..numActions; like = rating ≥ likeThreshold.
import type { Config } from '../model/config.js';
import { NO_ACTION } from '../model/ranking_params.js';
import type { RankingHostBatch } from '../model/ranking.js';
import { buildSequences, seqLength, DataRng, mixSeed, type Interactions, type Sequences } from './data/index.js';
import { prefixSequences } from './data/sequences.js';
import { requireRankingEvaluable } from './ranking_checks.js';

/** One sequence to score: history events [histStart, cut) and candidates [cut, candEnd) of `seqs`' user. */
export interface RankingExample {
  user: number;
  histStart: number;
  cut: number;
  candEnd: number;
}

/** A ranking batch with its labels (one per candidate, in token order). */
export interface LabelledRankingBatch extends RankingHostBatch {
  likes: Float32Array;
  ratings: Float32Array;
  /** Index of each sequence's example in the list that was batched. */
  exampleIds: Uint32Array;
}

export interface RankingSplit {
  /** Per-user events (time order), all of them. */
  all: Sequences;
  /** Training events: per user all but the last 2g (users with < 2g + 1 events: all of them). */
  train: Sequences;
  /** One example per evaluated user, in ascending user order: g candidates each. */
  validation: RankingExample[];
  test: RankingExample[];
}

/** Action id of a rating: rounded, clamped to 1..numActions. */
export const actionOf = (rating: number, numActions: number): number => Math.min(numActions, Math.max(1, Math.round(rating)));

export function checkRankingData(data: Interactions): void {
  if (!data.hasRatings) throw new Error(`ranking needs ratings (actions and labels), but ${data.source} (${data.format}) has none. HINT: use a rated dataset (--format ml-100k, ml-1m, ratings-csv, or csv with --csv-rating).`);
}

/** Leave-last-out (g = rankingEvalGroup = 1) or leave-last-2g-out evaluation examples, histories
 *  of at most maxLen − g events. */
export function prepareRankingSplit(data: Interactions, c: Config): RankingSplit {
  checkRankingData(data);
  const g = c.rankingEvalGroup, N = c.maxLen;
  if (g >= N) throw new Error(`config: expected rankingEvalGroup < maxLen, got ${g} ≥ ${N}. HINT: lower --rankingEvalGroup.`);
  const all = buildSequences(data);
  // A user needs one history event before the validation group: 2g + 1 events (3 when g = 1).
  const minEvents = 2 * g + 1;
  const train = prefixSequences(all, (_u, n) => (n >= minEvents ? n - 2 * g : n));
  const validation: RankingExample[] = [], test: RankingExample[] = [];
  const example = (user: number, cut: number): RankingExample => ({ user, histStart: Math.max(0, cut - (N - g)), cut, candEnd: cut + g });
  for (let u = 0; u < all.numUsers; u++) {
    const n = seqLength(all, u);
    if (n < minEvents) continue;
    validation.push(example(u, n - 2 * g));
    test.push(example(u, n - g));
  }
  requireRankingEvaluable(all, train, { validation: validation.length, test: test.length }, c, data.source);
  return { all, train, validation, test };
}

/** Training examples of one epoch over `train` (per-user training events), seeded by (seed, epoch). */
export function rankingTrainExamples(train: Sequences, c: Config, epoch: number): RankingExample[] {
  const k = c.rankingCandidates, N = c.maxLen;
  if (k >= N) throw new Error(`config: expected rankingCandidates < maxLen, got ${k} ≥ ${N}. HINT: lower --rankingCandidates.`);
  const out: RankingExample[] = [];
  for (let u = 0; u < train.numUsers; u++) {
    const n = seqLength(train, u);
    if (n < 2) continue; // needs ≥ 1 history event and 1 candidate
    const rng = new DataRng(mixSeed(c.seed, epoch, u));
    for (let w = 0; w < c.rankingWindows; w++) {
      // Window 0: the last k events before the evaluation cut; others: a random cut in [1, n − 1].
      const cut = w === 0 ? Math.max(1, n - k) : rng.int(1, n - 1);
      const candEnd = Math.min(n, cut + k);
      out.push({ user: u, histStart: Math.max(0, cut - (N - (candEnd - cut))), cut, candEnd });
    }
  }
  return out;
}

/** Batches `examples` (in the given order, or shuffled with `shuffleSeed`) into jagged ranking batches of ≤ batchSize sequences. */
export function* rankingBatches(seqs: Sequences, examples: readonly RankingExample[], c: Config, shuffleSeed?: number): Generator<LabelledRankingBatch> {
  const order = Uint32Array.from(examples.keys());
  if (shuffleSeed !== undefined) new DataRng(shuffleSeed).shuffle(order);
  for (let s = 0; s < order.length; s += c.batchSize) {
    yield buildRankingBatch(seqs, examples, order.subarray(s, s + c.batchSize), c);
  }
}

export function buildRankingBatch(seqs: Sequences, examples: readonly RankingExample[], ids: ArrayLike<number>, c: Config): LabelledRankingBatch {
  const B = ids.length;
  const seqOffsets = new Uint32Array(B + 1), numTargets = new Uint32Array(B);
  let C = 0;
  for (let i = 0; i < B; i++) {
    const e = examples[ids[i]!]!;
    const n = e.candEnd - e.histStart;
    if (n > c.maxLen) throw new Error(`ranking batch: example of user ${e.user} has ${n} tokens, over maxLen ${c.maxLen}`);
    seqOffsets[i + 1] = seqOffsets[i]! + n;
    numTargets[i] = e.candEnd - e.cut;
    C += numTargets[i]!;
  }
  const L = seqOffsets[B]!;
  const items = new Uint32Array(L), timestamps = new Uint32Array(L), actions = new Uint32Array(L);
  const likes = new Float32Array(C), ratings = new Float32Array(C);
  let ci = 0;
  for (let i = 0; i < B; i++) {
    const e = examples[ids[i]!]!;
    const base = seqs.offsets[e.user]!;
    let t = seqOffsets[i]!;
    for (let j = e.histStart; j < e.candEnd; j++, t++) {
      const r = seqs.ratings[base + j]!;
      items[t] = seqs.items[base + j]!;
      timestamps[t] = seqs.timestamps[base + j]!;
      if (j < e.cut) actions[t] = actionOf(r, c.numActions);
      else {
        actions[t] = NO_ACTION;
        likes[ci] = r >= c.likeThreshold ? 1 : 0;
        ratings[ci++] = r;
      }
    }
  }
  return { seqOffsets, items, timestamps, numTargets, actions, likes, ratings, exampleIds: Uint32Array.from(ids) };
}
