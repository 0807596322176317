import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createGpu, type Gpu } from '../gpu/index.js';
import { expectClose } from '../testing/compare.js';
import { Rng } from '../testing/rng.js';
import { EmbeddingTable, planScatter, roundBf16, scatterAddRows } from '../embedding/embedding.js';
import { scatterAddRef } from '../embedding/embedding.ref.js';
import { adamW, rowwiseAdam, rowwiseBytesPerRow, type AdamWVariant, type RowwiseVariant } from './optim.js';
import { adamWRef, bf16Round, rowwiseAdamRef, type AdamRefOptions } from './optim.ref.js';

let gpu: Gpu;
beforeAll(async () => {
  gpu = await createGpu();
});
afterAll(() => gpu?.dispose());

const ROWS = 29; // 4 shards of ≤ 8 rows
const SHARD = 8;
const NEVER = 25; // rows ≥ NEVER are never touched

/** Rows of `raw` (rowWords u32 each) whose words differ between a and b. */
function changedRows(a: Uint32Array, b: Uint32Array, rowWords: number): Set<number> {
  const s = new Set<number>();
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) s.add(Math.floor(i / rowWords));
  return s;
}

/** Every element within one bf16 ulp (≤ 2⁻⁷ relative) of the reference, and at least `minExact` of them equal. */
function expectBf16Close(name: string, got: Float32Array, want: Float64Array, minExact = 0.98): void {
  expectClose(name, got, want, { atol: 1e-30, rtol: 2 ** -7 });
  let exact = 0;
  for (let i = 0; i < got.length; i++) if (got[i] === want[i]) exact++;
  if (exact < minExact * got.length) throw new Error(`${name}: only ${exact} of ${got.length} elements equal the bf16 reference exactly`);
}

describe('bf16 rounding', () => {
  it('float64 reference rounding agrees with the host packer on f32 values, ties included', () => {
    const rng = new Rng(9);
    for (let k = 0; k < 20000; k++) {
      const x = Math.fround(k < 10000 ? rng.uniform(-10, 10) : (rng.int(-1000, 1000) + 0.5) * 2 ** rng.int(-20, 5) * 2 ** -7);
      expect(roundBf16(x)).toBe(bf16Round(x));
    }
  });
});

