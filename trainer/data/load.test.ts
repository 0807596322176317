import { mkdtempSync, mkdirSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadInteractions } from './load.js';
import { splitDelimited } from './formats.js';
import { PAD_RAW_ID, type Interactions } from './types.js';

let dir = '';
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'hstu-data-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function file(name: string, text: string): string {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
}

/** Events as (rawUser, rawItem, timestamp, rating) tuples, in file order. */
function events(x: Interactions): [unknown, unknown, number, number][] {
  return Array.from({ length: x.count }, (_, e) => [x.userRawIds[x.users[e]!], x.itemRawIds[x.items[e]!], x.timestamps[e]!, x.ratings[e]!]);
}

function checkDense(x: Interactions): void {
  expect(x.users.length).toBe(x.count);
  expect(x.itemRawIds[0]).toBe(PAD_RAW_ID);
  expect(x.itemRawIds.length).toBe(x.numItems);
  expect(x.userRawIds.length).toBe(x.numUsers);
  const seenU = new Set(x.users);
  const seenI = new Set(x.items);
  expect(seenU.size).toBe(x.numUsers); // every dense user used
  expect(seenI.size).toBe(x.numItems - 1); // every dense item 1.. used
  expect(Math.min(...x.items)).toBe(1);
  expect(Math.max(...x.items)).toBe(x.numItems - 1);
}

describe('loadInteractions: formats', () => {
  it('ml-1m ratings.dat, dense ids in ascending raw order, CRLF and trailing blank lines', async () => {
    const p = file('ratings.dat', '10::300::5::978300760\r\n2::300::3::978302109\r\n10::7::4::978301968\r\n\r\n\r\n');
    const x = await loadInteractions(p, 'ml-1m');
    checkDense(x);
    expect(x.format).toBe('ml-1m');
    expect(x.userRawIds).toEqual([2, 10]);
    expect(x.itemRawIds).toEqual([PAD_RAW_ID, 7, 300]);
    expect(Array.from(x.users)).toEqual([1, 0, 1]);
    expect(Array.from(x.items)).toEqual([2, 2, 1]);
    expect(events(x)).toEqual([
      [10, 300, 978300760, 5],
      [2, 300, 978302109, 3],
      [10, 7, 978301968, 4],
    ]);
    expect(x.hasRatings && !x.timestampsSynthetic).toBe(true);
  });

  it('ml-100k u.data', async () => {
    const x = await loadInteractions(file('u.data', '196\t242\t3\t881250949\n186\t302\t3\t891717742\n196\t302\t1\t878887116\n'), 'ml-100k');
    checkDense(x);
    expect(x.numUsers).toBe(2);
    expect(x.numItems).toBe(3);
    expect(events(x)).toEqual([
      [196, 242, 881250949, 3],
      [186, 302, 891717742, 3],
      [196, 302, 878887116, 1],
    ]);
  });

  it('ML-20M ratings.csv with half-star ratings', async () => {
    const x = await loadInteractions(file('ratings.csv', 'userId,movieId,rating,timestamp\n1,2,3.5,1112486027\n1,29,4.5,1112484676\n7,2,0.5,1094785740\n'), 'ratings-csv');
    checkDense(x);
    expect(events(x)).toEqual([
      [1, 2, 1112486027, 3.5],
      [1, 29, 1112484676, 4.5],
      [7, 2, 1094785740, 0.5],
    ]);
  });

  it('sasrec text: timestamps synthesised as the line index within each user', async () => {
    const x = await loadInteractions(file('sas.txt', '1 5\n2 5\n1 9\n1 5\n2 3\n'), 'sasrec');
    checkDense(x);
    expect(x.timestampsSynthetic).toBe(true);
    expect(x.hasRatings).toBe(false);
    expect(events(x)).toEqual([
      [1, 5, 0, 0],
      [2, 5, 0, 0],
      [1, 9, 1, 0],
      [1, 5, 2, 0],
      [2, 3, 1, 0],
    ]);
  });

  it('generic CSV/TSV with named columns, string ids, quoted fields', async () => {
    const csv = file('log.csv', 'ts,item,who,extra\n100,"b,1",alice,"say ""hi"""\n50,a,bob,x\n70,a,alice,\n');
    const x = await loadInteractions(csv, 'csv', { csv: { userColumn: 'who', itemColumn: 'item', timestampColumn: 'ts' } });
    checkDense(x);
    expect(x.userRawIds).toEqual(['alice', 'bob']);
    expect(x.itemRawIds).toEqual([PAD_RAW_ID, 'a', 'b,1']);
    expect(events(x)).toEqual([
      ['alice', 'b,1', 100, 0],
      ['bob', 'a', 50, 0],
      ['alice', 'a', 70, 0],
    ]);
    const tsv = file('log.tsv', 'u\ti\tr\tt\n3\t07\t2\t9\n3\t7\t4\t8\n');
    const y = await loadInteractions(tsv, 'csv', { csv: { delimiter: '\t', userColumn: 'u', itemColumn: 'i', timestampColumn: 't', ratingColumn: 'r' } });
    // "7" is a number, "07" is not canonical and stays a distinct string id.
    expect(y.itemRawIds).toEqual([PAD_RAW_ID, 7, '07']);
    expect(events(y)).toEqual([
      [3, '07', 9, 2],
      [3, 7, 8, 4],
    ]);
    const noTime = await loadInteractions(file('nt.csv', 'u,i\na,x\na,y\n'), 'csv', { csv: { userColumn: 'u', itemColumn: 'i' } });
    expect(noTime.timestampsSynthetic).toBe(true);
    expect(Array.from(noTime.timestamps)).toEqual([0, 1]);
  });

  it('splitDelimited handles quotes', () => {
    expect(splitDelimited('a,"b,c",d', ',')).toEqual(['a', 'b,c', 'd']);
    expect(splitDelimited('"x""y",', ',')).toEqual(['x"y', '']);
    expect(splitDelimited('"open,', ',')).toBeNull();
  });
});

