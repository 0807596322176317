// Host for batched f32 matmul: C = (accumulate ? C : 0) + alpha · op(A) · op(B) + bias, with
// five variants (naive; subgroup, vec4 and regblock for CPU adapters; tiled for GPUs) chosen by
// device class. subgroup needs subgroups of ≥ 8 lanes and falls back to vec4 without them; for
// m ≥ 256 it packs B and reads it through 64 KiB uniform-buffer windows (recordWindowed). vec4
// needs B untransposed with n % 4 == 0 and falls back to regblock otherwise.
import { readFileSync } from 'node:fs';
import { flags, Params, type Gpu, type KernelSource, type Recorder, type Tensor } from '../gpu/index.js';
import {
  B_PACK_KERNEL, B_PACK_WG, B_WINDOW_BYTES, B_WINDOW_K, bWindowBuffer, SUBGROUP_COLS, SUBGROUP_ROWS, subgroupKernel, subgroupModes, subgroupVariantSupported, useBWindows,
} from './matmul_subgroup.js';

const read = (f: string) => readFileSync(new URL(f, import.meta.url), 'utf8');
const COMMON = read('./matmul.wgsl');
const B_SCALAR = 'var<storage, read> b: array<f32>;';
if (!COMMON.includes(B_SCALAR)) throw new Error(`matmul.wgsl: expected the declaration '${B_SCALAR}', got none`);
const SOURCES = {
  naive: COMMON + read('./matmul_naive.wgsl'),
  regblock: COMMON + read('./matmul_regblock.wgsl'),
  tiled: COMMON + read('./matmul_tiled.wgsl'),
  // Same uniform block and epilogue; B bound as vec4 (4 adjacent columns per element).
  vec4: COMMON.replace(B_SCALAR, 'var<storage, read> b: array<vec4<f32>>;') + read('./matmul_vec4.wgsl'),
};

export type MatmulVariant = 'naive' | 'regblock' | 'vec4' | 'subgroup' | 'tiled';
export const MATMUL_VARIANTS: readonly MatmulVariant[] = ['naive', 'regblock', 'vec4', 'subgroup', 'tiled'];

export interface MatmulOptions {
  m: number;
  n: number;
  k: number;
  /** A stored [batch, k, m] instead of [batch, m, k]. */
  transA?: boolean;
  /** B stored [batch, n, k] instead of [batch, k, n]. */
  transB?: boolean;
  /** Default 1; A, B, C are contiguous batches. */
  batch?: number;
  /** The same B for every batch (B holds one matrix). */
  broadcastB?: boolean;
  /** [n], added to every row. */
  bias?: Tensor<'f32'>;
  /** C += result instead of C = result. */
  accumulate?: boolean;
  /** Scales op(A)·op(B) (default 1), before bias/accumulate. */
  alpha?: number;
  /** Default: defaultMatmulVariant(gpu), overridden by flags().matmulVariant (HSTU_MATMUL). */
  variant?: MatmulVariant;
}

/** Lanes per workgroup of each variant (compile-time facts; tiled is fixed at 16×16). */
const NAIVE_WG = 64;
const REGBLOCK_WG = 8;
const REGBLOCK_ROWS = 4;
const REGBLOCK_COLS = 4 * REGBLOCK_WG;
const TILED_TILE = 64;
/** vec4: rows per workgroup (uniform A loads) and lanes (4 columns each); R = 8, WG = 8 measured
 *  best on lavapipe (R = 2..24, WG = 8/16 tried). */
const VEC4_ROWS = 8;
const VEC4_WG = 8;
const VEC4_COLS = 4 * VEC4_WG;

function kernel(variant: Exclude<MatmulVariant, 'subgroup'>): KernelSource {
  const defines: Record<string, number> =
    variant === 'naive' ? { WG: NAIVE_WG } : variant === 'regblock' ? { WG: REGBLOCK_WG } : variant === 'vec4' ? { WG: VEC4_WG, R: VEC4_ROWS } : {};
  return { name: `matmul_${variant}`, wgsl: SOURCES[variant], defines };
}

/** On CPU adapters (lavapipe): 'subgroup' where subgroups of ≥ 8 lanes exist, else 'vec4' (which
 *  runs regblock where its alignment fails); 'tiled' on real GPUs. */
export function defaultMatmulVariant(gpu: Gpu): MatmulVariant {
  if (gpu.deviceClass !== 'cpu') return 'tiled';
  return subgroupVariantSupported(gpu) ? 'subgroup' : 'vec4';
}

/** The kernel that `variant` actually runs for these options on this device: 'subgroup' needs
 *  subgroups of ≥ 8 lanes (else 'vec4'; it handles every layout itself); 'vec4' needs B
 *  untransposed and n % 4 == 0 (B rows read as vec4), otherwise it falls back to 'regblock'. */
