// Host for the gathered sampled softmax (math in sampled_softmax_gathered.wgsl): the loss and its
// backward over a compact table of the rows' distinct items, cost O(P·K·d) independent of the
// catalogue. The host half (planGatheredSlots) turns each row's item ids into local indices and
// builds the sort-by-item CSR that the item gradient sums over; callers gather the compact rows
// (kernels/embedding gatherRows) and scatter the per-item gradient back (one row per item).
import { readFileSync } from 'node:fs';
import { Params, Tensor, type Gpu, type KernelSource, type Recorder } from '../gpu/index.js';
import { gatherRows, type EmbeddingTable } from '../embedding/embedding.js';
import { subgroupVariantSupported } from '../matmul/matmul_subgroup.js';
import { DEFAULT_EPS, inverseWeightSum, isDot, type Similarity } from './sampled_softmax.js';

const SECTIONS = (() => {
  const text = readFileSync(new URL('./sampled_softmax_gathered.wgsl', import.meta.url), 'utf8');
  const parts = text.split(/^\/\/ ==== kernel: (\w+) ====$/m);
  const out = new Map<string, string>();
  for (let i = 1; i < parts.length; i += 2) out.set(parts[i]!, parts[0]! + parts[i + 1]!);
  return out;
})();
const WG = 64;

/** 'subgroup' (default where subgroups of ≥ 8 lanes exist, e.g. lavapipe): a workgroup of 8
 *  lanes per row / item, lanes over the vector (vec4 each), dot products by subgroupAdd.
 *  'lane': one lane per row / item, the portable baseline. */
export type GatheredVariant = 'subgroup' | 'lane';

/** Row width in floats of the normalised copies the kernels read (d padded to whole vec4s). */
export function gatheredRowStride(d: number): number {
  return 4 * Math.ceil(d / 4);
}

/** `dot` (similarity 'dot') reaches only the normalising kernels (norm_pad, gather_norm): the
 *  others read the (n, k) they write and always compile with DOT = 0, one pipeline for both. */
function kernel(name: 'norm_pad' | 'rows' | 'item_grad' | 'gather_norm', d: number, variant: GatheredVariant, inPlace = false, dot = false): KernelSource {
  const DOT = dot ? 1 : 0;
  if (name === 'gather_norm' && d % 4 === 0) return { name: 'sampled_softmax_gathered_gather_norm_sg4', wgsl: 'enable subgroups;\n' + SECTIONS.get('gather_norm_sg4')!, defines: { D4: d / 4, DOT } };
  if (name === 'gather_norm') return { name: 'sampled_softmax_gathered_gather_norm_sg', wgsl: 'enable subgroups;\n' + SECTIONS.get('gather_norm_sg')!, defines: { C: Math.ceil(d / 8), STRIDE: gatheredRowStride(d), DOT } };
  if (name === 'norm_pad') return { name: 'sampled_softmax_gathered_norm_pad', wgsl: SECTIONS.get(name)!, defines: { WG, STRIDE: gatheredRowStride(d), DOT } };
  if (variant === 'lane') return { name: `sampled_softmax_gathered_${name}`, wgsl: SECTIONS.get(name)!, defines: { WG, D4: Math.ceil(d / 4), DOT: 0 } };
  if (name === 'item_grad') {
    // Whole-vec4 stores of the result where d % 4 == 0; in place over ê (same row width) there too.
    if (inPlace && d % 4 !== 0) throw new Error(`sampled_softmax_gathered: the in-place item gradient needs d % 4 == 0, got d = ${d}`);
    const [DE_T, STORE_DE] = inPlace
      ? ['', `e_hat[it * ${d / 4}u + q4] = v;`]
      : d % 4 === 0
        ? ['vec4<f32>', `de[it * ${d / 4}u + q4] = v;`]
        : ['f32', 'let i0 = 4u * q4; for (var q = 0u; q < 4u; q++) { if (i0 + q < params.d) { de[it * params.d + i0 + q] = v[q]; } }'];
    const bindings = inPlace
      ? { EHAT_ACCESS: 'read_write', DE_DECL: '', SQ_BINDING: 7 }
      : { EHAT_ACCESS: 'read', DE_DECL: `@group(0) @binding(7) var<storage, read_write> de: array<${DE_T}>;`, SQ_BINDING: 8 };
    return { name: `sampled_softmax_gathered_item_grad_sg${d % 4 === 0 ? '4' : ''}${inPlace ? '_in_place' : ''}`, wgsl: 'enable subgroups;\n' + SECTIONS.get('item_grad_sg')!, defines: { D4: Math.ceil(d / 4), STORE_DE, ...bindings, DOT: 0 } };
  }
  return { name: `sampled_softmax_gathered_${name}_sg`, wgsl: 'enable subgroups;\n' + SECTIONS.get(`${name}_sg`)!, defines: { D4: Math.ceil(d / 4), DOT: 0 } };
}

