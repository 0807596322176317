import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createGpu, type Gpu } from '../gpu/index.js';
import { expectClose } from '../testing/compare.js';
import { poison } from '../testing/poison.js';
import { Rng } from '../testing/rng.js';
import { columnSum, rowMeanVar, rowSum } from './reduce.js';
import { columnSumRef, rowMeanVarRef, rowSumRef, sum64 } from './reduce.ref.js';

let gpu: Gpu;
beforeAll(async () => {
  gpu = await createGpu();
});
afterAll(() => gpu?.dispose());

const COLS = [1, 7, 255, 257, 4099, 100000];
const ROWS = [1, 3, 1000];
// Keep the test fast: 1000 × 100000 is 400 MB; that pair runs with rows 3 only.
const CASES = ROWS.flatMap((rows) => COLS.filter((cols) => rows * cols <= 5_000_000).map((cols) => [rows, cols] as const));
const LAYOUTS = ['lane', 'workgroup'] as const;

describe('reduce', () => {
  it.each(CASES)('rowSum, rowMeanVar, columnSum: rows=%i cols=%i', async (rows, cols) => {
    const rng = new Rng(rows * 100003 + cols);
    // An offset mean (3) with unit-scale noise: a naive Σx² − (Σx)² variance would lose digits.
    const xs = rng.f32(rows * cols, 2, 4);
    const x = gpu.f32(xs, [rows, cols], 'x');
    const s = gpu.empty([rows], 'f32', 'sum'), m = gpu.empty([rows], 'f32', 'mean'), v = gpu.empty([rows], 'f32', 'var');
    const cs = gpu.empty([cols], 'f32', 'colsum');
    poison(gpu, s, m, v, cs);
    const rec = gpu.recorder();
    columnSum(rec, x, cs, { rows, cols });
    await rec.submit();
    expectClose('columnSum', await gpu.read(cs), columnSumRef(xs, rows, cols), { atol: 1e-5, rtol: 2e-6 });
    const ref = rowMeanVarRef(xs, rows, cols);
    for (const layout of LAYOUTS) {
      poison(gpu, s, m, v);
      const r2 = gpu.recorder();
      rowSum(r2, x, s, { rows, cols, layout });
      rowMeanVar(r2, x, m, v, { rows, cols, layout });
      await r2.submit();
      expectClose(`rowSum ${layout}`, await gpu.read(s), rowSumRef(xs, rows, cols), { atol: 1e-5, rtol: 2e-6 });
      expectClose(`mean ${layout}`, await gpu.read(m), ref.mean, { atol: 1e-6, rtol: 2e-6 });
      expectClose(`variance ${layout}`, await gpu.read(v), ref.variance, { atol: 1e-7, rtol: 1e-5 });
    }
    [x, s, m, v, cs].forEach((t) => t.release());
  });

  it('column sum over many rows (two stages) and zero rows', async () => {
    for (const rows of [257, 20011, 0]) {
      const cols = 5;
      const xs = new Rng(rows).f32(rows * cols);
      const x = gpu.f32(xs, [rows, cols], 'x'), cs = gpu.empty([cols], 'f32', 'colsum');
      poison(gpu, cs);
      const rec = gpu.recorder();
      columnSum(rec, x, cs, { rows, cols });
      await rec.submit();
      expectClose(`columnSum rows=${rows}`, await gpu.read(cs), columnSumRef(xs, rows, cols), { atol: 1e-5, rtol: 1e-5 });
      [x, cs].forEach((t) => t.release());
    }
  });

  it('variance stays accurate for a large offset mean (1e4 + tiny noise)', async () => {
    const rows = 2, cols = 100000;
    const rng = new Rng(5);
    const xs = Float32Array.from({ length: rows * cols }, () => 1e4 + rng.uniform(-0.01, 0.01));
    const x = gpu.f32(xs, [rows, cols], 'x'), m = gpu.empty([rows], 'f32', 'mean'), v = gpu.empty([rows], 'f32', 'var');
    const ref = rowMeanVarRef(xs, rows, cols);
    for (const layout of LAYOUTS) {
      poison(gpu, m, v);
      const rec = gpu.recorder();
      rowMeanVar(rec, x, m, v, { rows, cols, layout });
      await rec.submit();
      expectClose(`mean ${layout}`, await gpu.read(m), ref.mean, { atol: 0, rtol: 1e-7 });
      // Spread 0.01 around 1e4: f32 spacing there is ~1e-3, so var is ~3e-5 and a one-pass
      // formula would return garbage (even negative numbers).
      expectClose(`variance ${layout}`, await gpu.read(v), ref.variance, { atol: 0, rtol: 1e-3 });
    }
    [x, m, v].forEach((t) => t.release());
  });

  it('compensated float64 reference sums are exact on a cancelling series', () => {
    expect(sum64([1e16, 1, -1e16])).toBe(1);
    expect(rowSumRef([1, 2, 3, 4, 5, 6], 2, 3)).toEqual(Float64Array.from([6, 15]));
    expect(columnSumRef([1, 2, 3, 4, 5, 6], 2, 3)).toEqual(Float64Array.from([5, 7, 9]));
    const { mean, variance } = rowMeanVarRef([1, 2, 3, 4], 1, 4);
    expect(mean[0]).toBe(2.5);
    expect(variance[0]).toBe(1.25);
  });

  it('rejects bad shapes with clear errors', () => {
    const x = gpu.f32(new Float32Array(6), [2, 3], 'x'), o = gpu.empty([3], 'f32', 'o');
    const rec = gpu.recorder();
    expect(() => rowSum(rec, x, o, { rows: 2, cols: 3 })).toThrow(/expected 2×1 = 2 elements in o, got 3/);
    expect(() => rowSum(rec, x, o, { rows: 3, cols: 3 })).toThrow(/expected 3×3 = 9 elements in x, got 6/);
    expect(() => columnSum(rec, x, o, { rows: 2, cols: 0 })).toThrow(/expected cols ≥ 1/);
    expect(() => columnSum(rec, x, x, { rows: 1, cols: 6 })).toThrow(/expected 1×6|distinct/);
    [x, o].forEach((t) => t.release());
  });
});
