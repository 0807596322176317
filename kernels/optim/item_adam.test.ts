import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createGpu, type Gpu, type Tensor } from '../gpu/index.js';
import { addRowsAt, EmbeddingTable, planDistinct } from '../embedding/embedding.js';
import { expectClose } from '../testing/compare.js';
import { poison } from '../testing/poison.js';
import { Rng } from '../testing/rng.js';
import { planGatheredSlots, sampledSoftmaxGathered } from '../sampled_softmax/sampled_softmax_gathered.js';
import { gatherRef, sampledSoftmaxBackwardRef } from '../sampled_softmax/sampled_softmax.ref.js';
import { itemAdamSupported, itemGradAdam } from './item_adam.js';
import { rowwiseAdam, type AdamOptions } from './optim.js';
import { rowwiseAdamRef } from './optim.ref.js';

let gpu: Gpu;
beforeAll(async () => (gpu = await createGpu()));
afterAll(() => gpu?.dispose());

interface Case { P: number; R: number; d: number; rows: number; shardRows: number; inputs: number; nanInput?: boolean }

/** Rows with collisions (a negative equal to its positive), weight-0 rows, input items that the
 *  loss's slots name and some they do not; w, m, v random (v > 0). */
function makeCase(c: Case, seed: number) {
  const rng = new Rng(seed);
  const { P, R, d, rows } = c;
  const K = R + 1;
  const ids = Uint32Array.from({ length: P * K }, () => rng.int(0, rows - 1));
  for (let r = 0; r < P; r++) if (rng.next() < 0.3) ids[r * K + 1 + rng.int(0, R - 1)] = ids[r * K]!;
  const weights = Float32Array.from({ length: P }, (_, r) => (r === 1 || rng.next() < 0.15 ? 0 : 1));
  const inputIds = [...new Set(Array.from({ length: c.inputs }, (_, j) => (j % 2 ? ids[rng.int(0, P * K - 1)]! : rng.int(0, rows - 1))))].sort((a, b) => a - b);
  const inGrad = rng.f32(inputIds.length * d, -0.3, 0.3);
  if (c.nanInput) inGrad[d + 1] = NaN; // the second input row's gradient
  return {
    K, ids, weights, inputIds: Uint32Array.from(inputIds), inGrad,
    u: rng.f32(P * d), w: rng.f32(rows * d), m: rng.f32(rows * d, -0.01, 0.01), v: rng.f32(rows, 1e-5, 1e-3),
  };
}

const ADAM: AdamOptions = { lr: 0.01, beta1: 0.9, beta2: 0.98, eps: 1e-8, weightDecay: 0.001, step: 3 };
const TAU = 0.05;

