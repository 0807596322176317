import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createGpu, type Gpu } from '../gpu/index.js';
import { expectClose } from '../testing/compare.js';
import { poison } from '../testing/poison.js';
import { Rng } from '../testing/rng.js';
import { addRowsAt, EmbeddingTable, gatherRows, planDistinct, planScatter, planScatterHost, roundBf16, scatterAddRows, uploadIds, type EmbeddingStorage, type ScatterVariant } from './embedding.js';
import { gatherRef, scatterAbsRef, scatterAddRef } from './embedding.ref.js';

let gpu: Gpu;
beforeAll(async () => {
  gpu = await createGpu();
});
afterAll(() => gpu?.dispose());

const ROWS = 23; // shards of 8, 8, 7 rows
const SHARD = 8;
const DIMS = [1, 7, 50, 64];

/** ids hitting every shard, including each shard's first and last row, plus random ones. */
function idsForShards(rng: Rng, n: number): Uint32Array {
  const edges = [0, 7, 8, 15, 16, 22];
  return Uint32Array.from({ length: n }, (_, i) => (i < edges.length ? edges[i]! : rng.int(0, ROWS - 1)));
}

function makeTable(rng: Rng, dim: number, storage: EmbeddingStorage): { table: EmbeddingTable; values: Float32Array } {
  const table = new EmbeddingTable(gpu, ROWS, dim, `t${dim}${storage}`, { maxShardRows: SHARD, storage });
  const values = rng.f32(ROWS * dim, -2, 2);
  table.upload(values);
  return { table, values };
}

describe('EmbeddingTable storage', () => {
  it.each(['f32', 'bf16'] as const)('%s: shards, upload/read round trip', async (storage) => {
    const rng = new Rng(1);
    const { table, values } = makeTable(rng, 7, storage);
    expect(table.shards.map((s) => [s.rowBase, s.rows])).toEqual([[0, 8], [8, 8], [16, 7]]);
    const want = storage === 'f32' ? values : Float32Array.from(values, roundBf16);
    expect(Array.from(await table.read())).toEqual(Array.from(want));
    table.dispose();
  });

  it('bf16 rounding is to nearest, ties to even', () => {
    // 1 + 2^-8 is exactly halfway between bf16 1 and 1 + 2^-7: ties to the even mantissa (1).
    expect(roundBf16(1 + 2 ** -8)).toBe(1);
    expect(roundBf16(1 + 3 * 2 ** -8)).toBe(1 + 2 ** -6); // halfway, rounds up to even
    expect(roundBf16(1 + 2 ** -8 + 2 ** -20)).toBe(1 + 2 ** -7);
    expect(roundBf16(-3.140625)).toBe(-3.140625);
    expect(Number.isNaN(roundBf16(NaN))).toBe(true);
  });

  it('default shards fit maxStorageBufferBindingSize; bad shapes are rejected', () => {
    const t = new EmbeddingTable(gpu, 10, 4, 'small');
    expect(t.shards.length).toBe(1);
    expect(t.bytesPerRow).toBe(16);
    t.dispose();
    expect(() => new EmbeddingTable(gpu, 0, 4, 'bad')).toThrow(/expected rows ≥ 1, got 0/);
    expect(() => new EmbeddingTable(gpu, 4, 4, 'bad', { maxShardRows: 0 })).toThrow(/expected maxShardRows ≥ 1, got 0/);
    const t2 = new EmbeddingTable(gpu, 4, 3, 'up');
    expect(() => t2.upload(new Float32Array(11))).toThrow(/expected 12 values .* got 11/);
    expect(() => t2.upload(new Float32Array(4), 'v')).toThrow(/no optimizer state/);
    t2.dispose();
  });
});

