import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createGpu, type Gpu, type Tensor } from '../gpu/index.js';
import { dropout } from '../elementwise/elementwise.js';
import { expectClose } from '../testing/compare.js';
import { poison } from '../testing/poison.js';
import { expectIsolated, expectIsolatedWhere } from '../testing/nonfinite.js';
import { dropoutRef } from '../elementwise/elementwise.ref.js';
import { Rng } from '../testing/rng.js';
import { gateBackward, gateForward, layerNorm, layerNormBackward } from './layer_norm.js';
import { gateBackwardRef, gateRef, layerNormBackwardRef, layerNormRef } from './layer_norm.ref.js';

let gpu: Gpu;
beforeAll(async () => {
  gpu = await createGpu();
});
afterAll(() => gpu?.dispose());

const EPS = 1e-6;
const ROWS = [1, 5, 300];
const COLS = [1, 2, 50, 64, 257];
// Both row layouts (one lane per row, one workgroup per row) on every shape.
const CASES = ROWS.flatMap((r) => COLS.flatMap((c) => (['lane', 'workgroup'] as const).map((l) => [r, c, l] as const)));
const TOL = { atol: 2e-5, rtol: 1e-4 };
/** dx = rstd·(dn − mean(dn) − n·mean(dn·n)): its f32 rounding error is rstd times that of the
 *  bracket (up to 1000 for near-constant rows, eps 1e-6), so compare dx/rstd per row, i.e. the
 *  error relative to the row's gradient scale. rstd is the float64 reference's. */
const perRstd = (v: ArrayLike<number>, rstd: ArrayLike<number>, cols: number) => Float64Array.from({ length: v.length }, (_, i) => v[i]! / rstd[Math.floor(i / cols)]!);

