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

/** Where a training loop stands: what both loops save in a checkpoint (step and epoch as its
 *  fields, the rest in trainerState) and restore on --resume. */
export interface TrainingProgress<R> {
  step: number;
  epoch: number;
  sel: SelectionState<R>;
  trainTokens: number;
  trainSecs: number;
}

/** The progress saved in a checkpoint, or a fresh start when there is none. */
export function progressOf<R>(ck?: { step: number; epoch: number; trainerState: Record<string, unknown> }): TrainingProgress<R> {
  if (!ck) return { step: 0, epoch: 0, sel: { sinceBest: 0 }, trainTokens: 0, trainSecs: 0 };
  const st = ck.trainerState as { best?: R; test?: R; sinceBest?: number; trainTokens?: number; trainSecs?: number };
  return {
    step: ck.step,
    epoch: ck.epoch,
    sel: { best: st.best, test: st.test, sinceBest: st.sinceBest ?? 0 },
    trainTokens: st.trainTokens ?? 0,
    trainSecs: st.trainSecs ?? 0,
  };
}

/** The end-of-epoch step both retrieval trainers (in memory and out of core) share: evaluate
 *  validation, record it in the run's history, and on a better score evaluate test and save
 *  best.hstu. Returns true when early stopping ends the run. */
export async function validateEpoch<R extends { 'hr@10': number; 'ndcg@10': number; mrr: number }>(a: {
  epoch: number;
  sel: SelectionState<R>;
  patience: number;
  evaluate: (which: 'validation' | 'test') => Promise<R>;
  record: (v: R) => void;
  save: (name: string) => Promise<void>;
  log: (line: string) => void;
  label?: string;
}): Promise<boolean> {
  const v = await a.evaluate('validation');
  a.log(`epoch ${a.epoch}: validation${a.label ?? ''} HR@10 ${v['hr@10'].toFixed(4)} NDCG@10 ${v['ndcg@10'].toFixed(4)} MRR ${v.mrr.toFixed(4)}`);
  a.record(v);
  const verdict = judgeValidation(a.sel, v, (r) => r['ndcg@10'], a.patience);
  if (verdict === 'better') {
    a.sel.test = await a.evaluate('test');
    await a.save('best.hstu');
  } else if (verdict === 'stop') {
    a.log(`early stop: no better validation NDCG@10 for ${a.sel.sinceBest} evaluations`);
    return true;
  }
  return false;
}