describe('gatherRows', () => {
  for (const storage of ['f32', 'bf16'] as const) {
    it.each(DIMS)(`${storage}: dim %i, 3 shards, counts 0, 1, 37 and one id 5000 times`, async (dim) => {
      const rng = new Rng(dim * 7 + (storage === 'bf16' ? 1 : 0));
      const { table, values } = makeTable(rng, dim, storage);
      const stored = storage === 'f32' ? values : Float32Array.from(values, roundBf16);
      const cases = [new Uint32Array(0), Uint32Array.of(16), idsForShards(rng, 37), new Uint32Array(5000).fill(9)];
      for (const hostIds of cases) {
        const count = hostIds.length;
        const ids = uploadIds(gpu, hostIds.length ? hostIds : Uint32Array.of(0), ROWS);
        for (const variant of ['chunked', 'naive'] as const) {
          const out = gpu.empty([count + 2, dim], 'f32', 'gather:out'); // 2 spare rows must stay untouched
          poison(gpu, out);
          const rec = gpu.recorder();
          gatherRows(rec, table, ids, out, count, hostIds, variant);
          await rec.run();
          const got = await gpu.read(out);
          expectClose(`gather ${variant} ${storage} d${dim} n${count}`, got.subarray(0, count * dim), gatherRef(stored, dim, hostIds), { atol: 0, rtol: 0 });
          expect(got.subarray(count * dim).every(Number.isNaN)).toBe(true);
          out.release();
        }
        ids.release();
      }
      table.dispose();
    });
  }

  it('rejects out-of-range ids on the host, naming the id and its position', () => {
    const table = new EmbeddingTable(gpu, ROWS, 4, 'bad_ids', { maxShardRows: SHARD });
    expect(() => uploadIds(gpu, Uint32Array.of(3, 22, 23, 5), ROWS)).toThrow(/expected row ids in \[0, 23\), got 23 at position 2/);
    const ids = gpu.u32([1, 2, 99]);
    const out = gpu.empty([3, 4], 'f32', 'out');
    expect(() => gatherRows(gpu.recorder(), table, ids, out, 3, [1, 2, 99])).toThrow(/got 99 at position 2/);
    expect(() => gatherRows(gpu.recorder(), table, ids, out, 4)).toThrow(/expected ids with ≥ 4 elements/);
    expect(() => gatherRows(gpu.recorder(), table, ids, gpu.empty([2, 4], 'f32', 'small'), 3)).toThrow(/expected out \[3, 4\] with ≥ 12 elements/);
    expect(() => gatherRows(gpu.recorder(), table, ids, out, 3, undefined, 'bogus' as 'naive')).toThrow(/expected variant 'chunked' or 'naive', got bogus/);
    ids.release();
    out.release();
    table.dispose();
  });

  it('an unvalidated out-of-range id yields a NaN row, never another row', async () => {
    const rng = new Rng(5);
    const { table, values } = makeTable(rng, 7, 'f32');
    const ids = gpu.u32([3, 1000, 17]);
    const out = gpu.empty([3, 7], 'f32', 'out');
    gpu.write(out, new Float32Array(21)); // zeros: the NaN must come from the kernel
    const rec = gpu.recorder();
    gatherRows(rec, table, ids, out, 3);
    await rec.run();
    const got = await gpu.read(out);
    expect(Array.from(got.subarray(0, 7))).toEqual(Array.from(values.subarray(21, 28)));
    expect(got.subarray(7, 14).every(Number.isNaN)).toBe(true);
    expect(Array.from(got.subarray(14))).toEqual(Array.from(values.subarray(17 * 7, 18 * 7)));
    ids.release();
    out.release();
    table.dispose();
  });
});

/** |got − want| ≤ (n + 1)·2⁻²⁴·Σ|g| per element: the error bound of a sequential f32 sum of n terms. */
function expectSumClose(name: string, got: Float32Array, want: Float64Array, absSum: Float64Array, terms: number): void {
  expect(got.length).toBe(want.length);
  const bounds = Float64Array.from(absSum, (a) => (terms + 1) * 2 ** -24 * a + 1e-30);
  let bad = 0;
  const lines: string[] = [];
  for (let i = 0; i < got.length; i++) {
    const err = Math.abs(got[i]! - want[i]!);
    if (!(err <= bounds[i]!)) {
      if (bad++ < 8) lines.push(`  [${i}] got ${got[i]}, expected ${want[i]} (|err| ${err.toExponential(2)} > ${bounds[i]!.toExponential(2)})`);
    }
  }
  if (bad) throw new Error(`${name}: ${bad} of ${got.length} elements outside the f32 summation bound\n${lines.join('\n')}`);
}