describe('rowwiseAdam', () => {
  for (const storage of ['f32', 'bf16'] as const) {
    for (const variant of ['fused', 'split'] as RowwiseVariant[]) {
      it.each([1, 7, 64])(`${storage} ${variant}: dim %i, 4 shards, steps 1..5 vs float64`, async (dim) => {
        const rng = new Rng(dim * 10 + (storage === 'bf16' ? 1 : 0) + (variant === 'split' ? 2 : 0));
        const table = new EmbeddingTable(gpu, ROWS, dim, `adam_${storage}_${dim}`, { maxShardRows: SHARD, storage, optimizerState: true });
        expect(table.shards.length).toBe(4);
        table.upload(rng.f32(ROWS * dim, -1, 1));
        table.upload(rng.f32(ROWS * dim, -0.1, 0.1), 'm');
        table.upload(rng.f32(ROWS, 0, 0.05), 'v');
        const initial = await table.readRaw('w');
        const initialM = await table.readRaw('m');
        // Independent float64 trajectory (f32 only: bf16 re-rounds, so it is checked step by step).
        const w = Float64Array.from(await table.read('w')), m = Float64Array.from(await table.read('m')), v = Float64Array.from(await table.read('v'));
        const lr = storage === 'bf16' ? 0.05 : 0.01; // bf16 needs steps larger than its ulp to show
        const everTouched = new Set<number>();
        for (let step = 1; step <= 5; step++) {
          const opts: AdamRefOptions = { lr, beta1: 0.9, beta2: 0.98, eps: 1e-8, weightDecay: step % 2 ? 0.1 : 0, step };
          const count = rng.int(1, 30);
          const ids = Uint32Array.from({ length: count }, () => (rng.next() < 0.3 ? 3 : rng.int(0, NEVER - 1)));
          const gs = rng.f32(count * dim);
          const plan = planScatter(gpu, ids, ROWS);
          const grads = gpu.upload(gs, [count, dim], 'f32', 'grads');
          const summed = gpu.empty([plan.numUnique, dim], 'f32', 'summed');
          const before = { w: await table.readRaw('w'), m: await table.readRaw('m'), v: await table.readRaw('v') };
          const prev = { w: Float64Array.from(await table.read('w')), m: Float64Array.from(await table.read('m')), v: Float64Array.from(await table.read('v')) };
          const rec = gpu.recorder();
          scatterAddRows(rec, plan, grads, dim, summed);
          rowwiseAdam(rec, table, plan, summed, opts, variant);
          await rec.run();
          const ref = scatterAddRef(ids, gs, dim);
          const after = { w: await table.readRaw('w'), m: await table.readRaw('m'), v: await table.readRaw('v') };
          // Only touched rows change; the rest are bitwise what they were.
          const touched = new Set(ref.uniqueRows);
          for (const part of ['w', 'm', 'v'] as const) {
            for (const r of changedRows(before[part], after[part], part === 'v' ? 1 : table.rowWords)) {
              expect(touched.has(r), `${part} row ${r} changed at step ${step} but was not touched`).toBe(true);
            }
          }
          ref.uniqueRows.forEach((r) => everTouched.add(r));
          const got = { w: await table.read('w'), m: await table.read('m'), v: await table.read('v') };
          if (storage === 'f32') {
            rowwiseAdamRef(w, m, v, dim, ref.uniqueRows, ref.sums, opts);
            expectClose(`w step ${step}`, got.w, w, { atol: 2e-6, rtol: 1e-5 });
            expectClose(`m step ${step}`, got.m, m, { atol: 1e-6, rtol: 1e-5 });
            expectClose(`v step ${step}`, got.v, v, { atol: 1e-9, rtol: 1e-5 });
          } else {
            // One step of the reference from the state the GPU started from.
            rowwiseAdamRef(prev.w, prev.m, prev.v, dim, ref.uniqueRows, ref.sums, opts, true);
            expectBf16Close(`w step ${step}`, got.w, prev.w);
            expectBf16Close(`m step ${step}`, got.m, prev.m);
            expectClose(`v step ${step}`, got.v, prev.v, { atol: 1e-9, rtol: 1e-5 });
          }
          plan.release();
          grads.release();
          summed.release();
        }
        // Rows never touched: bitwise the initial values (w and m).
        const finalW = await table.readRaw('w'), finalM = await table.readRaw('m');
        for (let r = 0; r < ROWS; r++) {
          if (everTouched.has(r)) continue;
          const sl = (a: Uint32Array) => Array.from(a.subarray(r * table.rowWords, (r + 1) * table.rowWords));
          expect(sl(finalW)).toEqual(sl(initial));
          expect(sl(finalM)).toEqual(sl(initialM));
        }
        expect(everTouched.size).toBeLessThan(ROWS);
        table.dispose();
      });
    }
  }

  it.each([4, 64])('f32 fused_vec4 (the default at dim %% 4 == 0) gives the bits of fused: dim %i, 4 shards, steps 1..3, NaN kept', async (dim) => {
    const rng = new Rng(dim + 77);
    const init = rng.f32(ROWS * dim, -1, 1);
    const tables = (['fused', 'fused_vec4', undefined] as const).map((v) => {
      const t = new EmbeddingTable(gpu, ROWS, dim, `adam_vec4_${v}`, { maxShardRows: SHARD, optimizerState: true });
      t.upload(init);
      return { t, v };
    });
    for (let step = 1; step <= 3; step++) {
      const ids = Uint32Array.from({ length: 20 }, () => rng.int(0, NEVER - 1));
      const gs = rng.f32(ids.length * dim);
      if (step === 3) gs[5] = NaN; // row ids[0] turns NaN, the others stay finite
      const plan = planScatter(gpu, ids, ROWS);
      const grads = gpu.upload(gs, [ids.length, dim], 'f32', 'grads');
      const summed = gpu.empty([plan.numUnique, dim], 'f32', 'summed');
      const rec = gpu.recorder();
      scatterAddRows(rec, plan, grads, dim, summed);
      for (const { t, v } of tables) rowwiseAdam(rec, t, plan, summed, { lr: 0.01, weightDecay: 0.1, step }, v);
      await rec.run();
      for (const part of ['w', 'm', 'v'] as const) {
        const [a, b, c] = await Promise.all(tables.map(({ t }) => t.readRaw(part)));
        expect(Array.from(b!), `${part} step ${step}`).toEqual(Array.from(a!));
        expect(Array.from(c!), `${part} step ${step} (default variant)`).toEqual(Array.from(a!));
      }
      [plan, grads, summed].forEach((x) => x.release());
    }
    const w = await tables[1]!.t.read('w');
    expect(Array.from(w.subarray(0, ROWS * dim)).some(Number.isNaN)).toBe(true);
    tables.forEach(({ t }) => t.dispose());
  });

  it('a 2M-row table in 2 shards: rows at both ends update, bytes per row as documented', async () => {
    const dim = 4;
    const rows = 2_000_000;
    const table = new EmbeddingTable(gpu, rows, dim, 'big', { maxShardRows: 1 << 20, optimizerState: true });
    expect(table.shards.length).toBe(2);
    expect(table.bytesPerRow).toBe(8 * dim + 4);
    expect(rowwiseBytesPerRow(64, 'f32')).toBe(8 * 64 + 4);
    expect(rowwiseBytesPerRow(64, 'bf16')).toBe(4 * 64 + 4);
    const ids = Uint32Array.of(rows - 1, 0, 1 << 20, rows - 1);
    const gs = Float32Array.from({ length: 16 }, (_, i) => (i % 3) - 1.25);
    const plan = planScatter(gpu, ids, rows);
    const grads = gpu.upload(gs, [4, dim], 'f32', 'grads');
    const summed = gpu.empty([plan.numUnique, dim], 'f32', 'summed');
    const rec = gpu.recorder();
    scatterAddRows(rec, plan, grads, dim, summed);
    const opts = { lr: 0.01, beta1: 0.9, beta2: 0.98, eps: 1e-8, weightDecay: 0, step: 1 };
    rowwiseAdam(rec, table, plan, summed, opts);
    await rec.run();
    const got = await table.read('w');
    const ref = scatterAddRef(ids, gs, dim);
    const w = new Float64Array(rows * dim), m = new Float64Array(rows * dim), v = new Float64Array(rows);
    rowwiseAdamRef(w, m, v, dim, ref.uniqueRows, ref.sums, opts);
    for (const r of [0, 1, (1 << 20) - 1, 1 << 20, rows - 2, rows - 1]) {
      expectClose(`row ${r}`, got.subarray(r * dim, (r + 1) * dim), w.subarray(r * dim, (r + 1) * dim), { atol: 1e-7, rtol: 1e-5 });
    }
    expect(got.filter((x) => x !== 0).length).toBe(3 * dim);
    plan.release();
    grads.release();
    summed.release();
    table.dispose();
  });

  it('rejects tables without state, bad steps and small gradients', () => {
    const plain = new EmbeddingTable(gpu, 5, 3, 'plain');
    const withState = new EmbeddingTable(gpu, 5, 3, 'stateful', { optimizerState: true });
    const plan = planScatter(gpu, [1, 4, 1], 5);
    const g = gpu.empty([2, 3], 'f32', 'g');
    const rec = gpu.recorder();
    expect(() => rowwiseAdam(rec, plain, plan, g, { lr: 1, step: 1 })).toThrow(/expected a table with optimizer state/);
    expect(() => rowwiseAdam(rec, withState, plan, g, { lr: 1, step: 0 })).toThrow(/expected step an integer ≥ 1, got 0/);
    expect(() => rowwiseAdam(rec, withState, plan, g, { lr: 1, step: 1, beta2: 1 })).toThrow(/expected beta2 in \[0, 1\), got 1/);
    const small = gpu.empty([1, 3], 'f32', 'small');
    expect(() => rowwiseAdam(rec, withState, plan, small, { lr: 1, step: 1 })).toThrow(/expected grads \[2, 3\] .* got small with 3/);
    const bf = new EmbeddingTable(gpu, 5, 4, 'bf', { optimizerState: true, storage: 'bf16' });
    expect(() => rowwiseAdam(rec, bf, plan, g, { lr: 1, step: 1 }, 'fused_vec4')).toThrow(/'fused_vec4' needs an f32 table with dim % 4 == 0, got bf16 dim 4/);
    expect(() => rowwiseAdam(rec, withState, plan, g, { lr: 1, step: 1 }, 'fused_vec4')).toThrow(/got f32 dim 3/);
    bf.dispose();
    const far = planScatter(gpu, [7], 8);
    expect(() => rowwiseAdam(rec, withState, far, g, { lr: 1, step: 1 })).toThrow(/expected plan rows < 5, got row 7/);
    [plan, far].forEach((p) => p.release());
    [g, small].forEach((t) => t.release());
    plain.dispose();
    withState.dispose();
  });
});

