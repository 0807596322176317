// Host for row reductions (sum, mean and population variance) and the column sum of a
// row-major [rows, cols] f32 tensor. See reduce.wgsl for the math and decomposition.
import { readFileSync } from 'node:fs';
import { Params, type Gpu, type KernelSource, type Recorder, type Tensor } from '../gpu/index.js';

const WGSL = readFileSync(new URL('./reduce.wgsl', import.meta.url), 'utf8');
/** Lanes per column-sum workgroup (one lane per column). */
const COL_WG = 64;

export interface RowShape {
  rows: number;
  cols: number;
  /** Overrides the automatic layout choice (see rowPlan); for tests and benchmarks. */
  layout?: RowLayout;
}

/** Lanes per row for a row of `cols` columns on a GPU: enough lanes to stream the row, few
 *  enough that short rows do not leave most lanes idle. */
export function rowLanes(cols: number): number {
  if (cols <= 64) return 32;
  if (cols <= 1024) return 64;
  return 128;
}

/** How a row kernel is laid out: 'lane' = one lane per row (no barriers), 'workgroup' = one
 *  workgroup of `wg` lanes per row with a one-barrier all-reduce. */
export type RowLayout = 'lane' | 'workgroup';
export interface RowPlan {
  layout: RowLayout;
  /** Workgroup size: rows per workgroup ('lane') or lanes per row ('workgroup'). */
  wg: number;
  /** Workgroups to dispatch (folded to 2D by the recorder). */
  groups: number;
}

/** Picks the layout of a row kernel. On CPU adapters (lavapipe) one lane per row measured 2–3×
 *  faster than a workgroup per row at rows = 25600, cols ∈ {50, 64, 256}: barriers and workgroup
 *  memory cost more than they save; a workgroup (of 8 = lavapipe's SIMD width) per row is kept
 *  for few very long rows, where one lane per row would leave the cores idle. GPUs get a
 *  workgroup per row (coalesced loads). `force` overrides (tests cover both layouts). */
export function rowPlan(gpu: Gpu, rows: number, cols: number, force?: RowLayout): RowPlan {
  const cpu = gpu.deviceClass === 'cpu';
  const layout = force ?? (cpu && (cols <= 8192 || rows >= 256) ? 'lane' : 'workgroup');
  if (layout === 'lane') return { layout, wg: 64, groups: Math.ceil(rows / 64) };
  return { layout, wg: cpu ? 8 : rowLanes(cols), groups: rows };
}

function kernel(entryPoint: string, wg: number, laneRows = false): KernelSource {
  return { name: `reduce_${entryPoint}`, wgsl: WGSL, defines: { WG: wg, LANE_ROWS: laneRows }, entryPoint };
}
function rowKernel(entryPoint: string, plan: RowPlan): KernelSource {
  return kernel(entryPoint, plan.wg, plan.layout === 'lane');
}

/** Checks a [rows, cols] f32 tensor; returns nothing, throws "expected X, got Y". */
export function checkMatrix(op: string, t: Tensor, rows: number, cols: number): void {
  if (t.dtype !== 'f32') throw new Error(`${op}: expected f32 ${t.label}, got ${t.dtype}`);
  if (t.numel !== rows * cols) throw new Error(`${op}: expected ${rows}×${cols} = ${rows * cols} elements in ${t.label}, got ${t.numel}`);
}

export function checkShape(op: string, s: RowShape): void {
  if (!Number.isInteger(s.rows) || s.rows < 0) throw new Error(`${op}: expected rows ≥ 0 (integer), got ${s.rows}`);
  if (!Number.isInteger(s.cols) || s.cols < 1) throw new Error(`${op}: expected cols ≥ 1 (integer), got ${s.cols}`);
}

function checkDistinct(op: string, ...ts: Tensor[]): void {
  for (let i = 0; i < ts.length; i++)
    for (let j = i + 1; j < ts.length; j++)
      if (ts[i]!.buffer === ts[j]!.buffer) throw new Error(`${op}: expected distinct buffers, got ${ts[i]!.label} and ${ts[j]!.label} sharing one`);
}