/** The variant used when none is asked for. */
export function defaultGatheredVariant(gpu: Gpu): GatheredVariant {
  return subgroupVariantSupported(gpu) ? 'subgroup' : 'lane';
}

/** Bytes of the compact normalised table past which the `rows` pass runs one lane per row even
 *  in the subgroup variant on a GPU (a rule measured on lavapipe before the lane kernel loaded
 *  each slot's row once; unmeasured on GPUs, kept there). Each row reads K random rows of that
 *  table: the subgroup kernel's 8 lanes fetch one row at a time, one lane per row fetches 8 rows
 *  at once. On a CPU adapter the lane kernel now wins at every size, so it runs there whatever
 *  the size. CPU ms of the rows pass, lane / subgroup, P = 4096, K = 129, d = 64 (`tsx
 *  scripts/bench-sampled-softmax.ts rows-variants`; BENCHMARKS.md "Fourth pass"): 29–33 / 36–39
 *  at 1,682 items, 34–35 / 45–48 at 10k, 45–48 / 81–104 at 100k, 58–62 / 134–142 at 1M; at the
 *  ML-100K shape (P = 12000, d = 50, 1,682 items) 74–88 / 100–112. */
export const ROWS_LANE_BYTES = 4 << 20;

/** The kernel the `rows` pass uses: 'lane' for the lane variant, on CPU adapters, and for large
 *  compact tables. */
export function gatheredRowsVariant(variant: GatheredVariant, U: number, d: number, deviceClass: 'cpu' | 'gpu' = 'gpu'): GatheredVariant {
  return variant === 'subgroup' && deviceClass === 'gpu' && U * gatheredRowStride(d) * 4 <= ROWS_LANE_BYTES ? 'subgroup' : 'lane';
}

// ---------------------------------------------------------------------------------------------
// host plan

export interface GatheredPlan {
  /** The distinct item ids of the rows ([U]), ascending (so grouped by table shard). */
  uniqueIds: Uint32Array;
  /** [shards + 1] where each shard's run of uniqueIds starts (one shard: [0, U]). */
  shardStarts: Uint32Array;
  /** [P·K] local index (into uniqueIds) of every slot. */
  slots: Uint32Array;
  /** Slots sorted by local index, ascending slot within an item; masked slots (a negative equal
   *  to its row's positive) and rows of weight 0 are left out. */
  order: Uint32Array;
  /** [U + 1] offsets of each item's run in `order`. */
  segOffsets: Uint32Array;
}

// Scratch of the plan, one bit per table row (kept all zero between calls) and each 32-row
// word's first local index: an id's local index (its rank among the distinct ids) is
// wordBase[id >> 5] + the set bits below it in its word. The two arrays are 1/16 the size of
// an id → index map (256 KiB at 1M rows, within L2 where the map's 4 MiB was not), so the
// P·K random lookups stay in cache; a plan costs O(P·K + numRows / 32).
let seenBits = new Uint32Array(0);
let wordBase = new Uint32Array(0);

