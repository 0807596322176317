// Ranking baselines (issue 5), fitted on the training events (every event before the validation
// and test ones), so the value of the sequence model is visible:
//   item-mean:  P(like | item) = the item's training like-rate, smoothed towards the global rate
//               with a prior of ITEM_PRIOR pseudo-events (unseen items get the global rate);
//               rating = the item's mean training rating, smoothed the same way.
//   user+item bias logistic regression:  P(like) = σ(b + b_u + b_i), and for the rating task the
//               linear rating = μ + c_u + c_i; L2 penalty λ·(‖b_u‖² + ‖b_i‖²) on the mean loss,
//               fitted by full-batch Adam; λ picked from LAMBDAS by validation log loss.
import type { Sequences } from './data/index.js';
import type { RankingExample } from './ranking_data.js';
import { logloss } from './ranking_metrics.js';

export const ITEM_PRIOR = 10;
export const LAMBDAS = [1e-6, 1e-5, 1e-4, 1e-3];
const ITERS = 300;

export interface BaselinePredictions {
  pLike: Float64Array;
  rating: Float64Array;
}

export type Baseline = (user: number, item: number) => { pLike: number; rating: number };

interface Events { users: Uint32Array; items: Uint32Array; likes: Float64Array; ratings: Float64Array }

function trainEvents(train: Sequences, likeThreshold: number): Events {
  const n = train.offsets[train.numUsers]!;
  const users = new Uint32Array(n);
  for (let u = 0; u < train.numUsers; u++) users.fill(u, train.offsets[u]!, train.offsets[u + 1]!);
  return {
    users,
    items: train.items.slice(0, n),
    likes: Float64Array.from(train.ratings.subarray(0, n), (r) => (r >= likeThreshold ? 1 : 0)),
    ratings: Float64Array.from(train.ratings.subarray(0, n)),
  };
}

export function fitItemMean(train: Sequences, likeThreshold: number): Baseline {
  const ev = trainEvents(train, likeThreshold);
  const V = train.numItems, n = ev.items.length;
  const cnt = new Float64Array(V), lk = new Float64Array(V), rs = new Float64Array(V);
  let gl = 0, gr = 0;
  for (let e = 0; e < n; e++) {
    const i = ev.items[e]!;
    cnt[i]!++;
    lk[i]! += ev.likes[e]!;
    rs[i]! += ev.ratings[e]!;
    gl += ev.likes[e]!;
    gr += ev.ratings[e]!;
  }
  gl /= n;
  gr /= n;
  return (_u, i) => ({ pLike: (lk[i]! + ITEM_PRIOR * gl) / (cnt[i]! + ITEM_PRIOR), rating: (rs[i]! + ITEM_PRIOR * gr) / (cnt[i]! + ITEM_PRIOR) });
}

/** σ(b + b_u + b_i) and μ + c_u + c_i with L2 λ, full-batch Adam. */
function fitBias(ev: Events, numUsers: number, numItems: number, lambda: number): Baseline {
  const n = ev.items.length;
  // params: [b, b_u (U), b_i (V)] for like; [μ, c_u, c_i] for rating
  const P = 1 + numUsers + numItems;
  const w = [new Float64Array(P), new Float64Array(P)];
  const mean = ev.likes.reduce((a, b) => a + b, 0) / n;
  w[0]![0] = Math.log(mean / (1 - mean));
  w[1]![0] = ev.ratings.reduce((a, b) => a + b, 0) / n;
  const m = [new Float64Array(P), new Float64Array(P)], v = [new Float64Array(P), new Float64Array(P)];
  const g = new Float64Array(P);
  const lr = 0.05, b1 = 0.9, b2 = 0.999;
  for (let it = 1; it <= ITERS; it++) {
    for (let task = 0; task < 2; task++) {
      const W = w[task]!;
      g.fill(0);
      for (let e = 0; e < n; e++) {
        const ui = 1 + ev.users[e]!, ii = 1 + numUsers + ev.items[e]!;
        const z = W[0]! + W[ui]! + W[ii]!;
        const r = task === 0 ? 1 / (1 + Math.exp(-z)) - ev.likes[e]! : 2 * (z - ev.ratings[e]!);
        g[0]! += r / n;
        g[ui]! += r / n;
        g[ii]! += r / n;
      }
      for (let p = 1; p < P; p++) g[p]! += 2 * lambda * W[p]!;
      const M = m[task]!, Vv = v[task]!;
      for (let p = 0; p < P; p++) {
        M[p] = b1 * M[p]! + (1 - b1) * g[p]!;
        Vv[p] = b2 * Vv[p]! + (1 - b2) * g[p]! * g[p]!;
        W[p]! -= (lr * (M[p]! / (1 - b1 ** it))) / (Math.sqrt(Vv[p]! / (1 - b2 ** it)) + 1e-8);
      }
    }
  }
  const [L, R] = w as [Float64Array, Float64Array];
  return (u, i) => ({
    pLike: 1 / (1 + Math.exp(-(L[0]! + L[1 + u]! + L[1 + numUsers + i]!))),
    rating: R[0]! + R[1 + u]! + R[1 + numUsers + i]!,
  });
}

/** Fits the bias model for each λ in LAMBDAS and keeps the one with the best validation log loss. */
export function fitUserItemBias(train: Sequences, likeThreshold: number, all: Sequences, validation: readonly RankingExample[]): { model: Baseline; lambda: number } {
  const ev = trainEvents(train, likeThreshold);
  let best: { model: Baseline; lambda: number; ll: number } | undefined;
  for (const lambda of LAMBDAS) {
    const model = fitBias(ev, train.numUsers, train.numItems, lambda);
    const p = predictBaseline(model, all, validation);
    const ll = logloss(p.pLike, labelsOf(all, validation, likeThreshold).likes);
    if (!best || ll < best.ll) best = { model, lambda, ll };
  }
  return { model: best!.model, lambda: best!.lambda };
}

/** Each candidate of `examples` (events cut..candEnd − 1 of the user), in order. */
function* candidates(all: Sequences, examples: readonly RankingExample[]): Generator<{ user: number; event: number }> {
  for (const e of examples) for (let j = e.cut; j < e.candEnd; j++) yield { user: e.user, event: all.offsets[e.user]! + j };
}

/** Predictions for every candidate of `examples`, in order. */
export function predictBaseline(model: Baseline, all: Sequences, examples: readonly RankingExample[]): BaselinePredictions {
  const pLike: number[] = [], rating: number[] = [];
  for (const { user, event } of candidates(all, examples)) {
    const r = model(user, all.items[event]!);
    pLike.push(r.pLike);
    rating.push(r.rating);
  }
  return { pLike: Float64Array.from(pLike), rating: Float64Array.from(rating) };
}

/** Labels of every candidate of `examples`, in order. */
export function labelsOf(all: Sequences, examples: readonly RankingExample[], likeThreshold: number): { likes: Float64Array; ratings: Float64Array } {
  const ratings = Float64Array.from(candidates(all, examples), ({ event }) => all.ratings[event]!);
  return { likes: ratings.map((r) => (r >= likeThreshold ? 1 : 0)), ratings };
}
