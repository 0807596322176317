// Differentiable float64 ops for the reference tape. Matrices are row-major [rows, cols].
// Each op: forward value, then a closure adding d(loss)/d(parent) = J^T · g into parents that
// need a gradient. Written for clarity, not speed (the reference runs on tiny shapes).
import { Tensor } from './tape.js';

const F = Float64Array;

function node(data: Float64Array, shape: readonly number[], parents: Tensor[], bw: (g: Float64Array) => void): Tensor {
  return new Tensor(data, shape, parents, bw);
}

function dims2(t: Tensor, op: string): [number, number] {
  if (t.shape.length !== 2) throw new Error(`${op}: expected a 2-D tensor, got shape [${t.shape}]`);
  return [t.shape[0]!, t.shape[1]!];
}

function sameShape(a: Tensor, b: Tensor, op: string): void {
  if (a.shape.join() !== b.shape.join()) throw new Error(`${op}: expected equal shapes, got [${a.shape}] and [${b.shape}]`);
}

/** a [m, k] · b [k, n] → [m, n]. */
export function matmul(a: Tensor, b: Tensor): Tensor {
  const [m, k] = dims2(a, 'matmul'), [k2, n] = dims2(b, 'matmul');
  if (k !== k2) throw new Error(`matmul: expected inner dims to match, got [${a.shape}] · [${b.shape}]`);
  const y = new F(m * n);
  for (let i = 0; i < m; i++)
    for (let p = 0; p < k; p++) {
      const av = a.data[i * k + p]!;
      for (let j = 0; j < n; j++) y[i * n + j]! += av * b.data[p * n + j]!;
    }
  return node(y, [m, n], [a, b], (g) => {
    if (a.needsGrad) {
      const ga = a.gradBuf(); // g · bᵀ
      for (let i = 0; i < m; i++)
        for (let p = 0; p < k; p++) {
          let s = 0;
          for (let j = 0; j < n; j++) s += g[i * n + j]! * b.data[p * n + j]!;
          ga[i * k + p]! += s;
        }
    }
    if (b.needsGrad) {
      const gb = b.gradBuf(); // aᵀ · g
      for (let i = 0; i < m; i++)
        for (let p = 0; p < k; p++) {
          const av = a.data[i * k + p]!;
          for (let j = 0; j < n; j++) gb[p * n + j]! += av * g[i * n + j]!;
        }
    }
  });
}

export function transpose(a: Tensor): Tensor {
  const [m, n] = dims2(a, 'transpose');
  const y = new F(m * n);
  for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) y[j * m + i] = a.data[i * n + j]!;
  return node(y, [n, m], [a], (g) => {
    const ga = a.gradBuf();
    for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) ga[i * n + j]! += g[j * m + i]!;
  });
}

/** Elementwise op with derivative f'(x, y) in terms of input and output. */
function unary(a: Tensor, f: (x: number) => number, df: (x: number, y: number) => number): Tensor {
  const y = a.data.map(f);
  return node(y, a.shape, [a], (g) => {
    const ga = a.gradBuf();
    for (let i = 0; i < g.length; i++) ga[i]! += g[i]! * df(a.data[i]!, y[i]!);
  });
}

const sigmoid = (x: number): number => 1 / (1 + Math.exp(-x));
export const silu = (a: Tensor): Tensor =>
  unary(a, (x) => x * sigmoid(x), (x) => { const s = sigmoid(x); return s + x * s * (1 - s); });
export const relu = (a: Tensor): Tensor => unary(a, (x) => (x > 0 ? x : 0), (x) => (x > 0 ? 1 : 0));
export const exp = (a: Tensor): Tensor => unary(a, Math.exp, (_x, y) => y);
export const log = (a: Tensor): Tensor => unary(a, Math.log, (x) => 1 / x);
export const scale = (a: Tensor, s: number): Tensor => unary(a, (x) => x * s, () => s);

export function add(a: Tensor, b: Tensor): Tensor {
  sameShape(a, b, 'add');
  return node(a.data.map((v, i) => v + b.data[i]!), a.shape, [a, b], (g) => {
    if (a.needsGrad) { const ga = a.gradBuf(); for (let i = 0; i < g.length; i++) ga[i]! += g[i]!; }
    if (b.needsGrad) { const gb = b.gradBuf(); for (let i = 0; i < g.length; i++) gb[i]! += g[i]!; }
  });
}

