// A small seeded slice of the fuzz suite (scripts/fuzz.ts; the full run is `npm run fuzz`):
// malformed HTTP against a real server on 127.0.0.1, mutated data files judged against the data
// contract, damaged checkpoints. HTTP and data must give 0 failures. Checkpoints must never crash
// or hang; "damaged but loaded" must be 0 once checkpoints carry checksums (issue 16 item 2,
// another branch) — until then that assertion is skipped and the count is printed.
import { describe, expect, it } from 'vitest';
import { formatReport } from './fuzz/common.js';
import { fuzzCheckpoints, checksumsPresent } from './fuzz/checkpoint.js';
import { fuzzData } from './fuzz/data.js';
import { fuzzHttp } from './fuzz/http.js';

describe('fuzz slice', () => {
  it('HTTP: 80 malformed requests and controls, seed 7: all refused cleanly, controls exact, server healthy after', async () => {
    const r = await fuzzHttp({ seed: 7, cases: 80 });
    expect(r.failures, formatReport(r)).toEqual([]);
    expect(r.counts.refused).toBeGreaterThan(50);
    expect(r.counts.ok).toBeGreaterThan(5);
  });

  it('data files: 120 mutated files in 4 formats, seed 7: every verdict matches the contract', async () => {
    const r = await fuzzData({ seed: 7, cases: 120 });
    expect(r.failures, formatReport(r)).toEqual([]);
    expect(r.counts.refused).toBeGreaterThan(30);
    expect(r.counts.ok).toBeGreaterThan(10);
  });

  const checksums = checksumsPresent();
  it('checkpoints: 40 damaged files, seed 7: no crash, no hang', async () => {
    const r = await fuzzCheckpoints({ seed: 7, cases: 40 });
    if (!checksums) console.log(`checkpoint fuzz without checksums (expected to fail until they land):\n${formatReport(r, 0)}`);
    expect(r.counts.crash + r.counts.hang + r.counts.wrong, formatReport(r)).toBe(0);
    if (checksums) expect(r.counts.accepted, formatReport(r)).toBe(0);
  });
  it.skipIf(!checksums)('checkpoints: every damaged file refused (needs checkpoint checksums)', async () => {
    const r = await fuzzCheckpoints({ seed: 8, cases: 40 });
    expect(r.failures, formatReport(r)).toEqual([]);
  });
});
