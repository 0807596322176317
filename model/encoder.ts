// What the trainer needs from a sequence encoder (HSTU or SASRec), and the factory.
import type { Gpu, Recorder, Tensor } from '../kernels/gpu/index.js';
import type { EmbeddingTable } from '../kernels/embedding/embedding.js';
import { attentionAlpha, resolvedDqk, resolvedDv, type Config, type PositionAnchor } from './config.js';
import type { DenseParams } from './dense.js';
import type { GpuBatch } from './batch.js';
import { HstuModel } from './hstu.js';

export interface EncoderForward {
  batch: GpuBatch;
  /** [L, d] encoder output per token (the loss L2-normalises it). */
  out: Tensor<'f32'>;
  release(): void;
}

export interface Encoder {
  readonly gpu: Gpu;
  readonly items: EmbeddingTable;
  readonly dense: DenseParams;
  /** Floats per token of the forward pass's widest [L, ·] activation: evaluation bounds the
   *  tokens of one batch by it, so no activation outgrows a storage binding at long N. */
  readonly tokenWidth: number;
  /** The config's positionAnchor: whoever uploads a batch for this encoder (training,
   *  evaluation, serving) counts positions so, and forward refuses a batch counted otherwise. */
  readonly positionAnchor: PositionAnchor;
  forward(rec: Recorder, b: GpuBatch, opts: { train: boolean; seed: number }): EncoderForward;
  /** Writes every dense gradient; returns the gradient w.r.t. the gathered input item rows. */
  backward(rec: Recorder, f: EncoderForward, dOut: Tensor<'f32'>): { dItemRows: Tensor<'f32'>; release(): void };
  release(): void;
}

/** Builds the configured encoder; `tableRows` = item ids incl. padding 0. */
export async function createEncoder(gpu: Gpu, c: Config, tableRows: number, init: Map<string, Float32Array>): Promise<Encoder> {
  if (c.embeddingOptimizer !== 'rowwise-adam') throw new Error(`config embeddingOptimizer '${c.embeddingOptimizer}' is not implemented on the GPU yet. HINT: use --embeddingOptimizer=rowwise-adam.`);
  if (c.model === 'hstu') {
    for (const k of ['normalizeByLength', 'siluOnUOnly', 'outputFromUOAndGate'] as const) {
      if (c[k]) throw new Error(`config '${k}' is not implemented in the GPU model yet. HINT: set --${k}=false.`);
    }
    return new HstuModel(gpu, {
      numItems: tableRows,
      dim: c.dim,
      maxLen: c.maxLen,
      numLayers: c.numLayers,
      numHeads: c.numHeads,
      dqk: resolvedDqk(c),
      dv: resolvedDv(c),
      alpha: attentionAlpha(c),
      useRab: c.useRab,
      lastQueryTime: c.lastQueryTime,
      dropout: c.dropout,
      embeddingBf16: c.embeddingBf16,
      positionAnchor: c.positionAnchor,
    }, init);
  }
  const { SasrecModel } = await import('./sasrec.js');
  return new SasrecModel(gpu, c, tableRows, init);
}