export function mul(a: Tensor, b: Tensor): Tensor {
  sameShape(a, b, 'mul');
  return node(a.data.map((v, i) => v * b.data[i]!), a.shape, [a, b], (g) => {
    if (a.needsGrad) { const ga = a.gradBuf(); for (let i = 0; i < g.length; i++) ga[i]! += g[i]! * b.data[i]!; }
    if (b.needsGrad) { const gb = b.gradBuf(); for (let i = 0; i < g.length; i++) gb[i]! += g[i]! * a.data[i]!; }
  });
}

/** a [m, n] + row vector b [n] (bias). */
export function addRow(a: Tensor, b: Tensor): Tensor {
  const [m, n] = dims2(a, 'addRow');
  if (b.size !== n) throw new Error(`addRow: expected a vector of ${n}, got shape [${b.shape}]`);
  return node(a.data.map((v, i) => v + b.data[i % n]!), a.shape, [a, b], (g) => {
    if (a.needsGrad) { const ga = a.gradBuf(); for (let i = 0; i < g.length; i++) ga[i]! += g[i]!; }
    if (b.needsGrad) { const gb = b.gradBuf(); for (let i = 0; i < m * n; i++) gb[i % n]! += g[i]!; }
  });
}

/** a [m, n] ⊙ row vector b [n] (LayerNorm gamma). */
export function mulRow(a: Tensor, b: Tensor): Tensor {
  const [m, n] = dims2(a, 'mulRow');
  if (b.size !== n) throw new Error(`mulRow: expected a vector of ${n}, got shape [${b.shape}]`);
  return node(a.data.map((v, i) => v * b.data[i % n]!), a.shape, [a, b], (g) => {
    if (a.needsGrad) { const ga = a.gradBuf(); for (let i = 0; i < g.length; i++) ga[i]! += g[i]! * b.data[i % n]!; }
    if (b.needsGrad) { const gb = b.gradBuf(); for (let i = 0; i < m * n; i++) gb[i % n]! += g[i]! * a.data[i]!; }
  });
}

/** Per row: (x − mean) / sqrt(var + eps), biased variance, no affine. */
export function layerNorm(x: Tensor, eps: number): Tensor {
  const [m, n] = dims2(x, 'layerNorm');
  const y = new F(m * n), rstd = new F(m);
  for (let i = 0; i < m; i++) {
    let mu = 0, v = 0;
    for (let j = 0; j < n; j++) mu += x.data[i * n + j]!;
    mu /= n;
    for (let j = 0; j < n; j++) v += (x.data[i * n + j]! - mu) ** 2;
    rstd[i] = 1 / Math.sqrt(v / n + eps);
    for (let j = 0; j < n; j++) y[i * n + j] = (x.data[i * n + j]! - mu) * rstd[i]!;
  }
  return node(y, x.shape, [x], (g) => {
    // dx = rstd · (g − mean(g) − y · mean(g ⊙ y))
    const gx = x.gradBuf();
    for (let i = 0; i < m; i++) {
      let mg = 0, mgy = 0;
      for (let j = 0; j < n; j++) { mg += g[i * n + j]!; mgy += g[i * n + j]! * y[i * n + j]!; }
      mg /= n; mgy /= n;
      for (let j = 0; j < n; j++) gx[i * n + j]! += rstd[i]! * (g[i * n + j]! - mg - y[i * n + j]! * mgy);
    }
  });
}