function popcount32(x: number): number {
  x -= (x >>> 1) & 0x55555555;
  x = (x & 0x33333333) + ((x >>> 2) & 0x33333333);
  x = (x + (x >>> 4)) & 0x0f0f0f0f;
  return Math.imul(x, 0x01010101) >>> 24;
}

/**
 * Plans P rows of K slots (`ids` [P·K], slot 0 of a row its positive, the rest its negatives),
 * ids < numRows. `weights` [P] (absent: all 1) drops rows of weight 0 from the item gradient.
 * `shardRows` (default: one shard) groups the distinct ids by table shard, so each shard's rows
 * are gathered by one dispatch over its own run. `extraIds` (ids < numRows, repeats allowed) join
 * uniqueIds without any slot: their segments are empty, so their item gradient is zero. The
 * trainer passes the batch's input items so the loss's rows cover every row the step updates.
 */
export function planGatheredSlots(ids: Uint32Array, K: number, numRows: number, weights?: ArrayLike<number>, shardRows = numRows, extraIds: ArrayLike<number> = []): GatheredPlan {
  if (!Number.isInteger(K) || K < 1) throw new Error(`planGatheredSlots: expected an integer K ≥ 1 (slots per row), got ${K}`);
  if (ids.length % K !== 0) throw new Error(`planGatheredSlots: expected P·K ids for K = ${K}, got ${ids.length}`);
  const P = ids.length / K;
  if (weights && weights.length !== P) throw new Error(`planGatheredSlots: expected ${P} weights, got ${weights.length}`);
  if (!Number.isInteger(numRows) || numRows < 1) throw new Error(`planGatheredSlots: expected numRows ≥ 1, got ${numRows}`);
  if (!Number.isInteger(shardRows) || shardRows < 1) throw new Error(`planGatheredSlots: expected shardRows ≥ 1, got ${shardRows}`);
  const words = Math.ceil(numRows / 32);
  if (seenBits.length < words) {
    seenBits = new Uint32Array(words);
    wordBase = new Uint32Array(words);
  }
  const bits = seenBits;
  // Pass 1: mark every id (validated) and list the distinct ones in first-seen order.
  const seen = new Uint32Array(Math.min(ids.length + extraIds.length, numRows));
  let U = 0;
  const mark = (id: number): void => {
    const w = id >>> 5, b = 1 << (id & 31);
    if ((bits[w]! & b) === 0) {
      bits[w]! |= b;
      seen[U++] = id;
    }
  };
  for (let i = 0; i < ids.length; i++) {
    const id = ids[i]!;
    if (id >= numRows) {
      bits.fill(0, 0, words);
      throw new Error(`planGatheredSlots: expected item ids in [0, ${numRows}), got ${id} at slot ${i} (row ${Math.floor(i / K)}). HINT: the table must hold every id the rows name.`);
    }
    mark(id);
  }
  for (let j = 0; j < extraIds.length; j++) {
    const id = extraIds[j]!;
    if (!(Number.isInteger(id) && id >= 0 && id < numRows)) {
      bits.fill(0, 0, words);
      throw new Error(`planGatheredSlots: expected extra ids in [0, ${numRows}), got ${id} at position ${j}. HINT: the table must hold every id the rows name.`);
    }
    mark(id);
  }
  // Ascending id order (hence grouped by shard): the table's rows are then read, and later
  // updated, in address order. When the ids are dense in the table (U > words: a scan of the
  // bits is cheaper than a sort) the bits list them in order; either way the same uniqueIds.
  let uniqueIds: Uint32Array;
  if (U > words) {
    uniqueIds = new Uint32Array(U);
    for (let w = 0, u = 0; w < words; w++) {
      let x = bits[w]!;
      wordBase[w] = u;
      while (x !== 0) {
        const low = x & -x;
        uniqueIds[u++] = w * 32 + 31 - Math.clz32(low); // w * 32: ids ≥ 2^31 overflow a shift
        x ^= low;
      }
    }
  } else {
    uniqueIds = seen.slice(0, U).sort();
    for (let u = 0; u < U; u++) {
      const w = uniqueIds[u]! >>> 5;
      if (u === 0 || uniqueIds[u - 1]! >>> 5 !== w) wordBase[w] = u;
    }
  }
  const shards = Math.ceil(numRows / shardRows);
  const shardStarts = new Uint32Array(shards + 1);
  for (let s = 0, u = 0; s < shards; s++) {
    const end = (s + 1) * shardRows;
    while (u < U && uniqueIds[u]! < end) u++;
    shardStarts[s + 1] = u;
  }
  // Pass 2: every slot's local index, and the live slots counted per item for the CSR (a slot is
  // live unless its row has weight 0 or it is a negative equal to its row's positive).
  const slots = new Uint32Array(ids.length);
  const counts = new Uint32Array(U + 1);
  for (let r = 0; r < P; r++) {
    const live = !(weights && weights[r] === 0);
    let p = 0;
    for (let t = 0; t < K; t++) {
      const i = r * K + t, id = ids[i]!, w = id >>> 5;
      const l = wordBase[w]! + popcount32(bits[w]! & ((1 << (id & 31)) - 1));
      slots[i] = l;
      if (t === 0) p = l;
      if (live && (t === 0 || l !== p)) counts[l + 1]!++;
    }
  }
  if (U > words) bits.fill(0, 0, words);
  else for (let u = 0; u < U; u++) bits[uniqueIds[u]! >>> 5] = 0;
  // Counting sort of the live slots by local index (stable: ascending slot within an item).
  for (let u = 0; u < U; u++) counts[u + 1]! += counts[u]!;
  const segOffsets = counts;
  const next = segOffsets.slice(0, U);
  const order = new Uint32Array(segOffsets[U]!);
  for (let r = 0; r < P; r++) {
    if (weights && weights[r] === 0) continue;
    const p = slots[r * K]!;
    order[next[p]!++] = r * K;
    for (let t = 1; t < K; t++) { const l = slots[r * K + t]!; if (l !== p) order[next[l]!++] = r * K + t; }
  }
  return { uniqueIds, shardStarts, slots, order, segOffsets };
}

