import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createGpu, type Gpu } from '../gpu/index.js';
import { expectClose } from '../testing/compare.js';
import { poison } from '../testing/poison.js';
import { expectIsolatedWhere } from '../testing/nonfinite.js';
import { Rng } from '../testing/rng.js';
import { defaultMatmulVariant, matmul, MATMUL_VARIANTS, resolvedMatmulVariant, type MatmulOptions, type MatmulVariant } from './matmul.js';
import { matmulRef } from './matmul.ref.js';
import { expandSubgroupTemplate, subgroupModes, subgroupVariantSupported, type SubgroupAMode, type SubgroupBMode } from './matmul_subgroup.js';

let gpu: Gpu;
beforeAll(async () => {
  gpu = await createGpu();
});
afterAll(() => gpu?.dispose());

interface Case extends Omit<MatmulOptions, 'bias' | 'variant'> {
  withBias?: boolean;
}

/** Runs `cs` with every variant; checks each against the float64 reference and the variants
 *  against each other. */
async function check(cs: Case, seed: number): Promise<void> {
  const { m, n, k } = cs;
  const batch = cs.batch ?? 1;
  const rng = new Rng(seed);
  const as = rng.f32(batch * m * k);
  const bs = rng.f32((cs.broadcastB ? 1 : batch) * k * n);
  const biasv = cs.withBias ? rng.f32(n) : undefined;
  const c0 = cs.accumulate ? rng.f32(batch * m * n) : undefined;
  const want = matmulRef(as, bs, { ...cs, bias: biasv, c0 });
  const a = gpu.f32(as, [as.length], 'A'), b = gpu.f32(bs, [bs.length], 'B');
  const bias = biasv ? gpu.f32(biasv, [n], 'bias') : undefined;
  const tol = { atol: 1e-4 * Math.sqrt(Math.max(k, 1)) * Math.max(1, Math.abs(cs.alpha ?? 1)), rtol: 1e-5 };
  const outs: Float32Array[] = [];
  for (const variant of MATMUL_VARIANTS) {
    const c = gpu.empty([batch * m * n], 'f32', `C_${variant}`);
    if (c0) gpu.write(c, c0);
    else poison(gpu, c);
    const rec = gpu.recorder();
    const { withBias: _, ...opts } = cs;
    matmul(rec, a, b, c, { ...opts, bias, variant });
    await rec.submit();
    const got = await gpu.read(c);
    expectClose(`matmul ${variant} ${JSON.stringify(cs)}`, got, want, { ...tol, shape: [batch, m, n] });
    outs.push(got);
    c.release();
  }
  for (let v = 1; v < outs.length; v++) expectClose(`${MATMUL_VARIANTS[v]} vs ${MATMUL_VARIANTS[0]}`, outs[v]!, outs[0]!, tol);
  a.release();
  b.release();
  bias?.release();
}

