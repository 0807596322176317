// Host for item_adam.wgsl: the gathered sampled softmax's item gradient and the row-wise Adam
// step of the item table in one pass over the step's distinct items, the gradient never written
// to memory (the math and why: item_adam.wgsl). Same bits as the unfused path
// (sampledSoftmaxGathered's item gradient, addRowsAt, rowwiseAdam 'fused_vec4'); a row whose
// gradient is not finite is left unchanged and reported through rowSq.
import { readFileSync } from 'node:fs';
import { Params, type Gpu, type KernelSource, type Recorder, type Tensor } from '../gpu/index.js';
import type { EmbeddingTable } from '../embedding/embedding.js';
import { subgroupVariantSupported } from '../matmul/matmul_subgroup.js';
import { resolveAdam, type AdamOptions } from './optim.js';

const WGSL = readFileSync(new URL('./item_adam.wgsl', import.meta.url), 'utf8');
/** Storage buffers the kernel binds (WebGPU's default limit is 8; lavapipe and desktop GPUs offer more). */
const STORAGE_BINDINGS = 10;
/** Workgroups past which each workgroup takes several items (lavapipe pays per workgroup). */
const MAX_WORKGROUPS = 16384;

function kernel(d: number): KernelSource {
  return { name: 'optim_item_adam', wgsl: WGSL, defines: { D4: d / 4 } };
}

/** Whether the fused pass can run on this device for this table: subgroups of ≥ 8 lanes, enough
 *  storage bindings, an f32 table with optimizer state and d % 4 == 0. Otherwise callers keep the
 *  unfused path. */
export function itemAdamSupported(gpu: Gpu, table: EmbeddingTable): boolean {
  return subgroupVariantSupported(gpu) && gpu.device.limits.maxStorageBuffersPerShaderStage >= STORAGE_BINDINGS
    && table.storage === 'f32' && table.hasOptimizerState && table.dim % 4 === 0;
}

export interface ItemAdamInputs {
  /** [P, d] normalised row outputs (the gathered loss's û, d % 4 == 0). */
  uHat: Tensor<'f32'>;
  /** [P, K] each slot's coefficient ∂loss/∂logit · (1/τ) from the rows pass. */
  coef: Tensor<'f32'>;
  /** The plan's CSR in one buffer: segOffsets [U + 1] then order. */
  csr: Tensor<'u32'>;
  /** [U, 2] (n, k) of each compact item row from the gather (ê = w / n). */
  normE: Tensor<'f32'>;
  /** [U, 2] per item: its table row, and 1 + its row in inSum (0: no input gradient). */
  rows: Tensor<'u32'>;
  /** [≥ 1, d] the input rows' summed gradients (rows named by `rows`). */
  inSum: Tensor<'f32'>;
  /** Host copy of the items' table rows, ascending (each shard's items are one contiguous run). */
  tableRows: Uint32Array;
  /** Slots per row. */
  K: number;
}

/**
 * Records the fused item gradient + row-wise Adam step: every item's table row (w, m, v) is
 * updated with its gradient, rowSq [U] receives each gradient row's Σg² (NaN/±Inf where the row
 * was left unchanged because its gradient is not finite).
 */
export function itemGradAdam(rec: Recorder, table: EmbeddingTable, inp: ItemAdamInputs, rowSq: Tensor<'f32'>, opts: AdamOptions): void {
  const op = `itemGradAdam(${table.label})`;
  if (!itemAdamSupported(rec.gpu, table)) throw new Error(`${op}: needs subgroups, ${STORAGE_BINDINGS} storage bindings and an f32 table with optimizer state and dim % 4 == 0. HINT: check itemAdamSupported() and use sampledSoftmaxGathered's item gradient with rowwiseAdam.`);
  const d = table.dim;
  const U = inp.tableRows.length;
  const K = inp.K;
  if (!Number.isInteger(K) || K < 1) throw new Error(`${op}: expected an integer K ≥ 1, got ${K}`);
  const P = inp.coef.numel / K;
  const check = (what: string, t: Tensor, dtype: string, ok: boolean, want: string) => {
    if (t.dtype !== dtype || !ok) throw new Error(`${op}: expected ${what} as ${dtype} ${want}, got ${t.label} (${t.dtype}, ${t.numel} elements)`);
  };
  check('coef', inp.coef, 'f32', Number.isInteger(P) && P >= 1, `[P, ${K}]`);
  check('uHat', inp.uHat, 'f32', inp.uHat.numel === P * d, `[${P}, ${d}]`);
  check('csr', inp.csr, 'u32', inp.csr.numel >= U + 1, `[≥ ${U + 1}]`);
  check('normE', inp.normE, 'f32', inp.normE.numel === 2 * U, `[${U}, 2]`);
  check('rows', inp.rows, 'u32', inp.rows.numel === 2 * U, `[${U}, 2]`);
  check('inSum', inp.inSum, 'f32', inp.inSum.numel >= d && inp.inSum.numel % d === 0, `[≥ 1, ${d}]`);
  check('rowSq', rowSq, 'f32', rowSq.numel === U, `[${U}]`);
  const rows = inp.tableRows;
  for (let u = 1; u < U; u++) if (!(rows[u]! > rows[u - 1]!)) throw new Error(`${op}: expected ascending distinct table rows, got ${rows[u - 1]} then ${rows[u]} at ${u}`);
  if (U > 0 && rows[U - 1]! >= table.rows) throw new Error(`${op}: expected table rows < ${table.rows}, got ${rows[U - 1]}`);
  const r = resolveAdam(op, opts);
  let u = 0;
  for (const shard of table.shards) {
    const end = shard.rowBase + shard.rows;
    let uEnd = u, hi = U;
    while (uEnd < hi) { const mid = (uEnd + hi) >>> 1; if (rows[mid]! < end) uEnd = mid + 1; else hi = mid; }
    const n = uEnd - u;
    if (n > 0) {
      const perWg = Math.ceil(n / MAX_WORKGROUPS);
      const p = new Params().u32(n).u32(u).u32(K).u32(perWg).u32(shard.rowBase).u32(U + 1)
        .f32(r.beta1).f32(r.beta2).f32(r.lr).f32(r.eps).f32(r.wd).f32(r.bc1).f32(r.bc2).done();
      rec.dispatch(kernel(d), [inp.uHat, inp.coef, inp.csr, inp.normE, inp.rows, inp.inSum, shard.w, shard.m!, shard.v!, rowSq], Math.ceil(n / perWg), p);
    }
    u = uEnd;
  }
}
