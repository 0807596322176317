// Checkpoints: a protobuf manifest (trainer/proto/checkpoint.proto) behind an 8-byte magic, written
// atomically (temp file in the same directory, fsync, rename) so a crash never leaves a torn file.
import { closeSync, fsyncSync, openSync, readFileSync, renameSync, writeSync, unlinkSync } from 'node:fs';
import { dirname, basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import protobuf from 'protobufjs';
import { applyOverrides, defaultConfig, type Config } from '../model/config.js';

export const FILE_MAGIC = 'HSTUCKPT';
export const PROTO_MAGIC = 0x48535455;
export const FORMAT_VERSION = 1;

export type BlobDType = 'f32' | 'u32' | 'i32';
export interface Blob {
  name: string;
  shape: number[];
  dtype: BlobDType;
  data: Float32Array | Uint32Array | Int32Array;
}

export interface CheckpointData {
  task: 'retrieval' | 'ranking';
  config: Record<string, unknown>;
  step: number;
  epoch: number;
  params: Blob[];
  optimizerState: Blob[];
  itemRawIds: string[];
  trainerState: Record<string, unknown>;
}

const PROTO_PATH = fileURLToPath(new URL('./proto/checkpoint.proto', import.meta.url));
let messageType: protobuf.Type | undefined;
function checkpointType(): protobuf.Type {
  messageType ??= protobuf.loadSync(PROTO_PATH).lookupType('hstu.Checkpoint');
  return messageType;
}

function toBytes(b: Blob): Uint8Array {
  const expected = b.shape.reduce((a, s) => a * s, 1);
  if (b.data.length !== expected) throw new Error(`checkpoint tensor ${b.name}: expected ${expected} values for shape [${b.shape}], got ${b.data.length}`);
  return new Uint8Array(b.data.buffer, b.data.byteOffset, b.data.byteLength);
}

function fromBytes(name: string, shape: number[], dtype: string, bytes: Uint8Array, path: string): Blob {
  const copy = new Uint8Array(bytes).buffer; // an aligned copy of exactly these bytes (Buffer.slice would share memory)
  const data = dtype === 'f32' ? new Float32Array(copy) : dtype === 'u32' ? new Uint32Array(copy) : dtype === 'i32' ? new Int32Array(copy) : null;
  if (!data) throw new Error(`${path}: tensor ${name} has unknown dtype "${dtype}". HINT: the file was written by a newer version of hstu-webgpu.`);
  const expected = shape.reduce((a, s) => a * s, 1);
  if (data.length !== expected) throw new Error(`${path}: tensor ${name} holds ${data.length} values, shape [${shape}] needs ${expected}. HINT: the file is damaged; use another checkpoint.`);
  return { name, shape, dtype: dtype as BlobDType, data };
}

export function encodeCheckpoint(c: CheckpointData): Uint8Array {
  const type = checkpointType();
  const blob = (b: Blob) => ({ name: b.name, shape: b.shape, dtype: b.dtype, data: toBytes(b) });
  const msg = type.create({
    magic: PROTO_MAGIC,
    version: FORMAT_VERSION,
    task: c.task,
    configJson: JSON.stringify(c.config),
    step: c.step,
    epoch: c.epoch,
    params: c.params.map(blob),
    optimizerState: c.optimizerState.map(blob),
    itemRawIds: c.itemRawIds,
    trainerStateJson: JSON.stringify(c.trainerState),
  });
  const body = type.encode(msg).finish();
  const out = new Uint8Array(FILE_MAGIC.length + body.length);
  out.set(new TextEncoder().encode(FILE_MAGIC), 0);
  out.set(body, FILE_MAGIC.length);
  return out;
}

export function decodeCheckpoint(bytes: Uint8Array, path = 'checkpoint'): CheckpointData {
  const head = new TextDecoder().decode(bytes.subarray(0, FILE_MAGIC.length));
  if (head !== FILE_MAGIC) throw new Error(`${path}: not an hstu-webgpu checkpoint (magic "${head.replace(/[^\x20-\x7e]/g, '?')}", expected "${FILE_MAGIC}"). HINT: pass a file written by \`npm run train\` (<out>/checkpoint.hstu).`);
  let m: Record<string, unknown>;
  try {
    const type = checkpointType();
    m = type.toObject(type.decode(bytes.subarray(FILE_MAGIC.length)), { longs: Number, bytes: Uint8Array, defaults: true }) as Record<string, unknown>;
  } catch (e) {
    throw new Error(`${path}: checkpoint is damaged (${(e as Error).message}). HINT: the file may be truncated; use an earlier checkpoint.`);
  }
  if (m.magic !== PROTO_MAGIC) throw new Error(`${path}: bad manifest magic ${m.magic}. HINT: the file is damaged.`);
  if (m.version !== FORMAT_VERSION) throw new Error(`${path}: checkpoint format version ${m.version}, this build reads ${FORMAT_VERSION}. HINT: use the hstu-webgpu version that wrote it.`);
  const blobs = (xs: unknown) => (xs as { name: string; shape: number[]; dtype: string; data: Uint8Array }[]).map((b) => fromBytes(b.name, b.shape, b.dtype, b.data, path));
  const task = m.task as string;
  if (task !== 'retrieval' && task !== 'ranking') throw new Error(`${path}: unknown task "${task}". HINT: the file is damaged or from a newer version.`);
  return {
    task,
    config: JSON.parse(m.configJson as string) as Record<string, unknown>,
    step: m.step as number,
    epoch: m.epoch as number,
    params: blobs(m.params),
    optimizerState: blobs(m.optimizerState),
    itemRawIds: m.itemRawIds as string[],
    trainerState: JSON.parse((m.trainerStateJson as string) || '{}') as Record<string, unknown>,
  };
}

/** Writes atomically: a temp file beside the target, fsync, then rename over it. */
export function saveCheckpoint(path: string, c: CheckpointData): void {
  const bytes = encodeCheckpoint(c);
  const tmp = join(dirname(path), `.${basename(path)}.tmp-${process.pid}`);
  const fd = openSync(tmp, 'w');
  try {
    writeSync(fd, bytes);
    fsyncSync(fd);
  } catch (e) {
    closeSync(fd);
    unlinkSync(tmp);
    throw e;
  }
  closeSync(fd);
  renameSync(tmp, path);
}

export function loadCheckpoint(path: string): CheckpointData {
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(path);
  } catch (e) {
    throw new Error(`cannot read checkpoint ${path}: ${(e as Error).message}. HINT: check the path; training writes <out>/checkpoint.hstu.`);
  }
  return decodeCheckpoint(bytes, path);
}

