import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { fsyncDir, writeFileAtomic } from './atomic_write.js';
import { MetricsLog, historyOf } from './metrics_log.js';

const lines = (p: string) => readFileSync(p, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>);

describe('MetricsLog', () => {
  it('writes the history then the closing lines, the closing lines replaced as a whole', () => {
    const dir = mkdtempSync(join(tmpdir(), 'mlog-'));
    const p = join(dir, 'metrics.jsonl');
    writeFileSync(p, '{"stale":1}\n');
    const log = new MetricsLog(p);
    expect(readFileSync(p, 'utf8')).toBe(''); // a fresh run starts an empty file
    log.record({ split: 'validation', epoch: 1, v: NaN });
    log.close([{ split: 'test', epoch: 1 }, { split: 'test', epoch: 0, model: 'baseline' }]);
    log.record({ split: 'validation', epoch: 2 });
    log.close([{ split: 'test', epoch: 2 }]);
    expect(lines(p)).toEqual([{ split: 'validation', epoch: 1, v: null }, { split: 'validation', epoch: 2 }, { split: 'test', epoch: 2 }]);
    expect(log.saved).toEqual([{ split: 'validation', epoch: 1, v: null }, { split: 'validation', epoch: 2 }]);
    expect(readdirSync(dir)).toEqual(['metrics.jsonl']); // no temp file left
  });

  it('a resumed log starts as the checkpoint history, dropping lines written after that checkpoint', () => {
    const dir = mkdtempSync(join(tmpdir(), 'mlog-'));
    const p = join(dir, 'metrics.jsonl');
    writeFileSync(p, ['{"split":"validation","epoch":1}', '{"split":"validation","epoch":2}', '{"split":"test","epoch":2}', ''].join('\n'));
    const ck = { epoch: 1, trainerState: { metrics: [{ split: 'validation', epoch: 1 }] } };
    new MetricsLog(p, historyOf(ck, p));
    expect(lines(p)).toEqual([{ split: 'validation', epoch: 1 }]);
    expect(historyOf(undefined, p)).toEqual([]);
    new MetricsLog(undefined, [{ a: 1 }]).record({ b: 2 }); // no path: writes nothing
  });

  it('recovers the history of a checkpoint that predates recorded histories from the file: each epoch once, none after the checkpoint', () => {
    const dir = mkdtempSync(join(tmpdir(), 'mlog-'));
    const p = join(dir, 'metrics.jsonl');
    const v = (epoch: number, x: number) => JSON.stringify({ split: 'validation', epoch, x });
    writeFileSync(p, [v(1, 1), v(2, 2), v(2, 3), '{"split":"test","epoch":2}', v(3, 4), '{"split":"valid'].join('\n'));
    expect(historyOf({ epoch: 2, trainerState: {} }, p)).toEqual([{ split: 'validation', epoch: 1, x: 1 }, { split: 'validation', epoch: 2, x: 2 }]);
    expect(historyOf({ epoch: 2, trainerState: {} }, join(dir, 'none.jsonl'))).toEqual([]);
  });
});

describe('writeFileAtomic', () => {
  it('replaces the file whole, leaves no temp file, and fsyncs the directory', () => {
    const dir = mkdtempSync(join(tmpdir(), 'atomic-'));
    const p = join(dir, 'f.bin');
    writeFileAtomic(p, 'one');
    writeFileAtomic(p, Uint8Array.of(1, 2, 3));
    expect(Array.from(readFileSync(p))).toEqual([1, 2, 3]);
    expect(readdirSync(dir)).toEqual(['f.bin']);
    expect(() => fsyncDir(join(dir, 'missing'))).toThrow(/ENOENT/);
    expect(existsSync(p)).toBe(true);
  });
});
