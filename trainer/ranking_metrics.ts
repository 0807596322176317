// Ranking metrics (issue 5 "Metrics"): per task on an evaluation set.
//   AUC      P(score of a random positive > score of a random negative), ties count ½
//            (Mann–Whitney U with average ranks); NaN when a class is missing
//   logloss  mean −[y·ln p + (1−y)·ln(1−p)], p clipped to [1e−7, 1 − 1e−7]
//   NE       logloss / entropy of the evaluation set's own base rate p̄ (He et al. 2014):
//            < 1 means better than always predicting p̄
//   RMSE     sqrt(mean (predicted − actual)²) of the rating task

const CLIP = 1e-7;

export function auc(scores: ArrayLike<number>, labels: ArrayLike<number>): number {
  const n = scores.length;
  if (labels.length !== n) throw new Error(`auc: expected ${n} labels, got ${labels.length}`);
  for (let i = 0; i < n; i++) if (Number.isNaN(scores[i]!)) throw new Error(`auc: score ${i} is NaN (a NaN cannot be ranked; sorting would return an arbitrary AUC). HINT: the model's outputs are not finite.`);
  const idx = Array.from({ length: n }, (_, i) => i).sort((a, b) => scores[a]! - scores[b]!);
  let pos = 0, rankSum = 0;
  for (let i = 0; i < n; ) {
    let j = i;
    while (j + 1 < n && scores[idx[j + 1]!] === scores[idx[i]!]) j++;
    const avgRank = (i + j) / 2 + 1; // 1-based average rank of the tie group
    for (let t = i; t <= j; t++) if (labels[idx[t]!]! > 0.5) { pos++; rankSum += avgRank; }
    i = j + 1;
  }
  const neg = n - pos;
  if (pos === 0 || neg === 0) return NaN;
  return (rankSum - (pos * (pos + 1)) / 2) / (pos * neg);
}

export function logloss(probs: ArrayLike<number>, labels: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < probs.length; i++) {
    const p = Math.min(1 - CLIP, Math.max(CLIP, probs[i]!));
    s -= labels[i]! > 0.5 ? Math.log(p) : Math.log(1 - p);
  }
  return s / probs.length;
}

/** Entropy (nats) of a Bernoulli(p). */
export function bernoulliEntropy(p: number): number {
  const q = Math.min(1 - CLIP, Math.max(CLIP, p));
  return -(q * Math.log(q) + (1 - q) * Math.log(1 - q));
}

export function rmse(pred: ArrayLike<number>, actual: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < pred.length; i++) s += (pred[i]! - actual[i]!) ** 2;
  return Math.sqrt(s / pred.length);
}

export interface RankingMetrics {
  /** AUC of the like task. */
  auc: number;
  /** Log loss of the like task. */
  logloss: number;
  /** Normalised entropy of the like task. */
  ne: number;
  /** RMSE of the rating task. */
  rmse: number;
  /** Base rate of `like` in this set. */
  like_rate: number;
  count: number;
}

/** Metrics of like probabilities and predicted ratings against the labels. */
export function rankingMetrics(pLike: ArrayLike<number>, ratingPred: ArrayLike<number>, likes: ArrayLike<number>, ratings: ArrayLike<number>): RankingMetrics {
  const n = pLike.length;
  if (n === 0) throw new Error('ranking metrics: expected at least one example, got none');
  let pos = 0;
  for (let i = 0; i < n; i++) pos += likes[i]!;
  const base = pos / n;
  const ll = logloss(pLike, likes);
  return { auc: auc(pLike, likes), logloss: ll, ne: ll / bernoulliEntropy(base), rmse: rmse(ratingPred, ratings), like_rate: base, count: n };
}
