import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { saveCheckpoint } from './checkpoint.js';
import { buildConfig, parseArgs, trainCommand, USAGE } from './cli.js';

describe('cli', () => {
  it('parses value flags and overrides, and type-checks overrides', () => {
    const { flags, overrides } = parseArgs(['--data', 'x/u.data', '--format', 'ml-100k', '--dim=64', '--useRab=false', '--out', 'o']);
    expect(flags.get('data')).toBe('x/u.data');
    expect(flags.get('out')).toBe('o');
    const c = buildConfig(flags, overrides);
    expect(c.dim).toBe(64);
    expect(c.useRab).toBe(false);
    expect(() => buildConfig(new Map(), ['--dim=abc'])).toThrow(/--dim: expected a number, got 'abc'/);
    expect(() => buildConfig(new Map(), ['--dimm=3'])).toThrow(/unknown config key 'dimm'.*HINT/s);
  });

  it('rejects a value flag without a value and stray arguments', () => {
    expect(() => parseArgs(['--data'])).toThrow(/--data needs a value/);
    expect(() => parseArgs(['--data', '--out'])).toThrow(/--data needs a value/);
    expect(() => parseArgs(['stray'])).toThrow(/unexpected argument 'stray'/);
  });

  it('reads a config file and applies command-line overrides on top', () => {
    const dir = mkdtempSync(join(tmpdir(), 'cfg-'));
    const file = join(dir, 'c.json');
    writeFileSync(file, JSON.stringify({ dim: 24, numLayers: 3 }));
    const c = buildConfig(new Map([['config', file]]), ['--numLayers=1']);
    expect([c.dim, c.numLayers]).toEqual([24, 1]);
    writeFileSync(file, JSON.stringify({ dim: 24, typo: 1 }));
    expect(() => buildConfig(new Map([['config', file]]), [])).toThrow(/typo/);
  });

  it('refuses --resume of a checkpoint of the other task with a hint, before training', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cli-resume-'));
    const ck = (task: 'retrieval' | 'ranking') => {
      const file = join(dir, `${task}.hstu`);
      saveCheckpoint(file, { task, config: { task }, step: 0, epoch: 0, params: [], optimizerState: [], itemRawIds: ['0'], trainerState: {} });
      return file;
    };
    await expect(trainCommand(['--resume', ck('ranking')])).rejects.toThrow(/holds a 'ranking' model, this run trains 'retrieval'.*HINT: resume it with --task=ranking/);
    await expect(trainCommand(['--task=ranking', '--resume', ck('retrieval')])).rejects.toThrow(/holds a 'retrieval' model, this run trains 'ranking'.*HINT: resume it with --task=retrieval/);
  });

  it('documents every config key in --help', () => {
    for (const key of ['maxLen', 'numNegatives', 'temperature', 'lrSchedule']) expect(USAGE).toContain(key);
  });
});
