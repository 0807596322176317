// The byte-bounded LRU of user encodings and the batching window, on the CPU (no GPU values).
import { describe, expect, it } from 'vitest';
import { EncodingCache, historyDigest, prefixDigests, type CacheValue, type History } from './cache.js';
import { GpuLock, PassBatcher } from './batcher.js';
import { parseServeArgs } from './cli.js';

class Fake implements CacheValue {
  evicted = 0;
  constructor(readonly bytes: number, readonly name = '') {}
  evict(): void {
    this.evicted++;
  }
}

const hist = (items: number[]): History => ({ items: Uint32Array.from(items), timestamps: Uint32Array.from(items, (_, i) => 1000 + i * 60), actions: Uint32Array.from(items, (x) => (x % 5) + 1) });

describe('history digests', () => {
  it('prefix digests equal the digest of the prefix; any change of item, time or action changes it', () => {
    const h = hist([5, 3, 9, 9, 1, 7]);
    const p = prefixDigests(h, [0, 2, 6, 4, 9]);
    for (const k of [0, 2, 4, 6]) expect(p.get(k)).toBe(historyDigest(h, k));
    expect(p.has(9)).toBe(false);
    const base = historyDigest(h);
    for (const field of ['items', 'timestamps', 'actions'] as const) {
      const g = { ...h, [field]: Uint32Array.from(h[field]) };
      g[field][3]! += 1;
      expect(historyDigest(g)).not.toBe(base);
    }
  });
});

describe('EncodingCache', () => {
  it('hit, extension (longest cached prefix), miss; keyed per user', () => {
    const c = new EncodingCache<Fake>(1000);
    const h = hist([1, 2, 3, 4, 5, 6, 7]);
    const short = { items: h.items.subarray(0, 3), timestamps: h.timestamps.subarray(0, 3), actions: h.actions.subarray(0, 3) };
    const mid = { items: h.items.subarray(0, 5), timestamps: h.timestamps.subarray(0, 5), actions: h.actions.subarray(0, 5) };
    const a = new Fake(10, 'a'), b = new Fake(10, 'b');
    expect(c.lookup('u', short).kind).toBe('miss');
    c.insert('u', historyDigest(short), 3, a);
    c.insert('u', historyDigest(mid), 5, b);
    expect(c.lookup('u', short)).toMatchObject({ kind: 'hit', value: a, length: 3 });
    expect(c.lookup('u', h)).toMatchObject({ kind: 'extend', value: b, length: 5 });
    expect(c.lookup('other', h).kind).toBe('miss');
    // A history that diverges inside the cached prefix does not extend it.
    const diverged = hist([1, 2, 99, 4, 5, 6, 7]);
    expect(c.lookup('u', diverged).kind).toBe('miss');
    expect(c.stats()).toMatchObject({ hits: 1, extensions: 1, misses: 3, entries: 2, bytes: 20 });
  });

  it('evicts least recently used first to stay within the byte budget; evict() once per value', () => {
    const c = new EncodingCache<Fake>(30);
    const v = [new Fake(10), new Fake(10), new Fake(10), new Fake(15)];
    const hs = [hist([1]), hist([2]), hist([3]), hist([4])];
    for (let i = 0; i < 3; i++) c.insert(`u${i}`, historyDigest(hs[i]!), 1, v[i]!);
    expect(c.lookup('u0', hs[0]!).kind).toBe('hit'); // u0 is now the most recent; u1 the oldest
    c.insert('u3', historyDigest(hs[3]!), 1, v[3]!); // needs 15: evicts u1 then u2
    expect(v.map((x) => x.evicted)).toEqual([0, 1, 1, 0]);
    expect(c.stats()).toMatchObject({ entries: 2, bytes: 25, evictions: 2 });
    expect(c.lookup('u1', hs[1]!).kind).toBe('miss');
    // A value over the whole budget is refused (the caller keeps it); nothing is evicted for it.
    const big = new Fake(31);
    expect(c.insert('big', historyDigest(hs[0]!), 1, big)).toBe(false);
    expect([big.evicted, c.stats().entries]).toEqual([0, 2]);
    // Re-inserting a key replaces (and evicts) the old value; supersedes drops the prefix entry.
    const again = new Fake(5);
    c.insert('u0', historyDigest(hs[0]!), 1, again, v[3]);
    expect([v[0]!.evicted, v[3]!.evicted]).toEqual([1, 1]);
    expect(c.stats()).toMatchObject({ entries: 1, bytes: 5 });
    c.clear();
    expect([again.evicted, c.stats().bytes, c.stats().entries]).toEqual([1, 0, 0]);
  });

  it('rejects a bad budget with a HINT', () => {
    expect(() => new EncodingCache(-1)).toThrow(/HINT/);
    expect(() => new EncodingCache(NaN)).toThrow(/HINT/);
  });
});

