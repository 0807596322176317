// The HSTU / SASRec ranking model on the GPU (DESIGN §2 "Ranking"; the model M-FALCON serves).
//
// FORWARD MATH (the float64 reference model/reference/ranking.ts is written from this text):
//   A sequence = n − m history tokens followed by m candidate tokens (num_targets = m).
//   history token i:   x0_i = item_emb[item_i]·√d + action_emb[action_i] + pos_emb[i]
//   candidate token c: x0_c = item_emb[item_c]·√d                          + pos_emb[h]
//     (h = n − m = the history length: every candidate sits at the position right after the
//      history, as if it were the next event; its timestamp is the request time — in training and
//      evaluation the candidate interaction's own time; actions are ids 1..numActions, on
//      MovieLens the rating; candidates carry none: action id NO_ACTION = 0, row 0 of action_emb
//      is zero and never updated)
//   x0 = Dropout(x0) (training only), then the encoder's layers (model/hstu.ts or model/sasrec.ts,
//   unchanged) with the attention kernel's TARGET MASK: history token i sees history j ≤ i;
//   candidate c sees the whole history and itself, never another candidate. HSTU's query time of
//   the last history token and of each candidate is its own timestamp (rab_time), others use the
//   next event's time; HSTU normalises SiLU(S) by N (maxLen), so nothing depends on m.
//   u_t = encoder output (HSTU: x_L; SASRec: LN_final(x_L)), [L, d]
//   head (every token; the loss and serving read candidates' rows only):
//     z = LayerNorm(u) (no affine, eps 1e-6);  r = ReLU(z·head.w1 + head.b1);  y = r·head.w2 + head.b2
//   y[:, TASK_LIKE]   = logit of P(like) (like = rating ≥ likeThreshold)
//   y[:, TASK_RATING] = predicted rating − RATING_OFFSET
//   Hence a candidate's outputs equal those of the same candidate scored alone appended at
//   position n (tested: model/ranking.test.ts, model/reference/ranking.test.ts).
//
// PARAMETERS: model/ranking_params.ts (rankingParamLayout): the encoder's paramLayout tensors
// (item_emb, pos_emb, layers.<l>.*, SASRec's final_ln_*) + action_emb [numActions+1, d],
// head.w1 [d, headHidden], head.b1 [headHidden], head.w2 [headHidden, 2], head.b2 [2].
// Checkpoints (task 'ranking') hold exactly these names; loadRankingModel builds the model.
//
// API FOR SERVING (M-FALCON, serving/): everything is recorded into a Recorder, eval mode.
//   loadRankingModel(gpu, pathOrCheckpoint) → { model, config, itemRawIds, checkpoint }
//     (trainer/ranking_checkpoint.ts: the model layer does not import the trainer's file format)
//   model.forward(rec, batch, { train: false, seed: 0 }) → logits [L, 2] for a whole jagged batch
//     of (history + candidates) sequences: the uncached path and the ground truth.
//   Pieces of the cached path (HSTU only; per layer l, rows = tokens being processed):
//     model.inputRows(rec, gb, actions)           { x0 } [L, d] for an uploaded GpuBatch (positions,
//                                                 items) plus actions per token (0 = candidate)
//     model.hstuProject(rec, l, x, rows)          → { u, v, q, k } of n = LN(x), SiLU(n·W_uvqk)
//                                                 ([rows, H·dv], [rows, H·dv], [rows, H·dqk] ×2):
//                                                 cache k, v of history tokens per layer
//     hstuAttentionCached(...) (kernels/hstu_attention) with this layer's rab tensors
//                                                 model.hstuRab(l) = { rabPos, rabTime } and
//                                                 model.hstuAttentionOptions() for alpha, H, dims
//     model.hstuFinish(rec, l, x, o, u, rows)     → { y } = x + (U ⊙ LN(O))·W_o + b_o  (next x)
//     model.headForward(rec, u, rows)             → { y } [rows, 2] from encoder outputs
//   Each piece returns its tensors with a release() (call it after the submit that used them).
import type { Gpu, Recorder, Tensor } from '../kernels/gpu/index.js';
import { matmul } from '../kernels/matmul/matmul.js';
import { fill, scale } from '../kernels/elementwise/elementwise.js';
import { gatherDense } from '../kernels/embedding/dense_gather.js';
import { planScatter, scatterAddRows, type ScatterPlan } from '../kernels/embedding/embedding.js';
import { layerNorm, layerNormBackward, gateForward } from '../kernels/layer_norm/layer_norm.js';
import { columnSum } from '../kernels/reduce/reduce.js';
import { siluSplit } from '../kernels/silu_split/silu_split.js';
import { relu, reluBackward } from '../kernels/softmax_attention/relu.js';
import { rowwiseAdam } from '../kernels/optim/optim.js';
import type { AdamOptions } from '../kernels/optim/optim.js';
import { uploadBatch, type GpuBatch, type HostBatch } from './batch.js';
import { applyOverrides, attentionAlpha, defaultConfig, resolvedDqk, resolvedDv, type Config } from './config.js';
import { DenseParams, initialValues } from './dense.js';
import { createEncoder, type Encoder, type EncoderForward } from './encoder.js';
import { embeddingForward } from './embeddings.js';
import { HstuModel } from './hstu.js';
import { NO_ACTION, RANKING_TASKS, rankingExtraLayout } from './ranking_params.js';

