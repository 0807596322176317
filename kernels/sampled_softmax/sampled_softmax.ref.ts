// Float64 references for the sampled-softmax loss, written from the math (see the WGSL header):
// the forward loss and its analytic backward, for cosine logits cos(u, e)/τ and for dot logits
// (u·e)/τ (similarity 'dot': no normalisation; written out on its own below, not as the kernels'
// n(x) = 1 trick, so the two are checked against each other).
// The sampler is production code (./negatives.ts, what training draws from); the reference uses
// it under its historical name so the GPU sampler is checked against the same definition.
export { sampleNegativeIds as sampleNegativesRef } from './negatives.js';

export interface LossRefInput {
  P: number;
  R: number;
  d: number;
  temperature: number;
  eps: number;
  /** [P·d] */
  u: ArrayLike<number>;
  /** Gathered rows: posEmb [P·d], negEmb [P·R·d]. */
  posEmb: ArrayLike<number>;
  negEmb: ArrayLike<number>;
  posIds: ArrayLike<number>;
  negIds: ArrayLike<number>;
  weights?: ArrayLike<number>;
  /** One negative set for all rows: negIds [R], negEmb [R·d]. */
  shared?: boolean;
  /** Per negative slot (indexed like negIds): subtracted from that negative's logit, l_j =
   *  cos/τ − offset_j (the log-Q correction of a non-uniform sampler); absent = 0. */
  negLogitOffset?: ArrayLike<number>;
  /** 'cosine' (default) or 'dot': l = (u·e)/τ of the raw rows (eps unused). */
  similarity?: 'cosine' | 'dot';
}

/** Gathers table rows by id: out[i] = table[ids[i]] (each row d wide). */
export function gatherRef(table: ArrayLike<number>, ids: ArrayLike<number>, d: number): Float64Array {
  const out = new Float64Array(ids.length * d);
  for (let i = 0; i < ids.length; i++) for (let c = 0; c < d; c++) out[i * d + c] = table[ids[i]! * d + c]!;
  return out;
}

function rowOf(a: ArrayLike<number>, start: number, d: number): number[] {
  return Array.from({ length: d }, (_, c) => a[start + c]!);
}
const dot = (a: number[], b: number[]): number => a.reduce((s, x, i) => s + x * b[i]!, 0);
const norm = (a: number[]): number => Math.sqrt(dot(a, a));

export interface LossRef {
  rowLoss: Float64Array;
  loss: number;
}

export function sampledSoftmaxRef(x: LossRefInput): LossRef {
  const { P, R, d, temperature: tau, eps } = x;
  const rowLoss = new Float64Array(P);
  let sw = 0;
  let swl = 0;
  for (let r = 0; r < P; r++) {
    const w = x.weights ? x.weights[r]! : 1;
    if (w === 0) continue;
    const u = rowOf(x.u, r * d, d);
    const nu = Math.max(norm(u), eps);
    const logit = x.similarity === 'dot' ? (e: number[]) => dot(u, e) / tau : (e: number[]) => dot(u, e) / (nu * Math.max(norm(e), eps)) / tau;
    const logits = [logit(rowOf(x.posEmb, r * d, d))];
    for (let j = 0; j < R; j++) {
      const slot = x.shared ? j : r * R + j;
      if (x.negIds[slot] !== x.posIds[r]) logits.push(logit(rowOf(x.negEmb, slot * d, d)) - (x.negLogitOffset?.[slot] ?? 0));
    }
    const m = Math.max(...logits);
    const lse = m + Math.log(logits.reduce((s, l) => s + Math.exp(l - m), 0));
    rowLoss[r] = lse - logits[0]!;
    sw += w;
    swl += w * rowLoss[r]!;
  }
  return { rowLoss, loss: sw === 0 ? 0 : swl / sw };
}

export interface GradRef {
  dU: Float64Array;
  dPos: Float64Array;
  dNeg: Float64Array;
}

/** Row r's scored items, positive first, then its unmasked negatives (a negative equal to the
 *  target is left out), each with the gradient buffer and offset its gradient goes to and its
 *  log-Q logit offset. Shared by the cosine and dot backward references. */
function scoredItems(x: LossRefInput, r: number, dPos: Float64Array, dNeg: Float64Array): { e: number[]; out: Float64Array; at: number; off: number }[] {
  const { R, d } = x;
  const items = [{ e: rowOf(x.posEmb, r * d, d), out: dPos, at: r * d, off: 0 }];
  for (let j = 0; j < R; j++) {
    const slot = x.shared ? j : r * R + j;
    if (x.negIds[slot] !== x.posIds[r]) items.push({ e: rowOf(x.negEmb, slot * d, d), out: dNeg, at: slot * d, off: x.negLogitOffset?.[slot] ?? 0 });
  }
  return items;
}