describe('planScatter + scatterAddRows', () => {
  it('plan: stable sort by row, segments per unique row', () => {
    const p = planScatterHost([5, 2, 5, 0, 2, 5], 6);
    expect(Array.from(p.uniqueRows)).toEqual([0, 2, 5]);
    expect(Array.from(p.segOffsets)).toEqual([0, 1, 3, 6]);
    expect(Array.from(p.order)).toEqual([3, 1, 4, 0, 2, 5]);
    expect(() => planScatter(gpu, [1, 2, 6, 7], 6)).toThrow(/expected row ids in \[0, 6\), got 6 at position 2/);
    expect(() => planScatter(gpu, [1, -1], 6)).toThrow(/got -1 at position 1/);
  });

  it.each([1, 7, 65_536, 65_537, 1_000_001, 2 ** 32])('plan at %i rows equals a comparison sort of (id, position)', (rows) => {
    const rng = new Rng(rows % 1000);
    for (const n of [0, 1, 5, 3000]) {
      // Many repeats (ids drawn from a few values) and ids near the top of the range.
      const pool = Array.from({ length: 40 }, () => Math.min(rows - 1, Math.floor(rng.next() * rows)));
      pool.push(rows - 1, 0);
      const ids = Array.from({ length: n }, () => pool[Math.floor(rng.next() * pool.length)]!);
      const p = planScatterHost(ids, rows);
      const ref = ids.map((id, i) => [id, i] as const).sort((a, b) => a[0] - b[0] || a[1] - b[1]);
      expect(Array.from(p.order)).toEqual(ref.map(([, i]) => i));
      const uniq = [...new Set(ref.map(([id]) => id))];
      expect(Array.from(p.uniqueRows)).toEqual(uniq);
      expect(Array.from(p.segOffsets)).toEqual([...uniq.map((u) => ref.findIndex(([id]) => id === u)), n]);
    }
  });

  it.each(DIMS)('dim %i: random ids, one id 5000 times, counts 0 and 1; both variants, deterministic', async (dim) => {
    const rng = new Rng(300 + dim);
    const repeated = Uint32Array.from({ length: 5200 }, (_, i) => (i % 26 === 25 ? rng.int(0, ROWS - 1) : 11));
    const cases = [new Uint32Array(0), Uint32Array.of(4), idsForShards(rng, 41), repeated];
    for (const ids of cases) {
      const count = ids.length;
      const gs = rng.f32(count * dim);
      const plan = planScatter(gpu, ids, ROWS);
      const grads = gpu.upload(gs.length ? gs : new Float32Array(1), [Math.max(count * dim, 1)], 'f32', 'grads');
      const outs = [0, 1, 2].map(() => gpu.empty([plan.numUnique + 1, dim], 'f32', 'scatter:out'));
      poison(gpu, ...outs);
      const variants: ScatterVariant[] = ['segmented', 'segmented', 'naive'];
      const rec = gpu.recorder();
      variants.forEach((v, k) => scatterAddRows(rec, plan, grads, dim, outs[k]!, v));
      await rec.run();
      const got = await Promise.all(outs.map((o) => gpu.read(o)));
      const ref = scatterAddRef(ids, gs, dim);
      expect(Array.from(plan.host.uniqueRows)).toEqual(ref.uniqueRows);
      const maxSeg = Math.max(0, ...Array.from(plan.host.segOffsets.subarray(1), (s, u) => s - plan.host.segOffsets[u]!));
      expectSumClose(`scatter d${dim} n${count}`, got[0]!.subarray(0, plan.numUnique * dim), ref.sums, scatterAbsRef(ids, gs, dim), maxSeg);
      for (const g of got) expect(g.subarray(plan.numUnique * dim).every(Number.isNaN)).toBe(true); // spare row untouched
      // Determinism: a second run and the naive variant agree bit for bit.
      expect(new Uint32Array(got[1]!.buffer)).toEqual(new Uint32Array(got[0]!.buffer));
      expect(new Uint32Array(got[2]!.buffer)).toEqual(new Uint32Array(got[0]!.buffer));
      plan.release();
      grads.release();
      outs.forEach((o) => o.release());
    }
  });

  it('one id repeated 10,000 times among others', async () => {
    const rng = new Rng(77);
    const dim = 7;
    const ids = Uint32Array.from({ length: 10500 }, (_, i) => (i < 10000 ? 3 : rng.int(0, 1_999_999)));
    const gs = rng.f32(ids.length * dim);
    const plan = planScatter(gpu, ids, 2_000_000);
    const grads = gpu.upload(gs, [ids.length, dim], 'f32', 'grads');
    const out = gpu.empty([plan.numUnique, dim], 'f32', 'out');
    poison(gpu, out);
    const rec = gpu.recorder();
    scatterAddRows(rec, plan, grads, dim, out);
    await rec.run();
    const ref = scatterAddRef(ids, gs, dim);
    expectSumClose('scatter 10k repeats', await gpu.read(out), ref.sums, scatterAbsRef(ids, gs, dim), 10000);
    plan.release();
    grads.release();
    out.release();
  });

  it('rejects too-small tensors and bad variants', () => {
    const plan = planScatter(gpu, [1, 1, 2], 4);
    const grads = gpu.empty([3, 5], 'f32', 'g');
    expect(() => scatterAddRows(gpu.recorder(), plan, gpu.empty([2, 5], 'f32', 'g2'), 5, grads)).toThrow(/expected grads \[3, 5\] with ≥ 15 elements, got g2 with 10/);
    expect(() => scatterAddRows(gpu.recorder(), plan, grads, 5, gpu.empty([1, 5], 'f32', 'o'))).toThrow(/expected out \[2, 5\] with ≥ 10 elements/);
    expect(() => scatterAddRows(gpu.recorder(), plan, grads, 5, grads, 'bogus' as ScatterVariant)).toThrow(/expected variant/);
    plan.release();
    grads.release();
  });
});

