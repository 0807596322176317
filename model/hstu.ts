// The HSTU stack on the GPU (DESIGN.md §2, paper form), with an explicit backward per layer
// (llm.c style): every activation the backward needs is kept from the forward.
//
//   x0 = Dropout(item_emb[items]·√d + pos_emb[p])
//   per layer:  n = LN(x);  U,V,Q,K = split(SiLU(n·W_uvqk));  O = HSTUAttention(Q, K, V)
//               y = x + Dropout(U ⊙ LN(O))·W_o + b_o
//   output u = x_L (the loss L2-normalises it)
import type { Gpu, Recorder, Tensor } from '../kernels/gpu/index.js';
import { matmul } from '../kernels/matmul/matmul.js';
import { add } from '../kernels/elementwise/elementwise.js';
import { siluSplit, siluConcatBackward } from '../kernels/silu_split/silu_split.js';
import { layerNorm, layerNormBackward, gateForward, gateBackward } from '../kernels/layer_norm/layer_norm.js';
import { columnSum } from '../kernels/reduce/reduce.js';
import { hstuAttention, hstuAttentionBackward, type AttentionOptions } from '../kernels/hstu_attention/hstu_attention.js';
import { EmbeddingTable } from '../kernels/embedding/embedding.js';
import { DenseParams, initialValues } from './dense.js';
import { embeddingBackward, embeddingForward } from './embeddings.js';
import { checkBatchAnchor, type GpuBatch } from './batch.js';
import type { PositionAnchor } from './config.js';
import type { Encoder } from './encoder.js';

export interface HstuDims {
  numItems: number;
  dim: number;
  maxLen: number;
  numLayers: number;
  numHeads: number;
  dqk: number;
  dv: number;
  /** Scale of Q·K. */
  alpha: number;
  useRab: boolean;
  /** rab_time query time of the last history token: the batch's next-event time, or its own. */
  lastQueryTime: 'next' | 'own';
  dropout: number;
  embeddingBf16: boolean;
  /** Config positionAnchor (default 'start'). rab_pos needs no change under 'end': the kernels
   *  index it by p_j − p_i from local indices, and differences do not depend on the anchor. */
  positionAnchor?: PositionAnchor;
}

/** Activations of one layer kept for the backward. */
interface LayerActs {
  x: Tensor<'f32'>;
  n: Tensor<'f32'>;
  mean1: Tensor<'f32'>;
  rstd1: Tensor<'f32'>;
  h: Tensor<'f32'>;
  u: Tensor<'f32'>;
  v: Tensor<'f32'>;
  q: Tensor<'f32'>;
  k: Tensor<'f32'>;
  o: Tensor<'f32'>;
  z: Tensor<'f32'>;
  mean2: Tensor<'f32'>;
  rstd2: Tensor<'f32'>;
}

export interface Forward {
  batch: GpuBatch;
  seed: number;
  train: boolean;
  layers: LayerActs[];
  /** [L, d] final output (not yet normalised). */
  out: Tensor<'f32'>;
  release(): void;
}

export class HstuModel implements Encoder {
  readonly dense: DenseParams;
  readonly items: EmbeddingTable;
  readonly width: number;
  /** The widest [L, ·] activation: n·W_uvqk ([L, width]) or the [L, d] ones. */
  get tokenWidth(): number {
    return Math.max(this.width, this.dims.dim);
  }

  constructor(
    readonly gpu: Gpu,
    readonly dims: HstuDims,
    init: Map<string, Float32Array>,
  ) {
    const { dim: d, numHeads: H, dqk, dv, numLayers, maxLen: N, numItems } = dims;
    this.width = H * (2 * dv + 2 * dqk);
    this.dense = new DenseParams(gpu);
    this.items = new EmbeddingTable(gpu, numItems, d, 'item_emb', { optimizerState: true, storage: dims.embeddingBf16 ? 'bf16' : 'f32' });
    this.items.upload(need(init, 'item_emb', numItems * d));
    this.dense.add('pos_emb', [N, d], need(init, 'pos_emb', N * d));
    for (let l = 0; l < numLayers; l++) {
      this.dense.add(`layers.${l}.w_uvqk`, [d, this.width], need(init, `layers.${l}.w_uvqk`, d * this.width));
      this.dense.add(`layers.${l}.w_o`, [H * dv, d], need(init, `layers.${l}.w_o`, H * dv * d));
      this.dense.add(`layers.${l}.b_o`, [d], need(init, `layers.${l}.b_o`, d));
      this.dense.add(`layers.${l}.rab_pos`, [2 * N - 1], need(init, `layers.${l}.rab_pos`, 2 * N - 1));
      this.dense.add(`layers.${l}.rab_time`, [129], need(init, `layers.${l}.rab_time`, 129));
    }
  }