// ---------------------------------------------------------------------------------------------
// GPU

export interface GatheredShape {
  /** Rows. */
  P: number;
  /** Slots per row: 1 positive + R negatives. */
  K: number;
  /** Distinct items (rows of the compact table). */
  U: number;
  d: number;
  temperature: number;
  eps?: number;
  /** 'cosine' (default): l = cos(u, e)/τ. 'dot': l = (u·e)/τ on the raw rows (no normalisation). */
  similarity?: Similarity;
}

export interface GatheredInputs {
  /** [P, d] row outputs (normalised here for cosine). */
  u: Tensor<'f32'>;
  /** The compact item rows (normalised here): a [U, d] tensor, or gathered here from a table
   *  (row uniqueIds[i] becomes compact row i; ids grouped by shard as GatheredPlan gives them). */
  items: Tensor<'f32'> | GatheredTableRows;
  /** [P, K] local item index per slot (GatheredPlan.slots). */
  slots: Tensor<'u32'>;
  /** [P] row weights; loss = Σ w·CE / Σ w. */
  weights: Tensor<'f32'>;
  /** The CSR of the plan: order [≥ 1] and segOffsets [U + 1] (unused with deferItemGrad). */
  order?: Tensor<'u32'>;
  segOffsets?: Tensor<'u32'>;
  /** [U] per-item offset subtracted from a negative's logit (log-Q correction); absent = 0. */
  logitOffsets?: Tensor<'f32'>;
}

export interface GatheredTableRows {
  table: EmbeddingTable;
  /** [U] table rows, uploaded (GatheredPlan.uniqueIds). */
  ids: Tensor<'u32'>;
  /** GatheredPlan.shardStarts (for the table's shardRows). */
  shardStarts: Uint32Array;
}

/** Workgroups past which a kernel gives each workgroup several rows or items (lavapipe pays a
 *  fixed cost per workgroup). */
const MAX_WORKGROUPS = 16384;

