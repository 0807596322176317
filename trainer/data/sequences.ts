// Group an interaction log by user and order each user's events by time (stable).
import type { Interactions, Sequences } from './types.js';

/**
 * Per-user sequences in CSR form (rows = dense user ids). Each user's events are sorted by
 * (timestamp, position in the log): equal timestamps keep file order, so the result is fully
 * determined by the input. Users with no events get an empty row.
 */
export function buildSequences(x: Interactions): Sequences {
  const n = x.count;
  const offsets = new Uint32Array(x.numUsers + 1);
  for (let e = 0; e < n; e++) offsets[x.users[e]! + 1]!++;
  for (let u = 0; u < x.numUsers; u++) offsets[u + 1]! += offsets[u]!;
  // Counting sort by user: stable, so each row lists its events in log order.
  const order = new Uint32Array(n);
  const fill = offsets.slice(0, x.numUsers);
  for (let e = 0; e < n; e++) order[fill[x.users[e]!]!++] = e;
  const ts = x.timestamps;
  const byTime = (a: number, b: number) => ts[a]! - ts[b]! || a - b;
  for (let u = 0; u < x.numUsers; u++) {
    const lo = offsets[u]!;
    const hi = offsets[u + 1]!;
    let sorted = true;
    for (let k = lo + 1; k < hi && sorted; k++) sorted = ts[order[k - 1]!]! <= ts[order[k]!]!;
    if (!sorted) order.subarray(lo, hi).sort(byTime);
  }
  const items = new Uint32Array(n);
  const timestamps = new Uint32Array(n);
  const ratings = new Float32Array(n);
  for (let k = 0; k < n; k++) {
    const e = order[k]!;
    items[k] = x.items[e]!;
    timestamps[k] = ts[e]!;
    ratings[k] = x.ratings[e]!;
  }
  return { numUsers: x.numUsers, numItems: x.numItems, offsets, items, timestamps, ratings };
}

/** Number of events of user u. */
export function seqLength(s: Sequences, u: number): number {
  return s.offsets[u + 1]! - s.offsets[u]!;
}

/** Builds a CSR `Sequences` keeping, for each user u, its events `[offsets[u], offsets[u] + keep[u])`. */
export function prefixSequences(s: Sequences, keep: (u: number, len: number) => number): Sequences {
  const offsets = new Uint32Array(s.numUsers + 1);
  for (let u = 0; u < s.numUsers; u++) offsets[u + 1] = offsets[u]! + keep(u, seqLength(s, u));
  const total = offsets[s.numUsers]!;
  const items = new Uint32Array(total);
  const timestamps = new Uint32Array(total);
  const ratings = new Float32Array(total);
  for (let u = 0; u < s.numUsers; u++) {
    const src = s.offsets[u]!;
    const len = offsets[u + 1]! - offsets[u]!;
    items.set(s.items.subarray(src, src + len), offsets[u]!);
    timestamps.set(s.timestamps.subarray(src, src + len), offsets[u]!);
    ratings.set(s.ratings.subarray(src, src + len), offsets[u]!);
  }
  return { numUsers: s.numUsers, numItems: s.numItems, offsets, items, timestamps, ratings };
}
