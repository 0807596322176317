import { describe, expect, it } from 'vitest';
import { learningRate } from './schedule.js';

describe('learning-rate schedules', () => {
  it('constant ignores the step', () => {
    expect(learningRate('constant', 1e-3, 0, 100, 10)).toBe(1e-3);
    expect(learningRate('constant', 1e-3, 99, 100, 10)).toBe(1e-3);
  });
  it('linear warmup ramps to the base then holds', () => {
    expect(learningRate('linear-warmup', 1, 0, 100, 4)).toBeCloseTo(0.25);
    expect(learningRate('linear-warmup', 1, 3, 100, 4)).toBeCloseTo(1);
    expect(learningRate('linear-warmup', 1, 50, 100, 4)).toBe(1);
  });
  it('cosine warms up, peaks, and decays to zero at the end', () => {
    expect(learningRate('cosine', 2, 1, 100, 2)).toBeCloseTo(2);
    expect(learningRate('cosine', 2, 2, 102, 2)).toBeCloseTo(2);
    expect(learningRate('cosine', 2, 52, 102, 2)).toBeCloseTo(1);
    expect(learningRate('cosine', 2, 102, 102, 2)).toBeCloseTo(0);
  });
});