describe('matmul', () => {
  const shapes: [number, number, number][] = [[1, 1, 1], [17, 33, 65], [1000, 1, 1000], [1, 1000, 7], [70, 67, 3], [5, 130, 0]];
  it.each(shapes)('m=%i n=%i k=%i, all variants', async (m, n, k) => {
    await check({ m, n, k }, m * 7 + n * 13 + k);
  });

  const transCombos: [boolean, boolean][] = [[false, false], [true, false], [false, true], [true, true]];
  it.each(transCombos)('transA=%s transB=%s, batch 3, bias', async (transA, transB) => {
    await check({ m: 19, n: 37, k: 23, batch: 3, transA, transB, withBias: true }, transA ? 1 : 2 + (transB ? 4 : 0));
  });

  it('accumulate with alpha and bias (C initialised with random data)', async () => {
    await check({ m: 33, n: 66, k: 17, batch: 2, accumulate: true, alpha: -0.75, withBias: true }, 11);
  });

  it('alpha alone, transA', async () => {
    await check({ m: 9, n: 70, k: 129, alpha: 2.5, transA: true }, 12);
  });

  it('broadcastB over batch 3, with transB and accumulate', async () => {
    await check({ m: 21, n: 34, k: 40, batch: 3, broadcastB: true }, 13);
    await check({ m: 7, n: 65, k: 31, batch: 3, broadcastB: true, transB: true, accumulate: true }, 14);
  });

  it('batch > 1 spanning more than one tile in every dimension', async () => {
    await check({ m: 66, n: 131, k: 35, batch: 2, withBias: true }, 15);
  });

  it('default variant follows the device class (subgroup on CPU adapters with ≥ 8-lane subgroups)', () => {
    const cpuDefault = subgroupVariantSupported(gpu) ? 'subgroup' : 'vec4';
    expect(defaultMatmulVariant(gpu)).toBe(gpu.deviceClass === 'cpu' ? cpuDefault : 'tiled');
    // lavapipe on this project's machines: subgroups of 8 lanes.
    if (/llvmpipe/.test(gpu.adapter.description) && gpu.has('subgroups')) expect(defaultMatmulVariant(gpu)).toBe('subgroup');
  });

  it('subgroup falls back to vec4 (then regblock) where it cannot run', () => {
    expect(resolvedMatmulVariant('subgroup', { n: 36 })).toBe('vec4');
    expect(resolvedMatmulVariant('subgroup', { n: 34 })).toBe('regblock');
    expect(resolvedMatmulVariant('subgroup', { n: 34, transB: true }, gpu)).toBe(subgroupVariantSupported(gpu) ? 'subgroup' : 'regblock');
  });

  it('vec4 runs its own kernel only when B is untransposed and n % 4 == 0', () => {
    expect(resolvedMatmulVariant('vec4', { n: 36 })).toBe('vec4');
    expect(resolvedMatmulVariant('vec4', { n: 36, transB: true })).toBe('regblock');
    expect(resolvedMatmulVariant('vec4', { n: 34 })).toBe('regblock');
    expect(resolvedMatmulVariant('vec4', { n: 1 })).toBe('regblock');
    expect(resolvedMatmulVariant('regblock', { n: 36 })).toBe('regblock');
  });

  // Shapes with n % 4 == 0 so that 'vec4' runs its own kernel (every other case above has n % 4 != 0
  // or transB and exercises its fallback); m, k and n are not multiples of its 8-row × 32-column tile.
  describe('vec4-aligned shapes (n % 4 == 0), every option', () => {
    const aligned: [number, number, number][] = [[1, 4, 1], [17, 36, 65], [70, 68, 3], [9, 100, 33], [5, 132, 0]];
    it.each(aligned)('m=%i n=%i k=%i, all variants', async (m, n, k) => {
      expect(resolvedMatmulVariant('vec4', { n })).toBe('vec4');
      await check({ m, n, k }, 100 + m * 7 + n * 13 + k);
    });
    it.each([false, true])('transA=%s, batch 3, bias, accumulate, alpha', async (transA) => {
      await check({ m: 19, n: 44, k: 23, batch: 3, transA, withBias: true, accumulate: true, alpha: -1.25 }, transA ? 21 : 22);
    });
    it('broadcastB over batch 3 with transA and bias; transB (fallback) with alpha', async () => {
      await check({ m: 13, n: 40, k: 29, batch: 3, broadcastB: true, transA: true, withBias: true }, 23);
      await check({ m: 11, n: 48, k: 17, batch: 2, transB: true, alpha: 0.5, accumulate: true }, 24);
    });
    it('spans more than one 8 × 32 tile in every dimension, batch 2', async () => {
      await check({ m: 66, n: 76, k: 35, batch: 2, withBias: true }, 25);
    });
  });

  // The subgroup variant compiles one kernel per pair of load modes; every pair runs here on shapes
  // that are not multiples of its 8 × 32 tile, with k % 4 != 0 where the modes allow (k-tail zeroing).
  describe('subgroup variant, every load mode (A: k4 | m4 | scalar, B: n4 | k4 | scalar)', () => {
    const cases: [SubgroupAMode, SubgroupBMode, Case][] = [
      ['k4', 'n4', { m: 13, n: 44, k: 36, batch: 2, withBias: true }],
      ['k4', 'k4', { m: 21, n: 37, k: 20, transB: true, accumulate: true, alpha: -0.5 }],
      ['k4', 'scalar', { m: 1000, n: 1, k: 1000, batch: 2, broadcastB: true }],
      ['m4', 'n4', { m: 12, n: 40, k: 37, transA: true, batch: 2, withBias: true, accumulate: true }],
      ['m4', 'k4', { m: 20, n: 35, k: 12, transA: true, transB: true, alpha: 1.5 }],
      ['m4', 'scalar', { m: 16, n: 65, k: 3, transA: true, batch: 2, broadcastB: true, withBias: true }],
      ['scalar', 'n4', { m: 17, n: 36, k: 65, accumulate: true }],
      ['scalar', 'k4', { m: 11, n: 30, k: 16, transA: true, transB: true, batch: 2, withBias: true }],
      ['scalar', 'scalar', { m: 17, n: 33, k: 65, batch: 2, withBias: true, alpha: 0.25 }],
      ['scalar', 'scalar', { m: 1, n: 1, k: 1 }],
    ];
    it.each(cases)('A=%s B=%s', async (A, B, cs) => {
      expect(subgroupModes(cs)).toEqual({ A, B });
      await check(cs, 200 + cases.findIndex((c) => c[2] === cs));
      if (subgroupVariantSupported(gpu)) expect(resolvedMatmulVariant('subgroup', cs, gpu)).toBe('subgroup');
    });
    it('the template expander repeats, selects and rejects unknown directives', () => {
      const template = '//#if A=k4: //#for r: a{r} {r4} {rh};\n//#if B=scalar: //#for q: //#for c: b{q}{c};\n//#for c: c{c};';
      expect(expandSubgroupTemplate(template, 'k4', 'scalar').split('\n')).toEqual([
        ...[0, 1, 2, 3, 4, 5, 6, 7].map((r) => `a${r} ${r & 3} ${r >> 2};`),
        ...[0, 1, 2, 3].flatMap((q) => [0, 1, 2, 3].map((c) => `b${q}${c};`)),
        'c0;', 'c1;', 'c2;', 'c3;',
      ]);
      expect(expandSubgroupTemplate(template, 'm4', 'n4')).toBe('c0;\nc1;\nc2;\nc3;');
      expect(() => expandSubgroupTemplate('//#for x: y;', 'k4', 'n4')).toThrow(/unknown directive/);
      expect(() => expandSubgroupTemplate('//#if C=k4: y;', 'k4', 'n4')).toThrow(/unknown directive/);
      expect(() => expandSubgroupTemplate('  x{r};', 'k4', 'n4')).toThrow(/unexpanded directive/);
    });
  });

  it('rejects bad sizes with "expected X, got Y"', () => {
    const a = gpu.empty([6], 'f32', 'A'), b = gpu.empty([12], 'f32', 'B'), c = gpu.empty([8], 'f32', 'C'), bias = gpu.empty([3], 'f32', 'bias');
    const rec = gpu.recorder();
    const ok: MatmulOptions = { m: 2, n: 4, k: 3 };
    expect(() => matmul(rec, a, b, c, ok)).not.toThrow();
    expect(() => matmul(rec, a, b, c, { ...ok, k: 4 })).toThrow(/expected A \(A\) to hold 8 elements .*got 6/);
    expect(() => matmul(rec, a, b, c, { ...ok, n: 5 })).toThrow(/expected B \(B\) to hold 15 elements .*got 12/);
    expect(() => matmul(rec, a, b, c, { ...ok, batch: 2, broadcastB: true })).toThrow(/expected A .* 12 elements.*got 6/);
    expect(() => matmul(rec, a, b, c, { ...ok, bias })).toThrow(/expected bias \(bias\) to hold 4 elements .*got 3/);
    expect(() => matmul(rec, a, b, a, ok)).toThrow(/expected C/);
    expect(() => matmul(rec, a, b, c, { ...ok, m: 1.5 })).toThrow(/expected m to be a non-negative integer, got 1.5/);
    expect(() => matmul(rec, a, b, c, { ...ok, variant: 'fast' as MatmulVariant })).toThrow(/expected variant .*got 'fast'/);
    [a, b, c, bias].forEach((t) => t.release());
  });
});

