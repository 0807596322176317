// Float64 references for the elementwise ops, written from the math.

export const sigmoid = (x: number): number => 1 / (1 + Math.exp(-x));

export function siluRef(x: ArrayLike<number>): Float64Array {
  return Float64Array.from(x, (v) => v * sigmoid(v));
}

/** d/dx [x σ(x)] = σ(x) + x σ(x)(1 − σ(x)). */
export function siluBackwardRef(x: ArrayLike<number>, dy: ArrayLike<number>): Float64Array {
  return Float64Array.from(x, (v, i) => {
    const s = sigmoid(v);
    return dy[i]! * (s + v * s * (1 - s));
  });
}

export function axpbyRef(alpha: number, a: ArrayLike<number>, beta: number, b: ArrayLike<number>): Float64Array {
  return Float64Array.from(a, (v, i) => alpha * v + beta * b[i]!);
}

/** lowbias32 (Chris Wellons): the counter-based RNG that defines our dropout masks. */
export function hash32(v: number): number {
  let x = v >>> 0;
  x ^= x >>> 16;
  x = Math.imul(x, 0x7feb352d) >>> 0;
  x ^= x >>> 15;
  x = Math.imul(x, 0x846ca68b) >>> 0;
  x ^= x >>> 16;
  return x >>> 0;
}

/** Element i is kept iff the top 24 bits of hash(i ^ hash(seed ^ golden)) ≥ p·2^24. */
export function dropoutKeep(i: number, seed: number, p: number): boolean {
  const r = hash32((i ^ hash32((seed ^ 0x9e3779b9) >>> 0)) >>> 0);
  return r >>> 8 >= Math.fround(p) * 16777216;
}

export function dropoutRef(x: ArrayLike<number>, p: number, seed: number): Float64Array {
  return Float64Array.from(x, (v, i) => (dropoutKeep(i, seed, p) ? v / (1 - p) : zeroed(v)));
}

/** What a dropped element becomes: 0, or NaN when it was not finite (NaN never turns into a number). */
export function zeroed(v: number): number {
  return Number.isFinite(v) ? 0 : NaN;
}
