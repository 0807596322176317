import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createGpu, type Gpu } from '../gpu/index.js';
import { expectClose } from '../testing/compare.js';
import { poison } from '../testing/poison.js';
import { Rng } from '../testing/rng.js';
import { relu, reluBackward } from './relu.js';
import { reluBackwardRef, reluRef } from './relu.ref.js';

let gpu: Gpu;
beforeAll(async () => {
  gpu = await createGpu();
});
afterAll(() => gpu?.dispose());

describe('relu', () => {
  it.each([1, 7, 255, 257, 1000, 65537])('forward and backward, n=%i', async (n) => {
    const rng = new Rng(n + 5);
    const xs = rng.f32(n, -3, 3);
    xs[0] = 0; // the kink: y = 0, dx = 0
    if (n > 1) xs[1] = -0;
    const dys = rng.f32(n);
    const x = gpu.f32(xs), dy = gpu.f32(dys), y = gpu.empty([n], 'f32', 'y'), dx = gpu.empty([n], 'f32', 'dx');
    poison(gpu, y, dx);
    const rec = gpu.recorder();
    relu(rec, x, y);
    reluBackward(rec, x, dy, dx);
    await rec.submit();
    expectClose('relu', await gpu.read(y), reluRef(xs), { atol: 0, rtol: 0 });
    expectClose('relu_bwd', await gpu.read(dx), reluBackwardRef(xs, dys), { atol: 0, rtol: 0 });
    [x, dy, y, dx].forEach((t) => t.release());
  });

  it('NaN propagates (forward and backward); ±Inf follow the math; other elements unchanged', async () => {
    const xs = Float32Array.of(NaN, -Infinity, Infinity, 1, -1, 0);
    const dys = Float32Array.of(2, 3, 4, 5, 6, 7);
    const n = xs.length;
    const x = gpu.f32(xs), dy = gpu.f32(dys), y = gpu.empty([n], 'f32', 'y'), dx = gpu.empty([n], 'f32', 'dx');
    const rec = gpu.recorder();
    relu(rec, x, y);
    reluBackward(rec, x, dy, dx);
    await rec.submit();
    const ys = await gpu.read(y), dxs = await gpu.read(dx);
    expect(Array.from(ys)).toEqual([NaN, 0, Infinity, 1, 0, 0]);
    expect(Array.from(dxs)).toEqual([NaN, 0, 4, 5, 0, 0]);
    expect(Array.from(reluRef(xs))).toEqual([NaN, 0, Infinity, 1, 0, 0]);
    expect(Array.from(reluBackwardRef(xs, dys))).toEqual([NaN, 0, 4, 5, 0, 0]);
    [x, dy, y, dx].forEach((t) => t.release());
  });

  it('backward reference matches central finite differences away from 0', () => {
    const rng = new Rng(9);
    for (let i = 0; i < 50; i++) {
      let x = rng.uniform(-3, 3);
      if (Math.abs(x) < 0.01) x += 0.1;
      const h = 1e-6;
      const fd = (reluRef([x + h])[0]! - reluRef([x - h])[0]!) / (2 * h);
      expect(Math.abs(reluBackwardRef([x], [1])[0]! - fd)).toBeLessThan(1e-8);
    }
  });

  it('rejects mismatched sizes and aliasing', () => {
    const a = gpu.f32([1, 2, 3]), b = gpu.f32([1, 2]);
    const rec = gpu.recorder();
    expect(() => relu(rec, a, b)).toThrow(/expected 3 elements in y, got 2/);
    expect(() => reluBackward(rec, a, b, a)).toThrow(/expected 3 elements in dy, got 2/);
    expect(() => reluBackward(rec, a, a, a)).toThrow(/not to alias/);
    a.release();
    b.release();
  });
});