/** LayerNorm eps of the head's input normalisation. */
export const HEAD_LN_EPS = 1e-6;
/** Outputs per token (one per task). */
export const NUM_TASKS = RANKING_TASKS.length;

/** A jagged ranking batch on the host: every sequence is history then numTargets[b] candidates. */
export interface RankingHostBatch extends HostBatch {
  numTargets: Uint32Array;
  /** [L] action id per token: 1..numActions for history tokens, NO_ACTION (0) for candidates. */
  actions: Uint32Array;
}

export interface RankingForward {
  batch: GpuBatch;
  enc: EncoderForward;
  /** [L, NUM_TASKS] head outputs for every token (candidates' rows are the scores). */
  logits: Tensor<'f32'>;
  /** Ascending token indices of the candidates (host). */
  candidateRows: Uint32Array;
  /** Kept for the backward. */
  actionIds: Tensor<'u32'>;
  head: { u: Tensor<'f32'>; z: Tensor<'f32'>; mean: Tensor<'f32'>; rstd: Tensor<'f32'>; pre: Tensor<'f32'>; r: Tensor<'f32'> };
  release(): void;
}

/** Gradients of one batch, recorded: dense grads in each param's `g`, the item table's summed rows in itemGrad. */
export interface RankingGradients {
  plan: ScatterPlan;
  itemGrad: Tensor<'f32'>;
  release(): void;
}

/** Token indices of the candidates (the last numTargets[b] tokens of each sequence), ascending. */
export function candidateRowsOf(seqOffsets: ArrayLike<number>, numTargets: ArrayLike<number>): Uint32Array {
  const out: number[] = [];
  for (let b = 0; b + 1 < seqOffsets.length; b++) {
    const end = seqOffsets[b + 1]!, n = end - seqOffsets[b]!;
    const m = numTargets[b]!;
    if (m > n) throw new Error(`ranking batch: sequence ${b} has ${m} candidates but only ${n} tokens`);
    for (let t = end - m; t < end; t++) out.push(t);
  }
  return Uint32Array.from(out);
}

/** Checks actions: 1..numActions on history tokens, NO_ACTION on candidates. */
export function checkActions(b: RankingHostBatch, numActions: number): void {
  const L = b.items.length;
  if (b.actions.length !== L) throw new Error(`ranking batch: expected ${L} actions (one per token), got ${b.actions.length}`);
  const isCand = new Uint8Array(L);
  for (const t of candidateRowsOf(b.seqOffsets, b.numTargets)) isCand[t] = 1;
  for (let t = 0; t < L; t++) {
    const a = b.actions[t]!;
    if (isCand[t] && a !== NO_ACTION) throw new Error(`ranking batch: candidate token ${t} has action ${a}, expected ${NO_ACTION} (a candidate's action is what the model predicts)`);
    if (!isCand[t] && !(a >= 1 && a <= numActions)) throw new Error(`ranking batch: history token ${t} has action ${a}, expected 1..${numActions}. HINT: set --numActions to the action vocabulary size (MovieLens: 5 ratings).`);
  }
}

export class RankingModel {
  readonly encoder: Encoder;
  /** action_emb and head.* (AdamW). */
  readonly extra: DenseParams;

  private constructor(readonly gpu: Gpu, readonly config: Config, readonly tableRows: number, encoder: Encoder, init: Map<string, Float32Array>) {
    this.encoder = encoder;
    this.extra = new DenseParams(gpu);
    for (const spec of rankingExtraLayout(config)) {
      this.extra.add(spec.name, spec.shape, initialValues(init, spec.name, spec.shape.reduce((a, s) => a * s, 1)));
    }
  }

