// Float64 reference: the column block of a row-major matrix.

export function columnBlockRef(src: ArrayLike<number>, rows: number, cols: number, col: number, width: number): Float64Array {
  const out = new Float64Array(rows * width);
  for (let r = 0; r < rows; r++) for (let c = 0; c < width; c++) out[r * width + c] = src[r * cols + col + c]!;
  return out;
}
