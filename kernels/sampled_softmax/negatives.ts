// Host-side negative sampling, the production definition that training draws from (the GPU
// `sample` kernel in sampled_softmax.wgsl computes the same ids, and the float64 reference file
// imports these rather than defining its own). Counter-based and stateless, so a step's draw
// depends only on (seed, row, slot):
//   s = hash32(seed ^ 0x85ebca6b),  neg[r, j] = hash32(j ^ hash32(r ^ s)) mod numItems
// hash32 = lowbias32, as in kernels/elementwise. The mod has a bias ≤ numItems / 2^32.

/** lowbias32 (the project's RNG hash). */
export function hash32(v: number): number {
  let x = v >>> 0;
  x ^= x >>> 16;
  x = Math.imul(x, 0x7feb352d) >>> 0;
  x ^= x >>> 15;
  x = Math.imul(x, 0x846ca68b) >>> 0;
  x ^= x >>> 16;
  return x >>> 0;
}

function checkCounts(op: string, P: number, R: number, numItems: number): void {
  if (!Number.isInteger(numItems) || numItems < 1 || numItems > 0xffffffff) throw new Error(`${op}: expected 1 ≤ numItems < 2^32, got ${numItems}`);
  if (!Number.isInteger(P) || P < 0) throw new Error(`${op}: expected an integer P ≥ 0, got ${P}`);
  if (!Number.isInteger(R) || R < 1) throw new Error(`${op}: expected an integer R ≥ 1, got ${R}`);
}

/** Per-row negatives [P, R] (row-major), uniform over [0, numItems). */
export function sampleNegativeIds(P: number, R: number, numItems: number, seed: number): Uint32Array {
  checkCounts('sampleNegativeIds', P, R, numItems);
  const out = new Uint32Array(P * R);
  const s = hash32((seed ^ 0x85ebca6b) >>> 0);
  for (let r = 0; r < P; r++) {
    const hr = hash32((r ^ s) >>> 0);
    for (let j = 0; j < R; j++) out[r * R + j] = hash32((j ^ hr) >>> 0) % numItems;
  }
  return out;
}

/** One set of R negatives for all rows: row 0 of sampleNegativeIds. */
export function sharedNegativeIds(seed: number, R: number, numItems: number): Uint32Array {
  checkCounts('sharedNegativeIds', 1, R, numItems);
  return sampleNegativeIds(1, R, numItems, seed);
}

/** Per-row draws of R indices into a pool of `poolSize` entries ([P, R], uniform with
 *  replacement), from a stream independent of sampleNegativeIds' for the same seed. */
export function samplePoolIndices(P: number, R: number, poolSize: number, seed: number): Uint32Array {
  checkCounts('samplePoolIndices', P, R, poolSize);
  return sampleNegativeIds(P, R, poolSize, (seed ^ 0x9e3779b9) >>> 0);
}
