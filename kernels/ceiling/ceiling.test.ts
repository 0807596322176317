import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createGpu, type Gpu } from '../gpu/index.js';
import { expectClose } from '../testing/compare.js';
import { poison } from '../testing/poison.js';
import { Rng } from '../testing/rng.js';
import { MATMUL_VARIANTS, resolvedMatmulVariant } from '../matmul/matmul.js';
import { measureCeiling, measureCeilingDetail, recordCopyKernel } from './ceiling.js';

let gpu: Gpu;
beforeAll(async () => {
  gpu = await createGpu();
});
afterAll(() => gpu?.dispose());

describe('ceiling', () => {
  it('the copy kernel copies every element (awkward length, poisoned destination)', async () => {
    const n4 = 1027;
    const data = new Rng(5).f32(n4 * 4);
    const src = gpu.f32(data), dst = gpu.empty([n4 * 4], 'f32', 'dst');
    poison(gpu, dst);
    const rec = gpu.recorder();
    recordCopyKernel(rec, src, dst, n4);
    await rec.submit();
    expectClose('copy', await gpu.read(dst), data, { atol: 0, rtol: 0 });
    src.release();
    dst.release();
  });

  it('quick measurement is finite and positive', async () => {
    const d = await measureCeilingDetail(gpu, true);
    for (const v of [d.copyGBps, d.matmulGflops, d.copyBufferGBps, d.copyKernelGBps, ...Object.values(d.matmulByVariant)]) {
      expect(Number.isFinite(v) && v > 0).toBe(true);
    }
    expect(d.copyGBps).toBe(Math.max(d.copyBufferGBps, d.copyKernelGBps));
    // Every variant that runs its own kernel on this device (subgroup needs subgroups of ≥ 8 lanes).
    const runnable = MATMUL_VARIANTS.filter((v) => resolvedMatmulVariant(v, { n: 256 }, gpu) === v);
    expect(runnable).toEqual(expect.arrayContaining(['naive', 'regblock', 'vec4', 'tiled']));
    expect(Object.keys(d.matmulByVariant).sort()).toEqual([...runnable].sort());
    const c = await measureCeiling(gpu, true);
    expect(Object.keys(c).sort()).toEqual(['copyGBps', 'matmulGflops']);
    expect(c.matmulGflops > 0 && Number.isFinite(c.copyGBps)).toBe(true);
  });
});
