import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createGpu, type Gpu } from '../gpu/index.js';
import { expectClose } from '../testing/compare.js';
import { poison } from '../testing/poison.js';
import { Rng } from '../testing/rng.js';
import { concatColumns, copyColumns, splitColumns } from './columns.js';
import { columnBlockRef } from './columns.ref.js';

let gpu: Gpu;
beforeAll(async () => (gpu = await createGpu()));
afterAll(() => gpu?.dispose());

describe('columns', () => {
  it.each([[1, [1, 2, 3, 4]], [17, [5, 5, 3, 3]], [1000, [50, 50, 25, 25]], [3, [1]]])('split then concat round-trips, rows=%i widths=%j', async (rows, widths) => {
    const rng = new Rng(rows);
    const cols = widths.reduce((a, b) => a + b, 0);
    const data = rng.f32(rows * cols);
    const src = gpu.f32(data, [rows, cols]);
    const parts = widths.map((w, i) => ({ t: gpu.empty([rows, w], 'f32', `part${i}`), width: w }));
    const back = gpu.empty([rows, cols], 'f32', 'back');
    poison(gpu, back, ...parts.map((p) => p.t));
    const rec = gpu.recorder();
    splitColumns(rec, src, rows, parts);
    concatColumns(rec, parts, back, rows);
    await rec.submit();
    let col = 0;
    for (const [i, p] of parts.entries()) {
      expectClose(`part${i}`, await gpu.read(p.t), columnBlockRef(data, rows, cols, col, p.width), { atol: 0, rtol: 0 });
      col += p.width;
    }
    expectClose('roundtrip', await gpu.read(back), data, { atol: 0, rtol: 0 });
    [src, back, ...parts.map((p) => p.t)].forEach((t) => t.release());
  });

  it('rejects blocks outside the matrix', () => {
    const t = gpu.f32(new Float32Array(12), [3, 4]);
    expect(() => copyColumns(gpu.recorder(), { t, cols: 4, col: 3 }, { t, cols: 4, col: 0 }, 3, 2)).toThrow(/exceeds its 4 columns/);
    expect(() => copyColumns(gpu.recorder(), { t, cols: 4, col: 0 }, { t, cols: 4, col: 0 }, 5, 2)).toThrow(/expected src/);
    t.release();
  });
});
