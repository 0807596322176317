// The SASRec baseline on the GPU (Kang & McAuley 2018), in the exact form of the float64 reference
// (model/reference/sasrec.ts: the TF code / pmixer PyTorch port), with an explicit backward per
// layer (llm.c style): every activation the backward needs is kept from the forward.
//
//   x0 = Dropout(item_emb[items]·√d + pos_emb[p])
//   per layer (x → y):
//     z1 = LN1(x)                                  (affine, eps 1e-8)
//     Q = z1·W_q + b_q;  K = x·W_k + b_k;  V = x·W_v + b_v     (W_qkv = [W_q | W_k | W_v], queries
//                                                   from LN1(x), keys/values from x itself)
//     O = causal MHA softmax attention(Q, K, V), scale 1/√(d/H), saving the logsumexp
//     x1 = z1 + Dropout(O·W_attn_o + b_attn_o)    (the residual is taken from z1, as in the reference)
//     z2 = LN2(x1)
//     y  = z2 + Dropout(ReLU(z2·W1 + b1)·W2 + b2)
//   out = LN_final(x_L)                            [L, d] (the loss L2-normalises it)
//
// Dropout sites (the reference has none; with dropout 0 or train = false this is the reference
// exactly): the input embeddings, the attention branch and the FFN branch. SASRec's original
// dropout on the attention probabilities has no counterpart (the attention kernel never
// materialises them). Batches with numTargets (ranking) use the attention kernel's target mask:
// candidates see the history and themselves (model/ranking.ts).
import type { Gpu, Recorder, Tensor } from '../kernels/gpu/index.js';
import { matmul } from '../kernels/matmul/matmul.js';
import { dropout } from '../kernels/elementwise/elementwise.js';
import { splitColumns, concatColumns } from '../kernels/columns/columns.js';
import { layerNorm, layerNormBackward } from '../kernels/layer_norm/layer_norm.js';
import { columnSum } from '../kernels/reduce/reduce.js';
import { softmaxAttention, softmaxAttentionBackward, MAX_HEAD_DIM, type SoftmaxAttentionOptions } from '../kernels/softmax_attention/softmax_attention.js';
import { relu, reluBackward } from '../kernels/softmax_attention/relu.js';
import { EmbeddingTable } from '../kernels/embedding/embedding.js';
import type { Config, PositionAnchor } from './config.js';
import { DenseParams, initialValues } from './dense.js';
import { embeddingBackward, embeddingForward, scaleAdd } from './embeddings.js';
import { checkBatchAnchor, type GpuBatch } from './batch.js';
import type { Encoder, EncoderForward } from './encoder.js';
import { seedFor } from './hstu.js';

/** LayerNorm eps of SASRec (the reference's SASREC_LN_EPS). */
export const SASREC_LN_EPS = 1e-8;

/** Per-layer parameter names (paramLayout's sasrecLayout), under `layers.<l>.`. */
const LAYER_PARAMS: [string, (d: number) => number[]][] = [
  ['ln1_gamma', (d) => [d]], ['ln1_beta', (d) => [d]],
  ['w_qkv', (d) => [d, 3 * d]], ['b_qkv', (d) => [3 * d]],
  ['w_attn_o', (d) => [d, d]], ['b_attn_o', (d) => [d]],
  ['ln2_gamma', (d) => [d]], ['ln2_beta', (d) => [d]],
  ['w1', (d) => [d, d]], ['b1', (d) => [d]],
  ['w2', (d) => [d, d]], ['b2', (d) => [d]],
];

/** Dropout sites (the `site` argument of seedFor); the input embeddings use (layer 0, site 0). */
const SITE_ATTN = 1;
const SITE_FFN = 2;

export interface SasrecDims {
  /** Rows of the item table (incl. padding row 0). */
  numItems: number;
  dim: number;
  maxLen: number;
  numLayers: number;
  numHeads: number;
  dropout: number;
  embeddingBf16: boolean;
  /** Config positionAnchor: how the batches this model reads count their positions. */
  positionAnchor: PositionAnchor;
}

