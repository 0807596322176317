// Checkpoint fuzz target: a small ranking and a small retrieval checkpoint (with optimizer state
// and trainer state), damaged — single and multi-bit flips, zeroed 4 KiB blocks, truncation,
// appended junk — or edited field by field and re-encoded with the current writer (task flag
// flipped, duplicated item ids, non-finite weights, out-of-range step/epoch, config/shape edits,
// missing tensors). Each file is then loaded as `npm run eval` / `--resume` read it
// (loadCheckpoint) AND as `npm run serve` builds it (GPU model). Every file here is damaged, so
// anything that loads is 'accepted' (silently wrong); a clear error is 'refused'. The pristine
// files are loaded too, as controls ('ok'). Runs against whatever checkpoint format trainer/
// checkpoint.ts implements: rerun after merging checksums with `npm run fuzz -- --targets=checkpoint`.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createGpu, type Gpu } from '../../kernels/gpu/index.js';
import { tinyConfig } from '../../model/reference/fixtures.js';
import { decodeCheckpoint, encodeCheckpoint, loadCheckpoint, type CheckpointData } from '../../trainer/checkpoint.js';
import { DataRng } from '../../trainer/data/rng.js';
import { loadRankingModel } from '../../trainer/ranking_checkpoint.js';
import { randomCheckpoint } from '../../serving/demo_checkpoint.js';
import { Retriever } from '../../serving/retrieval.js';
import { isCrash, report, withTimeout, HangError, type CaseResult, type TargetReport } from './common.js';

const NUM_ITEMS = 50;
const CASE_MS = 20_000;

function pristine(task: 'ranking' | 'retrieval'): CheckpointData {
  const c = tinyConfig({ task, maxLen: 16, dim: 8, numHeads: 2, dqk: 4, dv: 4, headHidden: 6, numActions: 5 });
  const ck = randomCheckpoint(c, NUM_ITEMS, 11);
  const rng = new DataRng(task === 'ranking' ? 1 : 2);
  ck.step = 120;
  ck.epoch = 3;
  // As the trainers write it: AdamW m and v shaped like each dense tensor; the item table's
  // row-wise Adam keeps m per element and one v per row.
  const stateShape = (p: CheckpointData['params'][number], s: string) => (p.name === 'item_emb' && s === 'v' ? [p.shape[0]!] : p.shape);
  ck.optimizerState = ck.params.flatMap((p) =>
    ['m', 'v'].map((s) => {
      const shape = stateShape(p, s);
      const n = shape.reduce((a, x) => a * x, 1);
      return { name: `${p.name}.${s}`, shape, dtype: 'f32' as const, data: Float32Array.from({ length: n }, () => (s === 'v' ? rng.next() * 1e-4 : (rng.next() - 0.5) * 1e-2)) };
    }),
  );
  ck.trainerState = { bestEpoch: 2, bestValue: 0.71, history: [{ epoch: 1, v: 0.6 }, { epoch: 2, v: 0.71 }], rng: 12345 };
  return ck;
}

type Damage = (rng: DataRng, bytes: Uint8Array, ck: CheckpointData) => { name: string; bytes: Uint8Array } | null;

const clone = (ck: CheckpointData): CheckpointData => decodeCheckpoint(encodeCheckpoint(ck));
const reencode = (name: string, ck: CheckpointData, edit: (c: CheckpointData) => void) => {
  const c = clone(ck);
  edit(c);
  return { name, bytes: encodeCheckpoint(c) };
};

const DAMAGE: Record<string, Damage> = {
  bitFlip: (rng, b) => {
    const out = Uint8Array.from(b);
    const flips = rng.next() < 0.6 ? 1 : rng.int(2, 8);
    const at: number[] = [];
    for (let i = 0; i < flips; i++) {
      const p = rng.int(0, out.length - 1), bit = rng.int(0, 7);
      out[p]! ^= 1 << bit;
      at.push(p * 8 + bit);
    }
    return { name: `${flips} bit flip(s) at bits ${at.slice(0, 4).join(',')}`, bytes: out };
  },
  zeroBlock: (rng, b) => {
    const blocks = Math.ceil(b.length / 4096);
    const k = rng.int(0, blocks - 1);
    const out = Uint8Array.from(b);
    out.fill(0, k * 4096, Math.min(b.length, (k + 1) * 4096));
    return out.every((v, i) => v === b[i]) ? null : { name: `4 KiB block ${k}/${blocks} zeroed`, bytes: out };
  },
  truncate: (rng, b) => {
    const n = rng.int(0, b.length - 1);
    return { name: `truncated to ${n}/${b.length} bytes`, bytes: b.subarray(0, n) };
  },
  appendJunk: (rng, b) => {
    const junk = Uint8Array.from({ length: rng.int(1, 64) }, () => rng.int(0, 255));
    const out = new Uint8Array(b.length + junk.length);
    out.set(b);
    out.set(junk, b.length);
    return { name: `${junk.length} junk bytes appended`, bytes: out };
  },
  taskFlip: (_r, _b, ck) => reencode(`task flipped to ${ck.task === 'ranking' ? 'retrieval' : 'ranking'}`, ck, (c) => (c.task = c.task === 'ranking' ? 'retrieval' : 'ranking')),
  duplicateItemId: (rng, _b, ck) => {
    const i = rng.int(1, NUM_ITEMS - 1);
    return reencode(`item id of dense ${i + 1} duplicates dense ${i}`, ck, (c) => (c.itemRawIds[i + 1] = c.itemRawIds[i]!));
  },
  nonFinite: (rng, _b, ck) => {
    const p = rng.int(0, ck.params.length - 1), v = [NaN, Infinity, -Infinity][rng.int(0, 2)]!;
    return reencode(`param ${ck.params[p]!.name} gets ${v}`, ck, (c) => ((c.params[p]!.data as Float32Array)[rng.int(0, c.params[p]!.data.length - 1)] = v));
  },
  nonFiniteState: (rng, _b, ck) => reencode('optimizer state gets NaN', ck, (c) => ((c.optimizerState[rng.int(0, c.optimizerState.length - 1)]!.data as Float32Array)[0] = NaN)),
  badProgress: (rng, _b, ck) => {
    const e = rng.int(0, 1);
    return reencode(['epoch 4000000000', 'epoch beyond the config epochs'][e]!, ck, (c) => {
      if (e === 0) c.epoch = 4_000_000_000;
      else c.epoch = Number(c.config.epochs ?? 1) + 50;
    });
  },
  shapeEdit: (rng, _b, ck) => {
    const p = rng.int(0, ck.params.length - 1);
    return reencode(`param ${ck.params[p]!.name} reshaped`, ck, (c) => {
      const s = c.params[p]!.shape;
      c.params[p]!.shape = s.length > 1 ? [s[1]!, s[0]!] : [1, s[0]!];
      if (s.length > 1 && s[0] === s[1]) c.params[p]!.shape = [s[0]! * s[1]!];
    });
  },
  configEdit: (rng, _b, ck) => {
    const [k, v] = [['dim', 16], ['maxLen', 8], ['numLayers', 3], ['numHeads', 4], ['model', 'sasrec']][rng.int(0, 4)]! as [string, unknown];
    return reencode(`config ${k} = ${v}`, ck, (c) => (c.config[k] = v));
  },
  missingTensor: (rng, _b, ck) => {
    const p = rng.int(0, ck.params.length - 1);
    return reencode(`param ${ck.params[p]!.name} removed`, ck, (c) => c.params.splice(p, 1));
  },
  itemIdsShort: (_r, _b, ck) => reencode('one item id fewer than the table', ck, (c) => c.itemRawIds.pop()),
};