describe('PassBatcher (batching window)', () => {
  it('packs jobs arriving within the window into one pass, up to maxWeight; later jobs run in the next pass', async () => {
    const passes: number[][] = [];
    const b = new PassBatcher<number, number>(async (jobs) => {
      passes.push(jobs);
      await new Promise((r) => setTimeout(r, 20));
      return jobs.map((j) => j * 10);
    }, { windowMs: 15, maxWeight: 10, weight: (j) => j, lock: new GpuLock() });
    const first = [b.push(3), b.push(4), b.push(2), b.push(5)]; // 3+4+2 = 9 fit; 5 waits
    await new Promise((r) => setTimeout(r, 5));
    const late = b.push(1); // arrives while the first pass is pending/running
    expect(await Promise.all([...first, late])).toEqual([30, 40, 20, 50, 10]);
    expect(passes).toEqual([[3, 4, 2], [5, 1]]);
  });

  it('a full pass does not wait for the window; a heavy job runs alone; errors reach every job of the pass', async () => {
    const passes: number[][] = [];
    const b = new PassBatcher<number, number>(async (jobs) => {
      passes.push(jobs);
      if (jobs.includes(13)) throw new Error('boom');
      return jobs;
    }, { windowMs: 10_000, maxWeight: 4, weight: (j) => j, lock: new GpuLock() });
    const t0 = performance.now();
    expect(await Promise.all([b.push(2), b.push(2)])).toEqual([2, 2]);
    expect(performance.now() - t0).toBeLessThan(5000);
    expect(await b.push(9)).toBe(9); // heavier than maxWeight: alone
    const bad = [b.push(13), b.push(1)];
    await expect(bad[0]).rejects.toThrow('boom');
    expect(await bad[1]).toBe(1); // 1 did not fit with 13 (weight), so it ran in its own pass
    expect(passes).toEqual([[2, 2], [9], [13], [1]]);
  });

  it('GpuLock runs sections one at a time in call order, even after a failure', async () => {
    const lock = new GpuLock();
    const order: string[] = [];
    const a = lock.run(async () => {
      await new Promise((r) => setTimeout(r, 10));
      order.push('a');
      throw new Error('a failed');
    });
    const b = lock.run(async () => void order.push('b'));
    await expect(a).rejects.toThrow('a failed');
    await b;
    expect(order).toEqual(['a', 'b']);
  });
});

describe('serve CLI arguments', () => {
  it('parses checkpoints and options; rejects unknown options and missing checkpoints with a HINT', () => {
    expect(parseServeArgs(['--ranking=r.hstu', '--port=9000', '--microbatch=64', '--host=0.0.0.0'])).toEqual({ ranking: 'r.hstu', server: { port: 9000, host: '0.0.0.0' }, engine: { microbatch: 64 } });
    expect(() => parseServeArgs(['--port=1'])).toThrow(/HINT: pass --ranking/);
    expect(() => parseServeArgs(['--ranking=x', '--prot=1'])).toThrow(/unknown option --prot/);
    expect(() => parseServeArgs(['--ranking=x', '--port=abc'])).toThrow(/expected a number/);
  });
});