  private attnOptions(b: GpuBatch): AttentionOptions {
    const { numHeads: H, dqk, dv, maxLen: N, alpha, useRab } = this.dims;
    return { B: b.B, L: b.L, H, dqk, dv, N, alpha, useRab, hostOffsets: b.host.seqOffsets, hostNumTargets: b.host.numTargets };
  }

  private t(shape: number[], label: string): Tensor<'f32'> {
    return this.gpu.empty(shape, 'f32', label);
  }

  /** Records the forward pass; the returned activations must be released by the caller. */
  get positionAnchor(): PositionAnchor {
    return this.dims.positionAnchor ?? 'start';
  }

  forward(rec: Recorder, b: GpuBatch, opts: { train: boolean; seed: number }): Forward {
    checkBatchAnchor('HstuModel', this.positionAnchor, b);
    const { dim: d, numHeads: H, dqk, dv, numLayers } = this.dims;
    const L = Math.max(b.L, 1);
    const p = opts.train ? this.dims.dropout : 0;
    const owned: Tensor[] = [];
    const t = (shape: number[], label: string) => {
      const x = this.t(shape, label);
      owned.push(x);
      return x;
    };
    // x0 = Dropout(item_emb[items]·√d + pos_emb[p])
    let x = embeddingForward(rec, b, this.items, this.dense.get('pos_emb').w, { dropout: p, seed: seedFor(opts.seed, 0, 0), d, alloc: (label) => t([L, d], `hstu:${label}`) });
    const layers: LayerActs[] = [];
    for (let l = 0; l < numLayers; l++) {
      const a: LayerActs = {
        x,
        n: t([L, d], `l${l}:n`),
        mean1: t([L], `l${l}:mean1`),
        rstd1: t([L], `l${l}:rstd1`),
        h: t([L, this.width], `l${l}:h`),
        u: t([L, H * dv], `l${l}:u`),
        v: t([L, H * dv], `l${l}:v`),
        q: t([L, H * dqk], `l${l}:q`),
        k: t([L, H * dqk], `l${l}:k`),
        o: t([L, H * dv], `l${l}:o`),
        z: t([L, H * dv], `l${l}:z`),
        mean2: t([L], `l${l}:mean2`),
        rstd2: t([L], `l${l}:rstd2`),
      };
      const P = (name: string) => this.dense.get(`layers.${l}.${name}`).w;
      layerNorm(rec, x, a.n, { rows: L, cols: d, saveStats: { mean: a.mean1, rstd: a.rstd1 } });
      matmul(rec, a.n, P('w_uvqk'), a.h, { m: L, n: this.width, k: d });
      siluSplit(rec, a.h, L, [
        { t: a.u, width: H * dv },
        { t: a.v, width: H * dv },
        { t: a.q, width: H * dqk },
        { t: a.k, width: H * dqk },
      ]);
      hstuAttention(rec, this.attnInputs(b, a, l), a.o, this.attnOptions(b));
      gateForward(rec, a.o, a.u, a.z, { rows: L, cols: H * dv, dropoutP: p, seed: seedFor(opts.seed, l, 1), saveStats: { mean: a.mean2, rstd: a.rstd2 } });
      const y = t([L, d], `l${l}:y`);
      rec.copy(x, y, L * d * 4);
      matmul(rec, a.z, P('w_o'), y, { m: L, n: d, k: H * dv, bias: P('b_o'), accumulate: true });
      layers.push(a);
      x = y;
    }
    return {
      batch: b,
      seed: opts.seed,
      train: opts.train,
      layers,
      out: x,
      release: () => owned.forEach((o) => o.release()),
    };
  }

