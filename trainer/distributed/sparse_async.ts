// Asynchronous embedding modes (embeddingSync 'atomic' | 'cas'; issue 19 Deliver 5, Persia-style):
// each rank applies row-wise Adam to its OWN step's gradient rows on the Redis table as soon as
// its backward is done: no all-gather of gradient rows, no barrier on them. The store's update
// mode does the rest (redis_store.ts):
//   atomic  the Redis Function emb_update on the row's shard, atomic per row: two ranks' updates
//           of one row in one step are applied one after the other, none lost;
//   cas     the new row computed on the worker from the value it read at the step's start and
//           committed if the row's version has not moved; a row another rank updated meanwhile
//           (a conflict) falls back to emb_update with the same gradient: none lost either.
// What it gives up against 'sync' (sparse_sync.ts):
//   - equivalence with one worker: a row touched by k ranks in a step gets k row-wise Adam
//     updates of partial gradients (each rank's share of the global batch), not one of their sum;
//   - freshness: the rank starts the write before the dense all-reduce and waits for it before
//     its next read, so a read at step s + 1 sees every rank's updates of steps ≤ s − 1 and its
//     own of step s, and may miss other ranks' updates of step s (staleness ≤ 1 step; the dense
//     all-reduce of step s waits for every rank to have finished its step s − 1 writes).
// It gains the all-gather (W·U rows of gradients through Redis per rank), the union's float64
// sums and the barrier, and overlaps the row writes with the dense all-reduce.
import { DivergenceError } from '../divergence.js';
import type { RowwiseAdamOptions } from '../store/redis_store.js';
import type { RowUpdater, SparseGrads } from './sparse_sync.js';

export type EmbeddingSync = 'sync' | 'atomic' | 'cas';

/** The store update mode an embeddingSync needs ('sync' leaves the store's default). */
export const storeModeFor = (s: EmbeddingSync): 'atomic' | 'cas' | undefined => (s === 'sync' ? undefined : s);

/**
 * Starts this rank's row-wise Adam on its own rows; the caller awaits it before its next read.
 * Non-finite gradient rows are refused before anything is written (the dense all-reduce's check
 * comes after the write has started).
 */
export function startOwnUpdate(store: RowUpdater, mine: SparseGrads, opts: RowwiseAdamOptions): Promise<void> {
  for (let i = 0; i < mine.grads.length; i++) {
    if (!Number.isFinite(mine.grads[i]!)) {
      const step = opts.step - 1;
      return Promise.reject(new DivergenceError(`training diverged at step ${step}: an item-row gradient is ${mine.grads[i]} (row ${mine.ids[Math.floor(i / store.dim)]}). HINT: lower --lr, or set --gradClipNorm`, step, 'item_emb'));
    }
  }
  if (mine.ids.length === 0) return Promise.resolve();
  return store.applyRowwiseAdam(mine.ids, mine.grads, opts);
}
