// Host for batched f32 matmul: C = (accumulate ? C : 0) + alpha · op(A) · op(B) + bias, with
// five variants (naive; subgroup, vec4 and regblock for CPU adapters; tiled for GPUs) chosen by
// device class. subgroup needs subgroups of ≥ 8 lanes and falls back to vec4 without them; vec4
// needs B untransposed with n % 4 == 0 and falls back to regblock otherwise.
import { readFileSync } from 'node:fs';
import { flags, Params, type Gpu, type KernelSource, type Recorder, type Tensor } from '../gpu/index.js';
import { SUBGROUP_COLS, SUBGROUP_ROWS, subgroupKernel, subgroupModes, subgroupVariantSupported } from './matmul_subgroup.js';

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
  const params = new Params()
    .u32(m).u32(n).u32(k).u32(batch)
    .u32(m * k).u32(opts.transA ? 1 : k).u32(opts.transA ? m : 1)
    .u32(opts.broadcastB ? 0 : k * n).u32(opts.transB ? 1 : n).u32(opts.transB ? k : 1)
    .u32(tilesM).u32(tilesN)
    .u32(opts.bias ? 1 : 0).u32(opts.accumulate ? 1 : 0)
    .f32(alpha)
    .done();
  const source = variant === 'subgroup' ? subgroupSource({ m, n, k, transA: opts.transA, transB: opts.transB }) : kernel(variant);
  rec.dispatch(source, [a, b, opts.bias ?? a, c], groups, params);
}

/** The subgroup kernel for this layout (vec4 loads where the alignment allows, scalars otherwise). */
function subgroupSource(o: { m: number; n: number; k: number; transA?: boolean; transB?: boolean }): KernelSource {
  const { A, B } = subgroupModes(o);
  return subgroupKernel(COMMON, A, B);
}
