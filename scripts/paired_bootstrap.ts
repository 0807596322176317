// Paired bootstrap over users: is model A's mean per-user metric really above model B's, or could
// the gap come from which users happen to be in the test set? Both models are scored on the SAME
// users, so resampling users (with replacement) and recomputing the mean difference gives the
// test-set sampling noise of the gap, with the per-user correlation of the two models kept.
import { DataRng } from '../trainer/data/rng.js';
import { auc } from '../trainer/ranking_metrics.js';

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

/** Resamples n users with replacement `samples` times and summarises `diffOf(sample)` (A − B on
 *  that sample); `diffOf(identity)` is the reported gap. Deterministic for a given seed. */
export function bootstrapDifference(n: number, diffOf: (users: Uint32Array) => number, samples = 10000, seed = 1): PairedResult {
  if (!(Number.isInteger(n) && n > 0)) throw new Error(`pairedBootstrap: expected at least one user, got ${n}`);
  if (!(Number.isInteger(samples) && samples >= 100)) throw new Error(`pairedBootstrap: expected samples ≥ 100, got ${samples}`);
  const all = Uint32Array.from({ length: n }, (_, u) => u);
  const diff = diffOf(all);
  if (!Number.isFinite(diff)) throw new Error(`pairedBootstrap: the gap is not finite (${diff})`);
  const rng = new DataRng(seed);
  const pick = new Uint32Array(n);
  const stats = new Float64Array(samples);
  let le = 0, ge = 0, m1 = 0, m2 = 0, used = 0;
  for (let s = 0; s < samples; s++) {
    for (let k = 0; k < n; k++) pick[k] = Math.floor(rng.next() * n);
    const m = diffOf(pick);
    if (!Number.isFinite(m)) continue; // e.g. an AUC sample without one of the classes
    stats[used++] = m;
    if (m <= 0) le++;
    if (m >= 0) ge++;
    m1 += m;
    m2 += m * m;
  }
  if (used < samples / 2) throw new Error(`pairedBootstrap: only ${used} of ${samples} resamples had a finite gap`);
  const sorted = stats.subarray(0, used).sort();
  const q = (f: number) => sorted[Math.min(used - 1, Math.max(0, Math.round(f * (used - 1))))]!;
  const mean = m1 / used;
  return { diff, lo: q(0.025), hi: q(0.975), p: Math.min(1, (2 * Math.min(le, ge)) / used), se: Math.sqrt(Math.max(0, m2 / used - mean * mean)) };
}

/** Gap in a per-user mean metric: `a[u]`, `b[u]` are the two models' metric for user u. */
export function pairedBootstrap(a: ArrayLike<number>, b: ArrayLike<number>, samples = 10000, seed = 1): PairedResult {
  const n = a.length;
  if (n !== b.length) throw new Error(`pairedBootstrap: expected equally many users, got ${n} and ${b.length}`);
  const d = Float64Array.from({ length: n }, (_, u) => a[u]! - b[u]!);
  d.forEach((x, u) => {
    if (!Number.isFinite(x)) throw new Error(`pairedBootstrap: user ${u} has a non-finite metric (${a[u]}, ${b[u]})`);
  });
  return bootstrapDifference(n, (users) => {
    let t = 0;
    for (const u of users) t += d[u]!;
    return t / users.length;
  }, samples, seed);
}

/** Gap in AUC between two models' scores of the same examples (one label per example). */
export function pairedAucBootstrap(a: ArrayLike<number>, b: ArrayLike<number>, labels: ArrayLike<number>, samples = 2000, seed = 1): PairedResult {
  const n = labels.length;
  if (a.length !== n || b.length !== n) throw new Error(`pairedBootstrap: expected ${n} scores per model, got ${a.length} and ${b.length}`);
  const take = (x: ArrayLike<number>, users: Uint32Array) => Float64Array.from(users, (u) => x[u]!);
  return bootstrapDifference(n, (users) => {
    const y = take(labels, users);
    return auc(take(a, users), y) - auc(take(b, users), y);
  }, samples, seed);
}

/** Groups per-candidate keys by user: with `grouped`, a key is `user#j` (the j-th of a user's
 *  candidates, trainer/ranking_cli.ts), else the user itself. Returns each user's candidate
 *  indices, users in first-seen order, so a bootstrap can resample users and keep their
 *  (correlated) candidates together. */
export function userClusters(keys: readonly string[], grouped: boolean): Uint32Array[] {
  const byUser = new Map<string, number[]>();
  keys.forEach((k, i) => {
    const hash = grouped ? k.lastIndexOf('#') : -1;
    if (grouped && hash < 0) throw new Error(`userClusters: expected a key 'user#j', got '${k}'`);
    const user = hash < 0 ? k : k.slice(0, hash);
    let list = byUser.get(user);
    if (!list) byUser.set(user, (list = []));
    list.push(i);
  });
  return Array.from(byUser.values(), (l) => Uint32Array.from(l));
}

/** The candidate indices of the resampled users `picks` (indices into `clusters`), concatenated. */
export function expandClusters(clusters: readonly Uint32Array[], picks: Uint32Array): Uint32Array {
  let n = 0;
  for (const p of picks) n += clusters[p]!.length;
  const out = new Uint32Array(n);
  let at = 0;
  for (const p of picks) {
    out.set(clusters[p]!, at);
    at += clusters[p]!.length;
  }
  return out;
}
