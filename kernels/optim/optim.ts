// Host for the optimizers: row-wise Adam over sharded embedding tables (touched rows only,
// optional bf16 storage of w and m) and dense AdamW over flat f32 tensors.
import { readFileSync } from 'node:fs';
import { Params, type KernelSource, type Recorder, type Tensor } from '../gpu/index.js';
import { wgslSections, type EmbeddingTable, type ScatterPlan } from '../embedding/embedding.js';

const SECTIONS = wgslSections(readFileSync(new URL('./optim.wgsl', import.meta.url), 'utf8'));
const WG = 64;

type KernelName = 'rowwise_fused' | 'rowwise_fused_vec4' | 'rowwise_v' | 'rowwise_w' | 'adamw' | 'adamw_vec4';
function kernel(name: KernelName, defines: Record<string, string | number | boolean> = {}): KernelSource {
  return { name: `optim_${name}`, wgsl: SECTIONS.get(name)!, defines: { WG, ...defines } };
}

export interface AdamOptions {
  lr: number;
  /** Default 0.9. */
  beta1?: number;
  /** Default 0.98 (the paper's public configs). */
  beta2?: number;
  /** Default 1e-8. */
  eps?: number;
  /** Decoupled weight decay (AdamW); default 0. */
  weightDecay?: number;
  /** 1-based step count t used by the bias corrections 1 − β^t. */
  step: number;
}

export interface ResolvedAdam {
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  wd: number;
  bc1: number;
  bc2: number;
}

/** The options checked (an Error naming `op` on a bad one) and the bias corrections of step t. */
export function resolveAdam(op: string, o: AdamOptions): ResolvedAdam {
  const beta1 = o.beta1 ?? 0.9, beta2 = o.beta2 ?? 0.98, eps = o.eps ?? 1e-8, wd = o.weightDecay ?? 0;
  const bad = (name: string, v: unknown, want: string) => new Error(`${op}: expected ${name} ${want}, got ${String(v)}`);
  if (!(Number.isFinite(o.lr) && o.lr >= 0)) throw bad('lr', o.lr, '≥ 0');
  if (!(beta1 >= 0 && beta1 < 1)) throw bad('beta1', beta1, 'in [0, 1)');
  if (!(beta2 >= 0 && beta2 < 1)) throw bad('beta2', beta2, 'in [0, 1)');
  if (!(eps > 0)) throw bad('eps', eps, '> 0');
  if (!(Number.isFinite(wd) && wd >= 0)) throw bad('weightDecay', wd, '≥ 0');
  if (!(Number.isInteger(o.step) && o.step >= 1)) throw bad('step', o.step, 'an integer ≥ 1');
  return { lr: o.lr, beta1, beta2, eps, wd, bc1: 1 - beta1 ** o.step, bc2: 1 - beta2 ** o.step };
}

function params(n: number, uBegin: number, dim: number, rowBase: number, rowWords: number, r: ResolvedAdam): ArrayBuffer {
  return new Params().u32(n).u32(uBegin).u32(dim).u32(rowBase).u32(rowWords).f32(r.beta1).f32(r.beta2).f32(r.lr).f32(r.eps).f32(r.wd).f32(r.bc1).f32(r.bc2).done();
}

export type RowwiseVariant = 'fused' | 'fused_vec4' | 'split';

/**
 * Row-wise Adam step on the rows the plan touched. `grads` holds one summed gradient row per
 * unique row (f32 `[≥numUnique, dim]`, the output of scatterAddRows with the same plan). The
 * table must have been built with `{ optimizerState: true }`. Rows not in the plan are neither
 * read nor written. 'fused': one invocation per row; 'fused_vec4' (default for f32 tables with
 * dim % 4 == 0, else 'fused'): the same with vec4 accesses, same bits; 'split': v pass, then one
 * invocation per (row, word).
 */