export function resolvedMatmulVariant(variant: MatmulVariant, opts: Pick<MatmulOptions, 'n' | 'transB'>, gpu?: Gpu): MatmulVariant {
  if (variant === 'subgroup' && !(gpu && subgroupVariantSupported(gpu))) variant = 'vec4';
  if (variant === 'vec4' && (opts.transB || opts.n % 4 !== 0 || opts.n < 4)) return 'regblock';
  return variant;
}

/** The variant a call with `opts.variant` unset would use on this Gpu. */
export function selectedMatmulVariant(gpu: Gpu): MatmulVariant {
  const forced = flags().matmulVariant;
  if (forced) {
    if (!(MATMUL_VARIANTS as readonly string[]).includes(forced)) {
      throw new Error(`HSTU_MATMUL: expected one of ${MATMUL_VARIANTS.join(', ')}, got '${forced}'`);
    }
    return forced as MatmulVariant;
  }
  return defaultMatmulVariant(gpu);
}

function checkDim(name: string, v: number | undefined): number {
  if (v === undefined || !Number.isInteger(v) || v < 0) throw new Error(`matmul: expected ${name} to be a non-negative integer, got ${v}`);
  return v;
}

/** Records C = (accumulate ? C : 0) + alpha · op(A) · op(B) + bias, per batch. */
export function matmul(rec: Recorder, a: Tensor<'f32'>, b: Tensor<'f32'>, c: Tensor<'f32'>, opts: MatmulOptions): void {
  const m = checkDim('m', opts.m);
  const n = checkDim('n', opts.n);
  const k = checkDim('k', opts.k);
  const batch = checkDim('batch', opts.batch ?? 1);
  const alpha = opts.alpha ?? 1;
  if (!Number.isFinite(alpha)) throw new Error(`matmul: expected a finite alpha, got ${alpha}`);
  for (const [role, t] of [['A', a], ['B', b], ['C', c], ['bias', opts.bias]] as const) {
    if (t && t.dtype !== 'f32') throw new Error(`matmul: expected f32 ${role}, got ${t.label} as ${t.dtype}`);
  }
  const bBatches = opts.broadcastB ? 1 : batch;
  const want = (role: string, t: Tensor, count: number, layout: string) => {
    if (t.numel !== count) throw new Error(`matmul: expected ${role} (${t.label}) to hold ${count} elements (${layout}), got ${t.numel}`);
  };
  want('A', a, batch * m * k, opts.transA ? `[${batch}, ${k}, ${m}]` : `[${batch}, ${m}, ${k}]`);
  want('B', b, bBatches * k * n, opts.transB ? `[${bBatches}, ${n}, ${k}]` : `[${bBatches}, ${k}, ${n}]`);
  want('C', c, batch * m * n, `[${batch}, ${m}, ${n}]`);
  if (opts.bias) want('bias', opts.bias, n, `[${n}]`);
  if (c.buffer === a.buffer || c.buffer === b.buffer || (opts.bias && c.buffer === opts.bias.buffer)) {
    throw new Error(`matmul: expected C (${c.label}) to be a different buffer from A, B and bias, got the same buffer`);
  }
  const requested = opts.variant ?? selectedMatmulVariant(rec.gpu);
  if (!(MATMUL_VARIANTS as readonly string[]).includes(requested)) throw new Error(`matmul: expected variant ${MATMUL_VARIANTS.join('|')}, got '${requested}'`);
  if (batch * m * n === 0) return;
  const variant = resolvedMatmulVariant(requested, { n, transB: opts.transB }, rec.gpu);

  let tilesM = 1, tilesN = 1, groups: number;
  if (variant === 'naive') {
    groups = Math.ceil((batch * m * n) / NAIVE_WG);
  } else if (variant === 'regblock') {
    tilesM = Math.ceil(m / REGBLOCK_ROWS);
    tilesN = Math.ceil(n / REGBLOCK_COLS);
    groups = batch * tilesM * tilesN;
  } else if (variant === 'vec4') {
    tilesM = Math.ceil(m / VEC4_ROWS);
    tilesN = Math.ceil(n / VEC4_COLS);
    groups = batch * tilesM * tilesN;
  } else if (variant === 'subgroup') {
    tilesM = Math.ceil(m / SUBGROUP_ROWS);
    tilesN = Math.ceil(n / SUBGROUP_COLS);
    groups = batch * tilesM * tilesN;
  } else {
    tilesM = Math.ceil(m / TILED_TILE);
    tilesN = Math.ceil(n / TILED_TILE);
    groups = batch * tilesM * tilesN;
  }
  const layout = { m, n, k, batch, transA: opts.transA, transB: opts.transB, broadcastB: opts.broadcastB };
  if (variant === 'subgroup' && useBWindows(rec.gpu, layout)) {
    recordWindowed(rec, a, b, c, layout, { bias: opts.bias, accumulate: opts.accumulate, alpha });
    return;
  }
  const params = matmulParams(layout, { tilesM, tilesN, hasBias: !!opts.bias, accumulate: !!opts.accumulate, alpha });
  const source = variant === 'subgroup' ? subgroupSource(layout) : kernel(variant);
  rec.dispatch(source, [a, b, opts.bias ?? a, c], groups, params);
}

