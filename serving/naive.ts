// The naive ranking path and the ground truth of M-FALCON: every candidate scored by its own full
// forward pass over [history, candidate] (the candidate alone appended at position n). Used by the
// equivalence tests and as the `naive` mode of the serving benchmark.
import { NUM_TASKS, type RankingModel } from '../model/ranking.js';
import type { History } from './cache.js';

/** [m, NUM_TASKS] head outputs, one forward (and one readback) per candidate. */
export async function scoreOneAtATime(model: RankingModel, hist: History, candidates: ArrayLike<number>, time: number): Promise<Float32Array> {
  const n = hist.items.length, m = candidates.length;
  const out = new Float32Array(m * NUM_TASKS);
  const items = new Uint32Array(n + 1), timestamps = new Uint32Array(n + 1), actions = new Uint32Array(n + 1);
  items.set(hist.items);
  timestamps.set(hist.timestamps);
  timestamps[n] = time;
  actions.set(hist.actions);
  for (let c = 0; c < m; c++) {
    items[n] = candidates[c]!;
    const rec = model.gpu.recorder('naive');
    const f = model.forward(rec, { seqOffsets: Uint32Array.of(0, n + 1), items, timestamps, numTargets: Uint32Array.of(1), actions }, { train: false, seed: 0 });
    try {
      await rec.submit();
      const y = await model.gpu.read(f.logits);
      out.set(y.subarray(n * NUM_TASKS, (n + 1) * NUM_TASKS), c * NUM_TASKS);
    } finally {
      f.release();
    }
  }
  return out;
}
