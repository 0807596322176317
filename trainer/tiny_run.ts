// The tiny seeded training run behind the golden-loss test, the resume test and
// scripts/make-golden.ts: small synthetic data, a small HSTU, dropout on (so the masks are tested).
import { applyOverrides, defaultConfig, type Config } from '../model/config.js';
import { generateSynthetic, type Interactions } from './data/index.js';

export function tinyRunConfig(overrides: Record<string, unknown> = {}): Config {
  return applyOverrides(defaultConfig, {
    model: 'hstu', maxLen: 20, dim: 16, numLayers: 2, numHeads: 2, dqk: 8, dv: 8, dropout: 0.1,
    numNegatives: 16, batchSize: 16, lr: 0.005, epochs: 2, seed: 7, ...overrides,
  });
}

export function tinyRunData(): Interactions {
  return generateSynthetic({ seed: 3, numUsers: 96, numItems: 60, numClusters: 6, minEvents: 8, maxEvents: 30 });
}
