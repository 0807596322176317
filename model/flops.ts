// Analytic training compute of HSTU and SASRec (retrieval task, as trainer/train.ts runs it) and
// parameter counts split into embedding and non-embedding.
//
// Convention (the one scaling-law papers use): a FLOP is one multiply or one add of a matrix
// product, so a multiply-accumulate is 2 FLOPs; the count is the model's math, i.e. the
// products of the dense layers, of attention and of the loss's logits. Element-wise work (layer
// norm, SiLU, dropout, residuals, biases, the optimizer) is left out: it is O(L·d) per layer
// against O(L·d²) + O(pairs·d) and moves the total by a few percent at most. The attention
// backward's recomputation of S (FlashAttention style) is left out as well: it is an
// implementation choice, not the model's work. Backward = 2 × forward for every product (one
// product for the input gradient, one for the weight gradient; attention: dQ, dK, dV and dA).
//
// Only work actually done is counted: attention over the causal half of each sequence's own
// tokens (query i sees keys j ≤ i of its sequence: n·(n+1)/2 pairs per head), tokens per
// sequence as the batcher cuts them (jagged, nothing padded), and the loss over every position
// (each has a target) against its positive and the R shared negatives.
//
// Ranking (task 'ranking', model/ranking.ts): a sequence of n tokens whose last k are candidates;
// a candidate sees the history and itself only (h·(h+1)/2 + k·h + k pairs, h = n − k); the
// encoder runs on all n tokens, then the head LN → ReLU(z·W1 + b1) → ·W2 (hidden × 2 tasks) on
// every token; the BCE/MSE loss is element-wise (not counted).
import { paramLayout, numel, type ParamSpec } from './params.js';
import { rankingExtraLayout } from './ranking_params.js';
import { resolvedDqk, resolvedDv, type Config } from './config.js';

/** The config keys that determine training FLOPs. */
export interface FlopShape {
  model: 'hstu' | 'sasrec';
  numLayers: number;
  /** d */
  dim: number;
  /** H */
  numHeads: number;
  /** Per-head query/key dim (SASRec: d / H). */
  dqk: number;
  /** Per-head value dim (SASRec: d / H). */
  dv: number;
  /** R: negatives per position (per-position or shared, each position scores R of them). The
   *  per-position path computes cosines against the whole catalogue as GEMMs and reads R per row;
   *  these formulas count the algorithm's R + 1 logits, not that implementation's extra work. */
  numNegatives: number;
}

export function flopShapeOf(c: Config): FlopShape {
  return { model: c.model, numLayers: c.numLayers, dim: c.dim, numHeads: c.numHeads, dqk: resolvedDqk(c), dv: resolvedDv(c), numNegatives: c.numNegatives };
}

/** FLOPs of one training example split by where they go (forward and backward together). */
export interface FlopBreakdown {
  /** Dense (linear-layer) products. */
  dense: number;
  /** Attention score and value products over visible pairs. */
  attention: number;
  /** Sampled-softmax logits and their gradients. */
  loss: number;
  forward: number;
  backward: number;
  total: number;
}

/** Causal pairs (i, j ≤ i) of a sequence of n tokens, per head. */
export const causalPairs = (n: number): number => (n * (n + 1)) / 2;

/** Forward FLOPs per token of one layer's dense products. */
export function denseForwardPerToken(s: FlopShape): number {
  const d = s.dim;
  if (s.model === 'hstu') {
    const width = s.numHeads * (2 * s.dv + 2 * s.dqk);
    return 2 * d * width + 2 * s.numHeads * s.dv * d; // n·W_uvqk, then z·W_o
  }
  // Q = z1·W_q, [K|V] = x·W_kv, O·W_attn_o, FFN W1 and W2: 1 + 2 + 1 + 1 + 1 = 6 d×d products.
  return 2 * 6 * d * d;
}

/** Forward FLOPs per visible pair (all heads) of one layer's attention: Q·K and A·V. */
export function attentionForwardPerPair(s: FlopShape): number {
  return s.numHeads * (2 * s.dqk + 2 * s.dv);
}

/** Forward FLOPs per position of the loss: cosine logits against the positive and R negatives. */
export function lossForwardPerToken(s: FlopShape): number {
  return 2 * s.dim * (s.numNegatives + 1);
}

/** Training FLOPs (forward + backward) of one example of n input tokens (1 ≤ n ≤ maxLen). */
export function exampleTrainingFlops(s: FlopShape, n: number): FlopBreakdown {
  if (!Number.isInteger(n) || n < 0) throw new Error(`flops: expected a sequence length ≥ 0, got ${n}`);
  const fwdDense = s.numLayers * n * denseForwardPerToken(s);
  const fwdAttn = s.numLayers * causalPairs(n) * attentionForwardPerPair(s);
  const fwdLoss = n * lossForwardPerToken(s);
  const forward = fwdDense + fwdAttn + fwdLoss;
  return { dense: 3 * fwdDense, attention: 3 * fwdAttn, loss: 3 * fwdLoss, forward, backward: 2 * forward, total: 3 * forward };
}

/** Visible pairs (per head) of n tokens whose last k are candidates seeing the history and themselves. */
export function maskedPairs(n: number, k: number): number {
  if (!(Number.isInteger(k) && k >= 0 && k <= n)) throw new Error(`flops: expected 0 ≤ candidates ≤ length, got ${k} of ${n}`);
  const h = n - k;
  return causalPairs(h) + k * h + k;
}

