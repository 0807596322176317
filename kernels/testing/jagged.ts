// Random jagged batches: seq_offsets (length B+1) with lengths 0 and 1 always included when B ≥ 2.
import type { Rng } from './rng.js';

export interface Jagged {
  /** Prefix sums of lengths, length B+1, seq_offsets[0] = 0. */
  seqOffsets: Uint32Array;
  lengths: number[];
  /** Total tokens L. */
  total: number;
  /** Max length N. */
  maxLen: number;
}

export function jaggedFromLengths(lengths: readonly number[]): Jagged {
  const seqOffsets = new Uint32Array(lengths.length + 1);
  for (let b = 0; b < lengths.length; b++) seqOffsets[b + 1] = seqOffsets[b]! + lengths[b]!;
  return { seqOffsets, lengths: [...lengths], total: seqOffsets[lengths.length]!, maxLen: Math.max(0, ...lengths) };
}

/** B sequences with lengths in [0, maxLen]; one of length 0, one of 1 and one of maxLen when B ≥ 3. */
export function randomJagged(rng: Rng, batch: number, maxLen: number): Jagged {
  const lengths = Array.from({ length: batch }, () => rng.int(0, maxLen));
  const specials = [0, 1, maxLen].slice(0, batch);
  // Put the special lengths at random distinct positions.
  const slots = lengths.map((_, i) => i);
  for (let i = slots.length - 1; i > 0; i--) {
    const j = rng.int(0, i);
    [slots[i], slots[j]] = [slots[j]!, slots[i]!];
  }
  specials.forEach((len, k) => (lengths[slots[k]!] = Math.min(len, maxLen)));
  return jaggedFromLengths(lengths);
}
