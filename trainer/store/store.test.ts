import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createGpu, type Gpu } from '../../kernels/gpu/index.js';
import { Rng } from '../../kernels/testing/rng.js';
import { expectClose } from '../../kernels/testing/compare.js';
import { roundBf16 } from '../../kernels/embedding/embedding.js';
import { rowwiseAdamRef } from '../../kernels/optim/optim.ref.js';
import { HostEmbeddingStore, CHUNK_ROWS } from './host_store.js';
import { DeviceEmbeddingStore } from './device_store.js';
import type { EmbeddingStore, RowBlock } from './store.js';

let gpu: Gpu;
beforeAll(async () => {
  gpu = await createGpu();
});
afterAll(() => gpu?.dispose());

const ROWS = 37, DIM = 7;

function randomBlock(rng: Rng, ids: number[], dim: number): RowBlock {
  return { ids: Uint32Array.from(ids), w: rng.f32(ids.length * dim, -1, 1), m: rng.f32(ids.length * dim, -0.1, 0.1), v: rng.f32(ids.length, 0, 0.05) };
}

async function all(s: EmbeddingStore, chunk: number): Promise<RowBlock> {
  const d = s.dim;
  const out: RowBlock = { ids: new Uint32Array(s.rows), w: new Float32Array(s.rows * d), m: new Float32Array(s.rows * d), v: new Float32Array(s.rows) };
  let next = 0;
  for await (const b of s.scan(chunk)) {
    expect(b.ids[0]).toBe(next);
    expect(b.ids.length).toBeLessThanOrEqual(chunk);
    out.ids.set(b.ids, next);
    out.w.set(b.w, next * d);
    out.m.set(b.m, next * d);
    out.v.set(b.v, next);
    next += b.ids.length;
  }
  expect(next).toBe(s.rows);
  return out;
}

const makers: [string, (storage: 'f32' | 'bf16') => EmbeddingStore][] = [
  ['host', (storage) => new HostEmbeddingStore(ROWS, DIM, { storage })],
  ['device', (storage) => DeviceEmbeddingStore.create(gpu, ROWS, DIM, storage, `t_${storage}`)],
];

