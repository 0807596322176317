// Model selection shared by the retrieval and ranking loops: keep the epoch with the best
// validation score (higher is better) and stop after `patience` evaluations without a better one.
// The state travels in checkpoints' trainerState, so a resumed run keeps its best epoch and count.
export interface SelectionState<R> {
  /** Best validation record so far. */
  best?: R;
  /** Test record evaluated at the best validation epoch. */
  test?: R;
  /** Evaluations since the best one. */
  sinceBest: number;
}

export type Verdict = 'better' | 'not-better' | 'stop';

/** Folds one validation record into `s`; 'better' means the caller should evaluate test and save
 *  the best checkpoint; 'stop' means patience (> 0) ran out. */
export function judgeValidation<R>(s: SelectionState<R>, v: R, score: (r: R) => number, patience: number): Verdict {
  if (!s.best || score(v) > score(s.best)) {
    s.best = v;
    s.sinceBest = 0;
    return 'better';
  }
  s.sinceBest++;
  return patience > 0 && s.sinceBest >= patience ? 'stop' : 'not-better';
}
