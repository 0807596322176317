// HSTU layer and attention on the reference tape, from DESIGN §2 and /tmp/semantics.md:
//   n = LN(x); U,V,Q,K = split(SiLU(n·W_uvqk)); S = alpha·Q·Kᵀ + rab_pos + rab_time;
//   A = SiLU(S)/N on visible pairs; O = A·V; y = x + (U ⊙ LN(O))·W_o + b_o.
// Dropout is off (the reference serves gradient checks).
import { type Config, attentionAlpha, resolvedDqk, resolvedDv, resolvedNormaliser } from '../config.js';
import { type Layout, timeBucket, visible } from './batch.js';
import * as op from './ops.js';
import { Tensor, backward, param } from './tape.js';

/** LayerNorm epsilon of both HSTU norms (no affine). */
export const HSTU_LN_EPS = 1e-6;

export interface HstuLayerTensors {
  w_uvqk: Tensor;
  w_o: Tensor;
  b_o: Tensor;
  rab_pos?: Tensor;
  rab_time?: Tensor;
}

/** Per-sequence constants: rab index matrices and visibility mask (shared by heads and layers). */
function sequenceConsts(layout: Layout, b: number) {
  const s = layout.starts[b]!, n = layout.lengths[b]!, k = layout.ks[b]!, N = layout.N;
  const posIdx = new Int32Array(n * n), timeIdx = new Int32Array(n * n), mask = new Float64Array(n * n);
  for (let i = 0; i < n; i++)
    for (let j = 0; j < n; j++) {
      // A difference of positions: the same under either positionAnchor (the GPU kernels take it
      // from local indices).
      posIdx[i * n + j] = layout.positions[s + j]! - layout.positions[s + i]! + N - 1;
      mask[i * n + j] = visible(i, j, n, k) ? 1 : 0;
    }
  return { s, n, k, posIdx, timeIdx, mask };
}

/**
 * O [L, H·dv] (head-major) from Q, K [L, H·dqk] and V [L, H·dv]. rab tensors are used when given
 * (rab_time then needs `timestamps`, the [L] token times t_j; query times come from the layout).
 */
export function hstuAttention(
  c: Config, q: Tensor, k: Tensor, v: Tensor, layout: Layout,
  rabPos?: Tensor, rabTime?: Tensor, timestamps?: ArrayLike<number>,
): Tensor {
  const H = c.numHeads, dqk = resolvedDqk(c), dv = resolvedDv(c), alpha = attentionAlpha(c);
  if (rabTime && !timestamps) throw new Error('hstuAttention: expected timestamps with rab_time, got none');
  const rp = rabPos && op.reshape(rabPos, [rabPos.size, 1]);
  const rt = rabTime && op.reshape(rabTime, [rabTime.size, 1]);
  const perSeq: Tensor[] = [];
  for (let b = 0; b < layout.B; b++) {
    const { s, n, k: nt, posIdx, timeIdx, mask } = sequenceConsts(layout, b);
    if (n === 0) continue;
    if (rt && timestamps)
      for (let i = 0; i < n; i++)
        for (let j = 0; j < n; j++) timeIdx[i * n + j] = timeBucket(layout.queryTimes[s + i]! - timestamps[s + j]!);
    let bias: Tensor | undefined;
    if (rp) bias = op.reshape(op.gatherRows(rp, posIdx), [n, n]);
    if (rt) {
      const tb = op.reshape(op.gatherRows(rt, timeIdx), [n, n]);
      bias = bias ? op.add(bias, tb) : tb;
    }
    const maskT = new Tensor(mask, [n, n]);
    const inv = 1 / resolvedNormaliser(c, n, nt);
    const qs = op.sliceRows(q, s, s + n), ks = op.sliceRows(k, s, s + n), vs = op.sliceRows(v, s, s + n);
    const heads: Tensor[] = [];
    for (let h = 0; h < H; h++) {
      const qh = op.sliceCols(qs, h * dqk, (h + 1) * dqk), kh = op.sliceCols(ks, h * dqk, (h + 1) * dqk);
      const vh = op.sliceCols(vs, h * dv, (h + 1) * dv);
      let scores = op.scale(op.matmul(qh, op.transpose(kh)), alpha);
      if (bias) scores = op.add(scores, bias);
      const a = op.scale(op.mul(op.silu(scores), maskT), inv);
      heads.push(op.matmul(a, vh));
    }
    perSeq.push(op.concatCols(heads));
  }
  return op.concatRows(perSeq, H * dv);
}

export interface HstuLayerOutputs {
  y: Tensor;
  u: Tensor;
  v: Tensor;
  q: Tensor;
  k: Tensor;
  o: Tensor;
}

