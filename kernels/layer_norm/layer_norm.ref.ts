// Float64 references for layer norm and the fused HSTU gate, written from the math:
//   mean = Σ x / C,  var = Σ (x − mean)² / C,  rstd = 1/√(var + eps),  n = (x − mean)·rstd
//   layer norm: y = n·γ + β (or n);  gate: z = keep(i) ? u·n/(1 − p) : 0, i = r·C + c
// Backward, for a row with upstream gradient dn of n (dn = dy·γ, or g·u for the gate):
//   dx = rstd·(dn − mean_c(dn) − n·mean_c(dn·n)),  dγ = Σ_r dy·n,  dβ = Σ_r dy,
//   gate: g = keep(i) ? dz/(1 − p) : 0,  dU = g·n.
// The backward formulas are checked against central finite differences of the forward in the
// tests (float64).
import { dropoutKeep, zeroed } from '../elementwise/elementwise.ref.js';
import { sum64 } from '../reduce/reduce.ref.js';

export interface Stats {
  mean: Float64Array;
  rstd: Float64Array;
}

/** Per-row mean and rstd = 1/sqrt(var + eps) (population variance, two-pass). */
export function statsRef(x: ArrayLike<number>, rows: number, cols: number, eps: number): Stats {
  const mean = new Float64Array(rows), rstd = new Float64Array(rows);
  for (let r = 0; r < rows; r++) {
    const row = Array.from({ length: cols }, (_, c) => x[r * cols + c]!);
    const m = sum64(row) / cols;
    mean[r] = m;
    rstd[r] = 1 / Math.sqrt(sum64(row.map((v) => (v - m) ** 2)) / cols + eps);
  }
  return { mean, rstd };
}

export function layerNormRef(x: ArrayLike<number>, rows: number, cols: number, eps: number, gamma?: ArrayLike<number>, beta?: ArrayLike<number>): Stats & { y: Float64Array } {
  const s = statsRef(x, rows, cols, eps);
  const y = new Float64Array(rows * cols);
  for (let r = 0; r < rows; r++)
    for (let c = 0; c < cols; c++) {
      const n = (x[r * cols + c]! - s.mean[r]!) * s.rstd[r]!;
      y[r * cols + c] = gamma ? n * gamma[c]! + beta![c]! : n;
    }
  return { ...s, y };
}

/** dx for upstream dn (per element), given x: rstd·(dn − mean(dn) − n·mean(dn·n)) per row. */
function normBackward(x: ArrayLike<number>, dn: Float64Array, rows: number, cols: number, s: Stats): Float64Array {
  const dx = new Float64Array(rows * cols);
  for (let r = 0; r < rows; r++) {
    const n = Array.from({ length: cols }, (_, c) => (x[r * cols + c]! - s.mean[r]!) * s.rstd[r]!);
    const d = Array.from({ length: cols }, (_, c) => dn[r * cols + c]!);
    const m1 = sum64(d) / cols;
    const m2 = sum64(d.map((v, c) => v * n[c]!)) / cols;
    for (let c = 0; c < cols; c++) dx[r * cols + c] = s.rstd[r]! * (d[c]! - m1 - n[c]! * m2);
  }
  return dx;
}

export function layerNormBackwardRef(
  x: ArrayLike<number>, dy: ArrayLike<number>, rows: number, cols: number, eps: number, gamma?: ArrayLike<number>,
): { dx: Float64Array; dgamma: Float64Array; dbeta: Float64Array } {
  const s = statsRef(x, rows, cols, eps);
  const dn = Float64Array.from({ length: rows * cols }, (_, i) => dy[i]! * (gamma ? gamma[i % cols]! : 1));
  const dgamma = Float64Array.from({ length: cols }, (_, c) =>
    sum64(Array.from({ length: rows }, (_, r) => dy[r * cols + c]! * (x[r * cols + c]! - s.mean[r]!) * s.rstd[r]!)));
  const dbeta = Float64Array.from({ length: cols }, (_, c) => sum64(Array.from({ length: rows }, (_, r) => dy[r * cols + c]!)));
  return { dx: normBackward(x, dn, rows, cols, s), dgamma, dbeta };
}

export function gateRef(o: ArrayLike<number>, u: ArrayLike<number>, rows: number, cols: number, eps: number, p: number, seed: number): Stats & { z: Float64Array } {
  const { y, ...s } = layerNormRef(o, rows, cols, eps);
  const z = Float64Array.from(y, (n, i) => (dropoutKeep(i, seed, p) ? (u[i]! * n) / (1 - p) : zeroed(u[i]! * n)));
  return { ...s, z };
}

export function gateBackwardRef(
  o: ArrayLike<number>, u: ArrayLike<number>, dz: ArrayLike<number>, rows: number, cols: number, eps: number, p: number, seed: number,
): { dO: Float64Array; dU: Float64Array } {
  const { y: n, ...s } = layerNormRef(o, rows, cols, eps);
  const g = Float64Array.from({ length: rows * cols }, (_, i) => (dropoutKeep(i, seed, p) ? dz[i]! / (1 - p) : zeroed(dz[i]!)));
  const dU = Float64Array.from(g, (v, i) => v * n[i]!);
  const dn = Float64Array.from(g, (v, i) => v * u[i]!);
  return { dO: normBackward(o, dn, rows, cols, s), dU };
}
