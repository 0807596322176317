// Float64 references for row-wise Adam and dense AdamW, written from the math (DESIGN §2).

export interface AdamRefOptions {
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
  step: number;
}

/** x rounded to the nearest bfloat16 (8 significant bits), ties to even; straight from float64. */
export function bf16Round(x: number): number {
  if (!Number.isFinite(x) || x === 0) return x;
  const a = Math.abs(x);
  let e = Math.floor(Math.log2(a));
  if (2 ** e > a) e--;
  if (2 ** (e + 1) <= a) e++;
  const ulp = 2 ** (e - 7);
  const q = a / ulp;
  let r = Math.floor(q);
  const frac = q - r;
  if (frac > 0.5 || (frac === 0.5 && r % 2 === 1)) r++;
  return Math.sign(x) * r * ulp;
}

/**
 * One row-wise Adam step in place on `w`, `m` (rows × dim) and `v` (rows) for the rows in
 * `touched`, whose summed gradient rows are `grads` ([touched.length, dim]):
 *   m = β1·m + (1−β1)·g;  v = β2·v + (1−β2)·mean(g²);  w −= lr·( (m/(1−β1^t)) / (sqrt(v/(1−β2^t)) + eps) + wd·w ).
 * With `bf16`, the stored new m and new w are rounded to bf16 (the update uses the unrounded m).
 */
export function rowwiseAdamRef(
  w: Float64Array, m: Float64Array, v: Float64Array, dim: number,
  touched: ArrayLike<number>, grads: ArrayLike<number>, o: AdamRefOptions, bf16 = false,
): void {
  const bc1 = 1 - o.beta1 ** o.step, bc2 = 1 - o.beta2 ** o.step;
  const store = bf16 ? bf16Round : (x: number) => x;
  for (let u = 0; u < touched.length; u++) {
    const r = touched[u]!;
    let meanSq = 0;
    for (let c = 0; c < dim; c++) meanSq += grads[u * dim + c]! ** 2;
    meanSq /= dim;
    v[r] = o.beta2 * v[r]! + (1 - o.beta2) * meanSq;
    const denom = Math.sqrt(v[r]! / bc2) + o.eps;
    for (let c = 0; c < dim; c++) {
      const i = r * dim + c;
      const mNew = o.beta1 * m[i]! + (1 - o.beta1) * grads[u * dim + c]!;
      const wNew = w[i]! - o.lr * (mNew / bc1 / denom + o.weightDecay * w[i]!);
      m[i] = store(mNew);
      w[i] = store(wNew);
    }
  }
}

/** One dense AdamW step in place (PyTorch's AdamW: decoupled weight decay). */
export function adamWRef(w: Float64Array, g: ArrayLike<number>, m: Float64Array, v: Float64Array, o: AdamRefOptions): void {
  const bc1 = 1 - o.beta1 ** o.step, bc2 = 1 - o.beta2 ** o.step;
  for (let i = 0; i < w.length; i++) {
    m[i] = o.beta1 * m[i]! + (1 - o.beta1) * g[i]!;
    v[i] = o.beta2 * v[i]! + (1 - o.beta2) * g[i]! ** 2;
    w[i] = w[i]! - o.lr * (m[i]! / bc1 / (Math.sqrt(v[i]! / bc2) + o.eps) + o.weightDecay * w[i]!);
  }
}
