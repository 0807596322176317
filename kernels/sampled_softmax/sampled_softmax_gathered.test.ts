import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createGpu, Tensor, type Gpu } from '../gpu/index.js';
import { EmbeddingTable, roundBf16 } from '../embedding/embedding.js';
import { expectClose } from '../testing/compare.js';
import { poison } from '../testing/poison.js';
import { Rng } from '../testing/rng.js';
import { gatheredRowStride, gatheredRowsVariant, planGatheredSlots, ROWS_LANE_BYTES, sampledSoftmaxGathered } from './sampled_softmax_gathered.js';
import { gatherRef, sampledSoftmaxBackwardRef, sampledSoftmaxRef, type LossRefInput } from './sampled_softmax.ref.js';

let gpu: Gpu;
beforeAll(async () => (gpu = await createGpu()));
afterAll(() => gpu?.dispose());

interface Case {
  P: number;
  R: number;
  d: number;
  numItems: number;
  tau: number;
  offsets?: boolean;
  /** Scale of u's entries (tiny: norms below eps). */
  uScale?: number;
  /** Gather the compact rows from a sharded table (shards of 7 rows) instead of a tensor. */
  table?: 'f32' | 'bf16';
  variant?: 'subgroup' | 'lane';
  /** The rows pass's kernel (default: by the compact table's size). */
  rowsVariant?: 'subgroup' | 'lane';
  /** Similarity 'dot' (raw rows; item rows then get norms in [0.25, 3]). */
  dot?: boolean;
  /** No dItems buffer: the function returns one (in place over ê where d % 4 == 0, subgroup). */
  noDItems?: boolean;
}

/** Random rows with collisions (≈15% of negatives equal the positive, every negative of row 0),
 *  weights with zeros (incl. the last row) and non-unit values, one all-zero item row. */
function makeCase(c: Case, seed: number) {
  const rng = new Rng(seed);
  const { P, R, d, numItems } = c;
  const items = rng.f32(numItems * d);
  items.fill(0, 0, d); // item 0: zero row (norm clamped)
  // Dot logits see the rows' norms: spread them, so a normalisation left in would show.
  if (c.dot) for (let i = 1; i < numItems; i++) { const f = rng.uniform(0.25, 3); for (let k = 0; k < d; k++) items[i * d + k]! *= f; }
  if (c.table === 'bf16') for (let i = 0; i < items.length; i++) items[i] = roundBf16(items[i]!);
  const u = rng.f32(P * d, -(c.uScale ?? 1), c.uScale ?? 1);
  const posIds = Uint32Array.from({ length: P }, () => rng.int(0, numItems - 1));
  const negIds = Uint32Array.from({ length: P * R }, () => rng.int(0, numItems - 1));
  for (let r = 0; r < P; r++) for (let j = 0; j < R; j++) if (rng.next() < 0.15 || (r === 0 && R > 1 && j > 0)) negIds[r * R + j] = posIds[r]!;
  const weights = Float32Array.from({ length: P }, (_, r) => (r === P - 1 && P > 1 ? 0 : rng.next() < 0.2 ? 0 : rng.pick([1, 1, 0.5, 2])));
  const itemOffset = Float64Array.from({ length: numItems }, () => (c.offsets ? rng.uniform(-2, 3) : 0));
  const ref: LossRefInput = {
    P, R, d, temperature: c.tau, eps: 1e-6, u, posIds, negIds, weights, similarity: c.dot ? 'dot' : 'cosine',
    posEmb: gatherRef(items, posIds, d),
    negEmb: gatherRef(items, negIds, d),
    negLogitOffset: c.offsets ? Float64Array.from(negIds, (id) => itemOffset[id]!) : undefined,
  };
  return { items, u, posIds, negIds, weights, itemOffset, ref };
}

/** The reference's per-slot item gradients summed per item id (float64). */
function itemGradRef(x: ReturnType<typeof makeCase>, d: number, dLoss: number): Map<number, Float64Array> {
  const g = sampledSoftmaxBackwardRef(x.ref, dLoss);
  const out = new Map<number, Float64Array>();
  const add = (id: number, src: Float64Array, at: number) => {
    const row = out.get(id) ?? new Float64Array(d);
    for (let i = 0; i < d; i++) row[i]! += src[at + i]!;
    out.set(id, row);
  };
  x.posIds.forEach((id, r) => add(id, g.dPos, r * d));
  x.negIds.forEach((id, s) => add(id, g.dNeg, s * d));
  return out;
}