  /** Builds the model from initial values of every rankingParamLayout tensor; `tableRows` = item ids incl. padding 0. */
  static async create(gpu: Gpu, c: Config, tableRows: number, init: Map<string, Float32Array>): Promise<RankingModel> {
    if (c.task !== 'ranking') throw new Error(`RankingModel: expected config task 'ranking', got '${c.task}'. HINT: pass --task=ranking.`);
    const enc = await createEncoder(gpu, c, tableRows, init);
    return new RankingModel(gpu, c, tableRows, enc, init);
  }

  private get d(): number {
    return this.config.dim;
  }

  /** Every dense parameter (encoder's and extra), for snapshots and restores. */
  denseParams() {
    return [...this.encoder.dense.byName.values(), ...this.extra.byName.values()];
  }

  /** x0 rows' action part: action_emb[actions] ([L, d]; row 0 = zero for candidates). */
  private actionRows(rec: Recorder, ids: Tensor<'u32'>, L: number, label: string): Tensor<'f32'> {
    const out = this.gpu.empty([Math.max(L, 1), this.d], 'f32', `ranking:${label}`);
    gatherDense(rec, this.extra.get('action_emb').w, ids, out, L, this.d);
    return out;
  }

  /** Uploads a ranking batch (validated) and records the forward: encoder with the target mask, head on every token. */
  forward(rec: Recorder, hb: RankingHostBatch, opts: { train: boolean; seed: number }): RankingForward {
    const c = this.config;
    checkActions(hb, c.numActions);
    const candidateRows = candidateRowsOf(hb.seqOffsets, hb.numTargets);
    const b = uploadBatch(this.gpu, hb, c.maxLen, this.tableRows, c.positionAnchor);
    const L = Math.max(b.L, 1), d = this.d, hid = c.headHidden;
    const actionIds = this.gpu.u32(hb.actions.length ? hb.actions : Uint32Array.of(0), [L], 'ranking:actions');
    const extraInput = this.actionRows(rec, actionIds, b.L, 'action_rows');
    b.extraInput = extraInput;
    const enc = this.encoder.forward(rec, b, opts);
    const t = (shape: number[], label: string) => this.gpu.empty(shape, 'f32', `ranking:${label}`);
    const head = { u: enc.out, z: t([L, d], 'z'), mean: t([L], 'head_mean'), rstd: t([L], 'head_rstd'), pre: t([L, hid], 'pre'), r: t([L, hid], 'r') };
    const logits = t([L, NUM_TASKS], 'logits');
    this.recordHead(rec, head, logits, b.L);
    return {
      batch: b,
      enc,
      logits,
      candidateRows,
      actionIds,
      head,
      release: () => {
        [head.z, head.mean, head.rstd, head.pre, head.r, logits, extraInput, actionIds].forEach((x) => x.release());
        enc.release();
        b.release();
      },
    };
  }

  private recordHead(rec: Recorder, h: RankingForward['head'], logits: Tensor<'f32'>, rows: number): void {
    const P = (n: string) => this.extra.get(n).w;
    const d = this.d, hid = this.config.headHidden;
    if (rows === 0) return;
    layerNorm(rec, h.u, h.z, { rows, cols: d, eps: HEAD_LN_EPS, saveStats: { mean: h.mean, rstd: h.rstd } });
    matmul(rec, h.z, P('head.w1'), h.pre, { m: rows, n: hid, k: d, bias: P('head.b1') });
    relu(rec, h.pre, h.r);
    matmul(rec, h.r, P('head.w2'), logits, { m: rows, n: NUM_TASKS, k: hid, bias: P('head.b2') });
  }

  /** Head only: y [rows, NUM_TASKS] from encoder outputs u [rows, d] (serving). release() after the submit. */
  headForward(rec: Recorder, u: Tensor<'f32'>, rows: number): { y: Tensor<'f32'>; release(): void } {
    const d = this.d, hid = this.config.headHidden, R = Math.max(rows, 1);
    const t = (shape: number[], label: string) => this.gpu.empty(shape, 'f32', `ranking:${label}`);
    const h = { u, z: t([R, d], 'z'), mean: t([R], 'head_mean'), rstd: t([R], 'head_rstd'), pre: t([R, hid], 'pre'), r: t([R, hid], 'r') };
    const y = t([R, NUM_TASKS], 'scores');
    this.recordHead(rec, h, y, rows);
    return { y, release: () => [h.z, h.mean, h.rstd, h.pre, h.r, y].forEach((x) => x.release()) };
  }