describe('addRowsAt', () => {
  it.each([1, 7, 64, 65])('dim %i: adds src rows into the named rows, leaves every other row bit-identical', async (dim) => {
    const rng = new Rng(dim);
    const outRows = 301;
    // Distinct rows in no particular order, the last row included; a NaN in src stays NaN.
    const at = Uint32Array.from([300, 5, 0, 17, 299, 42, 123]);
    const src = rng.f32(at.length * dim);
    src[dim + (dim > 1 ? 1 : 0)] = NaN;
    const base = rng.f32(outRows * dim);
    base[3 * dim] = NaN; // an untouched NaN stays
    const srcT = gpu.upload(src, [at.length, dim], 'f32', 'src');
    const atT = gpu.upload(at, [at.length], 'u32', 'at');
    const out = gpu.upload(base, [outRows, dim], 'f32', 'out');
    const rec = gpu.recorder();
    addRowsAt(rec, srcT, atT, at, dim, out);
    await rec.run();
    const got = new Uint32Array((await gpu.read(out)).buffer);
    const want = Float32Array.from(base);
    at.forEach((r, j) => { for (let c = 0; c < dim; c++) want[r * dim + c] = Math.fround(src[j * dim + c]! + base[r * dim + c]!); });
    const wantBits = new Uint32Array(want.buffer);
    let bad = 0;
    for (let i = 0; i < wantBits.length; i++) {
      const nanBoth = Number.isNaN(want[i]) && Number.isNaN(new Float32Array(got.buffer)[i]);
      if (!nanBoth && got[i] !== wantBits[i]) bad++;
    }
    expect(bad).toBe(0);
    expect(Number.isNaN(new Float32Array(got.buffer)[5 * dim + (dim > 1 ? 1 : 0)])).toBe(true);
    // With per-row squared norms: out gets the same bits; the rows `at` get Σ out² (float64 to f32
    // accuracy, NaN where the row holds one), every other entry keeps its (poisoned) value.
    const out2 = gpu.upload(base, [outRows, dim], 'f32', 'out2');
    const sqInit = Float32Array.from({ length: outRows }, (_, r) => -1 - r);
    const sq = gpu.upload(sqInit, [outRows], 'f32', 'sq');
    const rec2 = gpu.recorder();
    addRowsAt(rec2, srcT, atT, at, dim, out2, sq);
    await rec2.run();
    expect(Array.from(new Uint32Array((await gpu.read(out2)).buffer))).toEqual(Array.from(got));
    const sqGot = await gpu.read(sq);
    const gotF = new Float32Array(got.buffer);
    for (let r = 0; r < outRows; r++) {
      if (!at.includes(r)) { expect(sqGot[r], `row ${r} untouched`).toBe(sqInit[r]); continue; }
      let w = 0;
      for (let c = 0; c < dim; c++) w += gotF[r * dim + c]! ** 2;
      if (Number.isNaN(w)) expect(Number.isNaN(sqGot[r]!), `row ${r} NaN`).toBe(true);
      else expect(Math.abs(sqGot[r]! - w), `row ${r}`).toBeLessThanOrEqual(1e-5 * w + 1e-30);
    }
    [srcT, atT, out, out2, sq].forEach((t) => t.release());
  });

  it('rejects repeated or out-of-range rows', () => {
    const src = gpu.empty([2, 3], 'f32', 'src');
    const out = gpu.empty([4, 3], 'f32', 'out');
    const atT = gpu.empty([2], 'u32', 'at');
    expect(() => addRowsAt(gpu.recorder(), src, atT, Uint32Array.of(1, 1), 3, out)).toThrow(/expected distinct rows < 4, got 1 at position 1/);
    expect(() => addRowsAt(gpu.recorder(), src, atT, Uint32Array.of(1, 4), 3, out)).toThrow(/got 4 at position 1/);
    [src, out, atT].forEach((t) => t.release());
  });
});