async function serveLoad(gpu: Gpu, path: string): Promise<void> {
  const ck = loadCheckpoint(path); // what eval and --resume read
  if (ck.task === 'ranking') (await loadRankingModel(gpu, path)).model.release();
  else (await Retriever.load(gpu, path)).release();
}

export async function fuzzCheckpoints(opts: { seed: number; cases: number }): Promise<TargetReport> {
  const rng = new DataRng(opts.seed);
  const gpu = await createGpu();
  const dir = mkdtempSync(join(tmpdir(), 'hstu-fuzz-ckpt-'));
  const results: CaseResult[] = [];
  const bases = (['ranking', 'retrieval'] as const).map((t) => ({ task: t, ck: pristine(t) }));
  const names = Object.keys(DAMAGE);
  try {
    for (const b of bases) {
      const path = join(dir, `pristine-${b.task}.hstu`);
      writeFileSync(path, encodeCheckpoint(b.ck));
      try {
        await serveLoad(gpu, path);
        results.push({ target: 'checkpoint', name: `pristine ${b.task}`, outcome: 'ok', detail: 'loads' });
      } catch (e) {
        results.push({ target: 'checkpoint', name: `pristine ${b.task}`, outcome: 'wrong', detail: `a valid checkpoint was refused: ${(e as Error).message}` });
      }
    }
    for (let k = 0; k < opts.cases; k++) {
      const b = bases[k % 2]!;
      const orig = encodeCheckpoint(b.ck);
      const m = names[rng.int(0, names.length - 1)]!;
      const d = DAMAGE[m]!(rng, orig, b.ck);
      if (!d) {
        k--;
        continue;
      }
      const path = join(dir, `case${k}.hstu`);
      writeFileSync(path, d.bytes);
      const label = `${b.task} ${m}: ${d.name} (case ${k})`;
      let outcome: CaseResult['outcome'];
      let detail: string;
      try {
        await withTimeout(serveLoad(gpu, path), CASE_MS);
        outcome = 'accepted';
        detail = 'the damaged checkpoint loaded (eval, resume and serve would use it)';
      } catch (e) {
        const msg = (e as Error)?.message ?? String(e);
        detail = msg.slice(0, 200);
        outcome = e instanceof HangError ? 'hang' : isCrash(e) || !(/HINT/.test(msg) || msg.includes(path)) ? 'crash' : 'refused';
      }
      results.push({ target: 'checkpoint', name: label, outcome, detail });
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
    gpu.dispose();
  }
  return report('checkpoint', opts.seed, results);
}

/** Whether this build's checkpoints carry checksums: one flipped bit in a tensor's data is refused. */
export function checksumsPresent(): boolean {
  const ck = pristine('retrieval');
  const bytes = encodeCheckpoint(ck);
  const p = ck.params[0]!.data as Float32Array;
  const probe = new Uint8Array(p.buffer, p.byteOffset, 4);
  const at = findSub(bytes, probe);
  if (at < 0) return false;
  bytes[at]! ^= 1;
  const dir = mkdtempSync(join(tmpdir(), 'hstu-fuzz-probe-'));
  try {
    writeFileSync(join(dir, 'probe.hstu'), bytes);
    loadCheckpoint(join(dir, 'probe.hstu'));
    return false;
  } catch {
    return true;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function findSub(hay: Uint8Array, needle: Uint8Array): number {
  outer: for (let i = 0; i + needle.length <= hay.length; i++) {
    for (let j = 0; j < needle.length; j++) if (hay[i + j] !== needle[j]) continue outer;
    return i;
  }
  return -1;
}
