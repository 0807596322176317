// Host for full-ranking evaluation: rank of each target among all items, history excluded.
import { readFileSync } from 'node:fs';
import { Params, grid, type Gpu, type KernelSource, type Recorder, type Tensor } from '../gpu/index.js';

const WG = 64;
const KERNEL: KernelSource = { name: 'rank', wgsl: readFileSync(new URL('./rank.wgsl', import.meta.url), 'utf8'), defines: { WG } };

export interface Exclusions {
  offsets: Uint32Array;
  ids: Uint32Array;
}

/** Deduplicates each query's exclusion list, drops its target and out-of-range ids (checked). */
export function prepareExclusions(targets: Uint32Array, excl: Exclusions, numItems: number): Exclusions {
  const offsets = new Uint32Array(targets.length + 1);
  const ids: number[] = [];
  for (let q = 0; q < targets.length; q++) {
    const seen = new Set<number>();
    for (let e = excl.offsets[q]!; e < excl.offsets[q + 1]!; e++) {
      const id = excl.ids[e]!;
      if (id >= numItems) throw new Error(`rank: exclusion id ${id} of query ${q} is out of range (num_items ${numItems})`);
      if (id !== targets[q] && id !== 0 && !seen.has(id)) {
        seen.add(id);
        ids.push(id);
      }
    }
    offsets[q + 1] = ids.length;
  }
  return { offsets, ids: Uint32Array.from(ids) };
}

/** ranks[q] when the target's or an eligible item's score is NaN: not a rank; callers must refuse it. */
export const RANK_NON_FINITE = 0xffffffff;

/** ranks[q] = 0-based rank of targets[q] in scores[q, :] (see rank.wgsl for the exact rule), or
 *  RANK_NON_FINITE when a score it depends on is NaN. The exclusions must come from prepareExclusions. */
export function rankTargets(
  rec: Recorder,
  scores: Tensor<'f32'>,
  targets: Tensor<'u32'>,
  exclOffsets: Tensor<'u32'>,
  exclIds: Tensor<'u32'>,
  ranks: Tensor<'u32'>,
  o: { numQueries: number; numItems: number },
): void {
  const { numQueries: Q, numItems: I } = o;
  if (scores.numel < Q * I) throw new Error(`rank: expected scores of ${Q}×${I}, got ${scores.numel} values`);
  if (targets.numel < Q || ranks.numel < Q) throw new Error(`rank: expected ${Q} targets and ranks, got ${targets.numel} and ${ranks.numel}`);
  if (exclOffsets.numel !== Q + 1) throw new Error(`rank: expected ${Q + 1} exclusion offsets, got ${exclOffsets.numel}`);
  rec.dispatch(KERNEL, [scores, targets, exclOffsets, exclIds, ranks], grid(Q), new Params().u32(Q).u32(I).done());
}

/** Uploads an exclusion list (a 1-element dummy when empty: bindings cannot be 0 bytes). */
export function uploadExclusions(gpu: Gpu, e: Exclusions): { offsets: Tensor<'u32'>; ids: Tensor<'u32'> } {
  return { offsets: gpu.u32(e.offsets, [e.offsets.length], 'rank:excl_offsets'), ids: gpu.u32(e.ids.length ? e.ids : [0], [Math.max(1, e.ids.length)], 'rank:excl_ids') };
}

const CHUNK_KERNEL: KernelSource = { name: 'rank_chunk', wgsl: readFileSync(new URL('./rank_chunk.wgsl', import.meta.url), 'utf8'), defines: { WG } };

/** ranks[q] += the items of one catalogue chunk (global ids base..base+n−1) that beat query q's
 *  target (rank.wgsl's rule); scores are [Q, n + Q] with column n + q holding the score of q's
 *  own target row (see rank_chunk.wgsl). Exclusions hold global ids (from prepareExclusions). */
export function rankTargetsChunk(
  rec: Recorder,
  scores: Tensor<'f32'>,
  targets: Tensor<'u32'>,
  exclOffsets: Tensor<'u32'>,
  exclIds: Tensor<'u32'>,
  ranks: Tensor<'u32'>,
  o: { numQueries: number; chunkItems: number; base: number },
): void {
  const { numQueries: Q, chunkItems: n, base } = o;
  if (scores.numel < Q * (n + Q)) throw new Error(`rank chunk: expected scores of ${Q}×${n + Q}, got ${scores.numel} values`);
  if (targets.numel < Q || ranks.numel < Q) throw new Error(`rank chunk: expected ${Q} targets and ranks, got ${targets.numel} and ${ranks.numel}`);
  if (exclOffsets.numel !== Q + 1) throw new Error(`rank chunk: expected ${Q + 1} exclusion offsets, got ${exclOffsets.numel}`);
  rec.dispatch(CHUNK_KERNEL, [scores, targets, exclOffsets, exclIds, ranks], grid(Q), new Params().u32(Q).u32(n).u32(n + Q).u32(base).done());
}
