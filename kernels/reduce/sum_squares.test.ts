import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createGpu, type Gpu } from '../gpu/index.js';
import { expectClose } from '../testing/compare.js';
import { poison } from '../testing/poison.js';
import { Rng } from '../testing/rng.js';
import { sumSquares } from './sum_squares.js';

let gpu: Gpu;
beforeAll(async () => (gpu = await createGpu()));
afterAll(() => gpu?.dispose());

const ref = (x: ArrayLike<number>) => Array.from(x).reduce((s, v) => s + v * v, 0);

describe('sum_squares', () => {
  it('matches float64 on awkward sizes, one slot each; n = 0 gives 0; prefix n of a raw buffer', async () => {
    const sizes = [1, 7, 255, 257, 8193, 100003, 0];
    const rng = new Rng(4);
    const xs = sizes.map((n) => rng.f32(n, -2, 2));
    const out = gpu.empty([sizes.length + 1], 'f32', 'out');
    poison(gpu, out);
    const ts = xs.map((x) => gpu.f32(x.length ? x : [0], [Math.max(x.length, 1)], 'x'));
    const rec = gpu.recorder();
    ts.forEach((t, k) => sumSquares(rec, t, out, k, sizes[k]));
    sumSquares(rec, ts[4]!.buffer, out, sizes.length, 100); // raw buffer, first 100 elements
    await rec.submit();
    const want = [...xs.map(ref), ref(xs[4]!.subarray(0, 100))];
    expectClose('sumsq', await gpu.read(out), want, { atol: 1e-6, rtol: 1e-5 });
    ts.forEach((t) => t.release());
    out.release();
  });

  it('is NaN with one NaN, +Inf with one ±Inf or an overflow, whatever the position', async () => {
    const n = 1000;
    const cases: [number, number][] = [[0, NaN], [999, NaN], [513, -Infinity], [7, Infinity], [42, 3e19]];
    const out = gpu.empty([cases.length], 'f32', 'out');
    poison(gpu, out);
    const rec = gpu.recorder();
    const ts = cases.map(([i, v]) => {
      const x = new Rng(i).f32(n);
      x[i] = v;
      const t = gpu.f32(x);
      sumSquares(rec, t, out, cases.indexOf(cases.find((c) => c[0] === i)!));
      return t;
    });
    await rec.submit();
    const got = Array.from(await gpu.read(out));
    expect(got.map((v) => (Number.isNaN(v) ? 'NaN' : v))).toEqual(['NaN', 'NaN', Infinity, Infinity, Infinity]);
    ts.forEach((t) => t.release());
    out.release();
  });

  it('rejects bad slots and counts', () => {
    const x = gpu.f32([1, 2]), out = gpu.empty([1], 'f32', 'out');
    expect(() => sumSquares(gpu.recorder(), x, out, 1)).toThrow(/slot/);
    expect(() => sumSquares(gpu.recorder(), x, out, 0, 3)).toThrow(/at most 2/);
    x.release();
    out.release();
  });
});
