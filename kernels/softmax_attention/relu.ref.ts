// Float64 reference for ReLU, written from the math.

export function reluRef(x: ArrayLike<number>): Float64Array {
  return Float64Array.from(x, (v) => Math.max(v, 0));
}

/** d/dx max(x, 0) = 1 for x > 0, 0 for x < 0 (0 chosen at x = 0); NaN where x is NaN. */
export function reluBackwardRef(x: ArrayLike<number>, dy: ArrayLike<number>): Float64Array {
  return Float64Array.from(x, (v, i) => (Number.isNaN(v) ? NaN : v > 0 ? dy[i]! : 0));
}