describe('planDistinct', () => {
  it('plans ascending distinct ids as one-position segments; refuses anything else', () => {
    const p = planDistinct(gpu, Uint32Array.of(0, 4, 9), 10);
    expect(Array.from(p.host.uniqueRows)).toEqual([0, 4, 9]);
    expect(Array.from(p.host.segOffsets)).toEqual([0, 1, 2, 3]);
    expect(Array.from(p.host.order)).toEqual([0, 1, 2]);
    p.release();
    expect(() => planDistinct(gpu, Uint32Array.of(0, 4, 4), 10)).toThrow(/expected ascending distinct ids < 10, got 4 at position 2/);
    expect(() => planDistinct(gpu, Uint32Array.of(3, 2), 10)).toThrow(/got 2 at position 1/);
    expect(() => planDistinct(gpu, Uint32Array.of(10), 10)).toThrow(/got 10 at position 0/);
  });

  it('borrows already uploaded ids; builds the identity order and segments on the device on demand', async () => {
    const ids = Uint32Array.of(1, 5, 6, 9);
    const up = gpu.upload(ids, [4], 'u32', 'test:ids');
    const p = planDistinct(gpu, ids, 10, up);
    expect(p.uniqueRows).toBe(up);
    expect(Array.from(await gpu.read(p.order))).toEqual([0, 1, 2, 3]);
    expect(Array.from(await gpu.read(p.segOffsets))).toEqual([0, 1, 2, 3, 4]);
    p.release();
    expect(Array.from(await gpu.read(up))).toEqual([1, 5, 6, 9]); // still the owner's
    up.release();
    expect(() => planDistinct(gpu, ids, 10, gpu.upload(ids.subarray(0, 3), [3], 'u32', 'test:short'))).toThrow(/expected the uploaded ids as u32 \[4\]/);
  });
});
