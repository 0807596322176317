import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createGpu, type Gpu } from '../gpu/index.js';
import { expectClose } from '../testing/compare.js';
import { poison } from '../testing/poison.js';
import { Rng } from '../testing/rng.js';
import { sumSquares, sumValues } from './sum_squares.js';

let gpu: Gpu;
beforeAll(async () => (gpu = await createGpu()));
afterAll(() => gpu?.dispose());

const ref = (x: ArrayLike<number>) => Array.from(x).reduce((s, v) => s + v * v, 0);

describe('sum_squares', () => {
  it('matches float64 on awkward sizes, one slot each; n = 0 gives 0; prefix n of a raw buffer', async () => {
    const sizes = [1, 7, 255, 257, 8193, 100003, 0, 4, 100004]; // n % 4 == 0 reads vec4s
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

  it('large tensors (split over workgroups): float64 to f32 accuracy, deterministic, NaN/Inf in any span', async () => {
    // 65,537 (two spans), 3,000,001 (256 spans of uneven fill) and back to back in one recorder,
    // so the shared partials buffer is reused between sums; 1,000,004 takes the vec4 reads.
    const sizes = [65_537, 3_000_001, 1_000_004];
    const rng = new Rng(9);
    const xs = sizes.map((n) => rng.f32(n, -2, 2));
    const bad: [number, number, number][] = [[1, 2_999_999, NaN], [1, 1_500_000, Infinity], [0, 65_536, -Infinity], [2, 0, NaN]];
    const xsBad = bad.map(([k, i, v]) => { const x = Float32Array.from(xs[k]!); x[i] = v; return x; });
    const all = [...xs, ...xs, ...xsBad];
    const out = gpu.empty([all.length], 'f32', 'out');
    poison(gpu, out);
    const ts = all.map((x) => gpu.f32(x, [x.length], 'x'));
    const rec = gpu.recorder();
    ts.forEach((t, k) => sumSquares(rec, t, out, k));
    await rec.submit();
    const got = await gpu.read(out);
    expectClose('sumsq large', got.subarray(0, sizes.length), xs.map(ref), { atol: 0, rtol: 1e-5 });
    const bits = new Uint32Array(got.buffer);
    for (let k = 0; k < sizes.length; k++) expect(bits[sizes.length + k]).toBe(bits[k]);
    expect(Array.from(got.subarray(2 * sizes.length), (v) => (Number.isNaN(v) ? 'NaN' : v))).toEqual(['NaN', Infinity, Infinity, 'NaN']);
    ts.forEach((t) => t.release());
    out.release();
  });

  it('sumValues: the plain sum, float64 to f32 accuracy at small and split sizes; NaN/Inf propagate', async () => {
    const sizes = [1, 7, 100_003, 3_000_001, 409_476];
    const rng = new Rng(12);
    const xs = sizes.map((n) => rng.f32(n, 0, 2));
    const bad = [Float32Array.from(xs[2]!), Float32Array.from(xs[3]!), Float32Array.from(xs[4]!)];
    bad[0]![50_000] = NaN;
    bad[1]![2_999_999] = Infinity;
    bad[2]![0] = NaN;
    const all = [...xs, ...bad];
    const out = gpu.empty([all.length], 'f32', 'out');
    poison(gpu, out);
    const ts = all.map((x) => gpu.f32(x, [x.length], 'x'));
    const rec = gpu.recorder();
    ts.forEach((t, k) => sumValues(rec, t, out, k));
    await rec.submit();
    const got = await gpu.read(out);
    const sum = (x: Float32Array) => x.reduce((s, v) => s + v, 0);
    expectClose('sum', got.subarray(0, sizes.length), xs.map(sum), { atol: 0, rtol: 1e-5 });
    expect(Array.from(got.subarray(sizes.length), (v) => (Number.isNaN(v) ? 'NaN' : v))).toEqual(['NaN', Infinity, 'NaN']);
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
