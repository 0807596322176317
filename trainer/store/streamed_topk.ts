// Exact top-K by cosine (or by u·e with similarity 'dot': raw rows, see trainer/eval.ts) over a
// catalogue streamed from an EmbeddingStore (retrieval serving over tables larger than the
// device): each chunk's rows are L2-normalised (dot: left as they are), run through the top-k
// kernel (kernels/topk) with the chunk's excluded ids, and the per-chunk top-K lists are merged
// on the host (score descending, ties to the smaller id: the kernel's rule, so the merge is the
// global top-K). Never a [queries × items] matrix: the kernel's scratch is [queries, chunk].
import type { Gpu } from '../../kernels/gpu/index.js';
import { PAD_ID, topK } from '../../kernels/topk/topk.js';
import type { EmbeddingStore } from './store.js';
import type { Similarity } from '../../model/config.js';
import { rankingRows } from './streamed_eval.js';

export interface TopKResult {
  /** [Q, k] global ids, best first; PAD_ID where fewer than k candidates. */
  ids: Uint32Array;
  /** [Q, k] q·item (items unit-norm for cosine, raw for dot), −Infinity where padded. */
  scores: Float32Array;
}

/** A source of ranking item rows (normalised; raw for dot) in ascending chunks (a store, or rows
 *  kept ready). */
export interface NormalisedChunks {
  rows: number;
  dim: number;
  chunks(chunkRows: number): AsyncIterable<{ base: number; w: Float32Array }>;
}

/** Chunks of a store's rows, normalised as they stream (dot: copied as they are). */
export function normalisedChunksOf(store: EmbeddingStore, similarity: Similarity = 'cosine'): NormalisedChunks {
  return {
    rows: store.rows,
    dim: store.dim,
    async *chunks(chunkRows: number) {
      for await (const b of store.scan(chunkRows)) yield { base: b.ids[0]!, w: rankingRows(Float32Array.from(b.w), store.dim, similarity) };
    },
  };
}

export async function streamedTopK(
  gpu: Gpu, queries: Float32Array, source: EmbeddingStore | NormalisedChunks, k: number, exclude: Uint32Array[],
  o: { chunkRows?: number; similarity?: Similarity } = {},
): Promise<TopKResult> {
  // A store's rows are prepared here per `similarity`; NormalisedChunks come prepared.
  const src = 'chunks' in source ? source : normalisedChunksOf(source, o.similarity);
  const d = src.dim, Q = queries.length / d;
  if (!Number.isInteger(Q) || exclude.length !== Q) throw new Error(`streamedTopK: expected [Q, ${d}] queries and Q exclusion lists, got ${queries.length} values and ${exclude.length} lists`);
  const maxBinding = Math.min(gpu.device.limits.maxStorageBufferBindingSize, gpu.device.limits.maxBufferSize);
  const chunkRows = Math.max(1, Math.min(o.chunkRows ?? Infinity, Math.floor(maxBinding / 4 / d), Math.floor(maxBinding / 4 / Math.max(Q, 1)), src.rows));
  const best = Array.from({ length: Q }, () => [] as { id: number; s: number }[]);
  const q = gpu.upload(queries, [Q, d], 'f32', 'topk_stream:queries');
  try {
    for await (const { base, w } of src.chunks(chunkRows)) {
      const n = w.length / d;
      const kk = Math.min(k, n);
      const offsets = new Uint32Array(Q + 1);
      const local: number[] = [];
      exclude.forEach((ids, i) => {
        for (const id of ids) if (id >= base && id < base + n) local.push(id - base);
        offsets[i + 1] = local.length;
      });
      const t = {
        items: gpu.upload(w, [n, d], 'f32', 'topk_stream:chunk'),
        exclOffsets: gpu.u32(offsets, [Q + 1], 'topk_stream:excl_offsets'),
        exclIds: gpu.u32(local.length ? Uint32Array.from(local) : Uint32Array.of(0xffffffff), [Math.max(1, local.length)], 'topk_stream:excl_ids'),
        topIds: gpu.empty([Q, kk], 'u32', 'topk_stream:ids'),
        topScores: gpu.empty([Q, kk], 'f32', 'topk_stream:scores'),
      };
      const rec = gpu.recorder('topk_stream');
      topK(rec, { queries: q, items: t.items, exclOffsets: t.exclOffsets, exclIds: t.exclIds }, kk, { topIds: t.topIds, topScores: t.topScores });
      await rec.submit();
      const ids = await gpu.read(t.topIds), scores = await gpu.read(t.topScores);
      Object.values(t).forEach((x) => x.release());
      for (let i = 0; i < Q; i++) {
        const merged = best[i]!;
        for (let j = 0; j < kk; j++) if (ids[i * kk + j] !== PAD_ID) merged.push({ id: base + ids[i * kk + j]!, s: scores[i * kk + j]! });
        merged.sort((a, b) => b.s - a.s || a.id - b.id);
        merged.length = Math.min(merged.length, k);
      }
    }
  } finally {
    q.release();
  }
  const out: TopKResult = { ids: new Uint32Array(Q * k).fill(PAD_ID), scores: new Float32Array(Q * k).fill(-Infinity) };
  best.forEach((list, i) => list.forEach((x, j) => {
    out.ids[i * k + j] = x.id;
    out.scores[i * k + j] = x.s;
  }));
  return out;
}

/** The store's rows normalised (dot: as they are) once and kept in host memory in chunks
 *  (serving: every request streams them through the top-k kernel without re-normalising). */
export async function normalisedCopy(store: EmbeddingStore, chunkRows = 1 << 16, similarity: Similarity = 'cosine'): Promise<NormalisedChunks> {
  const parts: { base: number; w: Float32Array }[] = [];
  for await (const c of normalisedChunksOf(store, similarity).chunks(chunkRows)) parts.push(c);
  return {
    rows: store.rows,
    dim: store.dim,
    async *chunks(want: number) {
      // Regroup the stored chunks into chunks of at most `want` rows.
      const d = store.dim;
      for (const p of parts) {
        const n = p.w.length / d;
        for (let r = 0; r < n; r += want) yield { base: p.base + r, w: p.w.subarray(r * d, Math.min(n, r + want) * d) };
      }
    },
  };
}