/** Analytic gradient of dLoss·loss: chain rule through softmax-CE, the 1/τ scale, the cosine and
 *  the clamped L2 normalisation x̂ = x / max(‖x‖, eps) (dot: sampledSoftmaxDotBackwardRef). */
export function sampledSoftmaxBackwardRef(x: LossRefInput, dLoss = 1): GradRef {
  if (x.similarity === 'dot') return sampledSoftmaxDotBackwardRef(x, dLoss);
  const { P, R, d, temperature: tau, eps } = x;
  const dU = new Float64Array(P * d);
  const dPos = new Float64Array(P * d);
  const dNeg = new Float64Array((x.shared ? 1 : P) * R * d);
  let sw = 0;
  for (let r = 0; r < P; r++) sw += x.weights ? x.weights[r]! : 1;
  if (sw === 0) return { dU, dPos, dNeg };
  for (let r = 0; r < P; r++) {
    const w = x.weights ? x.weights[r]! : 1;
    if (w === 0) continue;
    const u = rowOf(x.u, r * d, d);
    const nuRaw = norm(u);
    const nu = Math.max(nuRaw, eps);
    const uh = u.map((v) => v / nu);
    // items: k = 0 positive, k = 1 + j negatives (unmasked only)
    const items = scoredItems(x, r, dPos, dNeg);
    const info = items.map(({ e }) => {
      const neRaw = norm(e);
      const ne = Math.max(neRaw, eps);
      const eh = e.map((v) => v / ne);
      return { neRaw, ne, eh, cos: dot(uh, eh) };
    });
    const logits = info.map((i, k) => i.cos / tau - items[k]!.off);
    const m = Math.max(...logits);
    const z = logits.reduce((s, l) => s + Math.exp(l - m), 0);
    const scale = (dLoss * w) / sw;
    const a = new Array<number>(d).fill(0);
    items.forEach((it, k) => {
      const p = Math.exp(logits[k]! - m) / z;
      const c = (scale * (p - (k === 0 ? 1 : 0))) / tau; // dL/dcos_k
      const { ne, neRaw, eh, cos } = info[k]!;
      for (let i = 0; i < d; i++) {
        a[i]! += c * eh[i]!;
        it.out[it.at + i]! += (c / ne) * (uh[i]! - (neRaw > eps ? cos * eh[i]! : 0));
      }
    });
    const ua = dot(uh, a);
    for (let i = 0; i < d; i++) dU[r * d + i] = (a[i]! - (nuRaw > eps ? ua * uh[i]! : 0)) / nu;
  }
  return { dU, dPos, dNeg };
}

/** Analytic gradient of dLoss·loss for dot logits l_k = (u·e_k)/τ − off_k: with
 *  c_k = dLoss·w/Σw · (p_k − [k = 0]) / τ (the gradient w.r.t. u·e_k),
 *  dL/du = Σ_k c_k e_k and dL/de_k = c_k u (masked slots and weight-0 rows: 0). */
function sampledSoftmaxDotBackwardRef(x: LossRefInput, dLoss: number): GradRef {
  const { P, R, d, temperature: tau } = x;
  const dU = new Float64Array(P * d);
  const dPos = new Float64Array(P * d);
  const dNeg = new Float64Array((x.shared ? 1 : P) * R * d);
  let sw = 0;
  for (let r = 0; r < P; r++) sw += x.weights ? x.weights[r]! : 1;
  if (sw === 0) return { dU, dPos, dNeg };
  for (let r = 0; r < P; r++) {
    const w = x.weights ? x.weights[r]! : 1;
    if (w === 0) continue;
    const u = rowOf(x.u, r * d, d);
    const items = scoredItems(x, r, dPos, dNeg);
    const logits = items.map(({ e, off }) => dot(u, e) / tau - off);
    const m = Math.max(...logits);
    const z = logits.reduce((s, l) => s + Math.exp(l - m), 0);
    const scale = (dLoss * w) / sw;
    items.forEach((it, k) => {
      const c = (scale * (Math.exp(logits[k]! - m) / z - (k === 0 ? 1 : 0))) / tau;
      for (let i = 0; i < d; i++) {
        dU[r * d + i]! += c * it.e[i]!;
        it.out[it.at + i]! += c * u[i]!;
      }
    });
  }
  return { dU, dPos, dNeg };
}
