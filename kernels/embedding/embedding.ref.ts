// Float64 references for embedding gather and scatter-add, written from the math.

/** out[i, c] = table[ids[i], c]. */
export function gatherRef(table: ArrayLike<number>, dim: number, ids: ArrayLike<number>): Float64Array {
  const out = new Float64Array(ids.length * dim);
  for (let i = 0; i < ids.length; i++) for (let c = 0; c < dim; c++) out[i * dim + c] = table[ids[i]! * dim + c]!;
  return out;
}

/** For each distinct id (ascending): the sum of the gradient rows of all positions holding it. */
export function scatterAddRef(ids: ArrayLike<number>, grads: ArrayLike<number>, dim: number): { uniqueRows: number[]; sums: Float64Array } {
  const acc = new Map<number, Float64Array>();
  for (let i = 0; i < ids.length; i++) {
    let row = acc.get(ids[i]!);
    if (!row) acc.set(ids[i]!, (row = new Float64Array(dim)));
    for (let c = 0; c < dim; c++) row[c]! += grads[i * dim + c]!;
  }
  const uniqueRows = [...acc.keys()].sort((a, b) => a - b);
  const sums = new Float64Array(uniqueRows.length * dim);
  uniqueRows.forEach((r, u) => sums.set(acc.get(r)!, u * dim));
  return { uniqueRows, sums };
}

/** Σ |grads| per output element: the scale of the rounding error of an f32 sum (tolerances). */
export function scatterAbsRef(ids: ArrayLike<number>, grads: ArrayLike<number>, dim: number): Float64Array {
  const abs = Array.from(grads, (g) => Math.abs(g));
  return scatterAddRef(ids, abs, dim).sums;
}