/** One HSTU layer on x [L, d]. */
export function hstuLayer(c: Config, x: Tensor, p: HstuLayerTensors, layout: Layout, timestamps?: ArrayLike<number>): HstuLayerOutputs {
  const H = c.numHeads, dqk = resolvedDqk(c), dv = resolvedDv(c);
  const z = op.matmul(op.layerNorm(x, HSTU_LN_EPS), p.w_uvqk);
  const act = c.siluOnUOnly ? z : op.silu(z);
  let u = op.sliceCols(act, 0, H * dv);
  if (c.siluOnUOnly) u = op.silu(u);
  const v = op.sliceCols(act, H * dv, 2 * H * dv);
  const q = op.sliceCols(act, 2 * H * dv, 2 * H * dv + H * dqk);
  const k = op.sliceCols(act, 2 * H * dv + H * dqk, 2 * H * dv + 2 * H * dqk);
  const o = hstuAttention(c, q, k, v, layout, p.rab_pos, p.rab_time, timestamps);
  const gate = op.mul(u, op.layerNorm(o, HSTU_LN_EPS));
  const oIn = c.outputFromUOAndGate ? op.concatCols([u, o, gate]) : gate;
  const y = op.add(x, op.addRow(op.matmul(oIn, p.w_o), p.b_o));
  return { y, u, v, q, k, o };
}

/** The layer-l tensors of a parameter map (as tape leaves with gradients). */
export function hstuLayerLeaves(c: Config, params: Map<string, ArrayLike<number>>, l: number, shapes: Map<string, number[]>): HstuLayerTensors {
  const get = (n: string): Tensor => {
    const name = `layers.${l}.${n}`, data = params.get(name), shape = shapes.get(name);
    if (!data || !shape) throw new Error(`hstu: expected parameter ${name}, got none`);
    return param(data, shape);
  };
  const out: HstuLayerTensors = { w_uvqk: get('w_uvqk'), w_o: get('w_o'), b_o: get('b_o') };
  if (c.useRab) { out.rab_pos = get('rab_pos'); out.rab_time = get('rab_time'); }
  return out;
}

// ---- Plain-array entry points for the GPU model's layer-by-layer tests -------------------------

/** O = attention(Q, K, V) as a Float64Array [L, H·dv]. */
export function hstuAttentionRef(
  c: Config, q: ArrayLike<number>, k: ArrayLike<number>, v: ArrayLike<number>, layout: Layout,
  rabPos?: ArrayLike<number>, rabTime?: ArrayLike<number>, timestamps?: ArrayLike<number>,
): Float64Array {
  return hstuAttentionVjp(c, q, k, v, layout, rabPos, rabTime, timestamps).o;
}

/** Forward O and, given dO [L, H·dv], the gradients of Σ dO ⊙ O w.r.t. q, k, v and the rab tables. */
export function hstuAttentionVjp(
  c: Config, q: ArrayLike<number>, k: ArrayLike<number>, v: ArrayLike<number>, layout: Layout,
  rabPos?: ArrayLike<number>, rabTime?: ArrayLike<number>, timestamps?: ArrayLike<number>, dO?: ArrayLike<number>,
) {
  const H = c.numHeads, dqk = resolvedDqk(c), dv = resolvedDv(c), L = layout.L;
  const qt = param(q, [L, H * dqk]), kt = param(k, [L, H * dqk]), vt = param(v, [L, H * dv]);
  const rp = rabPos && param(rabPos, [rabPos.length]), rt = rabTime && param(rabTime, [rabTime.length]);
  const o = hstuAttention(c, qt, kt, vt, layout, rp, rt, timestamps);
  const zeros = (t?: Tensor) => (t ? t.grad ?? new Float64Array(t.size) : undefined);
  if (dO) backward(o, dO);
  return { o: o.data, dq: zeros(qt)!, dk: zeros(kt)!, dv: zeros(vt)!, dRabPos: zeros(rp), dRabTime: zeros(rt) };
}

/** One HSTU layer on plain arrays: y and the intermediates U, V, Q, K, O (all Float64Array). */
export function hstuLayerRef(
  c: Config, x: ArrayLike<number>, p: { w_uvqk: ArrayLike<number>; w_o: ArrayLike<number>; b_o: ArrayLike<number>; rab_pos?: ArrayLike<number>; rab_time?: ArrayLike<number> },
  layout: Layout, timestamps?: ArrayLike<number>,
) {
  const H = c.numHeads, dqk = resolvedDqk(c), dv = resolvedDv(c), d = c.dim;
  const t: HstuLayerTensors = {
    w_uvqk: param(p.w_uvqk, [d, H * (2 * dv + 2 * dqk)]),
    w_o: param(p.w_o, [(c.outputFromUOAndGate ? 3 : 1) * H * dv, d]),
    b_o: param(p.b_o, [d]),
  };
  if (c.useRab) {
    if (!p.rab_pos || !p.rab_time) throw new Error('hstuLayerRef: expected rab_pos and rab_time with useRab, got none');
    t.rab_pos = param(p.rab_pos, [p.rab_pos.length]);
    t.rab_time = param(p.rab_time, [p.rab_time.length]);
  }
  const r = hstuLayer(c, param(x, [layout.L, d]), t, layout, timestamps);
  return { y: r.y.data, u: r.u.data, v: r.v.data, q: r.q.data, k: r.k.data, o: r.o.data };
}
