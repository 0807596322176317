// Degenerate data is refused before training: no user with ≥ 3 events (retrieval would report
// "count 0, HR@10 = 0"), or nothing left to train on.
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { defaultConfig } from '../../model/config.js';
import { prepareSplit } from '../train.js';
import { trainCommand } from '../cli.js';
import { fromTriples } from './testing.js';

const dir = mkdtempSync(join(tmpdir(), 'hstu-eval-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Every user has exactly `k` events. */
function usersWith(k: number, users = 20): [number, number, number][] {
  const rows: [number, number, number][] = [];
  for (let u = 1; u <= users; u++) for (let j = 0; j < k; j++) rows.push([u, 1 + ((u + j) % 7), 1000 + j]);
  return rows;
}

describe('retrieval: degenerate splits refused', () => {
  it('all users with 2 events: a clear error naming the cause, not a test line with count 0', () => {
    expect(() => prepareSplit(fromTriples(usersWith(2)), defaultConfig)).toThrow(/no user has the 3 or more events .*20 users: 20 with 2 events.*0 examples.*HINT/s);
  });

  it('all users with 3 events: evaluable but nothing to train on', () => {
    expect(() => prepareSplit(fromTriples(usersWith(3)), defaultConfig)).toThrow(/nothing to train on.*HINT/s);
  });

  it('users with 4 events pass', () => {
    expect(prepareSplit(fromTriples(usersWith(4)), defaultConfig).test.count).toBe(20);
  });

  it('npm run train refuses the file before training (no output directory is created)', async () => {
    const p = join(dir, 'u.data');
    writeFileSync(p, usersWith(2).map(([u, i, t]) => `${u}\t${i}\t4\t${t + 881250000}`).join('\n') + '\n');
    const out = join(dir, 'out');
    await expect(trainCommand(['--data', p, '--format', 'ml-100k', '--out', out, '--epochs=1'])).rejects.toThrow(/no user has the 3 or more events/);
    expect(existsSync(out)).toBe(false);
  });
});