describe('layer norm and HSTU gate on the GPU', () => {
  it.each(CASES)('rows=%i cols=%i layout=%s: layerNorm (plain, affine) and gate (p 0, 0.2), forward and backward', async (rows, cols, layout) => {
    const rng = new Rng(rows * 1009 + cols);
    const n = rows * cols;
    const xs = rng.f32(n, -2, 3), us = rng.f32(n), dys = rng.f32(n), gs = rng.f32(cols, 0.5, 1.5), bs = rng.f32(cols);
    const seed = rng.int(0, 0xffffffff);
    const x = gpu.f32(xs, [rows, cols], 'x'), u = gpu.f32(us, [rows, cols], 'u'), dy = gpu.f32(dys, [rows, cols], 'dy');
    const gamma = gpu.f32(gs, [cols], 'gamma'), beta = gpu.f32(bs, [cols], 'beta');
    const mat = (label: string) => gpu.empty([rows, cols], 'f32', label);
    const vec = (len: number, label: string) => gpu.empty([len], 'f32', label);
    const outs: Record<string, Tensor> = {};
    for (const v of ['y0', 'y1', 'dx0', 'dx1', 'z0', 'z1', 'dO0', 'dO1', 'dU0', 'dU1']) outs[v] = mat(v);
    for (const v of ['m0', 'r0', 'm1', 'r1', 'gm0', 'gr0', 'gm1', 'gr1']) outs[v] = vec(rows, v);
    for (const v of ['dgamma', 'dbeta']) outs[v] = vec(cols, v);
    const o = outs as Record<string, Tensor>;
    poison(gpu, ...Object.values(o));

    const rec = gpu.recorder();
    layerNorm(rec, x, o.y0!, { rows, cols, layout, saveStats: { mean: o.m0!, rstd: o.r0! } });
    layerNorm(rec, x, o.y1!, { rows, cols, layout, eps: EPS, gamma, beta, saveStats: { mean: o.m1!, rstd: o.r1! } });
    layerNormBackward(rec, x, dy, o.dx0!, { rows, cols, layout, mean: o.m0!, rstd: o.r0! });
    layerNormBackward(rec, x, dy, o.dx1!, { rows, cols, layout, gamma, mean: o.m1!, rstd: o.r1!, dgamma: o.dgamma!, dbeta: o.dbeta! });
    [0, 0.2].forEach((p, k) => {
      const mean = o[`gm${k}`]!, rstd = o[`gr${k}`]!;
      gateForward(rec, x, u, o[`z${k}`]!, { rows, cols, layout, dropoutP: p, seed, saveStats: { mean, rstd } });
      gateBackward(rec, x, u, dy, o[`dO${k}`]!, o[`dU${k}`]!, { rows, cols, layout, dropoutP: p, seed, mean, rstd });
    });
    await rec.submit();

    const plain = layerNormRef(xs, rows, cols, EPS);
    const affine = layerNormRef(xs, rows, cols, EPS, gs, bs);
    expectClose('y', await gpu.read(o.y0!), plain.y, TOL);
    expectClose('y affine', await gpu.read(o.y1!), affine.y, TOL);
    for (const k of ['m0', 'm1', 'gm0', 'gm1']) expectClose(k, await gpu.read(o[k]!), plain.mean, { atol: 1e-6, rtol: 1e-5 });
    for (const k of ['r0', 'r1', 'gr0', 'gr1']) expectClose(k, await gpu.read(o[k]!), plain.rstd, { atol: 1e-6, rtol: 1e-5 });
    const rs = plain.rstd;
    expectClose('dx/rstd', perRstd(await gpu.read(o.dx0!), rs, cols), perRstd(layerNormBackwardRef(xs, dys, rows, cols, EPS).dx, rs, cols), TOL);
    const bw = layerNormBackwardRef(xs, dys, rows, cols, EPS, gs);
    expectClose('dx/rstd affine', perRstd(await gpu.read(o.dx1!), rs, cols), perRstd(bw.dx, rs, cols), TOL);
    expectClose('dgamma', await gpu.read(o.dgamma!), bw.dgamma, { atol: 1e-4, rtol: 1e-5 });
    expectClose('dbeta', await gpu.read(o.dbeta!), bw.dbeta, { atol: 1e-4, rtol: 1e-5 });
    for (const [k, p] of [[0, 0], [1, 0.2]] as const) {
      expectClose(`gate z p=${p}`, await gpu.read(o[`z${k}`]!), gateRef(xs, us, rows, cols, EPS, p, seed).z, TOL);
      const gb = gateBackwardRef(xs, us, dys, rows, cols, EPS, p, seed);
      expectClose(`gate dO/rstd p=${p}`, perRstd(await gpu.read(o[`dO${k}`]!), rs, cols), perRstd(gb.dO, rs, cols), TOL);
      expectClose(`gate dU p=${p}`, await gpu.read(o[`dU${k}`]!), gb.dU, TOL);
    }
    [x, u, dy, gamma, beta, ...Object.values(o)].forEach((t) => t.release());
  });

  it('a large-offset row (1e3 + small noise, 4099 columns) normalises accurately', async () => {
    const rows = 3, cols = 4099;
    const rng = new Rng(77);
    const xs = Float32Array.from({ length: rows * cols }, () => 1000 + rng.uniform(-0.5, 0.5));
    const x = gpu.f32(xs, [rows, cols], 'x'), y = gpu.empty([rows, cols], 'f32', 'y');
    poison(gpu, y);
    for (const layout of ['lane', 'workgroup'] as const) {
      poison(gpu, y);
      const rec = gpu.recorder();
      layerNorm(rec, x, y, { rows, cols, layout });
      await rec.submit();
      // f32 spacing at 1e3 is 6e-5; relative to a spread of ~0.29 that is ~2e-4 of one unit of n.
      expectClose(`y ${layout}`, await gpu.read(y), layerNormRef(xs, rows, cols, EPS).y, { atol: 5e-4, rtol: 1e-4 });
    }
    [x, y].forEach((t) => t.release());
  });

  it('the gate mask is exactly elementwise dropout() on the flat [rows·cols] tensor', async () => {
    const rows = 37, cols = 53, p = 0.2, seed = 4242;
    const rng = new Rng(9);
    const os = rng.f32(rows * cols), us = rng.f32(rows * cols, 0.5, 1);
    const o = gpu.f32(os, [rows, cols], 'o'), u = gpu.f32(us, [rows, cols], 'u');
    const ones = gpu.f32(new Float32Array(rows * cols).fill(1), [rows * cols], 'ones');
    const z = gpu.empty([rows, cols], 'f32', 'z'), mask = gpu.empty([rows * cols], 'f32', 'mask');
    const mean = gpu.empty([rows], 'f32', 'mean'), rstd = gpu.empty([rows], 'f32', 'rstd');
    poison(gpu, z, mask, mean, rstd);
    const rec = gpu.recorder();
    gateForward(rec, o, u, z, { rows, cols, dropoutP: p, seed, saveStats: { mean, rstd } });
    dropout(rec, ones, mask, p, seed);
    await rec.submit();
    const zs = await gpu.read(z), ms = await gpu.read(mask);
    let kept = 0;
    for (let i = 0; i < zs.length; i++) {
      expect(zs[i] !== 0).toBe(ms[i] !== 0);
      kept += ms[i] !== 0 ? 1 : 0;
    }
    expect(Math.abs(kept / zs.length - (1 - p))).toBeLessThan(0.04);
    [o, u, ones, z, mask, mean, rstd].forEach((t) => t.release());
  });

  it('zero rows is a no-op; dgamma/dbeta over zero rows are zero', async () => {
    const cols = 7;
    const x = gpu.empty([0, cols], 'f32', 'x'), dy = gpu.empty([0, cols], 'f32', 'dy'), dx = gpu.empty([0, cols], 'f32', 'dx');
    const m = gpu.empty([0], 'f32', 'm'), r = gpu.empty([0], 'f32', 'r');
    const gamma = gpu.f32(new Float32Array(cols).fill(1), [cols], 'gamma');
    const dg = gpu.empty([cols], 'f32', 'dg'), db = gpu.empty([cols], 'f32', 'db');
    poison(gpu, dg, db);
    const rec = gpu.recorder();
    layerNormBackward(rec, x, dy, dx, { rows: 0, cols, gamma, mean: m, rstd: r, dgamma: dg, dbeta: db });
    await rec.submit();
    expect(Array.from(await gpu.read(dg))).toEqual(new Array(cols).fill(0));
    expect(Array.from(await gpu.read(db))).toEqual(new Array(cols).fill(0));
    [x, dy, dx, m, r, gamma, dg, db].forEach((t) => t.release());
  });

  it('rejects bad inputs with clear errors', () => {
    const x = gpu.f32(new Float32Array(6), [2, 3], 'x'), y = gpu.empty([2, 3], 'f32', 'y'), s = gpu.empty([2], 'f32', 's');
    const g = gpu.f32(new Float32Array(3), [3], 'g'), bad = gpu.empty([4], 'f32', 'bad');
    const rec = gpu.recorder();
    expect(() => layerNorm(rec, x, y, { rows: 2, cols: 4 })).toThrow(/expected 2×4 = 8 elements in x, got 6/);
    expect(() => layerNorm(rec, x, y, { rows: 2, cols: 3, gamma: g })).toThrow(/gamma and beta together/);
    expect(() => layerNorm(rec, x, y, { rows: 2, cols: 3, gamma: bad, beta: g })).toThrow(/expected 1×3 = 3 elements in bad, got 4/);
    expect(() => layerNorm(rec, x, x, { rows: 2, cols: 3 })).toThrow(/not to share a buffer/);
    expect(() => layerNorm(rec, x, y, { rows: 2, cols: 3, eps: -1 })).toThrow(/expected eps ≥ 0/);
    expect(() => gateForward(rec, x, x, y, { rows: 2, cols: 3, dropoutP: 1, saveStats: { mean: s, rstd: bad } })).toThrow(/0 ≤ dropoutP < 1/);
    expect(() => gateForward(rec, x, x, y, { rows: 2, cols: 3, saveStats: { mean: s, rstd: bad } })).toThrow(/expected 2×1 = 2 elements in bad, got 4/);
    expect(() => layerNormBackward(rec, x, x, y, { rows: 2, cols: 3, gamma: g, mean: s, rstd: s })).toThrow(/dgamma and dbeta exactly when gamma/);
    expect(() => gateBackward(rec, x, x, x, y, y, { rows: 2, cols: 3, mean: s, rstd: s })).toThrow(/not to share a buffer/);
    expect(rec.size).toBe(0);
    [x, y, s, g, bad].forEach((t) => t.release());
  });
});