async function runAndCheck(c: Case, seed: number, dLoss = 1.5): Promise<void> {
  const x = makeCase(c, seed);
  const { P, R, d } = c;
  const K = R + 1;
  const ids = new Uint32Array(P * K);
  for (let r = 0; r < P; r++) {
    ids[r * K] = x.posIds[r]!;
    ids.set(x.negIds.subarray(r * R, (r + 1) * R), r * K + 1);
  }
  const table = c.table ? new EmbeddingTable(gpu, c.numItems, d, 'items', { maxShardRows: 7, storage: c.table }) : undefined;
  table?.upload(x.items);
  const plan = planGatheredSlots(ids, K, c.numItems, x.weights, table?.shardRows);
  const U = plan.uniqueIds.length;
  const compact = gatherRef(x.items, plan.uniqueIds, d);
  const idsT = gpu.u32(plan.uniqueIds, [U], 'ids');
  const inp = {
    u: gpu.f32(x.u, [P, d], 'u'),
    items: table ? { table, ids: idsT, shardStarts: plan.shardStarts } : gpu.f32(compact, [U, d], 'items'),
    slots: gpu.u32(plan.slots, [P, K], 'slots'),
    weights: gpu.f32(x.weights, [P], 'weights'),
    order: gpu.u32(plan.order.length ? plan.order : [0], [Math.max(1, plan.order.length)], 'order'),
    segOffsets: gpu.u32(plan.segOffsets, [U + 1], 'seg'),
    logitOffsets: c.offsets ? gpu.f32(Float64Array.from(plan.uniqueIds, (id) => x.itemOffset[id]!), [U], 'offsets') : undefined,
  };
  const out = { rowLoss: gpu.empty([P], 'f32', 'rowLoss'), dU: gpu.empty([P, d], 'f32', 'dU'), dItems: c.noDItems ? undefined : gpu.empty([U, d], 'f32', 'dItems'), dItemsSq: gpu.empty([U], 'f32', 'dItemsSq') };
  poison(gpu, ...[out.rowLoss, out.dU, out.dItems, out.dItemsSq].filter((t) => t !== undefined));
  const rec = gpu.recorder();
  const run = sampledSoftmaxGathered(rec, inp, { P, K, U, d, temperature: c.tau, similarity: c.dot ? 'dot' : undefined }, out, { dLoss, variant: c.variant, rowsVariant: c.rowsVariant });
  await rec.submit();
  const want = sampledSoftmaxRef(x.ref);
  const g = sampledSoftmaxBackwardRef(x.ref, dLoss);
  const tol = { atol: 3e-4 / c.tau, rtol: 1e-4 };
  expectClose('rowLoss', await gpu.read(out.rowLoss), want.rowLoss, tol);
  const wantItems = itemGradRef(x, d, dLoss);
  const wantDItems = new Float64Array(U * d);
  plan.uniqueIds.forEach((id, l) => wantDItems.set(wantItems.get(id)!, l * d));
  let gScale = 1.5 / (c.tau * P);
  for (const a of [g.dU, wantDItems]) for (const v of a) gScale = Math.max(gScale, Math.abs(v));
  expectClose('dU', await gpu.read(out.dU), g.dU, { atol: 2e-4 * gScale, rtol: 2e-3, shape: [P, d] });
  const dItems = await gpu.read(run.dItems);
  expectClose('dItems', dItems, wantDItems, { atol: 2e-4 * gScale, rtol: 2e-3, shape: [U, d] });
  // Each row's Σ of squares: of the values the kernel stored (float64 sum, f32 accuracy).
  const wantSq = Float64Array.from({ length: U }, (_, l) => dItems.subarray(l * d, (l + 1) * d).reduce((a, v) => a + v * v, 0));
  expectClose('dItemsSq', await gpu.read(out.dItemsSq), wantSq, { atol: 1e-12, rtol: 1e-5 });
  run.release();
  [...Object.values(inp), ...Object.values(out), idsT].forEach((t) => (t instanceof Tensor ? t.release() : undefined));
  if (c.noDItems) run.dItems.release();
  table?.dispose();
}

