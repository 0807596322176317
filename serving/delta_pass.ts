// One GPU pass of M-FALCON (DESIGN §3): for B sequences whose first s_b tokens are already encoded
// (K/V rows in a UserEncoding), run only the m_b new tokens through every HSTU layer:
//   x0_new = item·√d + action_emb[a] + pos_emb[p]              (model.inputRows)
//   per layer l:  U,V,Q,K (new rows) = SiLU(LN(x)·W_uvqk)       (model.hstuProject)
//                 K_full, V_full = [cached rows 0..s_b) ; new rows]   (buffer copies)
//                 O_new = cached-query HSTU attention over K_full/V_full   (hstuAttentionCached)
//                 x_new = x + (U ⊙ LN(O))·W_o + b_o              (model.hstuFinish)
// Two kinds of sequence share the pass machinery:
//   - history (numTargets 0): the new tokens are history events; their K/V rows are written into
//     `writeTo` (a fresh UserEncoding; rows 0..s_b are copied from the prefix);
//   - candidates (numTargets = m_b): the new tokens are one microbatch of candidates at position
//     n = s_b; the attention's target mask lets candidate i see the history and itself only, so
//     its output equals that of scoring it alone; the head turns its final row into scores.
// Cost per layer: O(m·d² + m·n·d) for m new tokens, instead of O((n+m)²·d) for the full pass.
import type { Recorder, Tensor } from '../kernels/gpu/index.js';
import { hstuAttentionCached } from '../kernels/hstu_attention/hstu_attention.js';
import type { GpuBatch } from '../model/batch.js';
import { NUM_TASKS, type RankingModel } from '../model/ranking.js';
import type { UserEncoding } from './encoding.js';

export interface DeltaSeq {
  /** Cached encoding holding at least `prefixLen` rows (null when prefixLen = 0). */
  prefix: UserEncoding | null;
  prefixLen: number;
  /** Timestamps of the whole sequence (prefix + new tokens). */
  timestamps: Uint32Array;
  /** New tokens: dense item ids, action ids (0 for candidates). */
  items: Uint32Array;
  actions: Uint32Array;
  /** true: the new tokens are candidates (numTargets = their count); false: history events. */
  candidates: boolean;
  /** History sequences: the entry receiving K/V rows 0..prefixLen+m (prefix rows copied). */
  writeTo?: UserEncoding;
}

/**
 * The attention kernel checks every sequence length ≤ N, but a history of n ≤ N − 1 events plus a
 * microbatch of b_m candidates (all at position n) is n + b_m tokens long. Positions stay < N, so
 * the math only needs rab_pos[p_j − p_i + N − 1]: we run the kernel with a larger N' and rab_pos
 * re-centred into a [2N' − 1] tensor (entries outside the original 2N − 1 are never read, as
 * |p_j − p_i| ≤ N − 1), and pass the model's N as the normaliser explicitly.
 */
export class PaddedRab {
  readonly N: number;
  private readonly layers: { rabPos: Tensor<'f32'>; rabTime: Tensor<'f32'> }[] = [];

  constructor(readonly model: RankingModel, maxNewPerSequence: number) {
    const N = model.config.maxLen, gpu = model.gpu;
    this.N = N + maxNewPerSequence;
    const rec = gpu.recorder('mfalcon:rab');
    for (let l = 0; l < model.config.numLayers; l++) {
      const { rabPos, rabTime } = model.hstuRab(l);
      const padded = gpu.f32(new Float32Array(2 * this.N - 1), [2 * this.N - 1], `mfalcon:l${l}:rab_pos_padded`);
      rec.copy(rabPos, padded, (2 * N - 1) * 4, 0, (this.N - N) * 4);
      this.layers.push({ rabPos: padded, rabTime });
    }
    this.ready = rec.submit(); // awaited by every pass (a failure surfaces there, not unhandled)
  }

  /** Resolves once the padded copies are submitted. */
  readonly ready: Promise<void>;