/** out[r] = Σ_c x[r, c]  (out: [rows]). */
export function rowSum(rec: Recorder, x: Tensor, out: Tensor, shape: RowShape): void {
  checkShape('rowSum', shape);
  const { rows, cols } = shape;
  checkMatrix('rowSum', x, rows, cols);
  checkMatrix('rowSum', out, rows, 1);
  checkDistinct('rowSum', x, out);
  const params = new Params().u32(rows).u32(cols).u32(0).u32(0).done();
  const plan = rowPlan(rec.gpu, rows, cols, shape.layout);
  rec.dispatch(rowKernel('row_sum', plan), [x, out], plan.groups, params);
}

/** mean[r] = Σ_c x[r, c] / cols, variance[r] = Σ_c (x[r, c] − mean[r])² / cols (population). */
export function rowMeanVar(rec: Recorder, x: Tensor, mean: Tensor, variance: Tensor, shape: RowShape): void {
  checkShape('rowMeanVar', shape);
  const { rows, cols } = shape;
  checkMatrix('rowMeanVar', x, rows, cols);
  checkMatrix('rowMeanVar', mean, rows, 1);
  checkMatrix('rowMeanVar', variance, rows, 1);
  checkDistinct('rowMeanVar', x, mean, variance);
  const params = new Params().u32(rows).u32(cols).u32(0).u32(0).done();
  const plan = rowPlan(rec.gpu, rows, cols, shape.layout);
  rec.dispatch(rowKernel('row_mean_var', plan), [x, mean, variance], plan.groups, params);
}

/** Rows per chunk of the column sum's first stage: a function of `rows` only, so a given shape
 *  always sums in the same order (deterministic). At most ~64 chunks. */
export function columnChunk(rows: number): number {
  return rows <= 256 ? Math.max(rows, 1) : Math.max(64, Math.ceil(rows / 64));
}

/** out[c] = Σ_r x[r, c]  (out: [cols]); deterministic fixed-order reduction, no atomics. */
export function columnSum(rec: Recorder, x: Tensor, out: Tensor, shape: RowShape): void {
  checkShape('columnSum', shape);
  const { rows, cols } = shape;
  checkMatrix('columnSum', x, rows, cols);
  checkMatrix('columnSum', out, 1, cols);
  checkDistinct('columnSum', x, out);
  columnSumStages(rec, x, out, rows, cols);
}

/** The two-stage column sum without validation (also used by layer_norm's dgamma/dbeta on its
 *  own [chunks, cols] partials). */
export function columnSumStages(rec: Recorder, x: Tensor, out: Tensor, rows: number, cols: number): void {
  const k = kernel('column_sum', COL_WG);
  const colGroups = Math.ceil(cols / COL_WG);
  if (rows === 0) {
    // Σ over nothing is 0: one chunk of zero rows writes zeros.
    rec.dispatch(k, [x, out], [colGroups, 1, 1], new Params().u32(0).u32(cols).u32(1).u32(0).done());
    return;
  }
  const chunk = columnChunk(rows);
  const chunks = Math.ceil(rows / chunk);
  if (chunks === 1) {
    rec.dispatch(k, [x, out], [colGroups, 1, 1], new Params().u32(rows).u32(cols).u32(chunk).u32(0).done());
    return;
  }
  const partial = scratch(rec.gpu, 'reduce:column_partials', chunks * cols);
  rec.dispatch(k, [x, partial], [colGroups, chunks, 1], new Params().u32(rows).u32(cols).u32(chunk).u32(0).done());
  rec.dispatch(k, [partial, out], [colGroups, 1, 1], new Params().u32(chunks).u32(cols).u32(chunks).u32(0).done());
}

const scratches = new WeakMap<Gpu, Map<string, Tensor>>();

/** A per-device scratch buffer of at least `numel` f32 that is never handed back to the pool:
 *  releasing a temporary right after recording would let a later `gpu.write` into the reused
 *  buffer (queue.writeBuffer runs before the pending submit) clobber it before it is read. Work
 *  recorded on one device runs in order, so sharing one scratch per label is safe. */
export function scratch(gpu: Gpu, label: string, numel: number): Tensor<'f32'> {
  let m = scratches.get(gpu);
  if (!m) scratches.set(gpu, (m = new Map()));
  const have = m.get(label);
  if (have && have.numel >= numel) return have as Tensor<'f32'>;
  // The old one may still be bound in recorded work: keep it alive (leak a little, once).
  const t = gpu.empty([Math.max(numel, 2 * (have?.numel ?? 0))], 'f32', label);
  m.set(label, t);
  return t;
}