export interface GatheredOutputs {
  /** [P] CE per row (0 where w = 0). */
  rowLoss: Tensor<'f32'>;
  /** [P, d] gradient w.r.t. u. */
  dU: Tensor<'f32'>;
  /** [U, d] gradient w.r.t. each compact item row (positive and negative slots summed). Absent:
   *  sampledSoftmaxGathered returns a new one, which the caller releases after its submit (with
   *  the subgroup variant at d % 4 == 0 it is the normalised item rows' buffer, overwritten in
   *  place: one [U, d] buffer and its write-allocate reads fewer, 105 MB each at 1M items). */
  dItems?: Tensor<'f32'>;
  /** [U] Σ of each dItems row's squares (written by the item-gradient pass; scratch if absent). */
  dItemsSq?: Tensor<'f32'>;
}

function expect(what: string, t: Tensor | undefined, dtype: string, shape: readonly number[]): void {
  if (!t) throw new Error(`sampled_softmax_gathered: expected ${what}, got nothing`);
  if (t.dtype !== dtype || t.shape.length !== shape.length || t.shape.some((s, i) => s !== shape[i])) {
    throw new Error(`sampled_softmax_gathered: expected ${what} as ${dtype} [${shape.join(', ')}], got ${t.dtype} [${t.shape.join(', ')}]`);
  }
}

/** What the item gradient reads, left for the caller when it is deferred (kernels/optim/item_adam
 *  runs it fused with the optimizer step); released with the run. */
export interface DeferredItemGrad {
  uHat: Tensor<'f32'>;
  normE: Tensor<'f32'>;
  coef: Tensor<'f32'>;
}

export function sampledSoftmaxGathered(rec: Recorder, inp: GatheredInputs, s: GatheredShape, out: GatheredOutputs, opts?: { dLoss?: number; variant?: GatheredVariant; rowsVariant?: GatheredVariant; deferItemGrad?: false }): { release(): void; dItems: Tensor<'f32'> };
export function sampledSoftmaxGathered(rec: Recorder, inp: GatheredInputs, s: GatheredShape, out: GatheredOutputs, opts: { dLoss?: number; variant?: GatheredVariant; rowsVariant?: GatheredVariant; deferItemGrad: true }): { release(): void; deferred: DeferredItemGrad };
/**
 * Records the forward and backward of dLoss · (Σ w·CE / Σ w) in one go: rowLoss, dU and dItems
 * (callers that run rows in chunks pass dLoss = chunk Σw / batch Σw and combine rowLoss with
 * weightedMeanLoss). Scratch is pooled and released after the caller's submit via `release()`.
 * deferItemGrad: the item gradient is not recorded; `deferred` holds what it reads (û, (n, k) of
 * the items, the slots' coefficients) for a fused item update (subgroup variant, d % 4 == 0).
 */
