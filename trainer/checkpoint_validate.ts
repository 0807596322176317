// What a checkpoint must satisfy beyond its checksums, checked by every load (eval, resume, serve)
// and for checkpoints of any format version: checksums prove the file is what was written, these
// prove what was written is usable: finite tensors, an item id map that is one-to-one and matches
// the item table, a task flag that agrees with the config, and trainer state within its ranges.
import type { Blob, CheckpointData } from './checkpoint.js';
import { applyOverrides, defaultConfig } from '../model/config.js';
import { paramLayout } from '../model/params.js';
import { rankingParamLayout } from '../model/ranking_params.js';

const USE_ANOTHER = 'use another checkpoint (<out>/best.hstu or <out>/checkpoint.hstu of the run), or retrain.';

/** Refuses a tensor holding NaN or ±Inf, naming it, the count and the first bad index. */
export function checkFinite(b: Blob, path: string): void {
  if (b.dtype !== 'f32') return;
  const x = b.data as Float32Array;
  let bad = 0, first = -1;
  for (let i = 0; i < x.length; i++) {
    if (x[i]! - x[i]! !== 0) { // NaN − NaN and ±Inf − ±Inf are NaN; every finite x gives 0
      if (bad++ === 0) first = i;
    }
  }
  if (bad) throw new Error(`${path}: tensor ${b.name} holds ${bad} non-finite value${bad > 1 ? 's' : ''} (the first, ${x[first]}, at flat index ${first} of shape [${b.shape}]). HINT: the run that wrote it diverged (lower --lr) or the file is damaged; ${USE_ANOTHER}`);
}

/** Refuses duplicate raw item ids and an item table whose row count differs from the id map's. */
export function checkItemIds(c: CheckpointData, path: string): void {
  if (c.itemRawIds.length === 0) throw new Error(`${path}: the item id map is empty (it needs at least the padding id 0). HINT: the file is damaged; ${USE_ANOTHER}`);
  const seen = new Map<string, number>();
  c.itemRawIds.forEach((id, dense) => {
    const before = seen.get(id);
    if (before !== undefined) throw new Error(`${path}: raw item id ${JSON.stringify(id)} maps to two dense ids (${before} and ${dense}), so one of them could never be served. HINT: the file is damaged or was edited; ${USE_ANOTHER}`);
    seen.set(id, dense);
  });
  const table = c.params.find((b) => b.name === 'item_emb');
  if (table && table.shape[0] !== c.itemRawIds.length) {
    throw new Error(`${path}: the item table has ${table.shape[0]} rows but the item id map has ${c.itemRawIds.length} ids (padding included). HINT: the file is damaged or was edited; ${USE_ANOTHER}`);
  }
}

const isObject = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null && !Array.isArray(x);
const isCount = (x: unknown): x is number => Number.isSafeInteger(x) && (x as number) >= 0;