describe('float64 references against central finite differences', () => {
  const rows = 3, cols = 6, h = 1e-6;
  const rng = new Rng(2024);
  const rand = (n: number, lo = -1, hi = 1) => Float64Array.from({ length: n }, () => rng.uniform(lo, hi));
  const dot = (a: ArrayLike<number>, b: ArrayLike<number>) => Array.from(a).reduce((s, v, i) => s + v * b[i]!, 0);
  /** Central differences of f at every coordinate of v. */
  const fd = (v: Float64Array, f: () => number) =>
    Float64Array.from(v, (_, i) => {
      const keep = v[i]!;
      v[i] = keep + h;
      const fp = f();
      v[i] = keep - h;
      const fm = f();
      v[i] = keep;
      return (fp - fm) / (2 * h);
    });
  const FD_TOL = { atol: 1e-6, rtol: 1e-5 };

  it('layer norm backward (plain and affine): dx, dgamma, dbeta', () => {
    const x = rand(rows * cols, -2, 2), w = rand(rows * cols), gamma = rand(cols, 0.5, 1.5), beta = rand(cols);
    const plainLoss = () => dot(w, layerNormRef(x, rows, cols, EPS).y);
    expectClose('dx', layerNormBackwardRef(x, w, rows, cols, EPS).dx, fd(x, plainLoss), FD_TOL);
    const loss = () => dot(w, layerNormRef(x, rows, cols, EPS, gamma, beta).y);
    const bw = layerNormBackwardRef(x, w, rows, cols, EPS, gamma);
    expectClose('dx affine', bw.dx, fd(x, loss), FD_TOL);
    expectClose('dgamma', bw.dgamma, fd(gamma, loss), FD_TOL);
    expectClose('dbeta', bw.dbeta, fd(beta, loss), FD_TOL);
  });

  it.each([0, 0.3])('gate backward p=%f: dO, dU', (p) => {
    const o = rand(rows * cols, -2, 2), u = rand(rows * cols), w = rand(rows * cols);
    const loss = () => dot(w, gateRef(o, u, rows, cols, EPS, p, 11).z);
    const bw = gateBackwardRef(o, u, w, rows, cols, EPS, p, 11);
    expectClose('dO', bw.dO, fd(o, loss), FD_TOL);
    expectClose('dU', bw.dU, fd(u, loss), FD_TOL);
    if (p > 0) expect(bw.dU.some((v) => v === 0)).toBe(true); // some elements were dropped
  });
});