interface Layout {
  m: number;
  n: number;
  k: number;
  batch: number;
  transA?: boolean;
  transB?: boolean;
  broadcastB?: boolean;
}

/** The uniform block of matmul.wgsl. The optional fields restrict a dispatch to k in [k0, kend),
 *  columns from colBase (tilesN tiles) and batches from batchBase (`batch` of them). */
function matmulParams(
  o: Layout,
  d: { tilesM: number; tilesN: number; hasBias: boolean; accumulate: boolean; alpha: number; k0?: number; kend?: number; colBase?: number; batchBase?: number; batch?: number },
): ArrayBuffer {
  const { m, n, k } = o;
  return new Params()
    .u32(m).u32(n).u32(k).u32(d.batch ?? o.batch)
    .u32(m * k).u32(o.transA ? 1 : k).u32(o.transA ? m : 1)
    .u32(o.broadcastB ? 0 : k * n).u32(o.transB ? 1 : n).u32(o.transB ? k : 1)
    .u32(d.tilesM).u32(d.tilesN)
    .u32(d.hasBias ? 1 : 0).u32(d.accumulate ? 1 : 0)
    .f32(d.alpha)
    .u32(d.k0 ?? 0).u32(d.kend ?? k).u32(d.colBase ?? 0).u32(d.batchBase ?? 0)
    .done();
}

/** The subgroup kernel for this layout (vec4 loads where the alignment allows, scalars otherwise). */
function subgroupSource(o: Layout, windowed = false): KernelSource {
  const { A, B } = subgroupModes(o, windowed);
  return subgroupKernel(COMMON, A, B);
}

/**
 * The subgroup variant with B through uniform-buffer windows (B = ubo in matmul_subgroup.wgsl):
 * one pack dispatch copies B into 64 KiB windows of 512 k × 32 columns, then one dispatch per
 * window computes its 32 columns for all rows of the batches that use it, adding into C after
 * the first k window (so alpha, bias and the caller's accumulate apply exactly once).
 */
function recordWindowed(rec: Recorder, a: Tensor<'f32'>, b: Tensor<'f32'>, c: Tensor<'f32'>, o: Layout, e: { bias?: Tensor<'f32'>; accumulate?: boolean; alpha: number }): void {
  const { m, n, k, batch } = o;
  const panels = Math.ceil(n / SUBGROUP_COLS);
  const chunks = Math.max(1, Math.ceil(k / B_WINDOW_K));
  const bBatches = o.broadcastB ? 1 : batch;
  const windows = bBatches * panels * chunks;
  const packed = bWindowBuffer(rec.gpu, windows * B_WINDOW_BYTES);
  const total = windows * (B_WINDOW_BYTES / 16);
  const pack = new Params()
    .u32(n).u32(k)
    .u32(o.broadcastB ? 0 : k * n).u32(o.transB ? 1 : n).u32(o.transB ? k : 1)
    .u32(panels).u32(chunks).u32(total)
    .done();
  rec.dispatch(B_PACK_KERNEL, [b, { buffer: packed, offset: 0, size: windows * B_WINDOW_BYTES }], Math.ceil(total / B_PACK_WG), pack);
  const source = subgroupSource(o, true);
  const tilesM = Math.ceil(m / SUBGROUP_ROWS);
  // With broadcastB one window serves every batch; otherwise batch bt reads its own windows.
  const perDispatch = o.broadcastB ? batch : 1;
  for (let bb = 0; bb < bBatches; bb++) {
    for (let j = 0; j < panels; j++) {
      for (let ch = 0; ch < chunks; ch++) {
        const first = ch === 0;
        const params = matmulParams(o, {
          tilesM, tilesN: 1, alpha: e.alpha,
          hasBias: first && !!e.bias, accumulate: !first || !!e.accumulate,
          k0: ch * B_WINDOW_K, kend: Math.min(k, (ch + 1) * B_WINDOW_K), colBase: j * SUBGROUP_COLS,
          batchBase: bb, batch: perDispatch,
        });
        const w = (bb * panels + j) * chunks + ch;
        rec.dispatch(source, [a, b, e.bias ?? a, c, { buffer: packed, offset: w * B_WINDOW_BYTES, size: B_WINDOW_BYTES }], perDispatch * tilesM, params);
      }
    }
  }
}
