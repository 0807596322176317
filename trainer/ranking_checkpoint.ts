// Ranking checkpoints (task 'ranking'): the same protobuf container as retrieval
// (trainer/checkpoint.ts) holding every rankingParamLayout tensor, its optimizer state, the config
// and the item id map; and loadRankingModel, the one call serving needs to rebuild the model.
import type { Gpu } from '../kernels/gpu/index.js';
import { itemTableRows } from '../model/params.js';
import { RankingModel, rankingConfigOf } from '../model/ranking.js';
import { rankingParamLayout } from '../model/ranking_params.js';
import type { Config } from '../model/config.js';
import { checkResumeConfig, loadCheckpoint, type Blob, type CheckpointData } from './checkpoint.js';
import { checkShapes } from './checkpoint_validate.js';
import type { Interactions } from './data/index.js';

/** Reads every ranking parameter (and optimizer state) back from the GPU. */
export async function snapshotRanking(model: RankingModel): Promise<{ params: Blob[]; state: Blob[] }> {
  const params: Blob[] = [];
  const state: Blob[] = [];
  const t = model.encoder.items;
  if (t.storage === 'bf16') throw new Error('checkpointing bf16 tables is not supported yet. HINT: train with --embeddingBf16=false.');
  params.push({ name: 'item_emb', shape: [t.rows, t.dim], dtype: 'f32', data: await t.read('w') });
  state.push({ name: 'item_emb.m', shape: [t.rows, t.dim], dtype: 'f32', data: await t.read('m') });
  state.push({ name: 'item_emb.v', shape: [t.rows], dtype: 'f32', data: await t.read('v') });
  for (const p of model.denseParams()) {
    params.push({ name: p.name, shape: p.shape, dtype: 'f32', data: await model.gpu.read(p.w) });
    state.push({ name: `${p.name}.m`, shape: p.shape, dtype: 'f32', data: await model.gpu.read(p.m) });
    state.push({ name: `${p.name}.v`, shape: p.shape, dtype: 'f32', data: await model.gpu.read(p.v) });
  }
  return { params, state };
}

/** Writes the checkpoint's optimizer state into a model built from its parameters (resume). */
export function restoreRankingState(model: RankingModel, ck: CheckpointData): void {
  const blobs = new Map(ck.optimizerState.map((b) => [b.name, b.data as Float32Array]));
  const need = (n: string, numel: number) => {
    const b = blobs.get(n);
    if (!b) throw new Error(`checkpoint lacks optimizer state ${n}. HINT: it was written for another model config.`);
    if (b.length !== numel) throw new Error(`checkpoint tensor ${n} has ${b.length} values, the model needs ${numel}. HINT: use the config the checkpoint was trained with.`);
    return b;
  };
  const t = model.encoder.items;
  t.upload(need('item_emb.m', t.rows * t.dim), 'm');
  t.upload(need('item_emb.v', t.rows), 'v');
  for (const p of model.denseParams()) {
    model.gpu.write(p.m, need(`${p.name}.m`, p.m.numel));
    model.gpu.write(p.v, need(`${p.name}.v`, p.v.numel));
  }
}

/** Every parameter of a ranking checkpoint, checked against the layout its config implies. */
export function rankingParamsOf(ck: CheckpointData, c: Config, where: string): Map<string, Float32Array> {
  const numItems = ck.itemRawIds.length - 1;
  const blobs = new Map(ck.params.map((b) => [b.name, b]));
  const out = new Map<string, Float32Array>();
  for (const spec of rankingParamLayout(c, numItems)) {
    const b = blobs.get(spec.name);
    if (!b) throw new Error(`${where}: lacks tensor ${spec.name} [${spec.shape}]. HINT: the checkpoint was written for another config or an older version.`);
    if (b.shape.join() !== spec.shape.join()) throw new Error(`${where}: tensor ${spec.name} has shape [${b.shape}], the config needs [${spec.shape}]. HINT: the checkpoint is damaged or its config was edited.`);
    out.set(spec.name, b.data as Float32Array);
  }
  return out;
}

/** Checks that `ck` can continue a ranking run of config `c` on `data` (refuses with a HINT when
 *  it holds the other task, another model shape or another item id map) and returns the other
 *  config keys that differ (the continuation then is not what a straight run would have done). */
export function checkRankingResume(ck: CheckpointData, c: Config, data: Interactions, where: string): string[] {
  if (ck.task !== 'ranking') throw new Error(`${where}: holds a '${ck.task}' model; --task ranking cannot resume it. HINT: resume it with --task=${ck.task}, or pass a ranking checkpoint (<out>/checkpoint.hstu of a --task ranking run).`);
  const differ = checkResumeConfig(ck, c, where);
  if (data.numItems !== ck.itemRawIds.length) throw new Error(`${where}: the checkpoint knows ${ck.itemRawIds.length - 1} items, the data has ${data.numItems - 1}. HINT: resume on the dataset the model was trained on.`);
  for (let i = 1; i < data.numItems; i++) {
    if (String(data.itemRawIds[i]) !== ck.itemRawIds[i]) throw new Error(`${where}: item id mapping differs at dense id ${i} (checkpoint ${ck.itemRawIds[i]}, data ${data.itemRawIds[i]}). HINT: resume on the dataset the model was trained on.`);
  }
  return differ;
}

export interface LoadedRankingModel {
  model: RankingModel;
  config: Config;
  /** Raw item id of each dense id (index 0 = padding). */
  itemRawIds: string[];
  checkpoint: CheckpointData;
}

/** Builds the GPU ranking model from a checkpoint file (or decoded data). Serving's entry point. */
export async function loadRankingModel(gpu: Gpu, source: string | CheckpointData): Promise<LoadedRankingModel> {
  const where = typeof source === 'string' ? source : 'checkpoint';
  const ck = typeof source === 'string' ? loadCheckpoint(source) : source;
  const config = rankingConfigOf(ck, where);
  checkShapes(ck, where);
  const params = rankingParamsOf(ck, config, where);
  const model = await RankingModel.create(gpu, config, itemTableRows(ck.itemRawIds.length - 1), params);
  return { model, config, itemRawIds: ck.itemRawIds, checkpoint: ck };
}