/** Activations of one layer kept for the backward. */
interface LayerActs {
  /** Layer input. */
  x: Tensor<'f32'>;
  z1: Tensor<'f32'>;
  mean1: Tensor<'f32'>;
  rstd1: Tensor<'f32'>;
  /** W_q [d, d], W_kv [d, 2d]: column blocks of this step's W_qkv. */
  wq: Tensor<'f32'>;
  wkv: Tensor<'f32'>;
  q: Tensor<'f32'>;
  k: Tensor<'f32'>;
  v: Tensor<'f32'>;
  o: Tensor<'f32'>;
  lse: Tensor<'f32'>;
  x1: Tensor<'f32'>;
  z2: Tensor<'f32'>;
  mean2: Tensor<'f32'>;
  rstd2: Tensor<'f32'>;
  /** z2·W1 + b1 (pre-ReLU) and its ReLU. */
  h1: Tensor<'f32'>;
  r: Tensor<'f32'>;
}

export interface SasrecForward extends EncoderForward {
  seed: number;
  train: boolean;
  layers: LayerActs[];
  /** Input of the final LayerNorm (output of the last layer) and its stats. */
  last: Tensor<'f32'>;
  meanF: Tensor<'f32'>;
  rstdF: Tensor<'f32'>;
}

export class SasrecModel implements Encoder {
  readonly dense: DenseParams;
  readonly items: EmbeddingTable;
  readonly dims: SasrecDims;
  /** Per-head dim d / H. */
  readonly dh: number;
  /** The widest [L, ·] activation: the fused key/value projection [L, 2d]. */
  get tokenWidth(): number {
    return 2 * this.dims.dim;
  }

  constructor(
    readonly gpu: Gpu,
    c: Config,
    tableRows: number,
    init: Map<string, Float32Array>,
  ) {
    if (c.model !== 'sasrec') throw new Error(`SasrecModel: expected config model 'sasrec', got '${c.model}'`);
    const d = c.dim, H = c.numHeads;
    if (!Number.isInteger(d) || d < 1 || !Number.isInteger(H) || H < 1 || d % H !== 0) {
      throw new Error(`SasrecModel: expected dim divisible by numHeads, got dim ${d}, numHeads ${H}`);
    }
    if (d / H > MAX_HEAD_DIM) throw new Error(`SasrecModel: expected a head dim dim/numHeads ≤ ${MAX_HEAD_DIM}, got ${d / H}`);
    if (!(c.dropout >= 0 && c.dropout < 1)) throw new Error(`SasrecModel: expected 0 ≤ dropout < 1, got ${c.dropout}`);
    this.dims = { numItems: tableRows, dim: d, maxLen: c.maxLen, numLayers: c.numLayers, numHeads: H, dropout: c.dropout, embeddingBf16: c.embeddingBf16, positionAnchor: c.positionAnchor ?? 'start' };
    this.dh = d / H;
    this.dense = new DenseParams(gpu);
    this.items = new EmbeddingTable(gpu, tableRows, d, 'item_emb', { optimizerState: true, storage: c.embeddingBf16 ? 'bf16' : 'f32' });
    this.items.upload(need(init, 'item_emb', tableRows * d));
    this.dense.add('pos_emb', [c.maxLen, d], need(init, 'pos_emb', c.maxLen * d));
    for (let l = 0; l < c.numLayers; l++) {
      for (const [name, shape] of LAYER_PARAMS) {
        const full = `layers.${l}.${name}`, s = shape(d);
        this.dense.add(full, s, need(init, full, s.reduce((a, b) => a * b, 1)));
      }
    }
    this.dense.add('final_ln_gamma', [d], need(init, 'final_ln_gamma', d));
    this.dense.add('final_ln_beta', [d], need(init, 'final_ln_beta', d));
  }

  private attnOptions(b: GpuBatch): SoftmaxAttentionOptions {
    return { B: b.B, L: b.L, H: this.dims.numHeads, dk: this.dh, dv: this.dh, maxLen: b.maxLen, scale: 1 / Math.sqrt(this.dh), numTargets: b.numTargets };
  }

  get positionAnchor(): PositionAnchor {
    return this.dims.positionAnchor;
  }

  private check(b: GpuBatch): void {
    checkBatchAnchor('SasrecModel', this.dims.positionAnchor, b);
    if (b.L < 1) throw new Error(`SasrecModel: expected a batch with ≥ 1 token, got L = ${b.L}`);
    if (b.maxLen > this.dims.maxLen) throw new Error(`SasrecModel: expected sequences of ≤ ${this.dims.maxLen} tokens, got ${b.maxLen}`);
  }