/** Refuses step/epoch/trainer state out of range or inconsistent with each other and the config. */
export function checkTrainerState(c: CheckpointData, path: string): void {
  const bad = (what: string) => new Error(`${path}: ${what}. HINT: the file is damaged or was edited; ${USE_ANOTHER}`);
  if (!isObject(c.config)) throw bad('the config is not an object');
  if (!isCount(c.step)) throw bad(`step ${c.step} is not an integer ≥ 0`);
  if (!isCount(c.epoch)) throw bad(`epoch ${c.epoch} is not an integer ≥ 0`);
  if (c.step < c.epoch) throw bad(`step ${c.step} is below epoch ${c.epoch} (every finished epoch takes at least one step)`);
  const cfgTask = c.config.task;
  if (cfgTask !== undefined && cfgTask !== c.task) throw bad(`the task flag says '${c.task}' but the config says '${String(cfgTask)}'`);
  const epochs = c.config.epochs;
  if (typeof epochs === 'number' && c.epoch > epochs) throw bad(`epoch ${c.epoch} is beyond the config's ${epochs} epochs`);
  const s = c.trainerState;
  if (!isObject(s)) throw bad('the trainer state is not an object');
  if (s.sinceBest !== undefined && !(isCount(s.sinceBest) && s.sinceBest <= c.epoch)) throw bad(`trainer state sinceBest ${String(s.sinceBest)} is not an integer in [0, epoch ${c.epoch}]`);
  for (const k of ['trainTokens', 'trainSecs'] as const) {
    const v = s[k];
    if (v !== undefined && !(typeof v === 'number' && Number.isFinite(v) && v >= 0)) throw bad(`trainer state ${k} ${String(v)} is not a finite number ≥ 0`);
  }
  const evalEpoch = (r: unknown, what: string): number => {
    if (!isObject(r) || !isCount(r.epoch) || r.epoch < 1 || r.epoch > c.epoch) throw bad(`trainer state ${what} is not a record of an epoch in [1, ${c.epoch}]`);
    return r.epoch;
  };
  const best = s.best === undefined ? undefined : evalEpoch(s.best, 'best');
  if (s.test !== undefined) {
    if (best === undefined) throw bad('trainer state has a test record but no best validation record');
    if (evalEpoch(s.test, 'test') !== best) throw bad(`trainer state's test record is of epoch ${(s.test as { epoch: number }).epoch}, its best validation epoch is ${best}`);
  }
  if (s.metrics !== undefined) {
    if (!Array.isArray(s.metrics)) throw bad('trainer state metrics is not a list');
    let last = 0;
    s.metrics.forEach((r, i) => {
      if (!isObject(r) || (r.split !== 'validation' && r.split !== 'test')) throw bad(`trainer state metrics[${i}] is not a metrics record`);
      const e = evalEpoch(r, `metrics[${i}]`);
      if (r.split === 'validation') {
        if (e <= last) throw bad(`trainer state metrics[${i}] repeats or goes back to epoch ${e}`);
        last = e;
      }
    });
  }
}

/** Refuses a tensor whose shape differs from the one its config's model needs, even with the same
 *  number of values (a transposed or reshaped weight would otherwise load as a wrong model). */
export function checkShapes(c: CheckpointData, path: string): void {
  const config = applyOverrides(defaultConfig, c.config, ` in ${path}`);
  const numItems = c.itemRawIds.length - 1;
  const layout = c.task === 'ranking' ? rankingParamLayout(config, numItems) : paramLayout(config, numItems);
  const want = new Map<string, readonly number[]>();
  for (const s of layout) for (const suffix of ['', '.m', '.v']) want.set(s.name + suffix, s.shape);
  const itemEmb = want.get('item_emb');
  if (itemEmb) want.set('item_emb.v', [itemEmb[0]!]); // row-wise Adam: one second moment per row
  for (const b of [...c.params, ...c.optimizerState]) {
    const w = want.get(b.name);
    if (w && (w.length !== b.shape.length || w.some((x, i) => x !== b.shape[i]))) {
      throw new Error(`${path}: tensor ${b.name} has shape [${b.shape.join(', ')}], its config's model needs [${w.join(', ')}]. HINT: the checkpoint's config and tensors disagree (damaged or edited file); ${USE_ANOTHER}`);
    }
  }
}

/** Every check above; throws the first failure. */
export function validateCheckpoint(c: CheckpointData, path: string): void {
  checkTrainerState(c, path);
  checkItemIds(c, path);
  for (const b of [...c.params, ...c.optimizerState]) checkFinite(b, path);
}

/** Refuses a resume whose step is not inside its epoch for `batchesPerEpoch` steps an epoch (the
 *  checkpoint was written with another batch size or data, so the batches to skip are unknown). */
export function checkStepInEpoch(step: number, epoch: number, batchesPerEpoch: number, where: string): void {
  if (step < epoch * batchesPerEpoch || step >= (epoch + 1) * batchesPerEpoch) {
    throw new Error(`${where}: step ${step} is not inside epoch ${epoch} of ${batchesPerEpoch} steps. HINT: resume with the batchSize, rankingWindows and data the checkpoint was trained with.`);
  }
}
