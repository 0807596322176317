// Host for exact top-k by inner product with per-query exclusion lists (full-catalogue retrieval
// and evaluation). Math, ordering and padding in topk.wgsl.
import { readFileSync } from 'node:fs';
import { Params, type Gpu, type KernelSource, type Recorder, type Tensor } from '../gpu/index.js';

const SECTIONS = sections(readFileSync(new URL('./topk.wgsl', import.meta.url), 'utf8'));
const WG = 64;
/** Items per (query, segment) workgroup of the histogram/select passes. */
const SEG = 4096;
/** Padding of short result rows. */
export const PAD_ID = 0xffffffff;

function sections(text: string): Map<string, string> {
  const parts = text.split(/^\/\/ ==== kernel: (\w+) ====$/m);
  const out = new Map<string, string>();
  for (let i = 1; i < parts.length; i += 2) out.set(parts[i]!, parts[0]! + parts[i + 1]!);
  return out;
}

function kernel(name: string): KernelSource {
  const wgsl = SECTIONS.get(name);
  if (!wgsl) throw new Error(`topk: no WGSL section ${name}`);
  return { name: `topk_${name}`, wgsl, defines: { WG } };
}

export interface TopKInputs {
  /** [Q, d] query vectors. */
  queries: Tensor<'f32'>;
  /** [numItems, d] item vectors, or row shards [rows_i, d] concatenated in order (a table over
   *  the binding-size limit is passed as shards; item ids count across shards). */
  items: Tensor<'f32'> | Tensor<'f32'>[];
  /** CSR exclusions: exclOffsets [Q+1] (non-decreasing, exclOffsets[0] = 0), exclIds [E]. Ids
   *  ≥ numItems are ignored; duplicates are fine. Both or neither. */
  exclOffsets?: Tensor<'u32'>;
  exclIds?: Tensor<'u32'>;
}

export interface TopKOutputs {
  /** [Q, k]: best first; slots past the number of candidates hold PAD_ID. */
  topIds: Tensor<'u32'>;
  /** [Q, k]: scores of topIds; −Infinity in padded slots. */
  topScores: Tensor<'f32'>;
}

export type TopKVariant = 'radix' | 'naive';

const scratch = new WeakMap<Gpu, Map<string, Tensor>>();
/** Per-Gpu scratch kept for the Gpu's lifetime (destroyed with its pool): releasing right after
 *  recording would let a later upload land in it before our submit runs. */
function scratchOf(gpu: Gpu, role: string, n: number, dtype: 'f32' | 'u32'): Tensor {
  let m = scratch.get(gpu);
  if (!m) scratch.set(gpu, (m = new Map()));
  const key = `${role}:${dtype}`;
  const have = m.get(key);
  if (have && have.numel >= n) return have;
  const t = gpu.empty([Math.max(n, 1)], dtype, `topk:${role}`);
  m.set(key, t);
  return t;
}

function shapeErr(what: string, t: Tensor, want: string): Error {
  return new Error(`topk: expected ${what} ${want}, got ${t.dtype} [${t.shape.join(', ')}]`);
}

/**
 * Records exact top-k: for each query the k items with the largest q·item (ties: smaller id
 * first), excluded items never returned, sorted descending. Rows with fewer than k candidates are
 * padded with (PAD_ID, −Infinity). Queries are processed in chunks so the [chunk, numItems]
 * score scratch stays within one storage binding.
 */
