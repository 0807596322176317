// Shared by the host- and redis-tier tests: the two synthetic catalogues they train on and the
// bit-for-bit comparison of two training results (losses and every parameter).
import { expect } from 'vitest';
import { generateSynthetic } from '../data/index.js';
import type { TrainResult } from '../train.js';

/** 2,000 items: a 10% cache evicts every step. */
export const bigCatalogue = () => generateSynthetic({ seed: 5, numUsers: 64, numItems: 2000, numClusters: 20, minEvents: 8, maxEvents: 30 });
/** 60 items: small enough for a cache of the whole table. */
export const smallCatalogue = () => generateSynthetic({ seed: 3, numUsers: 96, numItems: 60, numClusters: 6, minEvents: 8, maxEvents: 30 });

export function expectSameBits(a: TrainResult, b: TrainResult): void {
  expect(b.losses).toEqual(a.losses);
  expect([...b.params.keys()].sort()).toEqual([...a.params.keys()].sort());
  for (const [name, x] of a.params) {
    const y = b.params.get(name)!;
    expect(Buffer.from(y.buffer, y.byteOffset, y.byteLength).equals(Buffer.from(x.buffer, x.byteOffset, x.byteLength)), `param ${name} differs`).toBe(true);
  }
}
