import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createGpu, type Gpu } from '../gpu/index.js';
import { silu } from '../elementwise/elementwise.js';
import { siluBackwardRef, siluRef } from '../elementwise/elementwise.ref.js';
import { splitColumns } from '../columns/columns.js';
import { columnBlockRef } from '../columns/columns.ref.js';
import { expectClose } from '../testing/compare.js';
import { poison } from '../testing/poison.js';
import { expectIsolatedWhere } from '../testing/nonfinite.js';
import { Rng } from '../testing/rng.js';
import { siluConcatBackward, siluSplit } from './silu_split.js';

let gpu: Gpu;
beforeAll(async () => (gpu = await createGpu()));
afterAll(() => gpu?.dispose());

const cases: [number, number[]][] = [[0, [2, 2, 3, 3]], [1, [1, 2, 3, 4]], [67, [5, 5, 3, 3]], [301, [25, 25, 25, 25]], [13, [0, 7, 1, 2]]];

describe('silu_split', () => {
  it.each(cases)('forward and backward match float64, rows=%i widths=%j', async (rows, widths) => {
    const rng = new Rng(1000 + rows);
    const cols = widths.reduce((a, b) => a + b, 0);
    const hData = rng.f32(rows * cols, -6, 6);
    const dData = widths.map((w) => rng.f32(rows * w));
    const h = gpu.f32(hData.length ? hData : [0], [Math.max(rows * cols, 1)], 'h');
    const outs = widths.map((w, i) => ({ t: gpu.empty([Math.max(rows * w, 1)], 'f32', `out${i}`), width: w }));
    const grads = widths.map((w, i) => ({ t: gpu.f32(dData[i]!.length ? dData[i]! : [0], [Math.max(rows * w, 1)], `g${i}`), width: w }));
    const dh = gpu.empty([Math.max(rows * cols, 1)], 'f32', 'dh');
    poison(gpu, dh, ...outs.map((o) => o.t));
    const rec = gpu.recorder();
    siluSplit(rec, h, rows, outs);
    siluConcatBackward(rec, h, grads, dh, rows);
    await rec.submit();
    const act = siluRef(hData);
    const dAct = new Float64Array(rows * cols);
    let col = 0;
    for (const [i, w] of widths.entries()) {
      const got = (await gpu.read(outs[i]!.t)).subarray(0, rows * w);
      expectClose(`block${i}`, got, columnBlockRef(act, rows, cols, col, w), { atol: 1e-6, rtol: 1e-5 });
      for (let r = 0; r < rows; r++) for (let c = 0; c < w; c++) dAct[r * cols + col + c] = dData[i]![r * w + c]!;
      col += w;
    }
    expectClose('dh', (await gpu.read(dh)).subarray(0, rows * cols), siluBackwardRef(hData, dAct), { atol: 1e-6, rtol: 1e-5 });
    [h, dh, ...outs.map((o) => o.t), ...grads.map((g) => g.t)].forEach((t) => t.release());
  });

  it('the backward reference is the derivative of SiLU (finite differences)', () => {
    const xs = [-5, -1.3, -0.2, 0, 0.7, 2.5, 6];
    const eps = 1e-6;
    const fd = xs.map((x) => (siluRef([x + eps])[0]! - siluRef([x - eps])[0]!) / (2 * eps));
    expectClose('fd', siluBackwardRef(xs, xs.map(() => 1)), fd, { atol: 1e-7, rtol: 1e-6 });
  });

  it('matches the unfused SiLU + splitColumns bit for bit', async () => {
    const rows = 129;
    const widths = [25, 25, 25, 25];
    const cols = 100;
    const h = gpu.f32(new Rng(5).f32(rows * cols, -8, 8), [rows, cols], 'h');
    const fused = widths.map((w, i) => ({ t: gpu.empty([rows, w], 'f32', `f${i}`), width: w }));
    const plain = widths.map((w, i) => ({ t: gpu.empty([rows, w], 'f32', `p${i}`), width: w }));
    const act = gpu.empty([rows, cols], 'f32', 'act');
    poison(gpu, act, ...fused.map((o) => o.t), ...plain.map((o) => o.t));
    const rec = gpu.recorder();
    siluSplit(rec, h, rows, fused);
    silu(rec, h, act);
    splitColumns(rec, act, rows, plain);
    await rec.submit();
    for (let i = 0; i < 4; i++) expectClose(`block${i}`, await gpu.read(fused[i]!.t), await gpu.read(plain[i]!.t), { atol: 0, rtol: 0 });
    [h, act, ...fused.map((o) => o.t), ...plain.map((o) => o.t)].forEach((t) => t.release());
  });

  it('NaN/±Inf in h: the same elements of the blocks and of dh are non-finite, the rest bit-identical', async () => {
    const rows = 9, widths = [3, 4, 2, 5], cols = 14;
    const rng = new Rng(17);
    const hData = rng.f32(rows * cols, -6, 6);
    const gData = widths.map((w) => rng.f32(rows * w));
    const bad = new Map([[2 * cols + 1, NaN], [4 * cols + 5, -Infinity], [7 * cols + 12, Infinity]]);
    const run = async (dirty: boolean) => {
      const h0 = Float32Array.from(hData);
      if (dirty) for (const [i, v] of bad) h0[i] = v;
      const h = gpu.f32(h0, [rows, cols], 'h');
      const outs = widths.map((w, i) => ({ t: gpu.empty([rows, w], 'f32', `out${i}`), width: w }));
      const grads = widths.map((w, i) => ({ t: gpu.f32(gData[i]!, [rows, w], `g${i}`), width: w }));
      const dh = gpu.empty([rows, cols], 'f32', 'dh');
      poison(gpu, dh, ...outs.map((o) => o.t));
      const rec = gpu.recorder();
      siluSplit(rec, h, rows, outs);
      siluConcatBackward(rec, h, grads, dh, rows);
      await rec.submit();
      // Reassemble the blocks into [rows, cols] to index them like h.
      const act = new Float32Array(rows * cols);
      let col = 0;
      for (const [i, w] of widths.entries()) {
        const got = await gpu.read(outs[i]!.t);
        for (let r = 0; r < rows; r++) for (let c = 0; c < w; c++) act[r * cols + col + c] = got[r * w + c]!;
        col += w;
      }
      const res = { act, dh: await gpu.read(dh) };
      [h, dh, ...outs.map((o) => o.t), ...grads.map((g) => g.t)].forEach((t) => t.release());
      return res;
    };
    const a = await run(false), b = await run(true);
    expectIsolatedWhere('silu blocks', b.act, a.act, (e) => bad.has(e) && e !== 7 * cols + 12 ? true : bad.has(e) ? 'any' : false);
    expect(b.act[7 * cols + 12]).toBe(Infinity); // SiLU(+Inf) = +Inf
    expectIsolatedWhere('dh', b.dh, a.dh, (e) => (bad.has(e) ? true : false));
  });

  it('rejects wrong block counts and undersized tensors with a hint', () => {
    const t = gpu.f32(new Float32Array(12), [3, 4]);
    const one = { t, width: 1 };
    expect(() => siluSplit(gpu.recorder(), t, 3, [one, one, one])).toThrow(/HINT/);
    expect(() => siluSplit(gpu.recorder(), t, 5, [one, one, one, one])).toThrow(/expected .* to hold 5×4/);
    t.release();
  });
});