describe('planGatheredSlots', () => {
  it('local indices, ascending ids and a stable CSR without masked or weight-0 slots', () => {
    // rows (K = 3): [5 | 7 5] (5 masked), [7 | 9 9], [2 | 5 7] with weight 0
    const plan = planGatheredSlots(Uint32Array.from([5, 7, 5, 7, 9, 9, 2, 5, 7]), 3, 10, [1, 1, 0]);
    expect([...plan.uniqueIds]).toEqual([2, 5, 7, 9]);
    expect([...plan.slots]).toEqual([1, 2, 1, 2, 3, 3, 0, 1, 2]);
    expect([...plan.segOffsets]).toEqual([0, 0, 1, 3, 5]);
    expect([...plan.order]).toEqual([0, 1, 3, 4, 5]);
  });

  it('groups the distinct ids by shard', () => {
    const plan = planGatheredSlots(Uint32Array.from([9, 1, 5, 1, 8, 3]), 3, 10, undefined, 4);
    expect([...plan.uniqueIds]).toEqual([1, 3, 5, 8, 9]);
    expect([...plan.shardStarts]).toEqual([0, 2, 3, 5]);
    expect([...plan.slots].map((l) => plan.uniqueIds[l])).toEqual([9, 1, 5, 1, 8, 3]);
  });

  it('extra ids join the distinct ids with empty segments; a bad one is refused, scratch clean', () => {
    // rows (K = 2): [5 | 7], [7 | 9]; extras 3, 7 (already there), 3 again, 0
    const plan = planGatheredSlots(Uint32Array.from([5, 7, 7, 9]), 2, 10, undefined, 10, [3, 7, 3, 0]);
    expect([...plan.uniqueIds]).toEqual([0, 3, 5, 7, 9]);
    expect([...plan.slots].map((l) => plan.uniqueIds[l])).toEqual([5, 7, 7, 9]);
    expect([...plan.segOffsets]).toEqual([0, 0, 0, 1, 3, 4]);
    expect([...plan.order]).toEqual([0, 1, 2, 3]);
    expect(() => planGatheredSlots(Uint32Array.from([5, 7]), 2, 10, undefined, 10, [4, 10])).toThrow(/extra ids in \[0, 10\), got 10 at position 1.*HINT/);
    expect([...planGatheredSlots(Uint32Array.from([2, 1]), 2, 10).uniqueIds]).toEqual([1, 2]);
  });

  it('the same plan whether the ids are dense in the table (map scan) or sparse (sort)', () => {
    const rng = new Rng(21);
    for (let trial = 0; trial < 3; trial++) {
      const K = 5, P = 40;
      const ids = Uint32Array.from({ length: P * K }, () => rng.int(0, 199));
      const weights = Float32Array.from({ length: P }, () => (rng.next() < 0.2 ? 0 : 1));
      const extra = Uint32Array.from({ length: 9 }, () => rng.int(0, 199));
      const dense = planGatheredSlots(ids, K, 200, weights, 50, extra); // U ≈ 130 > 200 / 32: scan
      const sparse = planGatheredSlots(ids, K, 200 * 64, weights, 50, extra); // sort
      expect([...dense.uniqueIds]).toEqual([...new Set([...ids, ...extra])].sort((a, b) => a - b));
      for (const k of ['uniqueIds', 'slots', 'order', 'segOffsets'] as const) expect([...sparse[k]], k).toEqual([...dense[k]]);
      expect([...sparse.shardStarts.subarray(0, 5)]).toEqual([...dense.shardStarts]);
      expect([...dense.slots].map((l) => dense.uniqueIds[l])).toEqual([...ids]);
    }
  });

  it('equals a plain Map-based plan, ids at 32-row word edges included', () => {
    // The reference: local index = rank among the sorted distinct ids; CSR by a stable sort.
    const reference = (ids: Uint32Array, K: number, weights: Float32Array, extra: Uint32Array) => {
      const uniqueIds = [...new Set([...ids, ...extra])].sort((a, b) => a - b);
      const rank = new Map(uniqueIds.map((id, l) => [id, l]));
      const slots = Array.from(ids, (id) => rank.get(id)!);
      const live: [number, number][] = [];
      for (let i = 0; i < ids.length; i++) {
        const r = Math.floor(i / K);
        if (weights[r] !== 0 && (i % K === 0 || slots[i] !== slots[r * K])) live.push([slots[i]!, i]);
      }
      live.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
      const segOffsets = Array.from({ length: uniqueIds.length + 1 }, (_, l) => live.filter(([x]) => x < l).length);
      return { uniqueIds, slots, order: live.map(([, i]) => i), segOffsets };
    };
    const rng = new Rng(5);
    for (const [numRows, P, K] of [[70, 30, 4], [64, 9, 3], [33, 5, 7], [100_003, 50, 6], [1 << 20, 20, 9]] as const) {
      const edge = [0, 31, 32, 63, numRows - 1, numRows - 2].filter((x) => x >= 0 && x < numRows);
      const draw = () => (rng.next() < 0.3 ? edge[rng.int(0, edge.length - 1)]! : rng.int(0, numRows - 1));
      const ids = Uint32Array.from({ length: P * K }, draw);
      const weights = Float32Array.from({ length: P }, () => (rng.next() < 0.2 ? 0 : 1));
      const extra = Uint32Array.from({ length: 6 }, draw);
      const plan = planGatheredSlots(ids, K, numRows, weights, Math.ceil(numRows / 3), extra);
      const want = reference(ids, K, weights, extra);
      for (const k of ['uniqueIds', 'slots', 'order', 'segOffsets'] as const) expect([...plan[k]], `${k} at ${numRows} rows`).toEqual(want[k]);
    }
  });

  it('rejects an id outside the table and leaves its scratch clean', () => {
    expect(() => planGatheredSlots(Uint32Array.from([1, 2, 10]), 3, 10)).toThrow(/got 10 at slot 2.*HINT/);
    const plan = planGatheredSlots(Uint32Array.from([2, 1, 1]), 3, 10);
    expect([...plan.uniqueIds]).toEqual([1, 2]);
    expect([...plan.slots]).toEqual([1, 0, 0]);
  });
});