describe('layer norm and gate: non-finite inputs', () => {
  // A NaN in row 1 and an Inf in row 3 of x: those rows' outputs (and gradients) are entirely
  // non-finite, every other row bit-identical to the clean run. Gate with dropout 0.5: a NaN in u
  // at a DROPPED element gives NaN there (not 0), and touches nothing else.
  it.each(['lane', 'workgroup'] as const)('layout %s', async (layout) => {
    const rows = 6, cols = 37, n = rows * cols, p = 0.5, seed = 1234;
    const rng = new Rng(3);
    const xs = rng.f32(n, -2, 3), us = rng.f32(n), dys = rng.f32(n);
    const mask = dropoutRef(new Float64Array(n).fill(1), p, seed); // the gate's mask on the flat tensor
    const dropped = Array.from({ length: cols }, (_, c) => 4 * cols + c).find((i) => mask[i] === 0)!;
    expect(dropped).toBeDefined();
    const run = async (dirty: boolean) => {
      const x0 = Float32Array.from(xs), u0 = Float32Array.from(us);
      if (dirty) { x0[1 * cols + 5] = NaN; x0[3 * cols] = Infinity; u0[dropped] = NaN; }
      const x = gpu.f32(x0, [rows, cols], 'x'), u = gpu.f32(u0, [rows, cols], 'u'), dy = gpu.f32(dys, [rows, cols], 'dy');
      const t = (label: string, r = rows, c = cols) => gpu.empty([r, c], 'f32', label);
      const o = { y: t('y'), dx: t('dx'), z: t('z'), m: t('m', rows, 1), r: t('r', rows, 1), gm: t('gm', rows, 1), gr: t('gr', rows, 1) };
      poison(gpu, ...Object.values(o));
      const rec = gpu.recorder();
      layerNorm(rec, x, o.y, { rows, cols, layout, saveStats: { mean: o.m, rstd: o.r } });
      layerNormBackward(rec, x, dy, o.dx, { rows, cols, layout, mean: o.m, rstd: o.r });
      gateForward(rec, x, u, o.z, { rows, cols, layout, dropoutP: p, seed, saveStats: { mean: o.gm, rstd: o.gr } });
      await rec.submit();
      const res = { y: await gpu.read(o.y), dx: await gpu.read(o.dx), z: await gpu.read(o.z) };
      [x, u, dy, ...Object.values(o)].forEach((q) => q.release());
      return res;
    };
    const a = await run(false), b = await run(true);
    expectIsolated('y', b.y, a.y, [1, 3], cols, { allBad: true });
    expectIsolated('dx', b.dx, a.dx, [1, 3], cols, { allBad: true });
    expectIsolatedWhere('gate z', b.z, a.z, (e) => Math.floor(e / cols) === 1 || Math.floor(e / cols) === 3 || e === dropped);
  });
});
