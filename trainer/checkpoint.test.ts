import { mkdtempSync, readdirSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { applyOverrides, defaultConfig } from '../model/config.js';
import { checkResumeConfig, decodeCheckpoint, encodeCheckpoint, loadCheckpoint, saveCheckpoint, type CheckpointData } from './checkpoint.js';

function sample(): CheckpointData {
  return {
    task: 'retrieval',
    config: { dim: 8, model: 'hstu' },
    step: 123456789,
    epoch: 7,
    params: [{ name: 'item_emb', shape: [3, 2], dtype: 'f32', data: Float32Array.from([1, -2, 3.5, 1e-40, 0, -0]) }],
    optimizerState: [{ name: 'item_emb.v', shape: [3], dtype: 'f32', data: Float32Array.from([0.1, 0.2, 0.3]) }, { name: 'ids', shape: [2], dtype: 'u32', data: Uint32Array.from([0, 0xffffffff]) }],
    itemRawIds: ['', '42', 'abc'],
    trainerState: { bestEpoch: 3 },
  };
}

describe('checkpoint', () => {
  it('round-trips every field bit-exactly', () => {
    const c = sample();
    const d = decodeCheckpoint(encodeCheckpoint(c));
    expect(d.task).toBe('retrieval');
    expect(d.config).toEqual(c.config);
    expect(d.step).toBe(123456789);
    expect(d.epoch).toBe(7);
    expect(d.itemRawIds).toEqual(c.itemRawIds);
    expect(d.trainerState).toEqual({ bestEpoch: 3 });
    expect(new Uint8Array(d.params[0]!.data.buffer)).toEqual(new Uint8Array(c.params[0]!.data.buffer));
    expect(Array.from(d.optimizerState[1]!.data)).toEqual([0, 0xffffffff]);
  });

  it('writes atomically and leaves no temp file', () => {
    const dir = mkdtempSync(join(tmpdir(), 'ckpt-'));
    const path = join(dir, 'checkpoint.hstu');
    saveCheckpoint(path, sample());
    saveCheckpoint(path, { ...sample(), step: 5, epoch: 2 });
    expect(readdirSync(dir)).toEqual(['checkpoint.hstu']);
    expect(loadCheckpoint(path).step).toBe(5);
  });

  it('rejects foreign, truncated and missing files with a HINT', () => {
    const dir = mkdtempSync(join(tmpdir(), 'ckpt-'));
    const foreign = join(dir, 'x.bin');
    writeFileSync(foreign, 'hello world, not a checkpoint');
    expect(() => loadCheckpoint(foreign)).toThrow(/not an hstu-webgpu checkpoint.*HINT/s);
    const good = join(dir, 'good.hstu');
    saveCheckpoint(good, sample());
    const bytes = readFileSync(good);
    writeFileSync(join(dir, 'cut.hstu'), bytes.subarray(0, bytes.length - 7));
    expect(() => loadCheckpoint(join(dir, 'cut.hstu'))).toThrow(/HINT/);
    expect(() => loadCheckpoint(join(dir, 'missing.hstu'))).toThrow(/cannot read checkpoint.*HINT/s);
  });

  it('rejects a tensor whose data does not match its shape', () => {
    const c = sample();
    c.params[0]!.shape = [4, 2];
    expect(() => encodeCheckpoint(c)).toThrow(/expected 8 values/);
  });
});

describe('resume config check', () => {
  const trained = applyOverrides(defaultConfig, { dim: 8, lr: 0.005, negativeSampling: 'shared' });
  const ck = { ...sample(), config: { ...trained } };
  it('refuses a model-defining key that differs, naming it, with a hint', () => {
    expect(() => checkResumeConfig(ck, { ...trained, attnAlpha: -1 }, 'ck.hstu')).toThrow(/ck.hstu: was trained with another model shape: attnAlpha \(checkpoint 0, now -1\).*HINT/);
    expect(() => checkResumeConfig(ck, { ...trained, dim: 16 }, 'ck.hstu')).toThrow(/dim \(checkpoint 8, now 16\)/);
  });
  it('lists the other keys that differ, and nothing when the config is the same', () => {
    expect(checkResumeConfig(ck, trained, 'ck.hstu')).toEqual([]);
    expect(checkResumeConfig(ck, { ...trained, lr: 0.001, negativeSampling: 'per-position' }, 'ck.hstu')).toEqual([
      'negativeSampling (checkpoint "shared", now "per-position")',
      'lr (checkpoint 0.005, now 0.001)',
    ]);
  });
});
