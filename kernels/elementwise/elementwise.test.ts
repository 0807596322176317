import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createGpu, type Gpu } from '../gpu/index.js';
import { expectClose } from '../testing/compare.js';
import { poison } from '../testing/poison.js';
import { expectIsolatedWhere } from '../testing/nonfinite.js';
import { Rng } from '../testing/rng.js';
import { add, axpby, dropout, fill, scale, silu, siluBackward } from './elementwise.js';
import { axpbyRef, dropoutRef, siluBackwardRef, siluRef } from './elementwise.ref.js';

let gpu: Gpu;
beforeAll(async () => {
  gpu = await createGpu();
});
afterAll(() => gpu?.dispose());

const SIZES = [1, 7, 255, 257, 1000, 65537];

describe('elementwise', () => {
  it.each(SIZES)('silu forward and backward, n=%i', async (n) => {
    const rng = new Rng(n);
    const xs = rng.f32(n, -8, 8);
    const dys = rng.f32(n);
    const x = gpu.f32(xs), dy = gpu.f32(dys), y = gpu.empty([n], 'f32', 'y'), dx = gpu.empty([n], 'f32', 'dx');
    poison(gpu, y, dx);
    const rec = gpu.recorder();
    silu(rec, x, y);
    siluBackward(rec, x, dy, dx);
    await rec.submit();
    expectClose('silu', await gpu.read(y), siluRef(xs), { atol: 1e-6, rtol: 1e-5 });
    expectClose('silu_bwd', await gpu.read(dx), siluBackwardRef(xs, dys), { atol: 1e-6, rtol: 1e-5 });
    [x, dy, y, dx].forEach((t) => t.release());
  });

  it('silu backward reference matches central finite differences', () => {
    const rng = new Rng(3);
    for (let k = 0; k < 50; k++) {
      const x = rng.uniform(-6, 6), h = 1e-6;
      const fd = (siluRef([x + h])[0]! - siluRef([x - h])[0]!) / (2 * h);
      expect(Math.abs(siluBackwardRef([x], [1])[0]! - fd)).toBeLessThan(1e-8);
    }
  });

  it.each(SIZES)('add, scale, axpby, n=%i', async (n) => {
    const rng = new Rng(100 + n);
    const as = rng.f32(n), bs = rng.f32(n);
    const a = gpu.f32(as), b = gpu.f32(bs);
    const y1 = gpu.empty([n], 'f32', 'y1'), y2 = gpu.empty([n], 'f32', 'y2'), y3 = gpu.empty([n], 'f32', 'y3');
    poison(gpu, y1, y2, y3);
    const rec = gpu.recorder();
    add(rec, a, b, y1);
    scale(rec, a, -2.5, y2);
    axpby(rec, 0.3, a, -1.7, b, y3);
    await rec.submit();
    expectClose('add', await gpu.read(y1), axpbyRef(1, as, 1, bs));
    expectClose('scale', await gpu.read(y2), axpbyRef(-2.5, as, 0, bs));
    expectClose('axpby', await gpu.read(y3), axpbyRef(0.3, as, -1.7, bs));
    [a, b, y1, y2, y3].forEach((t) => t.release());
  });

  it.each([[0, 1], [0.1, 7], [0.5, 12345], [0.9, 99]])('dropout p=%f seed=%i: exact mask, same in backward', async (p, seed) => {
    const n = 10007;
    const rng = new Rng(seed);
    const xs = rng.f32(n), dys = rng.f32(n);
    const x = gpu.f32(xs), dy = gpu.f32(dys), y = gpu.empty([n], 'f32', 'y'), dx = gpu.empty([n], 'f32', 'dx');
    poison(gpu, y, dx);
    const rec = gpu.recorder();
    dropout(rec, x, y, p, seed);
    dropout(rec, dy, dx, p, seed);
    await rec.submit();
    const got = await gpu.read(y);
    expectClose('dropout', got, dropoutRef(xs, p, seed));
    expectClose('dropout_bwd', await gpu.read(dx), dropoutRef(dys, p, seed));
    const kept = got.filter((v) => v !== 0).length / n;
    expect(Math.abs(kept - (1 - p))).toBeLessThan(0.03);
    [x, dy, y, dx].forEach((t) => t.release());
  });

  it.each([1, 300, 70001])('fill, n=%i', async (n) => {
    const y = gpu.empty([n], 'f32', 'y');
    poison(gpu, y);
    const rec = gpu.recorder();
    fill(rec, y, -1.25);
    await rec.submit();
    expectClose('fill', await gpu.read(y), new Float64Array(n).fill(-1.25), { atol: 0, rtol: 0 });
    y.release();
  });

  it('rejects mismatched shapes and bad p', () => {
    const a = gpu.f32([1, 2, 3]), b = gpu.f32([1, 2]);
    const rec = gpu.recorder();
    expect(() => add(rec, a, b, a)).toThrow(/expected 3 elements/);
    expect(() => dropout(rec, a, a, 1, 0)).toThrow(/0 ≤ p < 1/);
    a.release();
    b.release();
  });
});

describe('elementwise: non-finite inputs', () => {
  // NaN/±Inf at a few elements (including dropped ones): those outputs are non-finite where the
  // math is (silu(−Inf) = −Inf·0 is NaN; dropout of a dropped NaN is NaN, not 0), every other
  // element bit-identical to the clean run.
  it('silu, silu_bwd, dropout (p 0.5), axpby', async () => {
    const n = 300, p = 0.5, seed = 99;
    const rng = new Rng(8);
    const xs = rng.f32(n, -4, 4), bs = rng.f32(n);
    const mask = dropoutRef(new Float64Array(n).fill(1), p, seed);
    const droppedIdx = [...mask.keys()].filter((i) => mask[i] === 0).slice(0, 3);
    const keptIdx = [...mask.keys()].filter((i) => mask[i] !== 0).slice(0, 2);
    const bad = [...droppedIdx, ...keptIdx];
    const vals = [NaN, Infinity, -Infinity, NaN, -Infinity];
    const run = async (dirty: boolean) => {
      const x0 = Float32Array.from(xs);
      if (dirty) bad.forEach((i, k) => { x0[i] = vals[k]!; });
      const x = gpu.f32(x0), b = gpu.f32(bs), outs = ['silu', 'bwd', 'drop', 'axpby'].map((l) => gpu.empty([n], 'f32', l));
      poison(gpu, ...outs);
      const rec = gpu.recorder();
      silu(rec, x, outs[0]!);
      siluBackward(rec, b, x, outs[1]!); // the non-finite values as the incoming gradient
      dropout(rec, x, outs[2]!, p, seed);
      axpby(rec, 0.5, x, 2, b, outs[3]!);
      await rec.submit();
      const res = await Promise.all(outs.map((t) => gpu.read(t)));
      [x, b, ...outs].forEach((t) => t.release());
      return res;
    };
    const a = await run(false), d = await run(true);
    const isBad = (e: number) => bad.includes(e);
    // silu(+Inf) = +Inf, silu(−Inf) = NaN: every injected element non-finite.
    ['silu', 'silu_bwd', 'dropout', 'axpby'].forEach((name, k) => expectIsolatedWhere(name, d[k]!, a[k]!, isBad));
    expect(Array.from(dropoutRef(Float32Array.of(NaN, 1), 0.999999, 1))).toEqual([NaN, 0]);
  });
});
