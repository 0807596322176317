import { describe, expect, it } from 'vitest';
import { formatMetrics } from './metrics.js';
import { evaluatePopularity, evaluateScorer, itemCounts } from './popularity.js';
import { buildSequences } from './sequences.js';
import { leaveLastOut } from './split.js';
import { generateSynthetic, parseSyntheticSpec, SYNTHETIC_DEFAULTS } from './synthetic.js';

describe('generateSynthetic', () => {
  const x = generateSynthetic(); // defaults: 2000 users, 1000 items, 20 clusters, 30..120 events

  it('has the documented shape', () => {
    expect(x.numUsers).toBe(SYNTHETIC_DEFAULTS.numUsers);
    expect(x.numItems).toBe(SYNTHETIC_DEFAULTS.numItems + 1);
    expect(x.itemRawIds.length).toBe(x.numItems);
    const s = buildSequences(x);
    const lengths = Array.from({ length: x.numUsers }, (_, u) => s.offsets[u + 1]! - s.offsets[u]!);
    expect(lengths.filter((n) => n < 30 || n > 120)).toEqual([]);
    expect(Math.min(...lengths)).toBeLessThan(40); // the range is really used
    expect(Math.max(...lengths)).toBeGreaterThan(110);
    expect(x.items.reduce((m, v) => Math.min(m, v), Infinity)).toBeGreaterThanOrEqual(1);
    expect(x.items.reduce((m, v) => Math.max(m, v), 0)).toBeLessThan(x.numItems);
    expect(x.ratings.every((r) => r >= 1 && r <= 5 && Number.isInteger(r))).toBe(true);
    // Events are emitted in time order per user (strictly increasing).
    let notIncreasing = 0;
    for (let e = 1; e < x.count; e++) if (x.users[e] === x.users[e - 1] && !(x.timestamps[e]! > x.timestamps[e - 1]!)) notIncreasing++;
    expect(notIncreasing).toBe(0);
  });

  it('is deterministic per seed', () => {
    const a = generateSynthetic({ seed: 5, numUsers: 100 });
    const b = generateSynthetic({ seed: 5, numUsers: 100 });
    const c = generateSynthetic({ seed: 6, numUsers: 100 });
    expect(a.items).toEqual(b.items);
    expect(a.timestamps).toEqual(b.timestamps);
    expect(a.ratings).toEqual(b.ratings);
    expect(a.itemCluster).toEqual(b.itemCluster);
    expect(Array.from(c.items)).not.toEqual(Array.from(a.items));
  });

  it('carries sequential signal: "same cluster as the last item" beats popularity by far', () => {
    const sp = leaveLastOut(buildSequences(x), { maxHistory: 50 });
    const pop = evaluatePopularity(sp.train, sp.test, { ks: [10] });
    const counts = itemCounts(sp.train);
    const sameCluster = evaluateScorer(
      sp.test,
      (b, k, out) => {
        const c = x.itemCluster[b.items[b.seqOffsets[k + 1]! - 1]!]!;
        for (let j = 1; j < out.length; j++) out[j] = counts[j]! + (x.itemCluster[j] === c ? 1e9 : 0);
      },
      { ks: [10] },
    );
    console.log(`[synthetic] test popularity: ${formatMetrics(pop)}\n[synthetic] test same-cluster: ${formatMetrics(sameCluster)}`);
    expect(sameCluster.hr[10]!).toBeGreaterThan(2 * pop.hr[10]!);
    expect(sameCluster.ndcg[10]!).toBeGreaterThan(3 * pop.ndcg[10]!);
  });

  it('carries time signal: a long gap makes a cluster switch more likely', () => {
    const s = buildSequences(x);
    const sw = { short: 0, shortN: 0, long: 0, longN: 0 };
    for (let u = 0; u < x.numUsers; u++) {
      for (let p = s.offsets[u]! + 1; p < s.offsets[u + 1]!; p++) {
        const changed = x.itemCluster[s.items[p]!] !== x.itemCluster[s.items[p - 1]!] ? 1 : 0;
        if (s.timestamps[p]! - s.timestamps[p - 1]! >= 3600) (sw.long += changed), sw.longN++;
        else (sw.short += changed), sw.shortN++;
      }
    }
    const pLong = sw.long / sw.longN;
    const pShort = sw.short / sw.shortN;
    console.log(`[synthetic] P(cluster switch | gap ≥ 1 h) = ${pLong.toFixed(3)}, P(switch | gap < 1 h) = ${pShort.toFixed(3)}`);
    expect(pLong).toBeGreaterThan(3 * pShort);
  });

  it('rejects bad options', () => {
    expect(() => generateSynthetic({ numClusters: 0 })).toThrow(/expected numClusters to be an integer ≥ 1, got 0/);
    expect(() => generateSynthetic({ minEvents: 10, maxEvents: 5 })).toThrow(/expected maxEvents ≥ minEvents \(10\), got 5/);
  });
});

describe('--synthetic spec', () => {
  it('parses knobs; events sets per-user lengths whose total is close to it; clusters scale with items', () => {
    const o = parseSyntheticSpec('users=300,items=50000,events=6000,seed=9,zipf=1.3,reconsume=0.1,stickiness=0.5:0.9');
    expect(o).toMatchObject({ numUsers: 300, numItems: 50000, seed: 9, zipf: 1.3, reconsumeProb: 0.1, stickiness: [0.5, 0.9], numClusters: 50, minEvents: 10, maxEvents: 30 });
    const d = generateSynthetic(o);
    expect(Math.abs(d.count - 6000)).toBeLessThan(600);
    expect(d.numItems).toBe(50001);
    expect(parseSyntheticSpec('items=2000000').numClusters).toBe(200);
    expect(parseSyntheticSpec('', 4).seed).toBe(4);
  });

  it('rejects unknown knobs, bad values and too few events per user, naming them', () => {
    expect(() => parseSyntheticSpec('user=3')).toThrow(/unknown knob 'user'.*HINT: known knobs: users/);
    expect(() => parseSyntheticSpec('items=-1')).toThrow(/items expected an integer ≥ 1, got '-1'/);
    expect(() => parseSyntheticSpec('users=100,events=200')).toThrow(/2.00 per user, need ≥ 3/);
    expect(() => parseSyntheticSpec('stickiness=0.9:0.1')).toThrow(/stickiness expected lo:hi/);
    expect(() => parseSyntheticSpec('users')).toThrow(/expected key=value/);
  });
});
