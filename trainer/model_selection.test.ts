import { describe, expect, it } from 'vitest';
import { judgeValidation, type SelectionState } from './model_selection.js';

describe('judgeValidation', () => {
  const score = (r: { s: number }) => r.s;
  it('keeps the best record and stops after `patience` evaluations without a better one', () => {
    const st: SelectionState<{ s: number }> = { sinceBest: 0 };
    const verdicts = [0.1, 0.3, 0.2, 0.3, 0.25].map((s) => judgeValidation(st, { s }, score, 3));
    expect(verdicts).toEqual(['better', 'better', 'not-better', 'not-better', 'stop']);
    expect(st.best).toEqual({ s: 0.3 });
    expect(st.sinceBest).toBe(3);
  });
  it('never stops with patience 0, and a strictly better score resets the count', () => {
    const st: SelectionState<{ s: number }> = { sinceBest: 0 };
    for (const s of [0.5, 0.4, 0.4, 0.4]) expect(judgeValidation(st, { s }, score, 0)).not.toBe('stop');
    expect(st.sinceBest).toBe(3);
    expect(judgeValidation(st, { s: 0.6 }, score, 0)).toBe('better');
    expect(st.sinceBest).toBe(0);
  });
});