  layer(l: number): { rabPos: Tensor<'f32'>; rabTime: Tensor<'f32'> } {
    return this.layers[l]!;
  }

  release(): void {
    this.layers.forEach((x) => x.rabPos.release());
  }
}

/** Records and runs one delta pass; returns per sequence its new tokens' head outputs
 *  ([m_b, NUM_TASKS], only for candidate sequences; empty for history ones). */
export async function runDeltaPass(model: RankingModel, rab: PaddedRab, seqs: readonly DeltaSeq[]): Promise<Float32Array[]> {
  const gpu = model.gpu;
  // Start-anchored positions only: new tokens take positions after the cached prefix's, which
  // stay put. Anchored at the end, appending a token would shift every cached token's position
  // (p_i = maxLen − n + i), so the cached keys and values would be stale. validateConfig already
  // refuses 'end' for ranking; this guards a config built around it.
  if (model.config.positionAnchor !== 'start') throw new Error(`M-FALCON delta pass: expected positionAnchor 'start', got ${JSON.stringify(model.config.positionAnchor)}. HINT: end-anchored positions shift every cached token when one is appended; they are for retrieval models only (--positionAnchor=start for ranking).`);
  const { H, dqk, dv, N: maxLen, alpha, useRab } = model.hstuAttentionOptions();
  const N = rab.N;
  await rab.ready;
  const numLayers = model.config.numLayers;
  const kW = H * dqk, vW = H * dv;
  const B = seqs.length;
  const seqOffsets = new Uint32Array(B + 1), newOffsets = new Uint32Array(B + 1), numTargets = new Uint32Array(B);
  for (let b = 0; b < B; b++) {
    const s = seqs[b]!, m = s.items.length;
    if (s.timestamps.length !== s.prefixLen + m) throw new Error(`internal: sequence ${b} has ${s.timestamps.length} timestamps for ${s.prefixLen} + ${m} tokens`);
    if (s.prefixLen > 0 && (!s.prefix || s.prefix.length < s.prefixLen)) throw new Error(`internal: sequence ${b} needs ${s.prefixLen} cached rows`);
    const lastPosition = s.candidates ? s.prefixLen : s.prefixLen + m - 1;
    if (lastPosition >= maxLen || s.prefixLen + m > N) throw new Error(`internal: sequence ${b} (${s.prefixLen} + ${m} tokens) does not fit maxLen ${maxLen} / padded N ${N}`);
    seqOffsets[b + 1] = seqOffsets[b]! + s.prefixLen + m;
    newOffsets[b + 1] = newOffsets[b]! + m;
    numTargets[b] = s.candidates ? m : 0;
  }
  const Lfull = seqOffsets[B]!, Lnew = newOffsets[B]!;
  if (Lnew === 0) return seqs.map(() => new Float32Array(0));
  const cat = (f: (s: DeltaSeq) => Uint32Array) => {
    const out = new Uint32Array(Lnew);
    seqs.forEach((s, b) => out.set(f(s), newOffsets[b]!));
    return out;
  };
  const newItems = cat((s) => s.items), newActions = cat((s) => s.actions);
  const positions = new Uint32Array(Lnew);
  seqs.forEach((s, b) => {
    for (let i = 0; i < s.items.length; i++) positions[newOffsets[b]! + i] = s.candidates ? s.prefixLen : s.prefixLen + i;
  });
  const timestamps = new Uint32Array(Math.max(Lfull, 1));
  seqs.forEach((s, b) => timestamps.set(s.timestamps, seqOffsets[b]!));

  const owned: { release(): void }[] = [];
  const keep = <T extends { release(): void }>(t: T): T => (owned.push(t), t);
  const pinned = seqs.flatMap((s) => [s.prefix, s.writeTo]).filter((e): e is UserEncoding => !!e).map((e) => e.pin());
  try {
    const t = {
      seqOffsets: keep(gpu.u32(seqOffsets, [B + 1], 'mfalcon:seq_offsets')),
      newOffsets: keep(gpu.u32(newOffsets, [B + 1], 'mfalcon:new_offsets')),
      numTargets: keep(gpu.u32(numTargets, [B], 'mfalcon:num_targets')),
      timestamps: keep(gpu.u32(timestamps, [timestamps.length], 'mfalcon:timestamps')),
      items: keep(gpu.u32(newItems, [Lnew], 'mfalcon:items')),
      actions: keep(gpu.u32(newActions, [Lnew], 'mfalcon:actions')),
      positions: keep(gpu.u32(positions, [Lnew], 'mfalcon:positions')),
    };
    // inputRows reads items, positions and L of a batch; the new tokens are that batch.
    const gb: GpuBatch = {
      B, L: Lnew, maxLen: N, host: { seqOffsets: newOffsets, items: newItems, timestamps: new Uint32Array(0) }, hostPositions: positions, positionAnchor: 'start',
      seqOffsets: t.newOffsets, items: t.items, timestamps: t.timestamps, positions: t.positions, release() {},
    };
    const rec: Recorder = gpu.recorder('mfalcon');
    let x = keep(model.inputRows(rec, gb, t.actions)).x0;
    for (let l = 0; l < numLayers; l++) {
      const p = keep(model.hstuProject(rec, l, x, Lnew));
      const kFull = keep(gpu.empty([Math.max(Lfull, 1), kW], 'f32', `mfalcon:l${l}:k_full`));
      const vFull = keep(gpu.empty([Math.max(Lfull, 1), vW], 'f32', `mfalcon:l${l}:v_full`));
      // All copies of this layer back to back (each copy ends the compute pass it interrupts).
      seqs.forEach((s, b) => {
        const m = s.items.length, at = seqOffsets[b]!, from = newOffsets[b]!;
        const parts = [
          { src: s.prefix?.k[l], fresh: p.k, full: kFull, w: kW, dst: s.writeTo?.k[l] },
          { src: s.prefix?.v[l], fresh: p.v, full: vFull, w: vW, dst: s.writeTo?.v[l] },
        ];
        for (const { src, fresh, full, w, dst } of parts) {
          const row = w * 4;
          if (s.prefixLen > 0) {
            rec.copy(src!, full, s.prefixLen * row, 0, at * row);
            if (dst) rec.copy(src!, dst, s.prefixLen * row, 0, 0);
          }
          rec.copy(fresh, full, m * row, from * row, (at + s.prefixLen) * row);
          if (dst) rec.copy(fresh, dst, m * row, from * row, s.prefixLen * row);
        }
      });
      const o = keep(gpu.empty([Lnew, vW], 'f32', `mfalcon:l${l}:o`));
      hstuAttentionCached(
        rec,
        { qNew: p.q, k: kFull, v: vFull, seqOffsets: t.seqOffsets, newOffsets: t.newOffsets, timestamps: t.timestamps, numTargets: t.numTargets, ...rab.layer(l) },
        o,
        { B, L: Lfull, H, dqk, dv, N, normalizer: maxLen, alpha, useRab, hostOffsets: seqOffsets, hostNumTargets: numTargets, hostNewOffsets: newOffsets },
      );
      x = keep(model.hstuFinish(rec, l, x, o, p.u, Lnew)).y;
    }
    const wantScores = seqs.some((s) => s.candidates);
    const head = wantScores ? keep(model.headForward(rec, x, Lnew)) : null;
    await rec.submit();
    const y = head ? await gpu.read(head.y) : null;
    if (!y) await gpu.sync();
    return seqs.map((s, b) => (s.candidates && y ? y.slice(newOffsets[b]! * NUM_TASKS, newOffsets[b + 1]! * NUM_TASKS) : new Float32Array(0)));
  } finally {
    // Everything above was submitted and awaited (or recording failed before any submit).
    owned.forEach((o) => o.release());
    pinned.forEach((e) => e.unpin());
  }
}
