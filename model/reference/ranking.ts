// The float64 reference of the ranking model (written from the math in model/ranking.ts's header,
// not from the GPU code), with gradients of every rankingParamLayout tensor from the tape:
//   x0 = item_emb[items]·√d + pos_emb[p] + hist ⊙ action_emb[actions]   (hist = 1 on history
//        tokens, 0 on candidates: candidates read no action row, so action_emb row 0 gets no gradient)
//   u  = encoder layers with the target mask (HSTU: x_L; SASRec: LN_final(x_L))
//   y  = ReLU(LN(u)·W1 + b1)·W2 + b2                   (every token)
//   loss = mean over candidates c of [softplus(y_c0) − like_c·y_c0]
//        + ratingLossWeight · mean over candidates of (y_c1 + RATING_OFFSET − rating_c)²
// Dropout is off.
import type { Config } from '../config.js';
import { itemTableRows } from '../params.js';
import { RATING_OFFSET, TASK_LIKE, TASK_RATING, RANKING_TASKS, rankingParamLayout } from '../ranking_params.js';
import { batchLayout, type Layout } from './batch.js';
import { encoderLayers } from './model.js';
import * as op from './ops.js';
import { affineLayerNorm } from './sasrec.js';
import { Tensor, backward, constant, param } from './tape.js';

/** LayerNorm eps of the head's input (model/ranking.ts HEAD_LN_EPS). */
const HEAD_LN_EPS = 1e-6;

export interface RefRankingBatch {
  seqOffsets: ArrayLike<number>;
  items: ArrayLike<number>;
  timestamps?: ArrayLike<number>;
  /** [B] candidates at the end of each sequence. */
  numTargets: ArrayLike<number>;
  /** [L] 1..numActions on history tokens, 0 on candidates. */
  actions: ArrayLike<number>;
  /** Per candidate, in token order: like label (0/1) and rating. */
  likes: ArrayLike<number>;
  ratings: ArrayLike<number>;
}

export interface RefRankingResult {
  loss: number;
  grads: Map<string, Float64Array>;
  /** [L, T] head outputs of every token. */
  logits: Float64Array;
  /** Ascending token indices of the candidates. */
  candidates: number[];
}

function candidatesOf(layout: Layout): number[] {
  const out: number[] = [];
  for (let b = 0; b < layout.B; b++) for (let i = layout.lengths[b]! - layout.ks[b]!; i < layout.lengths[b]!; i++) out.push(layout.starts[b]! + i);
  return out;
}

/** BCE-with-logits on column TASK_LIKE + weighted MSE on TASK_RATING, averaged over candidate rows. */
function rankingLoss(y: Tensor, rows: number[], likes: ArrayLike<number>, ratings: ArrayLike<number>, w: number): Tensor {
  const T = y.shape[1]!, C = rows.length;
  let loss = 0;
  for (let c = 0; c < C; c++) {
    const z = y.data[rows[c]! * T + TASK_LIKE]!, e = y.data[rows[c]! * T + TASK_RATING]! + RATING_OFFSET - ratings[c]!;
    loss += (Math.max(z, 0) + Math.log1p(Math.exp(-Math.abs(z))) - likes[c]! * z) / C + (w * e * e) / C;
  }
  return new Tensor(Float64Array.of(C ? loss : 0), [1], [y], (g) => {
    const gy = y.gradBuf();
    for (let c = 0; c < C; c++) {
      const z = y.data[rows[c]! * T + TASK_LIKE]!, e = y.data[rows[c]! * T + TASK_RATING]! + RATING_OFFSET - ratings[c]!;
      gy[rows[c]! * T + TASK_LIKE]! += (g[0]! * (1 / (1 + Math.exp(-z)) - likes[c]!)) / C;
      gy[rows[c]! * T + TASK_RATING]! += (g[0]! * 2 * w * e) / C;
    }
  });
}

export function buildRankingReference(c: Config, params: Map<string, ArrayLike<number>>, batch: RefRankingBatch) {
  const d = c.dim;
  const emb = params.get('item_emb');
  if (!emb || emb.length % d !== 0) throw new Error(`ranking reference: expected item_emb of rows × ${d}, got ${emb?.length}`);
  const numItems = emb.length / d - 1;
  const shapes = new Map<string, number[]>();
  for (const spec of rankingParamLayout(c, numItems)) {
    const t = params.get(spec.name), n = spec.shape.reduce((a, b) => a * b, 1);
    if (!t || t.length !== n) throw new Error(`ranking reference: expected ${spec.name} of ${n} values [${spec.shape}], got ${t?.length ?? 'none'}`);
    shapes.set(spec.name, spec.shape);
  }
  if (itemTableRows(numItems) * d !== emb.length) throw new Error('ranking reference: item table size mismatch');
  const L = batch.items.length;
  const layout = batchLayout({ ...batch, targets: new Array<number>(L).fill(0), negatives: [] }, c.maxLen, numItems, c.positionAnchor);
  const cands = candidatesOf(layout);
  if (batch.likes.length !== cands.length || batch.ratings.length !== cands.length) throw new Error(`ranking reference: expected ${cands.length} likes and ratings (one per candidate), got ${batch.likes.length} and ${batch.ratings.length}`);
  const leaves = new Map<string, Tensor>();
  const leaf = (name: string): Tensor => {
    const t = param(params.get(name)!, shapes.get(name)!);
    leaves.set(name, t);
    return t;
  };
  const hist = new Float64Array(L * d).fill(1);
  for (const t of cands) hist.fill(0, t * d, t * d + d);
  const actionTerm = op.mul(op.gatherRows(leaf('action_emb'), batch.actions), constant(hist, [L, d]));
  let x = op.add(op.add(op.scale(op.gatherRows(leaf('item_emb'), batch.items), Math.sqrt(d)), op.gatherRows(leaf('pos_emb'), layout.positions)), actionTerm);
  x = encoderLayers(c, x, params, shapes, layout, batch.timestamps, leaves).at(-1) ?? x;
  if (c.model === 'sasrec') x = affineLayerNorm(x, leaf('final_ln_gamma'), leaf('final_ln_beta'));
  const r = op.relu(op.addRow(op.matmul(op.layerNorm(x, HEAD_LN_EPS), leaf('head.w1')), leaf('head.b1')));
  const y = op.addRow(op.matmul(r, leaf('head.w2')), leaf('head.b2'));
  if (y.shape[1] !== RANKING_TASKS.length) throw new Error('ranking reference: head width mismatch');
  const loss = rankingLoss(y, cands, batch.likes, batch.ratings, c.ratingLossWeight);
  return { loss, y, leaves, shapes, cands };
}

/** Loss, gradients of every ranking parameter, and the head outputs. */
export function referenceRanking(c: Config, params: Map<string, ArrayLike<number>>, batch: RefRankingBatch): RefRankingResult {
  const { loss, y, leaves, shapes, cands } = buildRankingReference(c, params, batch);
  backward(loss);
  const grads = new Map<string, Float64Array>();
  for (const [name, shape] of shapes) grads.set(name, leaves.get(name)?.grad ?? new Float64Array(shape.reduce((a, b) => a * b, 1)));
  return { loss: loss.data[0]!, grads, logits: y.data, candidates: cands };
}

/** Loss only (for finite differences). */
export function referenceRankingLoss(c: Config, params: Map<string, ArrayLike<number>>, batch: RefRankingBatch): number {
  return buildRankingReference(c, params, batch).loss.data[0]!;
}