describe('sampled_softmax gathered: loss, dU and per-item gradients equal the float64 reference', () => {
  const CASES: Case[] = [
    { P: 1, R: 1, d: 1, numItems: 3, tau: 0.05 },
    { P: 7, R: 5, d: 3, numItems: 11, tau: 0.05 },
    { P: 67, R: 13, d: 5, numItems: 40, tau: 0.2, offsets: true },
    { P: 40, R: 128, d: 50, numItems: 1682, tau: 0.05 },
    { P: 65, R: 31, d: 50, numItems: 97, tau: 0.05, offsets: true },
    { P: 9, R: 7, d: 6, numItems: 5, tau: 1, uScale: 1e-8 },
    { P: 33, R: 9, d: 13, numItems: 40, tau: 0.05, table: 'f32' },
    { P: 20, R: 6, d: 6, numItems: 23, tau: 0.05, table: 'bf16', offsets: true },
    { P: 67, R: 13, d: 5, numItems: 40, tau: 0.2, offsets: true, variant: 'lane' },
    { P: 33, R: 9, d: 13, numItems: 40, tau: 0.05, table: 'f32', variant: 'lane' },
    // One lane per row under the subgroup passes (what CPU adapters and large compact tables run).
    { P: 67, R: 13, d: 5, numItems: 40, tau: 0.2, offsets: true, rowsVariant: 'lane' },
    { P: 33, R: 9, d: 64, numItems: 40, tau: 0.05, table: 'f32', rowsVariant: 'lane' },
    // The subgroup rows pass (what GPUs run on small compact tables).
    { P: 67, R: 13, d: 5, numItems: 40, tau: 0.2, offsets: true, rowsVariant: 'subgroup' },
    { P: 33, R: 9, d: 64, numItems: 40, tau: 0.05, table: 'f32', rowsVariant: 'subgroup' },
    { P: 40, R: 128, d: 50, numItems: 1682, tau: 0.05, rowsVariant: 'subgroup' },
    { P: 21, R: 11, d: 64, numItems: 30, tau: 0.05, table: 'f32' },
    { P: 21, R: 11, d: 12, numItems: 30, tau: 0.1, table: 'f32', offsets: true },
    // similarity 'dot': every normalising kernel (norm_pad from a tensor and after a bf16 gather,
    // gather_norm_sg at d % 4 != 0, gather_norm_sg4), both rows passes, both item_grad variants,
    // the in-place dItems, log-Q offsets, and u below eps (no clamp with dot).
    { P: 1, R: 1, d: 1, numItems: 3, tau: 1, dot: true },
    { P: 67, R: 13, d: 5, numItems: 40, tau: 0.2, offsets: true, dot: true },
    { P: 40, R: 128, d: 50, numItems: 1682, tau: 1, dot: true },
    { P: 9, R: 7, d: 6, numItems: 5, tau: 1, uScale: 1e-8, dot: true },
    { P: 33, R: 9, d: 13, numItems: 40, tau: 0.05, table: 'f32', dot: true },
    { P: 20, R: 6, d: 6, numItems: 23, tau: 0.05, table: 'bf16', offsets: true, dot: true },
    { P: 67, R: 13, d: 5, numItems: 40, tau: 0.2, offsets: true, variant: 'lane', dot: true },
    { P: 33, R: 9, d: 13, numItems: 40, tau: 0.05, table: 'f32', variant: 'lane', dot: true },
    { P: 67, R: 13, d: 5, numItems: 40, tau: 0.2, offsets: true, rowsVariant: 'lane', dot: true },
    { P: 33, R: 9, d: 64, numItems: 40, tau: 1, table: 'f32', rowsVariant: 'subgroup', dot: true },
    { P: 21, R: 11, d: 64, numItems: 30, tau: 0.05, table: 'f32', noDItems: true, dot: true },
    { P: 21, R: 11, d: 12, numItems: 30, tau: 1, noDItems: true, offsets: true, dot: true },
  ];
  it.each(CASES.map((c, i) => [i, c] as const))('#%i %o', async (i, c) => {
    await runAndCheck(c, 500 + i);
  });

  it('the rows pass runs one lane per row on CPU adapters, and on GPUs once the compact table outgrows ROWS_LANE_BYTES', () => {
    const maxSg = Math.floor(ROWS_LANE_BYTES / (gatheredRowStride(64) * 4));
    expect(gatheredRowsVariant('subgroup', maxSg, 64)).toBe('subgroup');
    expect(gatheredRowsVariant('subgroup', maxSg + 1, 64)).toBe('lane');
    expect(gatheredRowsVariant('subgroup', 10_000, 64, 'gpu')).toBe('subgroup');
    expect(gatheredRowsVariant('subgroup', 409_475, 64, 'gpu')).toBe('lane');
    expect(gatheredRowsVariant('lane', 1, 64)).toBe('lane');
    for (const U of [1, 1682, 10_000, 409_475]) expect(gatheredRowsVariant('subgroup', U, 64, 'cpu')).toBe('lane');
  });

  // Without a dItems buffer the function returns one: at d % 4 == 0 (subgroup variant) the
  // normalised rows' buffer, overwritten in place. Every output bit for bit as with a separate
  // buffer, a NaN row of u included; from a tensor and from a sharded table.
  it.each([[64, false], [12, true], [6, false], [8, true]] as const)('dItems written in place: the same bits as into a separate buffer (d %i, from a table: %s)', async (d, fromTable) => {
    const P = 37, K = 9, numItems = 300;
    const rng = new Rng(d + 11);
    const u = rng.f32(P * d);
    u[3 * d + 1] = NaN;
    const itemsHost = rng.f32(numItems * d);
    const ids = Uint32Array.from({ length: P * K }, () => rng.int(0, numItems - 1));
    const weights = Float32Array.from({ length: P }, (_, r) => (r % 5 === 4 ? 0 : 1));
    const table = fromTable ? new EmbeddingTable(gpu, numItems, d, 'items', { maxShardRows: 70 }) : undefined;
    table?.upload(itemsHost);
    const plan = planGatheredSlots(ids, K, numItems, weights, table?.shardRows);
    const U = plan.uniqueIds.length;
    const idsT = gpu.u32(plan.uniqueIds, [U], 'ids');
    const inp = {
      u: gpu.f32(u, [P, d], 'u'),
      items: table ? { table, ids: idsT, shardStarts: plan.shardStarts } : gpu.f32(gatherRef(itemsHost, plan.uniqueIds, d), [U, d], 'items'),
      slots: gpu.u32(plan.slots, [P, K], 'slots'),
      weights: gpu.f32(weights, [P], 'w'),
      order: gpu.u32(plan.order, [plan.order.length], 'order'),
      segOffsets: gpu.u32(plan.segOffsets, [U + 1], 'seg'),
    };
    const bits = async (t: Tensor) => Array.from(new Uint32Array((await gpu.read(t as Tensor<'f32'>)).buffer));
    const results: number[][][] = [];
    for (const separate of [true, false]) {
      const out = { rowLoss: gpu.empty([P], 'f32', 'rowLoss'), dU: gpu.empty([P, d], 'f32', 'dU'), dItems: separate ? gpu.empty([U, d], 'f32', 'dItems') : undefined, dItemsSq: gpu.empty([U], 'f32', 'dItemsSq') };
      const rec = gpu.recorder();
      const run = sampledSoftmaxGathered(rec, inp, { P, K, U, d, temperature: 0.05 }, out, {});
      await rec.submit();
      expect(run.dItems.shape).toEqual([U, d]);
      results.push([await bits(out.rowLoss), await bits(out.dU), await bits(run.dItems), await bits(out.dItemsSq)]);
      run.release();
      [out.rowLoss, out.dU, run.dItems, out.dItemsSq].forEach((t) => t.release());
    }
    ['rowLoss', 'dU', 'dItems', 'dItemsSq'].forEach((k, i) => expect(results[1]![i], k).toEqual(results[0]![i]));
    expect(results[0]![2]!.some((b) => (b & 0x7f800000) === 0x7f800000 && (b & 0x7fffff) !== 0)).toBe(true); // the NaN row reached some items
    [...Object.values(inp)].forEach((t) => (t instanceof Tensor ? t.release() : undefined));
    idsT.release();
    table?.dispose();
  });

  it.each([[undefined, 3], ['lane', 3], ['subgroup', 3], [undefined, 8]] as const)('NaN in one row of u stays NaN in that row and never turns finite (rows pass %s, d %i)', async (rowsVariant, d) => {
    const P = 5, K = 4, U = 6;
    const rng = new Rng(3);
    const u = rng.f32(P * d);
    u[2 * d + 1] = NaN;
    const ids = Uint32Array.from({ length: P * K }, (_, i) => (i * 7) % U);
    const plan = planGatheredSlots(ids, K, U);
    const inp = {
      u: gpu.f32(u, [P, d], 'u'),
      items: gpu.f32(rng.f32(plan.uniqueIds.length * d), [plan.uniqueIds.length, d], 'items'),
      slots: gpu.u32(plan.slots, [P, K], 'slots'),
      weights: gpu.f32([1, 1, 1, 1, 1], [P], 'w'),
      order: gpu.u32(plan.order, [plan.order.length], 'order'),
      segOffsets: gpu.u32(plan.segOffsets, [plan.uniqueIds.length + 1], 'seg'),
    };
    const Un = plan.uniqueIds.length;
    const out = { rowLoss: gpu.empty([P], 'f32', 'rowLoss'), dU: gpu.empty([P, d], 'f32', 'dU'), dItems: gpu.empty([Un, d], 'f32', 'dItems'), dItemsSq: gpu.empty([Un], 'f32', 'dItemsSq') };
    const rec = gpu.recorder();
    const run = sampledSoftmaxGathered(rec, inp, { P, K, U: Un, d, temperature: 0.05 }, out, { rowsVariant });
    await rec.submit();
    const rowLoss = await gpu.read(out.rowLoss);
    expect(Number.isNaN(rowLoss[2]!)).toBe(true);
    expect([0, 1, 3, 4].every((r) => Number.isFinite(rowLoss[r]!))).toBe(true);
    const dU = await gpu.read(out.dU);
    expect(dU.subarray(2 * d, 3 * d).every(Number.isNaN)).toBe(true);
    // every item row 2 touches gets a NaN gradient
    const dItems = await gpu.read(out.dItems);
    const touched = new Set(Array.from(plan.slots.subarray(2 * K, 3 * K)));
    for (const l of touched) expect(dItems.subarray(l * d, (l + 1) * d).every(Number.isNaN)).toBe(true);
    const sq = await gpu.read(out.dItemsSq);
    for (let l = 0; l < Un; l++) expect(Number.isNaN(sq[l]!), `row ${l}`).toBe(touched.has(l));
    run.release();
    [...Object.values(inp), ...Object.values(out)].forEach((t) => t.release());
  });
});
