// Stochastic Length (HSTU paper §3.2, Eq. 4): a user history of n tokens longer than N^{α/2}
// is replaced, with probability 1 − N^α / n², by a subsequence of N^{α/2} tokens; otherwise it
// is kept (truncated to the most recent N as always). With α = 2 the long histories that would
// be cut to their last N events are instead subsampled across their whole span; with α < 2 the
// expected attention cost per sequence drops from O(N²) towards O(N^α).
//
// Which subsequence: the most recent half is kept contiguous (the events nearest the
// prediction carry the most signal, and the last one must stay so that the sequence ends where
// the user's does), the other half is drawn uniformly without replacement from all earlier
// events, and the result is put back in time order. Every kept position then predicts the next
// kept event, so each training sequence is an ordinary (shorter) sequence to the model.
import { DataRng, mixSeed } from './rng.js';

/** floor(N^{α/2}): the subsequence length in tokens. */
export function stochasticLengthTarget(maxLen: number, alpha: number): number {
  return Math.max(1, Math.floor(Math.pow(maxLen, alpha / 2) + 1e-9));
}

/** Probability that a history of n tokens is subsampled (Eq. 4); 0 when SL is off (α = 0). */
export function subsampleProbability(n: number, maxLen: number, alpha: number): number {
  if (alpha <= 0) return 0;
  const m = stochasticLengthTarget(maxLen, alpha);
  if (n <= m) return 0;
  return Math.max(0, 1 - Math.pow(maxLen, alpha) / (n * n));
}

/**
 * Events to train on for a user with `events` train events (n = events − 1 input tokens),
 * deterministic in (seed, epoch, user). Returns ascending event indices, or null for the
 * default (the most recent min(n, N) + 1 events).
 */
export function stochasticLengthSelect(events: number, maxLen: number, alpha: number, seed: number, epoch: number, user: number): Uint32Array | null {
  const n = events - 1;
  const p = subsampleProbability(n, maxLen, alpha);
  if (p === 0) return null;
  const rng = new DataRng(mixSeed(seed, epoch, user, 0x51));
  if (rng.next() >= p) return null;
  const keep = stochasticLengthTarget(maxLen, alpha) + 1; // events = tokens + 1
  const recent = Math.ceil(keep / 2);
  const earlier = events - recent; // candidates 0..earlier−1
  const draw = keep - recent;
  // Floyd's algorithm: `draw` distinct indices from [0, earlier).
  const chosen = new Set<number>();
  for (let j = earlier - draw; j < earlier; j++) {
    const t = Math.floor(rng.next() * (j + 1));
    chosen.add(chosen.has(t) ? j : t);
  }
  const out = new Uint32Array(keep);
  let k = 0;
  for (const i of [...chosen].sort((a, b) => a - b)) out[k++] = i;
  for (let i = earlier; i < events; i++) out[k++] = i;
  return out;
}