/** Config keys that define the model function or its tensors: a resume must keep every one. */
export const MODEL_KEYS = [
  'task', 'model', 'maxLen', 'dim', 'numLayers', 'numHeads', 'dqk', 'dv', 'attnAlpha', 'useRab', 'normalizeByLength',
  'siluOnUOnly', 'outputFromUOAndGate', 'embeddingOptimizer', 'embeddingBf16', 'numActions', 'headHidden',
] as const satisfies readonly (keyof Config)[];

/** Checks that a run of config `c` may continue checkpoint `ck`: refuses (with a HINT) a differing
 *  model-defining key, and returns the other keys that differ, shown as "key (checkpoint x, now y)"
 *  (the continuation then is not what a straight run would have done). */
export function checkResumeConfig(ck: CheckpointData, c: Config, where: string): string[] {
  const saved = applyOverrides(defaultConfig, ck.config, ` in ${where}`);
  const show = (k: keyof Config) => `${k} (checkpoint ${JSON.stringify(saved[k])}, now ${JSON.stringify(c[k])})`;
  const differ = (Object.keys(saved) as (keyof Config)[]).filter((k) => JSON.stringify(saved[k]) !== JSON.stringify(c[k]));
  const modelDiffer = differ.filter((k) => (MODEL_KEYS as readonly string[]).includes(k));
  if (modelDiffer.length) throw new Error(`${where}: was trained with another model shape: ${modelDiffer.map(show).join(', ')}. HINT: resume with the config the checkpoint was trained with (the same --config file and --key=value overrides).`);
  return differ.map(show);
}