export function sampledSoftmaxGathered(rec: Recorder, inp: GatheredInputs, s: GatheredShape, out: GatheredOutputs, opts: { dLoss?: number; variant?: GatheredVariant; rowsVariant?: GatheredVariant; deferItemGrad?: boolean } = {}): { release(): void; dItems?: Tensor<'f32'>; deferred?: DeferredItemGrad } {
  const { P, K, U, d } = s;
  for (const [k, v, lo] of [['P', P, 1], ['K', K, 1], ['U', U, 1], ['d', d, 1]] as const) {
    if (!Number.isInteger(v) || v < lo) throw new Error(`sampled_softmax_gathered: expected an integer ${k} ≥ ${lo}, got ${v}`);
  }
  if (!(s.temperature > 0)) throw new Error(`sampled_softmax_gathered: expected temperature > 0, got ${s.temperature}`);
  const dot = isDot(s.similarity, 'sampled_softmax_gathered');
  const eps = s.eps ?? DEFAULT_EPS;
  const dLoss = opts.dLoss ?? 1;
  if (!Number.isFinite(dLoss)) throw new Error(`sampled_softmax_gathered: expected a finite dLoss, got ${dLoss}`);
  expect('u', inp.u, 'f32', [P, d]);
  const fromTable = !(inp.items instanceof Tensor);
  if (!fromTable) expect('items', inp.items as Tensor, 'f32', [U, d]);
  else {
    const src = inp.items as GatheredTableRows;
    if (src.table.dim !== d) throw new Error(`sampled_softmax_gathered: expected a table of dim ${d}, got ${src.table.dim}`);
    expect('items.ids', src.ids, 'u32', [U]);
    if (src.shardStarts.length !== src.table.shards.length + 1 || src.shardStarts[src.table.shards.length] !== U) {
      throw new Error(`sampled_softmax_gathered: expected shardStarts of ${src.table.shards.length + 1} entries ending at U = ${U}, got [${Array.from(src.shardStarts).join(', ')}]. HINT: plan with the table's shardRows.`);
    }
  }
  expect('slots', inp.slots, 'u32', [P, K]);
  expect('weights', inp.weights, 'f32', [P]);
  const defer = opts.deferItemGrad === true;
  if (!defer) {
    expect('segOffsets', inp.segOffsets, 'u32', [U + 1]);
    if (!inp.order || inp.order.dtype !== 'u32' || inp.order.numel < 1) throw new Error(`sampled_softmax_gathered: expected order as u32 [≥ 1], got ${inp.order ? `${inp.order.dtype} [${inp.order.shape.join(', ')}]` : 'nothing'}`);
  }
  if (inp.logitOffsets) expect('logitOffsets', inp.logitOffsets, 'f32', [U]);
  expect('rowLoss', out.rowLoss, 'f32', [P]);
  expect('dU', out.dU, 'f32', [P, d]);
  if (out.dItems) expect('dItems', out.dItems, 'f32', [U, d]);
  if (out.dItemsSq) expect('dItemsSq', out.dItemsSq, 'f32', [U]);
  const gpu = rec.gpu;
  const variant = opts.variant ?? defaultGatheredVariant(gpu);
  if (variant !== 'subgroup' && variant !== 'lane') throw new Error(`sampled_softmax_gathered: expected variant 'subgroup' or 'lane', got ${String(variant)}`);
  if (variant === 'subgroup' && !subgroupVariantSupported(gpu)) throw new Error('sampled_softmax_gathered: the subgroup variant needs subgroups of ≥ 8 lanes. HINT: use variant \'lane\'.');
  const stride = gatheredRowStride(d);
  // The rows pass may run one lane per row while the other passes use subgroups (same coef).
  const rowsVariant = opts.rowsVariant ?? gatheredRowsVariant(variant, U, d, gpu.deviceClass);
  if (rowsVariant !== 'subgroup' && rowsVariant !== 'lane') throw new Error(`sampled_softmax_gathered: expected rowsVariant 'subgroup' or 'lane', got ${String(rowsVariant)}`);
  if (rowsVariant === 'subgroup' && variant !== 'subgroup') throw new Error('sampled_softmax_gathered: rowsVariant \'subgroup\' needs variant \'subgroup\'. HINT: leave rowsVariant unset.');
  const perRow = rowsVariant === 'subgroup' ? 1 : WG;
  const owned: Tensor[] = [];
  const t = <T extends Tensor>(x: T) => (owned.push(x), x);
  const uHat = t(gpu.empty([P, stride], 'f32', 'sampled_softmax_gathered:u_hat'));
  const normU = t(gpu.empty([P, 2], 'f32', 'sampled_softmax_gathered:norm_u'));
  // Without a dItems buffer (subgroup variant, d % 4 == 0) ê's buffer later takes the gradient.
  const inPlace = !out.dItems && variant === 'subgroup' && d % 4 === 0;
  const eHat = t(gpu.empty([U, stride], 'f32', inPlace ? 'sampled_softmax_gathered:d_items' : 'sampled_softmax_gathered:e_hat'));
  const normE = t(gpu.empty([U, 2], 'f32', 'sampled_softmax_gathered:norm_e'));
  const coef = t(gpu.empty([P, K], 'f32', 'sampled_softmax_gathered:coef'));
  const invW = t(gpu.empty([1], 'f32', 'sampled_softmax_gathered:inv_w'));
  rec.dispatch(kernel('norm_pad', d, variant, false, dot), [inp.u, uHat, normU], Math.ceil(P / WG), new Params().u32(P).u32(d).f32(eps).done());
  if (!fromTable) {
    rec.dispatch(kernel('norm_pad', d, variant, false, dot), [inp.items as Tensor, eHat, normE], Math.ceil(U / WG), new Params().u32(U).u32(d).f32(eps).done());
  } else {
    const src = inp.items as GatheredTableRows;
    if (src.table.storage === 'f32' && variant === 'subgroup') {
      src.table.shards.forEach((shard, s) => {
        const r0 = src.shardStarts[s]!, r1 = src.shardStarts[s + 1]!;
        if (r1 === r0) return;
        const perWg = Math.ceil((r1 - r0) / MAX_WORKGROUPS);
        const params = new Params().u32(r0).u32(r1).u32(d).u32(shard.rowBase).u32(perWg).f32(eps).done();
        rec.dispatch(kernel('gather_norm', d, variant, false, dot), [shard.w, src.ids, eHat, normE], Math.ceil((r1 - r0) / perWg), params);
      });
    } else {
      // bf16 storage (widened by the table's own gather) or no subgroups: gather, then normalise.
      const rows = t(gpu.empty([U, d], 'f32', 'sampled_softmax_gathered:items'));
      gatherRows(rec, src.table, src.ids, rows, U);
      rec.dispatch(kernel('norm_pad', d, variant, false, dot), [rows, eHat, normE], Math.ceil(U / WG), new Params().u32(U).u32(d).f32(eps).done());
    }
  }
  inverseWeightSum(rec, inp.weights, invW);
  const rowParams = new Params().u32(P).u32(K).u32(d).u32(1).f32(1 / s.temperature).f32(dLoss).u32(inp.logitOffsets ? 1 : 0).done();
  rec.dispatch(
    kernel('rows', d, rowsVariant),
    [uHat, normU, eHat, inp.slots, inp.weights, invW, inp.logitOffsets ?? invW, out.rowLoss, coef, out.dU],
    Math.ceil(P / perRow),
    rowParams,
  );
  if (defer) {
    if (variant !== 'subgroup' || d % 4 !== 0 || out.dItems || out.dItemsSq) throw new Error(`sampled_softmax_gathered: a deferred item gradient needs the subgroup variant, d % 4 == 0 and no dItems / dItemsSq outputs, got ${variant}, d = ${d}. HINT: record the item gradient here instead.`);
    return { release: () => owned.splice(0).forEach((x) => x.release()), deferred: { uHat, normE, coef } };
  }
  const perWg = variant === 'subgroup' ? Math.ceil(U / MAX_WORKGROUPS) : 1;
  const dItemsSq = out.dItemsSq ?? t(gpu.empty([U], 'f32', 'sampled_softmax_gathered:d_items_sq'));
  // In place: ê becomes the caller's gradient (no longer scratch released here).
  if (inPlace) owned.splice(owned.indexOf(eHat), 1);
  const dItems = out.dItems ?? (inPlace ? eHat : gpu.empty([U, d], 'f32', 'sampled_softmax_gathered:d_items'));
  rec.dispatch(
    kernel('item_grad', d, variant, inPlace),
    inPlace ? [uHat, eHat, normE, coef, inp.order!, inp.segOffsets!, dItemsSq] : [uHat, eHat, normE, coef, inp.order!, inp.segOffsets!, dItems, dItemsSq],
    variant === 'subgroup' ? Math.ceil(U / perWg) : Math.ceil(U / WG),
    new Params().u32(U).u32(K).u32(d).u32(perWg).done(),
  );
  return { release: () => owned.splice(0).forEach((x) => x.release()), dItems };
}