/** One step of the gathered loss's item update, fused (item_adam) or as the unfused passes. */
async function runStep(c: Case, x: ReturnType<typeof makeCase>, fused: boolean) {
  const { P, d } = c;
  const K = x.K;
  const table = new EmbeddingTable(gpu, c.rows, d, 'items', { maxShardRows: c.shardRows, optimizerState: true });
  table.upload(x.w);
  table.upload(x.m, 'm');
  table.upload(x.v, 'v');
  const plan = planGatheredSlots(x.ids, K, c.rows, x.weights, table.shardRows, x.inputIds);
  const U = plan.uniqueIds.length;
  const at = Uint32Array.from(x.inputIds, (id) => plan.uniqueIds.indexOf(id));
  const own: Tensor[] = [];
  const t = <T extends Tensor>(v: T) => (own.push(v), v);
  const idsT = t(gpu.u32(plan.uniqueIds, [U], 'ids'));
  const inSum = t(gpu.f32(x.inGrad, [x.inputIds.length, d], 'in_sum'));
  const inp = {
    u: t(gpu.f32(x.u, [P, d], 'u')),
    items: { table, ids: idsT, shardStarts: plan.shardStarts },
    slots: t(gpu.u32(plan.slots, [P, K], 'slots')),
    weights: t(gpu.f32(x.weights, [P], 'weights')),
  };
  const out = { rowLoss: t(gpu.empty([P], 'f32', 'row_loss')), dU: t(gpu.empty([P, d], 'f32', 'du')) };
  const rowSq = t(gpu.empty([U], 'f32', 'row_sq'));
  poison(gpu, rowSq);
  const rec = gpu.recorder();
  const shape = { P, K, U, d, temperature: TAU };
  if (fused) {
    const run = sampledSoftmaxGathered(rec, inp, shape, out, { variant: 'subgroup', deferItemGrad: true });
    const csr = t(gpu.u32(Uint32Array.from([...plan.segOffsets, ...plan.order]), [U + 1 + plan.order.length], 'csr'));
    const rows = new Uint32Array(2 * U);
    plan.uniqueIds.forEach((id, k) => (rows[2 * k] = id));
    at.forEach((k, j) => (rows[2 * k + 1] = j + 1));
    itemGradAdam(rec, table, { ...run.deferred, csr, rows: t(gpu.u32(rows, [U, 2], 'rows')), inSum, tableRows: plan.uniqueIds, K }, rowSq, ADAM);
    await rec.submit();
    run.release();
  } else {
    const run = sampledSoftmaxGathered(rec, {
      ...inp,
      order: t(gpu.u32(plan.order.length ? plan.order : [0], [Math.max(1, plan.order.length)], 'order')),
      segOffsets: t(gpu.u32(plan.segOffsets, [U + 1], 'seg')),
    }, shape, { ...out, dItemsSq: rowSq }, { variant: 'subgroup' });
    addRowsAt(rec, inSum, t(gpu.u32(at, [at.length], 'at')), at, d, run.dItems, rowSq);
    const dplan = planDistinct(gpu, plan.uniqueIds, c.rows, idsT);
    rowwiseAdam(rec, table, dplan, run.dItems, ADAM, 'fused_vec4');
    await rec.submit();
    run.dItems.release();
    run.release();
    dplan.release();
  }
  const res = { w: await table.readRaw('w'), m: await table.readRaw('m'), v: await table.readRaw('v'), rowSq: await gpu.read(rowSq), plan };
  own.forEach((v) => v.release());
  table.dispose();
  return res;
}

/** float64: the loss's per-item gradient (raw rows, positives and negatives summed) plus the input
 *  rows', then one row-wise Adam step on every touched row. */
function reference(c: Case, x: ReturnType<typeof makeCase>, uniqueIds: Uint32Array) {
  const { P, R, d } = c;
  const K = x.K;
  const posIds = Uint32Array.from({ length: P }, (_, r) => x.ids[r * K]!);
  const negIds = new Uint32Array(P * R);
  for (let r = 0; r < P; r++) negIds.set(x.ids.subarray(r * K + 1, (r + 1) * K), r * R);
  const g = sampledSoftmaxBackwardRef({ P, R, d, temperature: TAU, eps: 1e-6, u: x.u, posIds, negIds, weights: x.weights, similarity: 'cosine', posEmb: gatherRef(x.w, posIds, d), negEmb: gatherRef(x.w, negIds, d) });
  const rowOf = new Map(Array.from(uniqueIds, (id, k) => [id, k]));
  const grads = new Float64Array(uniqueIds.length * d);
  const add = (id: number, src: ArrayLike<number>, at: number) => { const k = rowOf.get(id)!; for (let i = 0; i < d; i++) grads[k * d + i]! += src[at + i]!; };
  posIds.forEach((id, r) => add(id, g.dPos, r * d));
  negIds.forEach((id, s) => add(id, g.dNeg, s * d));
  x.inputIds.forEach((id, j) => add(id, x.inGrad, j * d));
  const w = Float64Array.from(x.w), m = Float64Array.from(x.m), v = Float64Array.from(x.v);
  rowwiseAdamRef(w, m, v, d, uniqueIds, grads, { lr: ADAM.lr, beta1: 0.9, beta2: 0.98, eps: 1e-8, weightDecay: 0.001, step: 3 });
  const sq = Float64Array.from({ length: uniqueIds.length }, (_, k) => grads.subarray(k * d, (k + 1) * d).reduce((a, y) => a + y * y, 0));
  return { w, m, v, sq };
}

const f32 = (raw: Uint32Array) => new Float32Array(raw.buffer, raw.byteOffset, raw.length);

