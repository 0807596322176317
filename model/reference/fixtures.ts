// Tiny random configs, parameters and jagged batches for the reference's tests (and the GPU
// model's layer-by-layer tests). Seeded; awkward on purpose: lengths 0 and 1, targets, wide
// timestamp gaps (many time buckets), a negative equal to its target.
import { Rng } from '../../kernels/testing/rng.js';
import { type Config, applyOverrides, defaultConfig } from '../config.js';
import { type ParamSpec, paramLayout } from '../params.js';
import type { RefBatch } from './batch.js';

/** d=6, N=5, 2 layers; HSTU with H=2, dqk=2 ≠ dv=3 unless overridden. */
export function tinyConfig(overrides: Record<string, unknown> = {}): Config {
  return applyOverrides(defaultConfig, {
    dim: 6, maxLen: 5, numLayers: 2, numHeads: 2, dqk: 2, dv: 3, numNegatives: 3, dropout: 0, ...overrides,
  });
}

/** Every parameter uniform in [−scale, scale] (item row 0 zero), so no gradient is trivially 0. */
export function randomParams(c: Config, numItems: number, rng: Rng, scale = 0.5): Map<string, Float64Array> {
  return randomTensors(paramLayout(c, numItems), rng, scale);
}

/** Every tensor of `specs` uniform in [−scale, scale], gammas around 1, zeroRow0 tables' row 0 zero. */
export function randomTensors(specs: readonly ParamSpec[], rng: Rng, scale: number): Map<string, Float64Array> {
  const out = new Map<string, Float64Array>();
  for (const spec of specs) {
    const n = spec.shape.reduce((a, b) => a * b, 1);
    const a = Float64Array.from({ length: n }, () => rng.uniform(-scale, scale));
    if (spec.name.endsWith('gamma')) for (let i = 0; i < n; i++) a[i]! += 1;
    if (spec.zeroRow0) a.fill(0, 0, spec.shape[1]);
    out.set(spec.name, a);
  }
  return out;
}

/** A jagged batch of the given lengths (≤ N) with random items, targets (some 0), times and negatives. */
export function randomBatch(rng: Rng, lengths: number[], numItems: number, R: number, numTargets?: number[]): RefBatch {
  const seqOffsets = [0];
  for (const n of lengths) seqOffsets.push(seqOffsets[seqOffsets.length - 1]! + n);
  const L = seqOffsets[lengths.length]!;
  const items = Array.from({ length: L }, () => rng.int(1, numItems));
  const targets = Array.from({ length: L }, () => (rng.next() < 0.2 ? 0 : rng.int(1, numItems)));
  const timestamps: number[] = [];
  for (let b = 0; b < lengths.length; b++) {
    let t = 1_600_000_000 + rng.int(0, 1000);
    for (let i = 0; i < lengths[b]!; i++) {
      timestamps.push(t);
      t += Math.floor(Math.exp(rng.uniform(0, 14))); // gaps 1 s … ~14 days
    }
  }
  const negatives = Array.from({ length: L * R }, () => rng.int(1, numItems));
  const firstWithTarget = targets.findIndex((x) => x !== 0);
  if (firstWithTarget >= 0 && R > 0) negatives[firstWithTarget * R] = targets[firstWithTarget]!;
  return { seqOffsets, items, targets, timestamps, negatives, ...(numTargets ? { numTargets } : {}) };
}
