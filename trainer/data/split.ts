// Leave-last-out split (DESIGN.md §2 "Evaluation"): per user, last event = test target,
// second to last = validation target, the rest = training.
import { DataError } from './errors.js';
import { prefixSequences, seqLength } from './sequences.js';
import type { Sequences } from './types.js';

/** A user needs this many events to get validation and test examples. */
export const MIN_EVAL_EVENTS = 3;

/**
 * Evaluation examples `(user, history, target)`, histories in CSR form. The history of example
 * k is the `historyOffsets[k]..historyOffsets[k+1]−1` slice of the history arrays: the events of
 * the user before the target, in time order, truncated to the most recent `maxHistory`.
 * `source` and `targetPositions` locate the target in the user's full sequence
 * (`source.offsets[user] + targetPositions[k]`), so the full prior history (for exclusion lists)
 * stays reachable without copying it.
 */
export interface EvalExamples {
  count: number;
  numItems: number;
  users: Uint32Array;
  targets: Uint32Array;
  targetTimestamps: Uint32Array;
  targetRatings: Float32Array;
  historyOffsets: Uint32Array;
  historyItems: Uint32Array;
  historyTimestamps: Uint32Array;
  historyRatings: Float32Array;
  source: Sequences;
  /** Index of the target within its user's full sequence (= full prior-history length). */
  targetPositions: Uint32Array;
}

export interface Split {
  /** Per user: all events but the last two (users with < 3 events: all their events). */
  train: Sequences;
  /** Target = second-to-last event; history = the train events. */
  validation: EvalExamples;
  /** Target = last event; history = the train events + the validation event. */
  test: EvalExamples;
  /** Users with 1 or 2 events: kept whole in `train`, no validation/test example. */
  usersTrainOnly: number;
}

export interface SplitOptions {
  /** Keep at most this many most recent history events per example (the model's N); default: all. */
  maxHistory?: number;
}

/**
 * Leave-last-out. Users with fewer than 3 events cannot give both a validation and a test target:
 * they stay in training only (all their events in `train`) and appear in neither eval set, so
 * validation and test have the same users, in ascending user order.
 */
export function leaveLastOut(seqs: Sequences, opts: SplitOptions = {}): Split {
  const maxHistory = opts.maxHistory ?? Infinity;
  if (!(maxHistory >= 1)) throw new DataError(`leaveLastOut: expected maxHistory ≥ 1, got ${maxHistory}`);
  let usersTrainOnly = 0;
  const evalUsers: number[] = [];
  for (let u = 0; u < seqs.numUsers; u++) {
    const n = seqLength(seqs, u);
    if (n >= MIN_EVAL_EVENTS) evalUsers.push(u);
    else if (n > 0) usersTrainOnly++;
  }
  const train = prefixSequences(seqs, (_u, n) => (n >= MIN_EVAL_EVENTS ? n - 2 : n));
  return {
    train,
    validation: makeExamples(seqs, evalUsers, 2, maxHistory),
    test: makeExamples(seqs, evalUsers, 1, maxHistory),
    usersTrainOnly,
  };
}

/** One example per user: the target is the `fromEnd`-th last event. */
function makeExamples(s: Sequences, users: readonly number[], fromEnd: number, maxHistory: number): EvalExamples {
  const count = users.length;
  const ex: EvalExamples = {
    count,
    numItems: s.numItems,
    users: Uint32Array.from(users),
    targets: new Uint32Array(count),
    targetTimestamps: new Uint32Array(count),
    targetRatings: new Float32Array(count),
    historyOffsets: new Uint32Array(count + 1),
    historyItems: new Uint32Array(0),
    historyTimestamps: new Uint32Array(0),
    historyRatings: new Float32Array(0),
    source: s,
    targetPositions: new Uint32Array(count),
  };
  for (let k = 0; k < count; k++) {
    const u = users[k]!;
    const pos = seqLength(s, u) - fromEnd;
    ex.targetPositions[k] = pos;
    ex.historyOffsets[k + 1] = ex.historyOffsets[k]! + Math.min(pos, maxHistory);
  }
  const total = ex.historyOffsets[count]!;
  ex.historyItems = new Uint32Array(total);
  ex.historyTimestamps = new Uint32Array(total);
  ex.historyRatings = new Float32Array(total);
  for (let k = 0; k < count; k++) {
    const base = s.offsets[users[k]!]!;
    const t = base + ex.targetPositions[k]!;
    ex.targets[k] = s.items[t]!;
    ex.targetTimestamps[k] = s.timestamps[t]!;
    ex.targetRatings[k] = s.ratings[t]!;
    const len = ex.historyOffsets[k + 1]! - ex.historyOffsets[k]!;
    const dst = ex.historyOffsets[k]!;
    ex.historyItems.set(s.items.subarray(t - len, t), dst);
    ex.historyTimestamps.set(s.timestamps.subarray(t - len, t), dst);
    ex.historyRatings.set(s.ratings.subarray(t - len, t), dst);
  }
  return ex;
}
