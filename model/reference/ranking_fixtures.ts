// Random ranking parameters and jagged ranking batches for the reference's and the GPU model's
// tests. Seeded; awkward on purpose: an empty sequence, a history of length 0 (candidates only),
// a single token, wide timestamp gaps (many rab_time buckets).
import type { Rng } from '../../kernels/testing/rng.js';
import type { Config } from '../config.js';
import { rankingParamLayout } from '../ranking_params.js';
import type { RefRankingBatch } from './ranking.js';
import { randomTensors } from './fixtures.js';

/** Every ranking tensor uniform in [−scale, scale] (gammas around 1; item and action row 0 zero). */
export function randomRankingParams(c: Config, numItems: number, rng: Rng, scale = 0.5): Map<string, Float64Array> {
  return randomTensors(rankingParamLayout(c, numItems), rng, scale);
}

/** A ranking batch: sequence b has histories[b] history tokens then targets[b] candidates. */
export function randomRankingBatch(rng: Rng, histories: number[], targets: number[], numItems: number, numActions: number): RefRankingBatch {
  const seqOffsets = [0], items: number[] = [], timestamps: number[] = [], actions: number[] = [], numTargets: number[] = [];
  const likes: number[] = [], ratings: number[] = [];
  histories.forEach((h, b) => {
    const m = targets[b]!;
    let t = 1_600_000_000 + rng.int(0, 1000);
    for (let i = 0; i < h; i++) {
      items.push(rng.int(1, numItems));
      actions.push(rng.int(1, numActions));
      timestamps.push(t);
      t += Math.floor(Math.exp(rng.uniform(0, 14)));
    }
    for (let i = 0; i < m; i++) {
      items.push(rng.int(1, numItems));
      actions.push(0);
      timestamps.push(t + rng.int(0, 100_000)); // candidates: the request time (jittered per candidate)
      const r = rng.int(1, 5);
      ratings.push(r);
      likes.push(r >= 4 ? 1 : 0);
    }
    numTargets.push(m);
    seqOffsets.push(seqOffsets[b]! + h + m);
  });
  return { seqOffsets, items, timestamps, actions, numTargets, likes, ratings };
}

/** Sequence b of `batch` with only its candidate c (history kept): "scored alone at position n". */
export function singleCandidate(batch: RefRankingBatch, b: number, c: number): RefRankingBatch {
  const s = batch.seqOffsets[b]!, e = batch.seqOffsets[b + 1]!, m = batch.numTargets[b]!, h = e - s - m;
  let first = 0;
  for (let i = 0; i < b; i++) first += batch.numTargets[i]!;
  const rows = [...Array.from({ length: h }, (_, i) => s + i), e - m + c];
  const pick = (a: ArrayLike<number>) => rows.map((r) => a[r]!);
  return {
    seqOffsets: [0, h + 1],
    items: pick(batch.items),
    timestamps: batch.timestamps ? pick(batch.timestamps) : undefined,
    actions: pick(batch.actions),
    numTargets: [1],
    likes: [batch.likes[first + c]!],
    ratings: [batch.ratings[first + c]!],
  };
}
