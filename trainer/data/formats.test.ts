// Integer ids per format: MovieLens / SASRec ids are decimal integers, normalised (0242 = 242);
// generic csv ids are verbatim strings.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadInteractions } from './load.js';
import { PAD_RAW_ID } from './types.js';

const dir = mkdtempSync(join(tmpdir(), 'hstu-ids-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let k = 0;
const file = (text: string) => {
  const p = join(dir, `f${k++}`);
  writeFileSync(p, text);
  return p;
};
const CSV = 'userId,movieId,rating,timestamp\n';

describe('ids per format', () => {
  it.each(['abc', '-5', '1.5', '1e3', ''])('ratings-csv refuses the item id %j with the line', async (id) => {
    const p = file(`${CSV}1,2,3.5,1112486027\n1,${id},3.5,1112484676\n`);
    await expect(loadInteractions(p, 'ratings-csv')).rejects.toThrow(/:3: expected column "movieId" \(item\) to be a non-negative integer|:3: expected a non-empty item id/);
  });

  it('ratings-csv refuses a non-integer user id', async () => {
    await expect(loadInteractions(file(`${CSV}u1,2,3.5,1112486027\n`), 'ratings-csv')).rejects.toThrow(/:2: expected column "userId" \(user\) to be a non-negative integer, got "u1"/);
  });

  it('ml-100k, ml-1m, ratings-csv, sasrec: 0242 and 242 are the same item (and 007 the same user as 7)', async () => {
    const cases = [
      [file('007\t0242\t3\t881250949\n7\t242\t4\t881250950\n'), 'ml-100k'],
      [file('007::0242::3::881250949\n7::242::4::881250950\n'), 'ml-1m'],
      [file(`${CSV}007,0242,3,881250949\n7,242,4,881250950\n`), 'ratings-csv'],
      [file('007 0242\n7 242\n'), 'sasrec'],
    ] as const;
    for (const [p, fmt] of cases) {
      const x = await loadInteractions(p, fmt);
      expect(x.itemRawIds, fmt).toEqual([PAD_RAW_ID, 242]);
      expect(x.userRawIds, fmt).toEqual([7]);
      expect(x.count).toBe(2);
    }
  });

  it('generic csv keeps ids verbatim (documented): 0242 and 242 stay two items', async () => {
    const x = await loadInteractions(file('u,i\n1,0242\n1,242\n'), 'csv', { csv: { userColumn: 'u', itemColumn: 'i' } });
    expect(x.numItems - 1).toBe(2);
  });
});