describe('adamW', () => {
  const cases: [number, AdamWVariant][] = [[1, 'scalar'], [7, 'scalar'], [1001, 'scalar'], [4100, 'vec4'], [4100, 'scalar'], [4, 'vec4']];
  it.each(cases)('n=%i %s: steps 1..5 vs float64', async (n, variant) => {
    const rng = new Rng(n + (variant === 'vec4' ? 1 : 0));
    const w0 = rng.f32(n, -1, 1);
    const w = gpu.f32(w0), m = gpu.f32(new Float32Array(n)), v = gpu.f32(new Float32Array(n));
    const g = gpu.empty([n], 'f32', 'g');
    const rw = Float64Array.from(w0), rm = new Float64Array(n), rv = new Float64Array(n);
    for (let step = 1; step <= 5; step++) {
      const gs = rng.f32(n, -2, 2);
      if (step === 3) gs.fill(0, 0, Math.ceil(n / 2)); // zero gradients: only decay and momentum move w
      gpu.write(g, gs);
      const opts = { lr: 1e-2, beta1: 0.9, beta2: 0.98, eps: 1e-8, weightDecay: 0.05, step };
      const rec = gpu.recorder();
      adamW(rec, w, g, m, v, opts, variant);
      await rec.run();
      adamWRef(rw, gs, rm, rv, opts);
      expectClose(`w step ${step}`, await gpu.read(w), rw, { atol: 1e-6, rtol: 1e-5 });
      expectClose(`m step ${step}`, await gpu.read(m), rm, { atol: 1e-7, rtol: 1e-5 });
      expectClose(`v step ${step}`, await gpu.read(v), rv, { atol: 1e-9, rtol: 1e-5 });
    }
    [w, m, v, g].forEach((t) => t.release());
  });

  it('rejects mismatched tensors and vec4 on n % 4 != 0', () => {
    const a = gpu.f32([1, 2, 3, 4, 5]), b = gpu.f32([1, 2, 3]);
    const rec = gpu.recorder();
    expect(() => adamW(rec, a, b, a, a, { lr: 1, step: 1 })).toThrow(/expected g with ≥ 5 elements, got f32 with 3/);
    expect(() => adamW(rec, a, a, a, a, { lr: 1, step: 1 }, 'vec4')).toThrow(/expected n % 4 == 0 for variant vec4, got n = 5/);
    expect(() => adamW(rec, a, a, a, a, { lr: -1, step: 1 })).toThrow(/expected lr ≥ 0, got -1/);
    a.release();
    b.release();
  });
});
