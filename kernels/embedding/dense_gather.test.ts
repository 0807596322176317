import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createGpu, type Gpu } from '../gpu/index.js';
import { expectClose } from '../testing/compare.js';
import { poison } from '../testing/poison.js';
import { Rng } from '../testing/rng.js';
import { gatherDense } from './dense_gather.js';

let gpu: Gpu;
beforeAll(async () => (gpu = await createGpu()));
afterAll(() => gpu?.dispose());

describe('dense gather', () => {
  it.each([[1, 1, 1], [5, 3, 17], [200, 50, 2001]])('rows=%i dim=%i count=%i', async (rows, dim, count) => {
    const rng = new Rng(rows + dim);
    const table = rng.f32(rows * dim);
    const ids = Uint32Array.from({ length: count }, () => rng.int(0, rows - 1));
    const t = gpu.f32(table, [rows, dim]), i = gpu.u32(ids), out = gpu.empty([count, dim], 'f32', 'out');
    poison(gpu, out);
    const rec = gpu.recorder();
    gatherDense(rec, t, i, out, count, dim, ids);
    await rec.submit();
    const want = new Float64Array(count * dim);
    for (let r = 0; r < count; r++) for (let c = 0; c < dim; c++) want[r * dim + c] = table[ids[r]! * dim + c]!;
    expectClose('gather', await gpu.read(out), want, { atol: 0, rtol: 0 });
    [t, i, out].forEach((x) => x.release());
  });

  it('rejects out-of-range ids', () => {
    const t = gpu.f32([1, 2, 3, 4], [2, 2]), i = gpu.u32([0, 2]), out = gpu.empty([2, 2], 'f32', 'out');
    expect(() => gatherDense(gpu.recorder(), t, i, out, 2, 2, [0, 2])).toThrow(/expected ids < 2, got 2 at position 1/);
    [t, i, out].forEach((x) => x.release());
  });
});
