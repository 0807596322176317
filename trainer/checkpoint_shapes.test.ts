// A tensor reshaped to another shape with the same number of values (e.g. a transposed weight) must
// be refused by the loaders: numel checks alone would load it as a silently wrong model.
import { describe, expect, it } from 'vitest';
import { applyOverrides, defaultConfig } from '../model/config.js';
import { paramLayout } from '../model/params.js';
import { rankingParamLayout } from '../model/ranking_params.js';
import type { CheckpointData } from './checkpoint.js';
import { checkShapes } from './checkpoint_validate.js';

function checkpoint(task: 'retrieval' | 'ranking'): CheckpointData {
  const config = applyOverrides(defaultConfig, { task, dim: 8, maxLen: 16, numHeads: 2, dqk: 4, dv: 4, headHidden: 6 });
  const numItems = 30;
  const layout = task === 'ranking' ? rankingParamLayout(config, numItems) : paramLayout(config, numItems);
  const blob = (name: string, shape: number[]) => ({ name, shape, dtype: 'f32' as const, data: new Float32Array(shape.reduce((a, x) => a * x, 1)) });
  const params = layout.map((s) => blob(s.name, [...s.shape]));
  const state = layout.flatMap((s) => [blob(`${s.name}.m`, [...s.shape]), blob(`${s.name}.v`, s.name === 'item_emb' ? [s.shape[0]!] : [...s.shape])]);
  return { task, config: config as unknown as Record<string, unknown>, step: 0, epoch: 0, params, optimizerState: state, itemRawIds: Array.from({ length: numItems + 1 }, (_, i) => String(i)), trainerState: {} } as CheckpointData;
}

describe('checkShapes', () => {
  for (const task of ['retrieval', 'ranking'] as const) {
    it(`${task}: accepts the shapes the trainers write`, () => {
      expect(() => checkShapes(checkpoint(task), 'ck')).not.toThrow();
    });
    it(`${task}: refuses every same-size reshape of a parameter or optimizer tensor`, () => {
      const base = checkpoint(task);
      let tried = 0;
      for (const list of ['params', 'optimizerState'] as const) {
        for (let i = 0; i < base[list].length; i++) {
          const ck = checkpoint(task);
          const b = ck[list][i]!;
          const s = b.shape;
          b.shape = s.length > 1 ? (s[0] === s[1] ? [s[0]! * s[1]!] : [s[1]!, s[0]!]) : [1, s[0]!];
          tried++;
          expect(() => checkShapes(ck, 'ck'), `${list} ${b.name}`).toThrow(/has shape .* needs .*HINT/);
        }
      }
      expect(tried).toBeGreaterThan(10);
    });
  }
});