describe('loadInteractions: auto', () => {
  it('picks each format from the first line and says so', async () => {
    const cases: [string, string, string][] = [
      ['a1.dat', '1::2::3::4\n', 'ml-1m'],
      ['u.data', '1\t2\t3\t4\n', 'ml-100k'],
      ['r.csv', 'userId,movieId,rating,timestamp\r\n1,2,3,4\r\n', 'ratings-csv'],
      ['s.txt', '\n1 2\n1 3\n', 'sasrec'],
    ];
    for (const [name, text, want] of cases) {
      const notes: string[] = [];
      const x = await loadInteractions(file(name, text), 'auto', { onInfo: (m) => notes.push(m) });
      expect(x.format).toBe(want);
      expect(x.formatNote).toContain(`picked '${want}'`);
      expect(notes[0]).toContain(`picked '${want}'`);
    }
  });

  it('a directory with format auto finds the ratings file in it', async () => {
    const d = join(dir, 'ml-1m');
    mkdirSync(d);
    writeFileSync(join(d, 'ratings.dat'), '1::2::3::4\n');
    const x = await loadInteractions(d, 'auto');
    expect(x.source).toBe(join(d, 'ratings.dat'));
  });

  it('unrecognised first line → error with a HINT', async () => {
    await expect(loadInteractions(file('weird.txt', 'hello world foo\n'), 'auto')).rejects.toThrow(/could not recognise.*HINT: pass the format/);
  });
});

