// Paired bootstrap over users: is model A's mean per-user metric really above model B's, or could
// the gap come from which users happen to be in the test set? Both models are scored on the SAME
// users, so resampling users (with replacement) and recomputing the mean difference gives the
// test-set sampling noise of the gap, with the per-user correlation of the two models kept.
import { DataRng } from '../trainer/data/rng.js';

export interface PairedResult {
  /** Mean of a − b over users. */
  diff: number;
  /** 95% percentile interval of the resampled mean difference. */
  lo: number;
  hi: number;
  /** Two-sided bootstrap p-value: 2 · min(P(resampled diff ≤ 0), P(resampled diff ≥ 0)), ≤ 1. */
  p: number;
  /** Standard error of the mean difference (std of the resampled means). */
  se: number;
}

/** `a[u]`, `b[u]`: the two models' metric for user u. Deterministic for a given seed. */
export function pairedBootstrap(a: ArrayLike<number>, b: ArrayLike<number>, samples = 10000, seed = 1): PairedResult {
  const n = a.length;
  if (n !== b.length) throw new Error(`pairedBootstrap: expected equally many users, got ${n} and ${b.length}`);
  if (n === 0) throw new Error('pairedBootstrap: expected at least one user, got none');
  if (!(Number.isInteger(samples) && samples >= 100)) throw new Error(`pairedBootstrap: expected samples ≥ 100, got ${samples}`);
  const d = new Float64Array(n);
  let sum = 0;
  for (let u = 0; u < n; u++) {
    d[u] = a[u]! - b[u]!;
    if (!Number.isFinite(d[u]!)) throw new Error(`pairedBootstrap: user ${u} has a non-finite metric (${a[u]}, ${b[u]})`);
    sum += d[u]!;
  }
  const rng = new DataRng(seed);
  const means = new Float64Array(samples);
  let le = 0, ge = 0, m1 = 0, m2 = 0;
  for (let s = 0; s < samples; s++) {
    let t = 0;
    for (let k = 0; k < n; k++) t += d[Math.floor(rng.next() * n)]!;
    const m = t / n;
    means[s] = m;
    if (m <= 0) le++;
    if (m >= 0) ge++;
    m1 += m;
    m2 += m * m;
  }
  means.sort();
  const q = (f: number) => means[Math.min(samples - 1, Math.max(0, Math.round(f * (samples - 1))))]!;
  const mean = m1 / samples;
  return {
    diff: sum / n,
    lo: q(0.025),
    hi: q(0.975),
    p: Math.min(1, (2 * Math.min(le, ge)) / samples),
    se: Math.sqrt(Math.max(0, m2 / samples - mean * mean)),
  };
}
