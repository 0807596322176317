// Refuse, before any training, a dataset whose split cannot give a meaningful number: no user with
// enough events for validation and test (the run would end with "count 0, HR@10 = 0"), or no
// training sequence to learn from. A clear DataError with a HINT instead of a wrong metric later.
import { seqLength } from './sequences.js';
import { DataError } from './errors.js';
import { MIN_EVAL_EVENTS, type Split } from './split.js';
import type { Sequences } from './types.js';

/** Histogram text "N users with 1 event, M with 2" for the users below `minEvents`. */
export function shortUsersNote(seqs: Sequences, minEvents: number): string {
  const counts = new Map<number, number>();
  let users = 0;
  for (let u = 0; u < seqs.numUsers; u++) {
    const n = seqLength(seqs, u);
    if (n === 0) continue;
    users++;
    if (n < minEvents) counts.set(n, (counts.get(n) ?? 0) + 1);
  }
  const parts = [...counts.entries()].sort((a, b) => a[0] - b[0]).map(([n, k]) => `${k} with ${n} event${n === 1 ? '' : 's'}`);
  return `${users} users: ${parts.join(', ') || 'none short'}`;
}

/** Throws unless leave-last-out gave validation/test examples and something to train on. */
export function requireEvaluableSplit(split: Split, source: string): void {
  if (split.validation.count === 0 || split.test.count === 0) {
    throw new DataError(
      `${source}: no user has the ${MIN_EVAL_EVENTS} or more events that leave-last-out evaluation needs (${shortUsersNote(split.train, MIN_EVAL_EVENTS)}), ` +
        `so validation and test would have 0 examples and every metric would be meaningless. ` +
        `HINT: use a dataset where users have at least ${MIN_EVAL_EVENTS} interactions (MovieLens users have ≥ 20), or check --format and the file.`,
    );
  }
  let trainable = 0;
  for (let u = 0; u < split.train.numUsers && trainable === 0; u++) if (seqLength(split.train, u) >= 2) trainable++;
  if (trainable === 0) {
    throw new DataError(
      `${source}: after holding out each user's last 2 events for validation and test, no user has the 2 training events a next-item example needs, so there is nothing to train on. ` +
        `HINT: use a dataset where users have at least ${MIN_EVAL_EVENTS + 1} interactions.`,
    );
  }
}
