// Float64 references for the row and column reductions, written from the math. Sums use
// Neumaier's compensated summation in float64, so the reference is exact to ~1e-16.

/** Σ xs (compensated, float64). */
export function sum64(xs: Iterable<number>): number {
  let s = 0, c = 0;
  for (const v of xs) {
    const t = s + v;
    c += Math.abs(s) >= Math.abs(v) ? s - t + v : v - t + s;
    s = t;
  }
  return s + c;
}

function* rowOf(x: ArrayLike<number>, r: number, cols: number): Generator<number> {
  for (let c = 0; c < cols; c++) yield x[r * cols + c]!;
}

export function rowSumRef(x: ArrayLike<number>, rows: number, cols: number): Float64Array {
  return Float64Array.from({ length: rows }, (_, r) => sum64(rowOf(x, r, cols)));
}

/** Per-row mean and population variance (two-pass: Σ(x − mean)² / cols). */
export function rowMeanVarRef(x: ArrayLike<number>, rows: number, cols: number): { mean: Float64Array; variance: Float64Array } {
  const mean = new Float64Array(rows), variance = new Float64Array(rows);
  for (let r = 0; r < rows; r++) {
    const m = sum64(rowOf(x, r, cols)) / cols;
    mean[r] = m;
    variance[r] = sum64(Array.from(rowOf(x, r, cols), (v) => (v - m) * (v - m))) / cols;
  }
  return { mean, variance };
}

export function columnSumRef(x: ArrayLike<number>, rows: number, cols: number): Float64Array {
  return Float64Array.from({ length: cols }, (_, c) => sum64(Array.from({ length: rows }, (_, r) => x[r * cols + c]!)));
}
