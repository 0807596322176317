// A truncated last line (no final newline, value cut short) is refused; complete files without a
// final newline still load.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadInteractions } from './load.js';

const dir = mkdtempSync(join(tmpdir(), 'hstu-trunc-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const file = (name: string, text: string) => {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
};
const U_DATA = '196\t242\t3\t881250949\n186\t302\t3\t891717742\n22\t377\t1\t878887116\n244\t51\t2\t880606923\n';

describe('truncated last line', () => {
  it('ml-100k: `…\\t881250949` cut to `…\\t88125` without a final newline is refused, naming the line', async () => {
    const p = file('u.data', U_DATA + '166\t346\t1\t88125');
    await expect(loadInteractions(p, 'ml-100k')).rejects.toThrow(/u\.data:5: the file does not end with a newline and its last line's timestamp 88125 is below .*truncated.*HINT/s);
  });

  it('the same line with its newline (a real 1970 event) loads; so does a complete last line without one', async () => {
    expect((await loadInteractions(file('a.data', U_DATA + '166\t346\t1\t88125\n'), 'ml-100k')).count).toBe(5);
    expect((await loadInteractions(file('b.data', U_DATA + '166\t346\t1\t886397596'), 'ml-100k')).count).toBe(5);
    // time-sorted file: the last line holds the newest timestamp
    expect((await loadInteractions(file('c.data', U_DATA + '166\t346\t1\t999999999'), 'ml-100k')).count).toBe(5);
  });

  it('ml-1m and ratings-csv too', async () => {
    await expect(loadInteractions(file('ratings.dat', '1::1193::5::978300760\n1::661::3::978302109\n1::914::3::9783'), 'ml-1m')).rejects.toThrow(/truncated/);
    await expect(loadInteractions(file('ratings.csv', 'userId,movieId,rating,timestamp\n1,2,3.5,1112486027\n1,29,3.5,1112484676\n1,32,3.5,11124'), 'ratings-csv')).rejects.toThrow(/truncated/);
  });

  it('sasrec (no timestamps): a last item id seen nowhere else and below every other id is refused', async () => {
    await expect(loadInteractions(file('s.txt', '1 1234\n1 1300\n2 1250\n2 1'), 'sasrec')).rejects.toThrow(/item id 1 is below.*truncated/);
    expect((await loadInteractions(file('t.txt', '1 1234\n1 1300\n2 1250\n2 1234'), 'sasrec')).count).toBe(4);
  });
});
