import { describe, expect, it } from 'vitest';
import { rowwiseAdamRef } from '../../kernels/optim/optim.ref.js';
import { adamDoubleConstants, decodeRow, encodeRow, initRow, rowBytes, rowwiseAdamRowDouble, roundStoredValue } from './row_codec.js';

describe('row codec', () => {
  it.each(['f32', 'bf16'] as const)('encodes and decodes [version][v][w][m] (%s), rounding only in bf16', (storage) => {
    const d = 13;
    const w = Float32Array.from({ length: d }, (_, i) => Math.sin(i + 1) * 3.3);
    const m = Float32Array.from({ length: d }, (_, i) => Math.cos(i) * 1e-3);
    w[3] = NaN;
    const buf = Buffer.alloc(rowBytes(d, storage) + 5).fill(0xee);
    encodeRow(buf, 5, d, storage, 4294967295, 0.25, w, 0, m, 0);
    const w2 = new Float32Array(d).fill(99), m2 = new Float32Array(d).fill(99);
    const r = decodeRow(buf, 5, d, storage, w2, 0, m2, 0);
    expect(r).toEqual({ version: 4294967295, v: 0.25 });
    expect(rowBytes(d, storage)).toBe(8 + d * (storage === 'f32' ? 8 : 4));
    for (let c = 0; c < d; c++) {
      if (c === 3) expect(w2[c]).toBeNaN();
      else expect(w2[c]).toBe(roundStoredValue(w[c]!, storage));
      expect(m2[c]).toBe(roundStoredValue(m[c]!, storage));
    }
  });

  it('initRow is a function of (seed, id) alone, truncated at 2 std; id 0 is zeros', () => {
    const d = 33, a = new Float32Array(d), b = new Float32Array(3 * d);
    initRow(7, 12345, d, 0.02, a);
    initRow(7, 99, d, 0.02, b, 0);
    initRow(7, 12345, d, 0.02, b, d);
    expect(b.subarray(d, 2 * d)).toEqual(a);
    expect(b.subarray(0, d)).not.toEqual(a);
    initRow(8, 12345, d, 0.02, b, 2 * d);
    expect(b.subarray(2 * d)).not.toEqual(a);
    for (const x of a) expect(Math.abs(x)).toBeLessThanOrEqual(0.04 + 1e-9);
    expect(a.some((x) => x !== 0)).toBe(true);
    initRow(7, 0, d, 0.02, a);
    expect(a.every((x) => x === 0)).toBe(true);
  });

  it.each(['f32', 'bf16'] as const)('rowwiseAdamRowDouble matches the float64 reference within storage rounding (%s)', (storage) => {
    const d = 19;
    const w0 = Float64Array.from({ length: d }, (_, i) => Math.fround(Math.sin(i) * 0.05));
    const m0 = new Float64Array(d), v0 = new Float64Array(1);
    let row = Buffer.alloc(rowBytes(d, storage));
    encodeRow(row, 0, d, storage, 0, 0, w0, 0, m0, 0);
    const w32 = new Float32Array(d);
    decodeRow(row, 0, d, storage, w32, 0, new Float32Array(d), 0);
    const wRef = Float64Array.from(w32);
    const mRef = new Float64Array(d), vRef = new Float64Array(1);
    const sw = new Float32Array(d), sm = new Float32Array(d);
    for (let step = 1; step <= 4; step++) {
      const g = Float32Array.from({ length: d }, (_, i) => Math.cos(i * step) * 0.3);
      const o = { lr: 0.01, beta1: 0.9, beta2: 0.98, eps: 1e-8, weightDecay: 0.1, step };
      const out = Buffer.alloc(row.length);
      rowwiseAdamRowDouble(row, 0, out, 0, d, storage, g, 0, adamDoubleConstants(o), sw, sm);
      rowwiseAdamRef(wRef, mRef, vRef, d, [0], g, o, storage === 'bf16');
      // the reference keeps float64 state between steps; store it as the row does
      for (let c = 0; c < d; c++) { wRef[c] = roundStoredValue(wRef[c]!, storage); mRef[c] = roundStoredValue(mRef[c]!, storage); }
      vRef[0] = Math.fround(vRef[0]!);
      row = out;
      const w = new Float32Array(d), m = new Float32Array(d);
      const r = decodeRow(row, 0, d, storage, w, 0, m, 0);
      expect(r.version).toBe(step);
      expect(r.v).toBe(vRef[0]);
      const tol = storage === 'f32' ? 2 ** -22 : 2 ** -7;
      for (let c = 0; c < d; c++) {
        expect(Math.abs(w[c]! - wRef[c]!)).toBeLessThanOrEqual(tol * Math.abs(wRef[c]!) + 1e-30);
        expect(Math.abs(m[c]! - mRef[c]!)).toBeLessThanOrEqual(tol * Math.abs(mRef[c]!) + 1e-30);
      }
    }
  });

  it('a NaN gradient makes the row NaN, never a finite number', () => {
    const d = 4, row = Buffer.alloc(rowBytes(d, 'f32')), out = Buffer.alloc(row.length);
    encodeRow(row, 0, d, 'f32', 0, 0, [1, 2, 3, 4], 0, [0, 0, 0, 0], 0);
    rowwiseAdamRowDouble(row, 0, out, 0, d, 'f32', [0, NaN, 0, 0], 0, adamDoubleConstants({ lr: 0.1, step: 1 }), new Float32Array(d), new Float32Array(d));
    const w = new Float32Array(d), m = new Float32Array(d);
    const r = decodeRow(out, 0, d, 'f32', w, 0, m, 0);
    expect(r.v).toBeNaN();
    for (const x of w) expect(x).toBeNaN();
  });
});