/** Per row: x / max(‖x‖₂, eps). */
export function l2Normalize(x: Tensor, eps: number): Tensor {
  const [m, n] = dims2(x, 'l2Normalize');
  const y = new F(m * n), r = new F(m), clamped = new Uint8Array(m);
  for (let i = 0; i < m; i++) {
    let s = 0;
    for (let j = 0; j < n; j++) s += x.data[i * n + j]! ** 2;
    const norm = Math.sqrt(s);
    clamped[i] = norm > eps ? 0 : 1;
    r[i] = Math.max(norm, eps);
    for (let j = 0; j < n; j++) y[i * n + j] = x.data[i * n + j]! / r[i]!;
  }
  return node(y, x.shape, [x], (g) => {
    // dx = (g − y (g·y)) / r, or g / eps where the norm is clamped.
    const gx = x.gradBuf();
    for (let i = 0; i < m; i++) {
      let gy = 0;
      if (!clamped[i]) for (let j = 0; j < n; j++) gy += g[i * n + j]! * y[i * n + j]!;
      for (let j = 0; j < n; j++) gx[i * n + j]! += (g[i * n + j]! - y[i * n + j]! * gy) / r[i]!;
    }
  });
}

/** Rows idx of table [V, n] → [idx.length, n]; the backward scatter-adds (repeated rows sum). */
export function gatherRows(table: Tensor, idx: ArrayLike<number>): Tensor {
  const [rows, n] = dims2(table, 'gatherRows');
  const y = new F(idx.length * n);
  for (let r = 0; r < idx.length; r++) {
    const s = idx[r]!;
    if (!(Number.isInteger(s) && s >= 0 && s < rows)) throw new Error(`gatherRows: expected row indices in [0, ${rows}), got ${s} at ${r}`);
    y.set(table.data.subarray(s * n, s * n + n), r * n);
  }
  return node(y, [idx.length, n], [table], (g) => {
    const gt = table.gradBuf();
    for (let r = 0; r < idx.length; r++) for (let j = 0; j < n; j++) gt[idx[r]! * n + j]! += g[r * n + j]!;
  });
}

export function reshape(a: Tensor, shape: readonly number[]): Tensor {
  return node(a.data.slice(), shape, [a], (g) => {
    const ga = a.gradBuf();
    for (let i = 0; i < g.length; i++) ga[i]! += g[i]!;
  });
}

/** Rows [r0, r1) of a [m, n]. */
export function sliceRows(a: Tensor, r0: number, r1: number): Tensor {
  const [, n] = dims2(a, 'sliceRows');
  return node(a.data.slice(r0 * n, r1 * n), [r1 - r0, n], [a], (g) => {
    const ga = a.gradBuf();
    for (let i = 0; i < g.length; i++) ga[r0 * n + i]! += g[i]!;
  });
}

/** Columns [c0, c1) of a [m, n]. */
export function sliceCols(a: Tensor, c0: number, c1: number): Tensor {
  const [m, n] = dims2(a, 'sliceCols');
  const w = c1 - c0;
  const y = new F(m * w);
  for (let i = 0; i < m; i++) for (let j = 0; j < w; j++) y[i * w + j] = a.data[i * n + c0 + j]!;
  return node(y, [m, w], [a], (g) => {
    const ga = a.gradBuf();
    for (let i = 0; i < m; i++) for (let j = 0; j < w; j++) ga[i * n + c0 + j]! += g[i * w + j]!;
  });
}

/** Stack [m_k, n] tensors vertically → [Σ m_k, n] (an empty list gives [0, n]). */
export function concatRows(ts: readonly Tensor[], n: number): Tensor {
  for (const t of ts) if (dims2(t, 'concatRows')[1] !== n) throw new Error(`concatRows: expected ${n} columns, got [${t.shape}]`);
  const m = ts.reduce((s, t) => s + t.shape[0]!, 0);
  const y = new F(m * n);
  let off = 0;
  for (const t of ts) { y.set(t.data, off); off += t.size; }
  return node(y, [m, n], [...ts], (g) => {
    let o = 0;
    for (const t of ts) {
      if (t.needsGrad) { const gt = t.gradBuf(); for (let i = 0; i < t.size; i++) gt[i]! += g[o + i]!; }
      o += t.size;
    }
  });
}