  /** Records the forward pass; the returned activations must be released by the caller (after the submit). */
  forward(rec: Recorder, b: GpuBatch, opts: { train: boolean; seed: number }): SasrecForward {
    this.check(b);
    const { dim: d, numLayers } = this.dims;
    const L = b.L;
    const p = opts.train ? this.dims.dropout : 0;
    const owned: Tensor[] = [];
    const t = (shape: number[], label: string) => {
      const x = this.gpu.empty(shape, 'f32', label);
      owned.push(x);
      return x;
    };
    // x0 = Dropout(item_emb[items]·√d + pos_emb[p])
    let x = embeddingForward(rec, b, this.items, this.dense.get('pos_emb').w, { dropout: p, seed: seedFor(opts.seed, 0, 0), d, alloc: (label) => t([L, d], `sasrec:${label}`) });
    const layers: LayerActs[] = [];
    const attn = this.attnOptions(b);
    for (let l = 0; l < numLayers; l++) {
      const P = (name: string) => this.dense.get(`layers.${l}.${name}`).w;
      const a: LayerActs = {
        x,
        z1: t([L, d], `l${l}:z1`),
        mean1: t([L], `l${l}:mean1`),
        rstd1: t([L], `l${l}:rstd1`),
        wq: t([d, d], `l${l}:w_q`),
        wkv: t([d, 2 * d], `l${l}:w_kv`),
        q: t([L, d], `l${l}:q`),
        k: t([L, d], `l${l}:k`),
        v: t([L, d], `l${l}:v`),
        o: t([L, d], `l${l}:o`),
        lse: t([L, this.dims.numHeads], `l${l}:lse`),
        x1: t([L, d], `l${l}:x1`),
        z2: t([L, d], `l${l}:z2`),
        mean2: t([L], `l${l}:mean2`),
        rstd2: t([L], `l${l}:rstd2`),
        h1: t([L, d], `l${l}:h1`),
        r: t([L, d], `l${l}:r`),
      };
      // z1 = LN1(x)
      layerNorm(rec, x, a.z1, { rows: L, cols: d, eps: SASREC_LN_EPS, gamma: P('ln1_gamma'), beta: P('ln1_beta'), saveStats: { mean: a.mean1, rstd: a.rstd1 } });
      // Q = z1·W_q + b_q; [K | V] = x·W_kv + b_kv
      const bq = t([d], `l${l}:b_q`), bkv = t([2 * d], `l${l}:b_kv`);
      splitColumns(rec, P('w_qkv'), d, [{ t: a.wq, width: d }, { t: a.wkv, width: 2 * d }]);
      splitColumns(rec, P('b_qkv'), 1, [{ t: bq, width: d }, { t: bkv, width: 2 * d }]);
      matmul(rec, a.z1, a.wq, a.q, { m: L, n: d, k: d, bias: bq });
      const kv = t([L, 2 * d], `l${l}:kv`);
      matmul(rec, x, a.wkv, kv, { m: L, n: 2 * d, k: d, bias: bkv });
      splitColumns(rec, kv, L, [{ t: a.k, width: d }, { t: a.v, width: d }]);
      // O = MHA(Q, K, V)
      softmaxAttention(rec, a.q, a.k, a.v, b.seqOffsets, a.o, a.lse, attn);
      // x1 = z1 + Dropout(O·W_attn_o + b_attn_o)
      if (p > 0) {
        const br = t([L, d], `l${l}:attn_branch`), brd = t([L, d], `l${l}:attn_branch_dropout`);
        matmul(rec, a.o, P('w_attn_o'), br, { m: L, n: d, k: d, bias: P('b_attn_o') });
        dropout(rec, br, brd, p, seedFor(opts.seed, l, SITE_ATTN));
        scaleAdd(rec, brd, 1, a.z1, a.x1);
      } else {
        rec.copy(a.z1, a.x1, L * d * 4);
        matmul(rec, a.o, P('w_attn_o'), a.x1, { m: L, n: d, k: d, bias: P('b_attn_o'), accumulate: true });
      }
      // z2 = LN2(x1)
      layerNorm(rec, a.x1, a.z2, { rows: L, cols: d, eps: SASREC_LN_EPS, gamma: P('ln2_gamma'), beta: P('ln2_beta'), saveStats: { mean: a.mean2, rstd: a.rstd2 } });
      // y = z2 + Dropout(ReLU(z2·W1 + b1)·W2 + b2)
      matmul(rec, a.z2, P('w1'), a.h1, { m: L, n: d, k: d, bias: P('b1') });
      relu(rec, a.h1, a.r);
      const y = t([L, d], `l${l}:y`);
      if (p > 0) {
        const br = t([L, d], `l${l}:ffn_branch`), brd = t([L, d], `l${l}:ffn_branch_dropout`);
        matmul(rec, a.r, P('w2'), br, { m: L, n: d, k: d, bias: P('b2') });
        dropout(rec, br, brd, p, seedFor(opts.seed, l, SITE_FFN));
        scaleAdd(rec, brd, 1, a.z2, y);
      } else {
        rec.copy(a.z2, y, L * d * 4);
        matmul(rec, a.r, P('w2'), y, { m: L, n: d, k: d, bias: P('b2'), accumulate: true });
      }
      layers.push(a);
      x = y;
    }
    // out = LN_final(x_L)
    const out = t([L, d], 'sasrec:out');
    const meanF = t([L], 'sasrec:meanF'), rstdF = t([L], 'sasrec:rstdF');
    layerNorm(rec, x, out, {
      rows: L, cols: d, eps: SASREC_LN_EPS,
      gamma: this.dense.get('final_ln_gamma').w, beta: this.dense.get('final_ln_beta').w,
      saveStats: { mean: meanF, rstd: rstdF },
    });
    return {
      batch: b,
      seed: opts.seed,
      train: opts.train,
      layers,
      last: x,
      meanF,
      rstdF,
      out,
      release: () => owned.forEach((o) => o.release()),
    };
  }