export function topK(rec: Recorder, inp: TopKInputs, k: number, out: TopKOutputs, opts: { variant?: TopKVariant; /** cap on queries per chunk (tests) */ chunkQueries?: number } = {}): void {
  const { queries } = inp;
  if (queries.dtype !== 'f32' || queries.shape.length !== 2) throw shapeErr('queries as', queries, 'f32 [Q, d]');
  const [Q, d] = queries.shape as [number, number];
  const shards = Array.isArray(inp.items) ? inp.items : [inp.items];
  if (shards.length === 0) throw new Error('topk: expected at least one items tensor, got none');
  let n = 0;
  for (const s of shards) {
    if (s.dtype !== 'f32' || s.shape.length !== 2 || s.shape[1] !== d) throw shapeErr('items as', s, `f32 [rows, ${d}]`);
    n += s.shape[0]!;
  }
  if (n >= PAD_ID) throw new Error(`topk: expected fewer than 2^32 − 1 items, got ${n}`);
  if (!Number.isInteger(k) || k < 1) throw new Error(`topk: expected an integer k ≥ 1, got ${k}`);
  for (const [name, t, dt] of [['topIds', out.topIds, 'u32'], ['topScores', out.topScores, 'f32']] as const) {
    if (t.dtype !== dt || t.shape.length !== 2 || t.shape[0] !== Q || t.shape[1] !== k) throw shapeErr(`${name} as`, t, `${dt} [${Q}, ${k}]`);
  }
  if (!inp.exclOffsets !== !inp.exclIds) throw new Error('topk: expected both exclOffsets and exclIds or neither, got one');
  if (inp.exclOffsets && (inp.exclOffsets.dtype !== 'u32' || inp.exclOffsets.numel !== Q + 1)) throw shapeErr('exclOffsets as', inp.exclOffsets, `u32 [${Q + 1}]`);
  if (inp.exclIds && inp.exclIds.dtype !== 'u32') throw shapeErr('exclIds as', inp.exclIds, 'u32 [E]');
  if (Q === 0) return;

  const { gpu } = rec;
  const variant = opts.variant ?? 'radix';
  const maxBinding = gpu.device.limits.maxStorageBufferBindingSize;
  const segs = Math.max(1, Math.ceil(n / SEG));
  const perQueryBytes = Math.max(n * 4, segs * 257 * 4, k * 4, 32);
  const qc = Math.max(1, Math.min(Q, opts.chunkQueries ?? Q, Math.floor(maxBinding / perQueryBytes)));
  if (n * 4 > maxBinding) throw new Error(`topk: expected numItems·4 ≤ maxStorageBufferBindingSize (${maxBinding}), got ${n * 4} bytes of scores for one query`);

  const scores = scratchOf(gpu, 'scores', qc * n, 'f32');
  const hist = scratchOf(gpu, 'hist', qc * segs * 257, 'u32');
  const state = scratchOf(gpu, 'state', qc * 8, 'u32');
  const candIds = scratchOf(gpu, 'cand_ids', qc * k, 'u32');
  const candScores = scratchOf(gpu, 'cand_scores', qc * k, 'f32');

  for (let qBase = 0; qBase < Q; qBase += qc) {
    const c = Math.min(qc, Q - qBase);
    let itemBase = 0;
    for (const shard of shards) {
      const rows = shard.shape[0]!;
      const itemGroups = Math.ceil(rows / WG);
      const p = new Params().u32(qBase).u32(c).u32(n).u32(d).u32(itemBase).u32(rows).u32(Math.max(itemGroups, 1)).done();
      if (rows > 0) rec.dispatch(kernel('scores'), [queries, shard, scores], itemGroups * Math.ceil(c / 4), p);
      itemBase += rows;
    }
    if (inp.exclOffsets && inp.exclIds) {
      rec.dispatch(kernel('exclude'), [inp.exclOffsets, inp.exclIds, scores], Math.ceil(c / WG), new Params().u32(qBase).u32(c).u32(n).done());
    }
    if (variant === 'naive') {
      rec.dispatch(kernel('naive_select'), [scores, out.topIds, out.topScores], Math.ceil(c / WG), new Params().u32(qBase).u32(c).u32(n).u32(k).done());
      continue;
    }
    for (let pass = 0; pass < 8; pass++) {
      rec.dispatch(kernel('hist'), [scores, state, hist], c * segs, new Params().u32(c).u32(n).u32(SEG).u32(segs).u32(pass).done());
      rec.dispatch(kernel('scan'), [hist, state], c, new Params().u32(c).u32(n).u32(k).u32(segs).u32(pass).done());
    }
    rec.dispatch(kernel('select'), [scores, state, candIds, candScores], c * segs, new Params().u32(c).u32(n).u32(k).u32(SEG).u32(segs).done());
    rec.dispatch(kernel('sort'), [state, candIds, candScores, out.topIds, out.topScores], Math.ceil((c * k) / WG), new Params().u32(qBase).u32(c).u32(k).done());
  }
}
