// The device ceiling every bench row is compared against: copy bandwidth (the better of
// copyBufferToBuffer and a WGSL vec4 copy kernel; bytes = read + write) and the best matmul
// GFLOP/s over the variants at 1024³ (quick: 256³).
import { readFileSync } from 'node:fs';
import type { Gpu, KernelSource, Tensor } from '../gpu/index.js';
import { Params } from '../gpu/index.js';
import { timeRecorded } from '../gpu/timing.js';
import type { Ceiling } from '../testing/bench.js';
import { matmul, MATMUL_VARIANTS, resolvedMatmulVariant, type MatmulVariant } from '../matmul/matmul.js';
import { Rng } from '../testing/rng.js';

const COPY_WG = 256;
export const COPY_KERNEL: KernelSource = { name: 'ceiling_copy', wgsl: readFileSync(new URL('./copy.wgsl', import.meta.url), 'utf8'), defines: { WG: COPY_WG } };

/** Records dst[i] = src[i] for `n4` vec4s with the copy kernel. */
export function recordCopyKernel(rec: import('../gpu/index.js').Recorder, src: Tensor, dst: Tensor, n4: number): void {
  rec.dispatch(COPY_KERNEL, [src, dst], Math.ceil(n4 / COPY_WG), new Params().u32(n4).done());
}

export interface CeilingDetail extends Ceiling {
  copyBufferGBps: number;
  copyKernelGBps: number;
  matmulSize: number;
  matmulByVariant: Partial<Record<MatmulVariant, number>>;
}

export async function measureCeilingDetail(gpu: Gpu, quick: boolean): Promise<CeilingDetail> {
  const bytes = (quick ? 4 : 64) * 1024 * 1024;
  const n = bytes / 4;
  const src = gpu.empty([n], 'f32', 'ceiling:src'), dst = gpu.empty([n], 'f32', 'ceiling:dst');
  const reps = quick ? 2 : 5;
  const tb = await timeRecorded(gpu, (rec) => rec.copy(src, dst, bytes), reps);
  const tk = await timeRecorded(gpu, (rec) => recordCopyKernel(rec, src, dst, n / 4), reps);
  src.release();
  dst.release();
  const copyBufferGBps = (2 * bytes) / (tb.ms * 1e6);
  const copyKernelGBps = (2 * bytes) / (tk.ms * 1e6);

  const s = quick ? 256 : 1024;
  const rng = new Rng(7);
  const a = gpu.f32(rng.f32(s * s), [s, s], 'ceiling:A'), b = gpu.f32(rng.f32(s * s), [s, s], 'ceiling:B');
  const c = gpu.empty([s, s], 'f32', 'ceiling:C');
  const matmulByVariant: Partial<Record<MatmulVariant, number>> = {};
  for (const variant of MATMUL_VARIANTS) {
    // The naive variant is never the best and costs seconds at 1024³: measure it only in quick mode.
    if (variant === 'naive' && !quick) continue;
    // A variant this device cannot run (subgroup without subgroups) would time its fallback.
    if (resolvedMatmulVariant(variant, { n: s }, gpu) !== variant) continue;
    const t = await timeRecorded(gpu, (rec) => matmul(rec, a, b, c, { m: s, n: s, k: s, variant }), quick ? 1 : 2);
    matmulByVariant[variant] = (2 * s * s * s) / (t.ms * 1e6);
  }
  [a, b, c].forEach((t) => t.release());
  return {
    copyGBps: Math.max(copyBufferGBps, copyKernelGBps),
    matmulGflops: Math.max(...Object.values(matmulByVariant)),
    copyBufferGBps,
    copyKernelGBps,
    matmulSize: s,
    matmulByVariant,
  };
}

/** copyGBps (read + write bytes per second / 1e9) and matmulGflops of this device. */
export async function measureCeiling(gpu: Gpu, quick: boolean): Promise<Ceiling> {
  const d = await measureCeilingDetail(gpu, quick);
  return { copyGBps: d.copyGBps, matmulGflops: d.matmulGflops };
}