describe('loadInteractions: errors', () => {
  it('malformed lines name file, line, content and expectation', async () => {
    const p = file('bad.data', '1\t2\t3\t4\n12\t5\t3\n');
    await expect(loadInteractions(p, 'ml-100k')).rejects.toThrow(
      `${p}:2: expected 4 tab-separated fields (user item rating timestamp), got 3: "12\\t5\\t3"`,
    );
    const q = file('bad.dat', '1::2::3::4\n1::2::3::4\n1::x::3::4\n');
    await expect(loadInteractions(q, 'ml-1m')).rejects.toThrow(`${q}:3: expected field 2 (item) to be a non-negative integer, got "x": "1::x::3::4"`);
    const r = file('badts.dat', '1::2::3::-5\n');
    await expect(loadInteractions(r, 'ml-1m')).rejects.toThrow(/badts\.dat:1: expected field 4 \(timestamp\) to be integer seconds in \[0, 2\^32\), got "-5"/);
    const big = file('bigts.dat', '1::2::3::4294967296\n');
    await expect(loadInteractions(big, 'ml-1m')).rejects.toThrow(/bigts\.dat:1: .*2\^32/);
    const rt = file('rt.csv', 'userId,movieId,rating,timestamp\n1,2,abc,5\n');
    await expect(loadInteractions(rt, 'ratings-csv')).rejects.toThrow(/rt\.csv:2: expected column "rating" \(rating\) to be a number, got "abc"/);
    const hdr = file('hdr.csv', 'user,movie,rating,timestamp\n1,2,3,4\n');
    await expect(loadInteractions(hdr, 'ratings-csv')).rejects.toThrow(/hdr\.csv:1: expected the header "userId,movieId,rating,timestamp"/);
    const col = file('col.csv', 'a,b\n1,2\n');
    await expect(loadInteractions(col, 'csv', { csv: { userColumn: 'a', itemColumn: 'zz' } })).rejects.toThrow(/col\.csv:1: expected a header with a item column named "zz", got columns \["a","b"\]/);
    const sas = file('sas3.txt', '1 2\n1 2 3\n');
    await expect(loadInteractions(sas, 'sasrec')).rejects.toThrow(`${sas}:2: expected 2 whitespace-separated fields (user item), got 3: "1 2 3"`);
  });

  it('long lines are truncated in the message', async () => {
    const p = file('long.data', 'x'.repeat(500) + '\n');
    const err = await loadInteractions(p, 'ml-100k').catch((e: Error) => e);
    expect(String(err)).toContain('(500 chars)');
    expect(String(err).length).toBeLessThan(400);
  });

  it('an empty line followed by data is an error naming the empty line', async () => {
    const p = file('gap.data', '1\t2\t3\t4\n\n1\t3\t3\t5\n');
    await expect(loadInteractions(p, 'ml-100k')).rejects.toThrow(/gap\.data:2: expected data or end of file, got an empty line followed by more data at line 3/);
  });

  it('empty file, header-only file, missing file, directory', async () => {
    await expect(loadInteractions(file('empty.dat', ''), 'ml-1m')).rejects.toThrow(/empty\.dat: no interactions: the file is empty/);
    await expect(loadInteractions(file('blank.dat', '\n\n'), 'auto')).rejects.toThrow(/blank\.dat: the file is empty/);
    await expect(loadInteractions(file('h.csv', 'userId,movieId,rating,timestamp\n'), 'ratings-csv')).rejects.toThrow(/header but no data lines/);
    await expect(loadInteractions(join(dir, 'nope.dat'), 'ml-1m')).rejects.toThrow(/nope\.dat: file not found\. HINT: /);
    await expect(loadInteractions(dir, 'ml-1m')).rejects.toThrow(/is a directory\. HINT: /);
    await expect(loadInteractions(file('c.csv', 'a,b\n1,2\n'), 'csv')).rejects.toThrow(/needs column options\. HINT/);
  });
});

const ML100K = '/work/shared/data/ml-100k/u.data';
describe.skipIf(!existsSync(ML100K))(`real ML-100K (${ML100K}; skipped when absent)`, () => {
  it('has 943 users, 1682 items, 100,000 ratings', async () => {
    const x = await loadInteractions(ML100K, 'auto');
    expect(x.format).toBe('ml-100k');
    expect(x.count).toBe(100_000);
    expect(x.numUsers).toBe(943);
    expect(x.numItems).toBe(1683); // 1682 items + padding id 0
    // Raw ids are 1..943 and 1..1682, so the ascending dense numbering is raw − 1 / raw.
    expect(x.userRawIds[0]).toBe(1);
    expect(x.userRawIds[942]).toBe(943);
    expect(x.itemRawIds[1]).toBe(1);
    expect(x.itemRawIds[1682]).toBe(1682);
    // First line of u.data: 196 242 3 881250949
    expect([x.userRawIds[x.users[0]!], x.itemRawIds[x.items[0]!], x.ratings[0], x.timestamps[0]]).toEqual([196, 242, 3, 881250949]);
  });
});
if (!existsSync(ML100K)) console.warn(`[load.test] skipping the real ML-100K test: ${ML100K} not found`);
