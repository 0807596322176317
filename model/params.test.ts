import { describe, expect, it } from 'vitest';
import { applyOverrides, defaultConfig } from './config.js';
import { initParams, numel, paramLayout } from './params.js';

describe('parameter layout', () => {
  it('HSTU names and shapes (H=2, dqk≠dv)', () => {
    const c = applyOverrides(defaultConfig, { dim: 8, maxLen: 5, numLayers: 2, numHeads: 2, dqk: 3, dv: 5 });
    const shapes = Object.fromEntries(paramLayout(c, 10).map((s) => [s.name, s.shape]));
    expect(shapes).toEqual({
      item_emb: [11, 8], pos_emb: [5, 8],
      'layers.0.w_uvqk': [8, 2 * (2 * 5 + 2 * 3)], 'layers.0.w_o': [10, 8], 'layers.0.b_o': [8],
      'layers.0.rab_pos': [9], 'layers.0.rab_time': [129],
      'layers.1.w_uvqk': [8, 32], 'layers.1.w_o': [10, 8], 'layers.1.b_o': [8],
      'layers.1.rab_pos': [9], 'layers.1.rab_time': [129],
    });
    const wide = applyOverrides(c, { outputFromUOAndGate: true });
    expect(paramLayout(wide, 10).find((s) => s.name === 'layers.0.w_o')!.shape).toEqual([30, 8]);
  });

  it('SASRec names and shapes', () => {
    const c = applyOverrides(defaultConfig, { model: 'sasrec', dim: 6, maxLen: 4, numLayers: 1, numHeads: 2 });
    const shapes = Object.fromEntries(paramLayout(c, 3).map((s) => [s.name, s.shape]));
    expect(Object.keys(shapes)).toEqual([
      'item_emb', 'pos_emb', 'layers.0.ln1_gamma', 'layers.0.ln1_beta', 'layers.0.w_qkv', 'layers.0.b_qkv',
      'layers.0.w_attn_o', 'layers.0.b_attn_o', 'layers.0.ln2_gamma', 'layers.0.ln2_beta', 'layers.0.w1', 'layers.0.b1',
      'layers.0.w2', 'layers.0.b2', 'final_ln_gamma', 'final_ln_beta',
    ]);
    expect(shapes['layers.0.w_qkv']).toEqual([6, 18]);
    expect(shapes['item_emb']).toEqual([4, 6]);
  });

  it('init is seeded, per-tensor independent, padding row zero, scaled', () => {
    const c = applyOverrides(defaultConfig, { dim: 16, maxLen: 10, numHeads: 2 });
    const a = initParams(c, 50, 1), b = initParams(c, 50, 1), other = initParams(c, 50, 2);
    const c3 = initParams(applyOverrides(c, { numLayers: 3 }), 50, 1);
    for (const [name, v] of a) {
      expect(v.length).toBe(numel(paramLayout(c, 50).find((s) => s.name === name)!.shape));
      expect(b.get(name)).toEqual(v);
      expect(c3.get(name)).toEqual(v); // adding a layer changes no existing tensor
      if (v.some((x) => x !== 0 && x !== 1)) expect(other.get(name)).not.toEqual(v);
    }
    const item = a.get('item_emb')!;
    expect(Array.from(item.subarray(0, 16)).every((x) => x === 0)).toBe(true);
    expect(Math.max(...item.map(Math.abs))).toBeLessThanOrEqual(0.04 + 1e-7); // truncated at 2·0.02
    // w_uvqk: N(0, 0.02) by default (the research code's init): sample std within 10%, untruncated.
    const n = a.get('layers.0.w_uvqk')!;
    const std = Math.sqrt(n.reduce((s, x) => s + x * x, 0) / n.length);
    expect(Math.abs(std - 0.02)).toBeLessThan(0.002);
    expect(Math.max(...n.map(Math.abs))).toBeGreaterThan(2 * 0.02);
    // uvqkInitStd = 0: Xavier-uniform.
    const w = initParams(applyOverrides(c, { uvqkInitStd: 0 }), 50, 1).get('layers.0.w_uvqk')!;
    const width = 2 * (2 * 8 + 2 * 8); // H·(2·dv + 2·dqk), dqk = dv = 16/2
    const bound = Math.sqrt(6 / (16 + width));
    expect(Math.max(...w.map(Math.abs))).toBeLessThanOrEqual(bound);
    expect(Math.max(...w.map(Math.abs))).toBeGreaterThan(bound * 0.8);
    expect(() => paramLayout(c, 0)).toThrow(/expected numItems ≥ 1, got 0/);
  });
});
