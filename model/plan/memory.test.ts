import { describe, expect, it } from 'vitest';
import { activationBytes, expectedUniqueRows, formatBytes, jemallocClass, redisBytesPerRow, rowBytes, trainingRowFormat } from './memory.js';

describe('bytes per row (DESIGN §7)', () => {
  it('plain Adam 12d, row-wise Adam 8d + 4, bf16 4d + 4, weights 4d / 2d', () => {
    expect(rowBytes('adam-f32', 64)).toBe(768);
    expect(rowBytes('rowwise-f32', 64)).toBe(516);
    expect(rowBytes('rowwise-bf16', 64)).toBe(260);
    expect(rowBytes('weights-f32', 50)).toBe(200);
    expect(rowBytes('weights-bf16', 50)).toBe(100);
  });

  it("the paper's 61 TB: 10B rows × d = 512 with fp32 Adam = 10e9 · 512 · 12 B = 61.44 TB", () => {
    const bytes = 10e9 * rowBytes('adam-f32', 512);
    expect(bytes).toBe(61_440_000_000_000);
    expect(formatBytes(bytes)).toBe('61.4 TB');
    // Row-wise Adam ("HBM from 12 to 8 bytes per float" and a scalar v per row), then bf16.
    expect(formatBytes(10e9 * rowBytes('rowwise-f32', 512))).toBe('41.0 TB');
    expect(formatBytes(10e9 * rowBytes('rowwise-bf16', 512))).toBe('20.5 TB');
  });

  it('maps the config keys to the row format and rejects bf16 plain Adam', () => {
    expect(trainingRowFormat({ embeddingOptimizer: 'rowwise-adam', embeddingBf16: false })).toBe('rowwise-f32');
    expect(trainingRowFormat({ embeddingOptimizer: 'rowwise-adam', embeddingBf16: true })).toBe('rowwise-bf16');
    expect(trainingRowFormat({ embeddingOptimizer: 'adam', embeddingBf16: false })).toBe('adam-f32');
    expect(() => trainingRowFormat({ embeddingOptimizer: 'adam', embeddingBf16: true })).toThrow(/HINT/);
    expect(() => rowBytes('rowwise-f32', 0)).toThrow(/dim/);
  });
});

describe('jemalloc size classes and Redis bytes per row', () => {
  it('rounds to jemalloc 5 classes', () => {
    const cases: [number, number][] = [[1, 8], [8, 8], [9, 16], [17, 32], [100, 112], [128, 128], [129, 160], [257, 320], [513, 640], [526, 640], [1025, 1280], [14336, 14336], [20000, 20480]];
    for (const [n, want] of cases) expect(jemallocClass(n), `class of ${n}`).toBe(want);
  });

  it('a d = 64 row-wise f32 row: 520 B payload (version + v + w + m) costs 728 B in Redis', () => {
    // value sds 520 + 5 + 1 = 526 → 640; key 20 + 3 + 1 = 24 → 32; dict entry 24 → 32; bucket 8; robj 16.
    const r = redisBytesPerRow(4 + rowBytes('rowwise-f32', 64));
    expect(r.total).toBe(640 + 32 + 32 + 8 + 16);
    expect(r.overhead).toBe(728 - 520);
  });
});

describe('activation memory per layer', () => {
  it("paper: HSTU 14d, Transformer 33d (bf16); ours: f32 tensors of model/hstu.ts", () => {
    const d = 512;
    const hstu = activationBytes({ model: 'hstu', dim: d, numHeads: 1, dqk: d, dv: d });
    expect(hstu.paperPerToken).toBe(2 * 14 * d);
    expect(activationBytes({ model: 'sasrec', dim: d, numHeads: 1, dqk: d, dv: d }).paperPerToken).toBe(2 * 33 * d);
    // H = 1, dqk = dv = d: w = 4d; kept n, h, u|v|q|k, o, z, y + 4 stats = 12d + 4 floats.
    expect(hstu.retainedPerToken).toBe(4 * (12 * d + 4));
    // dz, dO, dU, dV (4d), dq, dk (2d), dh (4d), dn, dx_ln, dx (3d) = 13d floats.
    expect(hstu.backwardPerToken).toBe(4 * 13 * d);
  });
});

describe('expected distinct rows', () => {
  it('0 draws → 0; 1 row → 1; few draws of many rows → ≈ draws; many draws → all rows', () => {
    expect(expectedUniqueRows(0, 1000)).toBe(0);
    expect(expectedUniqueRows(5, 1)).toBeCloseTo(1, 12);
    expect(expectedUniqueRows(100, 1e12)).toBeCloseTo(100, 6);
    expect(expectedUniqueRows(1e6, 1000)).toBeCloseTo(1000, 6);
    // 2 draws of 2 rows: 1 + 1/2 expected distinct.
    expect(expectedUniqueRows(2, 2)).toBeCloseTo(1.5, 12);
  });
});