  /**
   * Records the backward pass from dOut [L, d] (gradient of the loss w.r.t. the output). Writes
   * every dense gradient (overwriting, not accumulating) and returns the gradient w.r.t. the
   * gathered item rows ([L, d]; the caller scatters it into the item table).
   */
  backward(rec: Recorder, fwd: EncoderForward, dOut: Tensor<'f32'>): { dItemRows: Tensor<'f32'>; release(): void } {
    const f = fwd as SasrecForward;
    if (!Array.isArray(f.layers) || f.layers.length !== this.dims.numLayers || !f.meanF) {
      throw new Error(`SasrecModel.backward: expected the forward of this SASRec model (${this.dims.numLayers} layers), got another encoder's`);
    }
    const { dim: d, numLayers, maxLen: N } = this.dims;
    const b = f.batch;
    const L = b.L;
    if (dOut.numel !== L * d) throw new Error(`SasrecModel.backward: expected dOut of [${L}, ${d}] = ${L * d} elements, got ${dOut.numel}`);
    const p = f.train ? this.dims.dropout : 0;
    const owned: Tensor[] = [];
    const t = (shape: number[], label: string) => {
      const x = this.gpu.empty(shape, 'f32', label);
      owned.push(x);
      return x;
    };
    const attn = this.attnOptions(b);
    // out = LN_final(x_L)
    let dy = t([L, d], 'sasrec:dlast');
    layerNormBackward(rec, f.last, dOut, dy, {
      rows: L, cols: d, gamma: this.dense.get('final_ln_gamma').w, mean: f.meanF, rstd: f.rstdF,
      dgamma: this.dense.get('final_ln_gamma').g, dbeta: this.dense.get('final_ln_beta').g,
    });
    for (let l = numLayers - 1; l >= 0; l--) {
      const a = f.layers[l]!;
      const G = (name: string) => this.dense.get(`layers.${l}.${name}`);
      // y = z2 + Dropout(r·W2 + b2),  r = ReLU(h1),  h1 = z2·W1 + b1
      let dBr = dy;
      if (p > 0) {
        dBr = t([L, d], `l${l}:dffn`);
        dropout(rec, dy, dBr, p, seedFor(f.seed, l, SITE_FFN));
      }
      matmul(rec, a.r, dBr, G('w2').g, { m: d, n: d, k: L, transA: true });
      columnSum(rec, dBr, G('b2').g, { rows: L, cols: d });
      const dr = t([L, d], `l${l}:dr`);
      matmul(rec, dBr, G('w2').w, dr, { m: L, n: d, k: d, transB: true });
      const dh1 = t([L, d], `l${l}:dh1`);
      reluBackward(rec, a.h1, dr, dh1);
      matmul(rec, a.z2, dh1, G('w1').g, { m: d, n: d, k: L, transA: true });
      columnSum(rec, dh1, G('b1').g, { rows: L, cols: d });
      const dz2 = t([L, d], `l${l}:dz2`);
      rec.copy(dy, dz2, L * d * 4);
      matmul(rec, dh1, G('w1').w, dz2, { m: L, n: d, k: d, transB: true, accumulate: true });
      // z2 = LN2(x1)
      const dx1 = t([L, d], `l${l}:dx1`);
      layerNormBackward(rec, a.x1, dz2, dx1, { rows: L, cols: d, gamma: G('ln2_gamma').w, mean: a.mean2, rstd: a.rstd2, dgamma: G('ln2_gamma').g, dbeta: G('ln2_beta').g });
      // x1 = z1 + Dropout(O·W_attn_o + b_attn_o)
      let dA = dx1;
      if (p > 0) {
        dA = t([L, d], `l${l}:dattn`);
        dropout(rec, dx1, dA, p, seedFor(f.seed, l, SITE_ATTN));
      }
      matmul(rec, a.o, dA, G('w_attn_o').g, { m: d, n: d, k: L, transA: true });
      columnSum(rec, dA, G('b_attn_o').g, { rows: L, cols: d });
      const dO = t([L, d], `l${l}:dO`);
      matmul(rec, dA, G('w_attn_o').w, dO, { m: L, n: d, k: d, transB: true });
      // O = MHA(Q, K, V)
      const dq = t([L, d], `l${l}:dq`), dk = t([L, d], `l${l}:dk`), dv = t([L, d], `l${l}:dv`);
      softmaxAttentionBackward(rec, a.q, a.k, a.v, b.seqOffsets, a.o, a.lse, dO, dq, dk, dv, attn);
      // Q = z1·W_q + b_q; [K | V] = x·W_kv + b_kv
      const dqkv = t([L, 3 * d], `l${l}:dqkv`);
      concatColumns(rec, [{ t: dq, width: d }, { t: dk, width: d }, { t: dv, width: d }], dqkv, L);
      columnSum(rec, dqkv, G('b_qkv').g, { rows: L, cols: 3 * d });
      const dkv = t([L, 2 * d], `l${l}:dkv`);
      concatColumns(rec, [{ t: dk, width: d }, { t: dv, width: d }], dkv, L);
      const dWq = t([d, d], `l${l}:dw_q`), dWkv = t([d, 2 * d], `l${l}:dw_kv`);
      matmul(rec, a.z1, dq, dWq, { m: d, n: d, k: L, transA: true });
      matmul(rec, a.x, dkv, dWkv, { m: d, n: 2 * d, k: L, transA: true });
      concatColumns(rec, [{ t: dWq, width: d }, { t: dWkv, width: 2 * d }], G('w_qkv').g, d);
      // dz1 = dx1 (residual) + dQ·W_qᵀ
      const dz1 = t([L, d], `l${l}:dz1`);
      rec.copy(dx1, dz1, L * d * 4);
      matmul(rec, dq, a.wq, dz1, { m: L, n: d, k: d, transB: true, accumulate: true });
      // z1 = LN1(x); dx = LN1'(dz1) + [dK | dV]·W_kvᵀ
      const dx = t([L, d], `l${l}:dx`);
      layerNormBackward(rec, a.x, dz1, dx, { rows: L, cols: d, gamma: G('ln1_gamma').w, mean: a.mean1, rstd: a.rstd1, dgamma: G('ln1_gamma').g, dbeta: G('ln1_beta').g });
      matmul(rec, dkv, a.wkv, dx, { m: L, n: d, k: 2 * d, transB: true, accumulate: true });
      dy = dx;
    }
    // x0 = Dropout(item_rows·√d + pos_rows)
    const emb = embeddingBackward(rec, this.gpu, b, dy, { dropout: p, seed: seedFor(f.seed, 0, 0), posGrad: this.dense.get('pos_emb').g, N, d, alloc: (label) => t([L, d], `sasrec:${label}`) });
    return {
      dItemRows: emb.dItemRows,
      release: () => {
        owned.forEach((o) => o.release());
        emb.release();
      },
    };
  }

  release(): void {
    this.dense.release();
    this.items.dispose();
  }
}

const need = initialValues;
