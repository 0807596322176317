import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  applyOverrides, attentionAlpha, closeKeys, defaultConfig, loadConfigFile, parseOverrides,
  resolvedDqk, resolvedDv, resolvedNormaliser, validateConfig,
} from './config.js';

describe('config overrides', () => {
  it('parses --key=value into the default type', () => {
    const o = parseOverrides(['--dim=64', '--useRab=false', '--model=sasrec', '--lr=3e-4', '--siluOnUOnly']);
    expect(o).toEqual({ dim: 64, useRab: false, model: 'sasrec', lr: 3e-4, siluOnUOnly: true });
    const c = applyOverrides(defaultConfig, o);
    expect(c.dim).toBe(64);
    expect(c.numLayers).toBe(defaultConfig.numLayers);
    expect(defaultConfig.dim).toBe(50); // defaults are not mutated
  });

  it('rejects type errors', () => {
    expect(() => parseOverrides(['--dim=abc'])).toThrow(/--dim: expected a number, got 'abc'/);
    expect(() => parseOverrides(['--dim='])).toThrow(/expected a number/);
    expect(() => parseOverrides(['--dim=1.5'])).toThrow(/'dim': expected an integer, got 1.5/);
    expect(() => parseOverrides(['--useRab=yes'])).toThrow(/expected true or false, got 'yes'/);
    expect(() => parseOverrides(['--dim'])).toThrow(/expected --dim=<number>/);
    expect(() => applyOverrides(defaultConfig, { dim: '64' })).toThrow(/'dim': expected a number, got "64" \(string\)/);
    expect(() => applyOverrides(defaultConfig, { useRab: 1 })).toThrow(/'useRab': expected a boolean/);
    expect(() => parseOverrides(['dim=5'])).toThrow(/expected an override of the form --key=value, got 'dim=5'/);
  });

  it('rejects enum values outside the set', () => {
    expect(() => parseOverrides(['--model=bert4rec'])).toThrow(/'model': expected one of 'hstu' \| 'sasrec', got 'bert4rec'/);
    expect(() => parseOverrides(['--lrSchedule=step'])).toThrow(/'constant' \| 'cosine' \| 'linear-warmup'/);
    expect(parseOverrides(['--embeddingOptimizer=adam']).embeddingOptimizer).toBe('adam');
  });

  it('similarity: cosine by default, dot accepted, anything else refused with a HINT', () => {
    expect(defaultConfig.similarity).toBe('cosine');
    expect(applyOverrides(defaultConfig, {}).similarity).toBe('cosine'); // a checkpoint config without the key
    expect(applyOverrides(defaultConfig, parseOverrides(['--similarity=dot', '--temperature=1']))).toMatchObject({ similarity: 'dot', temperature: 1 });
    expect(() => parseOverrides(['--similarity=inner'])).toThrow(/'similarity': expected one of 'cosine' \| 'dot', got 'inner'\. HINT/);
    expect(() => validateConfig({ ...defaultConfig, similarity: 'Dot' as 'dot' })).toThrow(/'similarity': expected 'cosine' \| 'dot', got "Dot"\. HINT/);
  });

  it('rejects unknown keys with close matches', () => {
    expect(() => parseOverrides(['--numHead=2'])).toThrow(/unknown config key 'numHead'.*HINT: did you mean 'numHeads'/);
    expect(() => parseOverrides(['--learning_rate=1'])).toThrow(/unknown config key 'learning_rate'.*HINT: known keys:/);
    expect(closeKeys('dropot')).toContain('dropout');
    expect(() => applyOverrides(defaultConfig, { tempreature: 0.1 })).toThrow(/did you mean 'temperature'/);
  });

  it('validates ranges and consistency', () => {
    expect(() => applyOverrides(defaultConfig, { dropout: 1 })).toThrow(/'dropout': expected in \[0, 1\), got 1/);
    expect(() => applyOverrides(defaultConfig, { attnAlpha: -2 })).toThrow(/'attnAlpha': expected 0 \(off\), > 0, or -1/);
    expect(() => applyOverrides(defaultConfig, { numHeads: 3 })).toThrow(/expected dim divisible by numHeads/);
    expect(applyOverrides(defaultConfig, { numHeads: 3, dqk: 8, dv: 10 }).numHeads).toBe(3);
    expect(() => applyOverrides(defaultConfig, { maxLen: 0 })).toThrow(/'maxLen': expected ≥ 1, got 0/);
  });

  it('loads a JSON file with the same checks', () => {
    const dir = mkdtempSync(join(tmpdir(), 'cfg-'));
    const good = join(dir, 'good.json'), bad = join(dir, 'bad.json'), arr = join(dir, 'arr.json');
    writeFileSync(good, JSON.stringify({ dim: 64, model: 'sasrec', numHeads: 2 }));
    writeFileSync(bad, JSON.stringify({ dims: 64 }));
    writeFileSync(arr, '[1]');
    expect(loadConfigFile(good)).toMatchObject({ dim: 64, model: 'sasrec', numHeads: 2, maxLen: 200 });
    expect(() => loadConfigFile(bad)).toThrow(/unknown config key 'dims' in .*bad.json.*did you mean 'dim'/);
    expect(() => loadConfigFile(arr)).toThrow(/expected a JSON object, got an array.*HINT/);
    expect(() => loadConfigFile(join(dir, 'missing.json'))).toThrow(/cannot read config file.*HINT/);
  });
});

describe('derived values', () => {
  it('dqk/dv auto = dim/H; alpha 0 → 1, −1 → 1/sqrt(dqk), else given', () => {
    const c = applyOverrides(defaultConfig, { dim: 64, numHeads: 4 });
    expect([resolvedDqk(c), resolvedDv(c)]).toEqual([16, 16]);
    const e = applyOverrides(c, { dqk: 8, dv: 12 });
    expect([resolvedDqk(e), resolvedDv(e)]).toEqual([8, 12]);
    expect(attentionAlpha(c)).toBe(1);
    expect(attentionAlpha(applyOverrides(e, { attnAlpha: -1 }))).toBeCloseTo(1 / Math.sqrt(8), 15);
    expect(attentionAlpha(applyOverrides(e, { attnAlpha: 0.25 }))).toBe(0.25);
  });

  it('normaliser: N by default; history length (+1 with targets) by length', () => {
    expect(resolvedNormaliser(defaultConfig, 7, 0)).toBe(200);
    const c = applyOverrides(defaultConfig, { normalizeByLength: true });
    expect(resolvedNormaliser(c, 7, 0)).toBe(7);
    expect(resolvedNormaliser(c, 7, 3)).toBe(5);
    expect(resolvedNormaliser(c, 0, 0)).toBe(1);
  });
});

describe('config file with a UTF-8 BOM (issue 16)', () => {
  it('is read like the same file without one', () => {
    const p = join(mkdtempSync(join(tmpdir(), 'hstu-cfg-bom-')), 'c.json');
    writeFileSync(p, '\uFEFF{"dim": 64}');
    expect(loadConfigFile(p).dim).toBe(64);
  });
});