  /**
   * Records the backward from dLogits [L, NUM_TASKS] (zero rows for non-candidates): writes every
   * dense gradient (encoder's, action_emb's, the head's) and returns the item table's gradient.
   */
  backward(rec: Recorder, f: RankingForward, dLogits: Tensor<'f32'>): RankingGradients {
    const c = this.config, d = this.d, hid = c.headHidden, b = f.batch, L = Math.max(b.L, 1), rows = b.L;
    const G = (n: string) => this.extra.get(n);
    const owned: Tensor[] = [];
    const t = (shape: number[], label: string) => {
      const x = this.gpu.empty(shape, 'f32', `ranking:${label}`);
      owned.push(x);
      return x;
    };
    const h = f.head;
    // y = r·W2 + b2
    matmul(rec, h.r, dLogits, G('head.w2').g, { m: hid, n: NUM_TASKS, k: rows, transA: true });
    columnSum(rec, dLogits, G('head.b2').g, { rows, cols: NUM_TASKS });
    const dr = t([L, hid], 'dr');
    matmul(rec, dLogits, G('head.w2').w, dr, { m: rows, n: hid, k: NUM_TASKS, transB: true });
    // r = ReLU(pre), pre = z·W1 + b1
    const dpre = t([L, hid], 'dpre');
    reluBackward(rec, h.pre, dr, dpre);
    matmul(rec, h.z, dpre, G('head.w1').g, { m: d, n: hid, k: rows, transA: true });
    columnSum(rec, dpre, G('head.b1').g, { rows, cols: hid });
    const dz = t([L, d], 'dz');
    matmul(rec, dpre, G('head.w1').w, dz, { m: rows, n: d, k: hid, transB: true });
    // z = LN(u)
    const du = t([L, d], 'du');
    layerNormBackward(rec, h.u, dz, du, { rows, cols: d, mean: h.mean, rstd: h.rstd });
    const bw = this.encoder.backward(rec, f.enc, du);
    // action_emb: x0 = item·√d + action + pos (before dropout), so d action rows = dItemRows / √d.
    const dAct = t([L, d], 'daction_rows');
    scale(rec, bw.dItemRows, 1 / Math.sqrt(d), dAct);
    const actionPlan = planScatter(this.gpu, f.batch.host.items.length ? (f.batch.host as RankingHostBatch).actions : Uint32Array.of(0), c.numActions + 1);
    const actSums = t([Math.max(actionPlan.numUnique, 1), d], 'action_grad_rows');
    scatterAddRows(rec, actionPlan, dAct, d, actSums);
    const ga = G('action_emb').g;
    fill(rec, ga, 0);
    actionPlan.host.uniqueRows.forEach((row, i) => {
      if (row !== NO_ACTION) rec.copy(actSums, ga, d * 4, i * d * 4, row * d * 4); // row 0 (candidates) stays zero
    });
    // Item table: the gathered input rows' gradient, summed per row.
    const plan = planScatter(this.gpu, b.host.items, this.tableRows);
    const itemGrad = this.gpu.empty([Math.max(plan.numUnique, 1), d], 'f32', 'ranking:item_grad');
    scatterAddRows(rec, plan, bw.dItemRows, d, itemGrad);
    return {
      plan,
      itemGrad,
      release: () => {
        owned.forEach((x) => x.release());
        itemGrad.release();
        plan.release();
        actionPlan.release();
        bw.release();
      },
    };
  }

  /** One optimizer step: row-wise Adam on the item table, AdamW on every dense tensor. */
  step(rec: Recorder, g: RankingGradients, adam: AdamOptions): void {
    rowwiseAdam(rec, this.encoder.items, g.plan, g.itemGrad, adam);
    this.encoder.dense.step(rec, adam);
    this.extra.step(rec, adam);
  }

  // ---- serving pieces (HSTU cached path; see the header) ----

  private hstu(): HstuModel {
    if (!(this.encoder instanceof HstuModel)) throw new Error(`RankingModel: the cached path needs an HSTU encoder, this model is '${this.config.model}'. HINT: serve SASRec with forward().`);
    return this.encoder;
  }

  /** x0 [L, d] (eval mode: no dropout) for an uploaded batch and per-token actions (0 = candidate). release() after the submit. */
  inputRows(rec: Recorder, gb: GpuBatch, actions: Tensor<'u32'>): { x0: Tensor<'f32'>; release(): void } {
    const L = Math.max(gb.L, 1), d = this.d;
    const rows = this.actionRows(rec, actions, gb.L, 'serve_action_rows');
    const scratch: Tensor[] = [rows];
    const x0 = embeddingForward(rec, { ...gb, extraInput: rows }, this.encoder.items, this.encoder.dense.get('pos_emb').w, {
      dropout: 0, seed: 0, d,
      alloc: (label) => {
        const x = this.gpu.empty([L, d], 'f32', `ranking:${label}`);
        scratch.push(x);
        return x;
      },
    });
    return { x0, release: () => scratch.forEach((x) => x.release()) };
  }

