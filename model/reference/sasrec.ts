// SASRec layer on the reference tape, in the form of Kang & McAuley's TF code and its PyTorch
// ports (pmixer/SASRec.pytorch, the HSTU research code's sasrec.py):
//   z1 = LN1(x);  Q = z1·W_q + b_q,  K = x·W_k + b_k,  V = x·W_v + b_v   (keys/values from x)
//   x1 = z1 + MHA(Q, K, V)·W_o + b_o       (causal softmax, scale 1/sqrt(d/H); residual from z1)
//   z2 = LN2(x1); y = z2 + W_2·ReLU(W_1·z2 + b_1) + b_2
// after the last layer: LN_final. LayerNorms have affine gamma/beta and eps 1e-8. No dropout.
import type { Config } from '../config.js';
import { type Layout, visible } from './batch.js';
import * as op from './ops.js';
import { Tensor, param } from './tape.js';

export const SASREC_LN_EPS = 1e-8;

export interface SasrecLayerTensors {
  ln1_gamma: Tensor; ln1_beta: Tensor;
  w_qkv: Tensor; b_qkv: Tensor;
  w_attn_o: Tensor; b_attn_o: Tensor;
  ln2_gamma: Tensor; ln2_beta: Tensor;
  w1: Tensor; b1: Tensor; w2: Tensor; b2: Tensor;
}

export const SASREC_LAYER_PARAMS = [
  'ln1_gamma', 'ln1_beta', 'w_qkv', 'b_qkv', 'w_attn_o', 'b_attn_o', 'ln2_gamma', 'ln2_beta', 'w1', 'b1', 'w2', 'b2',
] as const;

/** LayerNorm with affine gamma, beta. */
export const affineLayerNorm = (x: Tensor, gamma: Tensor, beta: Tensor): Tensor =>
  op.addRow(op.mulRow(op.layerNorm(x, SASREC_LN_EPS), gamma), beta);

/** Multi-head causal softmax attention; q, k, v [L, d] → [L, d] (heads side by side). */
export function sasrecAttention(c: Config, q: Tensor, k: Tensor, v: Tensor, layout: Layout): Tensor {
  const H = c.numHeads, dh = c.dim / H, sc = 1 / Math.sqrt(dh);
  const perSeq: Tensor[] = [];
  for (let b = 0; b < layout.B; b++) {
    const s = layout.starts[b]!, n = layout.lengths[b]!, nt = layout.ks[b]!;
    if (n === 0) continue;
    const keep = new Uint8Array(n * n);
    for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) keep[i * n + j] = visible(i, j, n, nt) ? 1 : 0;
    const qs = op.sliceRows(q, s, s + n), ks = op.sliceRows(k, s, s + n), vs = op.sliceRows(v, s, s + n);
    const heads: Tensor[] = [];
    for (let h = 0; h < H; h++) {
      const qh = op.sliceCols(qs, h * dh, (h + 1) * dh), kh = op.sliceCols(ks, h * dh, (h + 1) * dh);
      const vh = op.sliceCols(vs, h * dh, (h + 1) * dh);
      const p = op.softmaxRows(op.scale(op.matmul(qh, op.transpose(kh)), sc), keep);
      heads.push(op.matmul(p, vh));
    }
    perSeq.push(op.concatCols(heads));
  }
  return op.concatRows(perSeq, c.dim);
}

/** One SASRec block on x [L, d]. */
export function sasrecLayer(c: Config, x: Tensor, p: SasrecLayerTensors, layout: Layout): Tensor {
  const d = c.dim;
  const z1 = affineLayerNorm(x, p.ln1_gamma, p.ln1_beta);
  const proj = (inp: Tensor, part: number) =>
    op.addRow(op.matmul(inp, op.sliceCols(p.w_qkv, part * d, (part + 1) * d)), op.sliceRows(op.reshape(p.b_qkv, [3 * d, 1]), part * d, (part + 1) * d));
  const attn = sasrecAttention(c, proj(z1, 0), proj(x, 1), proj(x, 2), layout);
  const x1 = op.add(z1, op.addRow(op.matmul(attn, p.w_attn_o), p.b_attn_o));
  const z2 = affineLayerNorm(x1, p.ln2_gamma, p.ln2_beta);
  const ffn = op.addRow(op.matmul(op.relu(op.addRow(op.matmul(z2, p.w1), p.b1)), p.w2), p.b2);
  return op.add(z2, ffn);
}

/** The layer-l tensors of a parameter map as tape leaves. */
export function sasrecLayerLeaves(params: Map<string, ArrayLike<number>>, l: number, shapes: Map<string, number[]>): SasrecLayerTensors {
  const out: Partial<Record<(typeof SASREC_LAYER_PARAMS)[number], Tensor>> = {};
  for (const n of SASREC_LAYER_PARAMS) {
    const name = `layers.${l}.${n}`, data = params.get(name), shape = shapes.get(name);
    if (!data || !shape) throw new Error(`sasrec: expected parameter ${name}, got none`);
    out[n] = param(data, shape);
  }
  return out as SasrecLayerTensors;
}

/** One SASRec block on plain arrays (for the GPU model's layer-by-layer tests). */
export function sasrecLayerRef(
  c: Config, x: ArrayLike<number>, p: Record<(typeof SASREC_LAYER_PARAMS)[number], ArrayLike<number>>, layout: Layout,
): Float64Array {
  const d = c.dim;
  const shapes = new Map<string, number[]>();
  const params = new Map<string, ArrayLike<number>>();
  for (const n of SASREC_LAYER_PARAMS) {
    const len = p[n].length;
    shapes.set(`layers.0.${n}`, n.startsWith('w') ? [d, len / d] : [len]);
    params.set(`layers.0.${n}`, p[n]);
  }
  return sasrecLayer(c, param(x, [layout.L, d]), sasrecLayerLeaves(params, 0, shapes), layout).data;
}