  private attnInputs(b: GpuBatch, a: LayerActs, l: number) {
    return {
      q: a.q,
      k: a.k,
      v: a.v,
      seqOffsets: b.seqOffsets,
      timestamps: b.timestamps,
      numTargets: b.numTargets,
      nextTimestamps: this.dims.lastQueryTime === 'next' ? b.nextTimestamps : undefined,
      rabPos: this.dense.get(`layers.${l}.rab_pos`).w,
      rabTime: this.dense.get(`layers.${l}.rab_time`).w,
    };
  }

  /**
   * Records the backward pass from dOut [L, d] (gradient of the loss w.r.t. the output). Writes
   * every dense gradient and returns the gradient w.r.t. the gathered item rows ([L, d], the
   * caller scatters it into the item table together with the loss's item gradients).
   */
  backward(rec: Recorder, f: Forward, dOut: Tensor<'f32'>): { dItemRows: Tensor<'f32'>; release(): void } {
    const { dim: d, numHeads: H, dqk, dv, numLayers, maxLen: N } = this.dims;
    const b = f.batch;
    const L = Math.max(b.L, 1);
    const p = f.train ? this.dims.dropout : 0;
    const owned: Tensor[] = [];
    const t = (shape: number[], label: string) => {
      const x = this.t(shape, label);
      owned.push(x);
      return x;
    };
    let dy = dOut;
    for (let l = numLayers - 1; l >= 0; l--) {
      const a = f.layers[l]!;
      const G = (name: string) => this.dense.get(`layers.${l}.${name}`);
      // y = x + z·W_o + b_o
      matmul(rec, a.z, dy, G('w_o').g, { m: H * dv, n: d, k: L, transA: true });
      columnSum(rec, dy, G('b_o').g, { rows: L, cols: d });
      const dz = t([L, H * dv], `l${l}:dz`);
      matmul(rec, dy, G('w_o').w, dz, { m: L, n: H * dv, k: d, transB: true });
      // z = Dropout(U ⊙ LN(O))
      const dO = t([L, H * dv], `l${l}:dO`), dU = t([L, H * dv], `l${l}:dU`);
      gateBackward(rec, a.o, a.u, dz, dO, dU, { rows: L, cols: H * dv, dropoutP: p, seed: seedFor(f.seed, l, 1), mean: a.mean2, rstd: a.rstd2 });
      // O = attention(Q, K, V)
      const dq = t([L, H * dqk], `l${l}:dq`), dk = t([L, H * dqk], `l${l}:dk`), dV = t([L, H * dv], `l${l}:dv`);
      hstuAttentionBackward(rec, this.attnInputs(b, a, l), dO, { dq, dk, dv: dV, dRabPos: G('rab_pos').g, dRabTime: G('rab_time').g }, this.attnOptions(b));
      // [U, V, Q, K] = split(SiLU(h))
      const dh = t([L, this.width], `l${l}:dh`);
      siluConcatBackward(rec, a.h, [{ t: dU, width: H * dv }, { t: dV, width: H * dv }, { t: dq, width: H * dqk }, { t: dk, width: H * dqk }], dh, L);
      // h = n·W_uvqk
      matmul(rec, a.n, dh, G('w_uvqk').g, { m: d, n: this.width, k: L, transA: true });
      const dn = t([L, d], `l${l}:dn`);
      matmul(rec, dh, G('w_uvqk').w, dn, { m: L, n: d, k: this.width, transB: true });
      // n = LN(x); dx = dy + LN'(dn)
      const dxLn = t([L, d], `l${l}:dx_ln`);
      layerNormBackward(rec, a.x, dn, dxLn, { rows: L, cols: d, mean: a.mean1, rstd: a.rstd1 });
      const dx = t([L, d], `l${l}:dx`);
      add(rec, dy, dxLn, dx);
      dy = dx;
    }
    // x0 = Dropout(item_rows·√d + pos_rows)
    const emb = embeddingBackward(rec, this.gpu, b, dy, { dropout: p, seed: seedFor(f.seed, 0, 0), posGrad: this.dense.get('pos_emb').g, N, d, alloc: (label) => t([L, d], `hstu:${label}`) });
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

/** Distinct dropout seeds per (step seed, layer, site). */
export function seedFor(seed: number, layer: number, site: number): number {
  return (Math.imul(seed >>> 0, 0x9e3779b1) + layer * 7919 + site * 104729) >>> 0;
}