describe('itemGradAdam (item gradient fused with row-wise Adam)', () => {
  it.each([
    { P: 37, R: 9, d: 4, rows: 300, shardRows: 128, inputs: 20 },
    { P: 23, R: 17, d: 64, rows: 501, shardRows: 200, inputs: 31 },
    { P: 11, R: 6, d: 68, rows: 90, shardRows: 90, inputs: 7 }, // 17 vec4s: lane 0 holds 3
    { P: 64, R: 40, d: 12, rows: 5000, shardRows: 1700, inputs: 50 },
  ])('P $P, R $R, d $d, $rows rows in shards of $shardRows: same bits as the unfused passes, float64 reference', async (c) => {
    expect(itemAdamSupported(gpu, new EmbeddingTable(gpu, 1, c.d, 'probe', { optimizerState: true }))).toBe(true);
    const x = makeCase(c, c.P * 31 + c.d);
    const a = await runStep(c, x, false);
    const b = await runStep(c, x, true);
    for (const k of ['w', 'm', 'v'] as const) expect(Buffer.from(b[k].buffer).equals(Buffer.from(a[k].buffer)), `${k} bits`).toBe(true);
    const want = reference(c, x, b.plan.uniqueIds);
    expectClose('w', f32(b.w), want.w, { atol: 2e-6, rtol: 1e-4 });
    expectClose('m', f32(b.m), want.m, { atol: 1e-6, rtol: 2e-3 });
    expectClose('v', f32(b.v), want.v, { atol: 1e-9, rtol: 2e-3 });
    expectClose('rowSq', b.rowSq, want.sq, { atol: 1e-9, rtol: 2e-3 });
    // Rows no slot or input names were not touched.
    const touched = new Set(b.plan.uniqueIds);
    for (let r = 0; r < c.rows; r++) if (!touched.has(r)) expect(f32(b.v)[r], `v of untouched row ${r}`).toBe(x.v[r]);
  });

  it('a row whose gradient holds NaN keeps its w, m and v and reports NaN; the other rows update as unfused', async () => {
    const c = { P: 29, R: 12, d: 16, rows: 400, shardRows: 150, inputs: 12, nanInput: true };
    const x = makeCase(c, 5);
    const a = await runStep(c, x, false);
    const b = await runStep(c, x, true);
    const bad = x.inputIds[1]!;
    const k = b.plan.uniqueIds.indexOf(bad);
    expect(b.rowSq[k]).toBeNaN();
    expect(Array.from(b.rowSq).filter((s) => !Number.isFinite(s))).toHaveLength(1);
    const d = c.d;
    expect(Array.from(f32(b.w).subarray(bad * d, (bad + 1) * d))).toEqual(Array.from(x.w.subarray(bad * d, (bad + 1) * d)));
    expect(Array.from(f32(b.m).subarray(bad * d, (bad + 1) * d))).toEqual(Array.from(x.m.subarray(bad * d, (bad + 1) * d)));
    expect(f32(b.v)[bad]).toBe(x.v[bad]);
    expect(Number.isNaN(f32(a.w)[bad * d + 1])).toBe(true); // the unfused pass applies it
    for (const part of ['w', 'm'] as const) {
      const fa = f32(a[part]), fb = f32(b[part]);
      for (let i = 0; i < fa.length; i++) if (Math.floor(i / d) !== bad) expect(fb[i], `${part}[${i}]`).toBe(fa[i]);
    }
  });

  it('refuses a bf16 table with a hint', () => {
    const table = new EmbeddingTable(gpu, 10, 8, 'bf16', { storage: 'bf16', optimizerState: true });
    expect(itemAdamSupported(gpu, table)).toBe(false);
    const z = gpu.empty([1], 'f32', 'z');
    expect(() => itemGradAdam(gpu.recorder(), table, { uHat: z, coef: z, csr: gpu.empty([1], 'u32', 'c'), normE: z, rows: gpu.empty([1], 'u32', 'r'), inSum: z, tableRows: new Uint32Array(0), K: 1 }, z, ADAM)).toThrow(/f32 table.*HINT/);
    table.dispose();
  });
});