  /** U, V, Q, K = split(SiLU(LN(x)·W_uvqk)) of layer l for `rows` tokens. release() frees all four (after the submit). */
  hstuProject(rec: Recorder, l: number, x: Tensor<'f32'>, rows: number): { u: Tensor<'f32'>; v: Tensor<'f32'>; q: Tensor<'f32'>; k: Tensor<'f32'>; release(): void } {
    const m = this.hstu(), { numHeads: H, dqk, dv } = m.dims, d = this.d, R = Math.max(rows, 1);
    const t = (w: number, label: string) => this.gpu.empty([R, w], 'f32', `ranking:l${l}:${label}`);
    const n = t(d, 'n'), hcat = t(m.width, 'h');
    const out = { u: t(H * dv, 'u'), v: t(H * dv, 'v'), q: t(H * dqk, 'q'), k: t(H * dqk, 'k') };
    layerNorm(rec, x, n, { rows, cols: d });
    matmul(rec, n, m.dense.get(`layers.${l}.w_uvqk`).w, hcat, { m: rows, n: m.width, k: d });
    siluSplit(rec, hcat, rows, [{ t: out.u, width: H * dv }, { t: out.v, width: H * dv }, { t: out.q, width: H * dqk }, { t: out.k, width: H * dqk }]);
    return { ...out, release: () => [n, hcat, out.u, out.v, out.q, out.k].forEach((z) => z.release()) };
  }

  /** y = x + (U ⊙ LN(O))·W_o + b_o of layer l (eval mode). release() after the submit. */
  hstuFinish(rec: Recorder, l: number, x: Tensor<'f32'>, o: Tensor<'f32'>, u: Tensor<'f32'>, rows: number): { y: Tensor<'f32'>; release(): void } {
    const m = this.hstu(), { numHeads: H, dv } = m.dims, d = this.d, R = Math.max(rows, 1);
    const z = this.gpu.empty([R, H * dv], 'f32', `ranking:l${l}:z`);
    const mean = this.gpu.empty([R], 'f32', `ranking:l${l}:mean2`), rstd = this.gpu.empty([R], 'f32', `ranking:l${l}:rstd2`);
    gateForward(rec, o, u, z, { rows, cols: H * dv, dropoutP: 0, seed: 0, saveStats: { mean, rstd } });
    const y = this.gpu.empty([R, d], 'f32', `ranking:l${l}:y`);
    rec.copy(x, y, rows * d * 4);
    matmul(rec, z, m.dense.get(`layers.${l}.w_o`).w, y, { m: rows, n: d, k: H * dv, bias: m.dense.get(`layers.${l}.b_o`).w, accumulate: true });
    return { y, release: () => [z, mean, rstd, y].forEach((q) => q.release()) };
  }

  /** Layer l's relative attention bias tensors (for hstuAttentionCached). */
  hstuRab(l: number): { rabPos: Tensor<'f32'>; rabTime: Tensor<'f32'> } {
    const m = this.hstu();
    return { rabPos: m.dense.get(`layers.${l}.rab_pos`).w, rabTime: m.dense.get(`layers.${l}.rab_time`).w };
  }

  /** The attention constants of the HSTU encoder (H, dqk, dv, N, alpha, useRab). */
  hstuAttentionOptions(): { H: number; dqk: number; dv: number; N: number; alpha: number; useRab: boolean } {
    const m = this.hstu();
    return { H: m.dims.numHeads, dqk: m.dims.dqk, dv: m.dims.dv, N: m.dims.maxLen, alpha: m.dims.alpha, useRab: m.dims.useRab };
  }

  release(): void {
    this.encoder.release();
    this.extra.release();
  }
}

/** Config of a ranking checkpoint (validated; task must be 'ranking'). */
export function rankingConfigOf(ck: { task: string; config: Record<string, unknown> }, where = 'checkpoint'): Config {
  if (ck.task !== 'ranking') throw new Error(`${where}: holds a '${ck.task}' model, not a ranking model. HINT: train one with --task=ranking.`);
  return applyOverrides(defaultConfig, ck.config, ` in ${where}`);
}

/** Re-exported so callers need one import for config helpers of the cached path. */
export { attentionAlpha, resolvedDqk, resolvedDv };