describe('EmbeddingStore backends', () => {
  for (const [kind, make] of makers) {
    for (const storage of ['f32', 'bf16'] as const) {
      it(`${kind} ${storage}: write, read in any order, scan in chunks, bit-exact (bf16 rounds to nearest even)`, async () => {
        const s = make(storage);
        const rng = new Rng(storage === 'f32' ? 1 : 2);
        const blk = randomBlock(rng, Array.from({ length: ROWS }, (_, i) => (i * 5) % ROWS), DIM);
        await s.write(blk);
        const back = await s.read(Uint32Array.of(3, 30, 0, 17));
        const r = (x: number) => (storage === 'bf16' ? roundBf16(x) : x);
        for (const [i, id] of [3, 30, 0, 17].entries()) {
          const src = blk.ids.indexOf(id);
          for (let c = 0; c < DIM; c++) {
            expect(back.w[i * DIM + c]).toBe(r(blk.w[src * DIM + c]!));
            expect(back.m[i * DIM + c]).toBe(r(blk.m[src * DIM + c]!));
          }
          expect(back.v[i]).toBe(blk.v[src]);
        }
        const whole = await all(s, 10);
        for (let k = 0; k < ROWS; k++) expect(whole.v[blk.ids[k]!]).toBe(blk.v[k]);
        await s.close();
        await expect(s.read(Uint32Array.of(1))).rejects.toThrow(/after close/);
      });

      it(`${kind} ${storage}: row-wise Adam on touched rows vs the float64 reference, untouched rows unchanged`, async () => {
        const s = make(storage);
        const rng = new Rng(11 + (storage === 'bf16' ? 1 : 0));
        const init = randomBlock(rng, Array.from({ length: ROWS }, (_, i) => i), DIM);
        await s.write(init);
        const start = await all(s, ROWS);
        const w = Float64Array.from(start.w), m = Float64Array.from(start.m), v = Float64Array.from(start.v);
        const o = { lr: 0.05, beta1: 0.9, beta2: 0.98, eps: 1e-8, weightDecay: 0.01 };
        for (let step = 1; step <= 3; step++) {
          const ids = Uint32Array.of(29, 4, 36, 0, 12);
          const grads = rng.f32(ids.length * DIM, -1, 1);
          await s.applyRowwiseAdam(ids, grads, { ...o, step });
          rowwiseAdamRef(w, m, v, DIM, ids, grads, { ...o, step }, storage === 'bf16');
          const got = await all(s, 16);
          // f32: within f32 rounding of the float64 trajectory; bf16: within one bf16 ulp.
          const tol = storage === 'bf16' ? { atol: 1e-30, rtol: 2 ** -7 } : { atol: 1e-6, rtol: 1e-5 };
          expectClose(`w step ${step}`, got.w, w, tol);
          expectClose(`m step ${step}`, got.m, m, tol);
          expectClose(`v step ${step}`, got.v, v, { atol: 1e-9, rtol: 1e-5 });
          for (const r of [1, 2, 3, 35]) for (let c = 0; c < DIM; c++) expect(got.w[r * DIM + c]).toBe(start.w[r * DIM + c]);
          // The float64 trajectory continues from the store's values (bf16 re-rounds each step).
          w.set(got.w);
          m.set(got.m);
          v.set(got.v);
        }
        await s.close();
      });

      it(`${kind} ${storage}: an id outside the table or a repeated id is refused, naming it`, async () => {
        const s = make(storage);
        await expect(s.read(Uint32Array.of(1, ROWS))).rejects.toThrow(new RegExp(`item id ${ROWS} at position 1 is outside the table \\(${ROWS} rows.*HINT`));
        await expect(s.read(Uint32Array.of(2, 2))).rejects.toThrow(/appears twice/);
        await expect(s.applyRowwiseAdam(Uint32Array.of(ROWS + 5), new Float32Array(DIM), { lr: 0.1, step: 1 })).rejects.toThrow(/outside the table/);
        await s.close();
      });
    }
  }

  it('host and device row-wise Adam give the same bits (host f32 mirrors the kernel)', async () => {
    for (const storage of ['f32', 'bf16'] as const) {
      const h = new HostEmbeddingStore(ROWS, 64, { storage });
      const dv = DeviceEmbeddingStore.create(gpu, ROWS, 64, storage, 'adam_bits');
      const rng = new Rng(5);
      const init = randomBlock(rng, Array.from({ length: ROWS }, (_, i) => i), 64);
      await h.write(init);
      await dv.write(init);
      for (let step = 1; step <= 4; step++) {
        const ids = Uint32Array.of(5, 1, 33, 20, 7, 8);
        const grads = rng.f32(ids.length * 64, -2, 2);
        const o = { lr: 0.01, weightDecay: 0.001, step };
        await h.applyRowwiseAdam(ids, grads, o);
        await dv.applyRowwiseAdam(ids, grads, o);
      }
      const a = await all(h, ROWS), b = await all(dv, ROWS);
      expect(Buffer.from(a.w.buffer).equals(Buffer.from(b.w.buffer))).toBe(true);
      expect(Buffer.from(a.m.buffer).equals(Buffer.from(b.m.buffer))).toBe(true);
      expect(Buffer.from(a.v.buffer).equals(Buffer.from(b.v.buffer))).toBe(true);
      await dv.close();
    }
  });

  it('host store: chunked storage spans chunks, init streamed in row order', async () => {
    const rows = CHUNK_ROWS + 3;
    const seen: number[] = [];
    const s = new HostEmbeddingStore(rows, 2, { init: (w, r0) => {
      seen.push(r0);
      for (let i = 0; i < w.length; i++) w[i] = r0 + i / 2;
    } });
    expect(seen).toEqual([0, CHUNK_ROWS]);
    const b = await s.read(Uint32Array.of(rows - 1, CHUNK_ROWS - 1, 0));
    expect(Array.from(b.w)).toEqual([rows - 1, rows - 0.5, CHUNK_ROWS - 1, CHUNK_ROWS - 0.5, 0, 0.5]);
    await s.close();
  });
});