describe('matmul: non-finite inputs propagate and stay in their row/column', () => {
  // A NaN in A(3, 2) and an Inf in B(5, 7): row 3 and column 7 of C are non-finite (every
  // element), every other element is bit-identical to the clean product, in every variant.
  const combos: [number, boolean, boolean][] = [[12, false, false], [11, false, false], [12, true, false], [12, false, true]];
  it.each(combos)('n=%i transA=%s transB=%s, all variants', async (n, transA, transB) => {
    const m = 13, k = 9;
    const rng = new Rng(n + (transA ? 10 : 0) + (transB ? 20 : 0));
    const as = rng.f32(m * k), bs = rng.f32(k * n);
    const aIdx = transA ? 2 * m + 3 : 3 * k + 2, bIdx = transB ? 7 * k + 5 : 5 * n + 7;
    for (const variant of MATMUL_VARIANTS) {
      const run = async (dirty: boolean) => {
        const a0 = Float32Array.from(as), b0 = Float32Array.from(bs);
        if (dirty) { a0[aIdx] = NaN; b0[bIdx] = Infinity; }
        const a = gpu.f32(a0, [m * k], 'A'), b = gpu.f32(b0, [k * n], 'B'), c = gpu.empty([m * n], 'f32', 'C');
        poison(gpu, c);
        const rec = gpu.recorder();
        matmul(rec, a, b, c, { m, n, k, transA, transB, variant });
        await rec.submit();
        const got = await gpu.read(c);
        [a, b, c].forEach((t) => t.release());
        return got;
      };
      const clean = await run(false), dirty = await run(true);
      expectIsolatedWhere(variant, dirty, clean, (e) => Math.floor(e / n) === 3 || e % n === 7);
    }
  });
});