/** The ranking head's width: hidden units and tasks (outputs). */
export interface RankingHeadShape {
  hidden: number;
  tasks: number;
}

/** Training FLOPs of one ranking example: n tokens, the last k of them candidates. */
export function rankingExampleFlops(s: FlopShape, n: number, k: number, head: RankingHeadShape): FlopBreakdown {
  if (!Number.isInteger(n) || n < 0) throw new Error(`flops: expected a sequence length ≥ 0, got ${n}`);
  const fwdDense = n * (s.numLayers * denseForwardPerToken(s) + 2 * s.dim * head.hidden + 2 * head.hidden * head.tasks);
  const fwdAttn = s.numLayers * maskedPairs(n, k) * attentionForwardPerPair(s);
  const forward = fwdDense + fwdAttn;
  return { dense: 3 * fwdDense, attention: 3 * fwdAttn, loss: 0, forward, backward: 2 * forward, total: 3 * forward };
}

/** Training FLOPs of a set of examples (e.g. one epoch's sequence lengths), summed. */
export function trainingFlops(s: FlopShape, lengths: Iterable<number>): FlopBreakdown {
  return sumFlops([...lengths].map((n) => exampleTrainingFlops(s, n)));
}

/** Training FLOPs of ranking examples given as [tokens, candidates] pairs, summed. */
export function rankingTrainingFlops(s: FlopShape, examples: Iterable<readonly [number, number]>, head: RankingHeadShape): FlopBreakdown {
  return sumFlops([...examples].map(([n, k]) => rankingExampleFlops(s, n, k, head)));
}

function sumFlops(parts: FlopBreakdown[]): FlopBreakdown {
  const sum: FlopBreakdown = { dense: 0, attention: 0, loss: 0, forward: 0, backward: 0, total: 0 };
  for (const e of parts) for (const k of Object.keys(sum) as (keyof FlopBreakdown)[]) sum[k] += e[k];
  return sum;
}

export interface ParamCounts {
  /** Item table (incl. padding row 0), the learned absolute position table, and (ranking) the action table. */
  embedding: number;
  /** Everything else: layer weights and biases, layer-norm affines, HSTU's rab tables, the ranking head. */
  nonEmbedding: number;
  total: number;
}

/** Parameter counts of the model as built (from params.ts's layout, so they match the model). */
export function paramCounts(c: Config, numItems: number): ParamCounts {
  let embedding = 0, nonEmbedding = 0;
  const layout: ParamSpec[] = [...paramLayout(c, numItems), ...(c.task === 'ranking' ? rankingExtraLayout(c) : [])];
  for (const p of layout) {
    if (p.name === 'item_emb' || p.name === 'pos_emb' || p.name === 'action_emb') embedding += numel(p.shape);
    else nonEmbedding += numel(p.shape);
  }
  return { embedding, nonEmbedding, total: embedding + nonEmbedding };
}

/**
 * Stochastic Length (the HSTU paper, §3.2): with α ∈ (1, 2] and N the max length, a sequence of
 * n ≤ N^(α/2) tokens is kept whole; a longer one is kept whole with probability N^α / n² and
 * otherwise subsampled to m = ⌊N^(α/2)⌋ tokens, so the expected attention work per sequence is
 * O(N^α) instead of O(n²). Returns that two-point distribution of the trained length (α = 0 or
 * α ≥ 2 · log(n) / log(N) means off: the whole sequence with probability 1).
 */
export function stochasticLengthOutcomes(n: number, maxLen: number, alpha: number): { length: number; prob: number }[] {
  if (!Number.isInteger(n) || n < 0) throw new Error(`flops: expected a sequence length ≥ 0, got ${n}`);
  if (!(alpha === 0 || (alpha > 0 && alpha <= 2))) throw new Error(`flops: expected Stochastic Length α in (0, 2] (0 = off), got ${alpha}`);
  if (alpha === 0) return [{ length: n, prob: 1 }];
  const m = Math.floor(maxLen ** (alpha / 2));
  if (n <= m) return [{ length: n, prob: 1 }];
  const keep = Math.min(1, maxLen ** alpha / (n * n));
  return keep >= 1 ? [{ length: n, prob: 1 }] : [{ length: n, prob: keep }, { length: m, prob: 1 - keep }];
}

/** Expected training FLOPs of one example of n tokens under Stochastic Length α (retrieval, or
 *  ranking when `ranking` gives its k candidates and head: candidates are never dropped, they are
 *  the targets; SL subsamples the history only). */
export function expectedExampleFlops(s: FlopShape, n: number, maxLen: number, alpha: number, ranking?: { candidates: number; head: RankingHeadShape }): FlopBreakdown & { tokens: number } {
  const k = ranking ? Math.min(ranking.candidates, n) : 0;
  const sum: FlopBreakdown & { tokens: number } = { dense: 0, attention: 0, loss: 0, forward: 0, backward: 0, total: 0, tokens: 0 };
  for (const { length, prob } of stochasticLengthOutcomes(n - k, maxLen, alpha)) {
    const f = ranking ? rankingExampleFlops(s, length + k, k, ranking.head) : exampleTrainingFlops(s, length);
    for (const key of ['dense', 'attention', 'loss', 'forward', 'backward', 'total'] as const) sum[key] += prob * f[key];
    sum.tokens += prob * (length + k);
  }
  return sum;
}