/** Place [m, n_k] tensors side by side → [m, Σ n_k]. */
export function concatCols(ts: readonly Tensor[]): Tensor {
  if (ts.length === 0) throw new Error('concatCols: expected at least one tensor, got none');
  const m = dims2(ts[0]!, 'concatCols')[0];
  for (const t of ts) if (dims2(t, 'concatCols')[0] !== m) throw new Error(`concatCols: expected ${m} rows, got [${t.shape}]`);
  const w = ts.reduce((s, t) => s + t.shape[1]!, 0);
  const y = new F(m * w);
  let c0 = 0;
  for (const t of ts) {
    const n = t.shape[1]!;
    for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) y[i * w + c0 + j] = t.data[i * n + j]!;
    c0 += n;
  }
  return node(y, [m, w], [...ts], (g) => {
    let c = 0;
    for (const t of ts) {
      const n = t.shape[1]!;
      if (t.needsGrad) {
        const gt = t.gradBuf();
        for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) gt[i * n + j]! += g[i * w + c + j]!;
      }
      c += n;
    }
  });
}

/** Row sums of a [m, n] → [m]. */
export function sumRows(a: Tensor): Tensor {
  const [m, n] = dims2(a, 'sumRows');
  const y = new F(m);
  for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) y[i]! += a.data[i * n + j]!;
  return node(y, [m], [a], (g) => {
    const ga = a.gradBuf();
    for (let i = 0; i < m * n; i++) ga[i]! += g[Math.floor(i / n)]!;
  });
}

/** Sum of all elements → [1]. */
export function sum(a: Tensor): Tensor {
  return node(F.of(a.data.reduce((s, v) => s + v, 0)), [1], [a], (g) => {
    const ga = a.gradBuf();
    for (let i = 0; i < ga.length; i++) ga[i]! += g[0]!;
  });
}

/** Row softmax over the entries with keep[i] ≠ 0 (others output 0, get no gradient). */
export function softmaxRows(x: Tensor, keep?: ArrayLike<number>): Tensor {
  const [m, n] = dims2(x, 'softmaxRows');
  const y = new F(m * n);
  for (let i = 0; i < m; i++) {
    let mx = -Infinity;
    for (let j = 0; j < n; j++) if (!keep || keep[i * n + j]) mx = Math.max(mx, x.data[i * n + j]!);
    let s = 0;
    for (let j = 0; j < n; j++) if (!keep || keep[i * n + j]) s += (y[i * n + j] = Math.exp(x.data[i * n + j]! - mx));
    for (let j = 0; j < n; j++) y[i * n + j]! /= s || 1;
  }
  return node(y, x.shape, [x], (g) => {
    // dx = y ⊙ (g − Σ_j g_j y_j); masked y are 0 so they get 0.
    const gx = x.gradBuf();
    for (let i = 0; i < m; i++) {
      let gy = 0;
      for (let j = 0; j < n; j++) gy += g[i * n + j]! * y[i * n + j]!;
      for (let j = 0; j < n; j++) gx[i * n + j]! += y[i * n + j]! * (g[i * n + j]! - gy);
    }
  });
}

/** Row log-softmax over the entries with keep ≠ 0 (others output −∞, get no gradient). */
export function logSoftmaxRows(x: Tensor, keep?: ArrayLike<number>): Tensor {
  const [m, n] = dims2(x, 'logSoftmaxRows');
  const y = new F(m * n).fill(-Infinity), p = new F(m * n);
  for (let i = 0; i < m; i++) {
    let mx = -Infinity;
    for (let j = 0; j < n; j++) if (!keep || keep[i * n + j]) mx = Math.max(mx, x.data[i * n + j]!);
    let s = 0;
    for (let j = 0; j < n; j++) if (!keep || keep[i * n + j]) s += Math.exp(x.data[i * n + j]! - mx);
    const lse = mx + Math.log(s);
    for (let j = 0; j < n; j++)
      if (!keep || keep[i * n + j]) { y[i * n + j] = x.data[i * n + j]! - lse; p[i * n + j] = Math.exp(y[i * n + j]!); }
  }
  return node(y, x.shape, [x], (g) => {
    // dx_j = g_j − p_j Σ_k g_k over kept entries.
    const gx = x.gradBuf();
    for (let i = 0; i < m; i++) {
      let gs = 0;
      for (let j = 0; j < n; j++) if (!keep || keep[i * n + j]) gs += g[i * n + j]!;
      for (let j = 0; j < n; j++) if (!keep || keep[i * n + j]) gx[i * n + j]! += g[i * n + j]! - p[i * n + j]! * gs;
    }
  });
}