export function rowwiseAdam(rec: Recorder, table: EmbeddingTable, plan: ScatterPlan, grads: Tensor<'f32'>, opts: AdamOptions, variant?: RowwiseVariant): void {
  const op = `rowwiseAdam(${table.label})`;
  if (!table.hasOptimizerState) throw new Error(`${op}: expected a table with optimizer state, got one without. HINT: new EmbeddingTable(..., { optimizerState: true })`);
  const vec4 = table.storage === 'f32' && table.dim % 4 === 0;
  variant ??= vec4 ? 'fused_vec4' : 'fused';
  if (variant !== 'fused' && variant !== 'fused_vec4' && variant !== 'split') throw new Error(`${op}: expected variant 'fused', 'fused_vec4' or 'split', got ${String(variant)}`);
  if (variant === 'fused_vec4' && !vec4) throw new Error(`${op}: variant 'fused_vec4' needs an f32 table with dim % 4 == 0, got ${table.storage} dim ${table.dim}. HINT: use variant 'fused'.`);
  if (grads.dtype !== 'f32') throw new Error(`${op}: expected grads as f32, got ${grads.label} as ${grads.dtype}`);
  if (grads.numel < plan.numUnique * table.dim) throw new Error(`${op}: expected grads [${plan.numUnique}, ${table.dim}] (≥ ${plan.numUnique * table.dim} elements), got ${grads.label} with ${grads.numel}`);
  const last = plan.host.uniqueRows[plan.numUnique - 1];
  if (last !== undefined && last >= table.rows) throw new Error(`${op}: expected plan rows < ${table.rows}, got row ${last}. HINT: plan with planScatter(gpu, ids, table.rows)`);
  const r = resolveAdam(op, opts);
  const bf16 = table.storage === 'bf16';
  const rows = plan.host.uniqueRows;
  // Unique rows are ascending, so each shard's touched rows are one contiguous range.
  let u = 0;
  for (const shard of table.shards) {
    const end = shard.rowBase + shard.rows;
    // First unique row at or past the shard's end (binary search: ≈ 410k rows per step at 1M items).
    let uEnd = u, hi = rows.length;
    while (uEnd < hi) { const mid = (uEnd + hi) >>> 1; if (rows[mid]! < end) uEnd = mid + 1; else hi = mid; }
    const n = uEnd - u;
    if (n > 0) {
      const p = params(n, u, table.dim, shard.rowBase, table.rowWords, r);
      if (variant === 'fused_vec4') {
        rec.dispatch(kernel('rowwise_fused_vec4'), [plan.uniqueRows, grads, shard.w, shard.m!, shard.v!], Math.ceil(n / WG), p);
      } else if (variant === 'fused') {
        rec.dispatch(kernel('rowwise_fused', { BF16: bf16 }), [plan.uniqueRows, grads, shard.w, shard.m!, shard.v!], Math.ceil(n / WG), p);
      } else {
        rec.dispatch(kernel('rowwise_v'), [plan.uniqueRows, grads, shard.v!], Math.ceil(n / WG), p);
        rec.dispatch(kernel('rowwise_w', { BF16: bf16 }), [plan.uniqueRows, grads, shard.w, shard.m!, shard.v!], Math.ceil((n * table.rowWords) / WG), p);
      }
    }
    u = uEnd;
  }
}

/** Bytes of optimizer-touched state per row: w + m + v (f32: 8·d + 4; bf16: 4·d + 4 for even d);
 *  plain Adam with f32 w, m and per-element v needs 12·d. */
export function rowwiseBytesPerRow(dim: number, storage: 'f32' | 'bf16'): number {
  return storage === 'f32' ? 8 * dim + 4 : 8 * Math.ceil(dim / 2) + 4;
}

export type AdamWVariant = 'scalar' | 'vec4';

/**
 * Dense AdamW step on flat f32 tensors (all with n elements, updated in place):
 *   m = β1·m + (1−β1)·g;  v = β2·v + (1−β2)·g²;  w −= lr·( m̂/(sqrt(v̂)+eps) + wd·w ).
 * Variant default: 'vec4' when n % 4 == 0, else 'scalar'.
 */
export function adamW(rec: Recorder, w: Tensor<'f32'>, g: Tensor<'f32'>, m: Tensor<'f32'>, v: Tensor<'f32'>, opts: AdamOptions & { n?: number }, variant?: AdamWVariant): void {
  const op = 'adamW';
  const n = opts.n ?? w.numel;
  if (!Number.isInteger(n) || n < 0) throw new Error(`${op}: expected n ≥ 0, got ${n}`);
  for (const [t, role] of [[w, 'w'], [g, 'g'], [m, 'm'], [v, 'v']] as const) {
    if (t.dtype !== 'f32') throw new Error(`${op}: expected ${role} as f32, got ${t.label} as ${t.dtype}`);
    if (t.numel < n) throw new Error(`${op}: expected ${role} with ≥ ${n} elements, got ${t.label} with ${t.numel}`);
  }
  const r = resolveAdam(op, opts);
  const use = variant ?? (n % 4 === 0 ? 'vec4' : 'scalar');
  if (use === 'vec4') {
    if (n % 4 !== 0) throw new Error(`${op}: expected n % 4 == 0 for variant vec4, got n = ${n}`);
    rec.dispatch(kernel('adamw_vec4'), [w, g, m, v], Math.ceil(n / 4 / WG), params(n / 4, 0, 0, 0, 0, r));
  } else if (use === 'scalar') {
    rec.dispatch(kernel('adamw'), [w, g, m, v], Math.ceil(n / WG), params(n, 0, 0, 0, 0, r));
  } else throw new Error(`${op}: expected variant 'scalar' or 'vec4', got ${String(use)}`);
}
