// Checkpoints: a protobuf manifest (trainer/proto/checkpoint.proto) behind an 8-byte magic, written
// atomically (temp file in the same directory, fsync, rename, directory fsync) so a crash never
// leaves a torn file; checksummed (trainer/checkpoint_integrity.ts) and validated at every load
// (trainer/checkpoint_validate.ts), so a damaged or unusable file is refused, never used.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import protobuf from 'protobufjs';
import { applyOverrides, defaultConfig, type Config } from '../model/config.js';
import { writeFileAtomic } from './atomic_write.js';
import { appendBodyCrc, bodyCrcStatus, headerCrc } from './checkpoint_integrity.js';
import { validateCheckpoint } from './checkpoint_validate.js';
import { crc32c, hex32 } from './checksum.js';

export const FILE_MAGIC = 'HSTUCKPT';
export const PROTO_MAGIC = 0x48535455;
/** 2: per-tensor, header and file CRC32C checksums (trainer/checkpoint_integrity.ts). 1 (no
 *  checksums) still loads, with a warning. */
export const FORMAT_VERSION = 2;

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
  const blob = (b: Blob) => {
    const data = toBytes(b);
    return { name: b.name, shape: b.shape, dtype: b.dtype, data, crc32c: crc32c(data) };
  };
  const params = c.params.map(blob), optimizerState = c.optimizerState.map(blob);
  const meta = (b: ReturnType<typeof blob>) => ({ name: b.name, shape: b.shape, dtype: b.dtype, byteLength: b.data.byteLength, crc32c: b.crc32c });
  const header = {
    version: FORMAT_VERSION,
    task: c.task,
    configJson: JSON.stringify(c.config),
    step: c.step,
    epoch: c.epoch,
    itemRawIds: c.itemRawIds,
    trainerStateJson: JSON.stringify(c.trainerState),
  };
  const msg = type.create({
    magic: PROTO_MAGIC,
    ...header,
    params,
    optimizerState,
    headerCrc32c: headerCrc({ ...header, params: params.map(meta), optimizerState: optimizerState.map(meta) }),
  });
  const body = type.encode(msg).finish();
  const out = new Uint8Array(FILE_MAGIC.length + body.length);
  out.set(new TextEncoder().encode(FILE_MAGIC), 0);
  out.set(body, FILE_MAGIC.length);
  return appendBodyCrc(out);
}

type DecodedBlob = { name: string; shape: number[]; dtype: string; data: Uint8Array; crc32c: number };
const has = (o: object, k: string) => Object.prototype.hasOwnProperty.call(o, k);

/** Checks a format-2 manifest's checksums, naming what is damaged (the header, which tensor, or
 *  the framing around them). */
function verifyChecksums(msg: protobuf.Message, m: Record<string, unknown>, body: 'absent' | 'ok' | 'mismatch', path: string): void {
  const damaged = (what: string) => new Error(`${path}: checkpoint is damaged: ${what}. HINT: the file was corrupted on disk or in transfer; use another copy or an earlier checkpoint (<out>/best.hstu or <out>/checkpoint.hstu), or retrain.`);
  const raw = msg as unknown as { params: object[]; optimizerState: object[] };
  if (!has(msg, 'headerCrc32c')) throw damaged('its header checksum is missing');
  for (const b of [...raw.params, ...raw.optimizerState]) if (!has(b, 'crc32c')) throw damaged(`tensor ${(b as { name: string }).name} has no checksum`);
  const params = m.params as DecodedBlob[], optimizerState = m.optimizerState as DecodedBlob[];
  const meta = (b: DecodedBlob) => ({ name: b.name, shape: b.shape, dtype: b.dtype, byteLength: b.data.byteLength, crc32c: b.crc32c });
  const expected = headerCrc({
    version: m.version as number, task: m.task as string, configJson: m.configJson as string, step: m.step as number, epoch: m.epoch as number,
    itemRawIds: m.itemRawIds as string[], trainerStateJson: m.trainerStateJson as string, params: params.map(meta), optimizerState: optimizerState.map(meta),
  });
  if (expected !== m.headerCrc32c) throw damaged(`its header (task, config, step, epoch, item id map, trainer state or tensor list) fails its checksum (stored ${hex32(m.headerCrc32c as number)}, computed ${hex32(expected)})`);
  // A matching file checksum proves every byte is as written, the tensors' with their CRCs, so
  // those are recomputed only to name the damage when it fails (one pass over the data, not two).
  if (body === 'ok') return;
  for (const b of [...params, ...optimizerState]) {
    const got = crc32c(b.data);
    if (got !== b.crc32c) throw damaged(`tensor ${b.name} [${b.shape}] fails its checksum (stored ${hex32(b.crc32c)}, computed ${hex32(got)})`);
  }
  throw damaged(body === 'absent' ? 'it is truncated (the closing file checksum is missing)' : 'the file checksum does not match (the damage is in the protobuf framing)');
}

/** Decodes and verifies a checkpoint file's bytes: checksums (format 2), then the contents
 *  (trainer/checkpoint_validate.ts). Format-1 files (no checksums) load with a warning via `warn`. */
export function decodeCheckpoint(bytes: Uint8Array, path = 'checkpoint', warn: (line: string) => void = (l) => console.warn(l)): CheckpointData {
  const head = new TextDecoder().decode(bytes.subarray(0, FILE_MAGIC.length));
  if (head !== FILE_MAGIC) throw new Error(`${path}: not an hstu-webgpu checkpoint (magic "${head.replace(/[^\x20-\x7e]/g, '?')}", expected "${FILE_MAGIC}"). HINT: pass a file written by \`npm run train\` (<out>/checkpoint.hstu).`);
  const body = bodyCrcStatus(bytes, FILE_MAGIC.length);
  const bodyNote = body === 'mismatch' ? '; its file checksum does not match either' : '';
  let msg: protobuf.Message;
  let m: Record<string, unknown>;
  try {
    const type = checkpointType();
    msg = type.decode(bytes.subarray(FILE_MAGIC.length));
    m = type.toObject(msg, { longs: Number, bytes: Uint8Array, defaults: true }) as Record<string, unknown>;
  } catch (e) {
    throw new Error(`${path}: checkpoint is damaged (${(e as Error).message}${bodyNote}). HINT: the file may be truncated or corrupted; use an earlier checkpoint.`);
  }
  if (m.magic !== PROTO_MAGIC) throw new Error(`${path}: bad manifest magic ${m.magic}${bodyNote}. HINT: the file is damaged.`);
  if (m.version === 1) {
    const raw = msg as unknown as { params: object[]; optimizerState: object[] };
    // (Only a matching file checksum counts: a format-1 file may end in a byte that looks like its tag.)
    if (body === 'ok' || has(msg, 'headerCrc32c') || [...raw.params, ...raw.optimizerState].some((b) => has(b, 'crc32c'))) {
      throw new Error(`${path}: checkpoint is damaged: it says format 1 but carries format-2 checksums. HINT: use another copy or an earlier checkpoint.`);
    }
    warn(`warning: ${path} is a format-1 checkpoint without checksums, so damage to it cannot be detected (its tensors, item ids and trainer state are still checked). HINT: resuming it (--resume ${path} --max-steps=<its step> --out <dir>) rewrites <dir>/checkpoint.hstu with checksums.`);
  } else if (m.version !== FORMAT_VERSION) {
    if (body !== 'ok') throw new Error(`${path}: checkpoint is damaged (format version field reads ${m.version}${bodyNote}). HINT: use another copy or an earlier checkpoint.`);
    throw new Error(`${path}: checkpoint format version ${m.version}, this build reads 1 and ${FORMAT_VERSION}. HINT: use the hstu-webgpu version that wrote it.`);
  } else verifyChecksums(msg, m, body, path);
  const blobs = (xs: unknown) => (xs as DecodedBlob[]).map((b) => fromBytes(b.name, b.shape, b.dtype, b.data, path));
  const task = m.task as string;
  if (task !== 'retrieval' && task !== 'ranking') throw new Error(`${path}: unknown task "${task}". HINT: the file is damaged or from a newer version.`);
  const json = (field: string, text: string): Record<string, unknown> => {
    try {
      return JSON.parse(text) as Record<string, unknown>;
    } catch (e) {
      throw new Error(`${path}: checkpoint is damaged: its ${field} is not JSON (${(e as Error).message}). HINT: use another copy or an earlier checkpoint.`);
    }
  };
  const c: CheckpointData = {
    task,
    config: json('config', m.configJson as string),
    step: m.step as number,
    epoch: m.epoch as number,
    params: blobs(m.params),
    optimizerState: blobs(m.optimizerState),
    itemRawIds: m.itemRawIds as string[],
    trainerState: json('trainer state', (m.trainerStateJson as string) || '{}'),
  };
  validateCheckpoint(c, path);
  return c;
}

/** Writes atomically and durably: a temp file beside the target, fsync, rename, fsync of the directory. */
export function saveCheckpoint(path: string, c: CheckpointData): void {
  writeFileAtomic(path, encodeCheckpoint(c));
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
  // How items are scored (cosine or dot): a checkpoint trained for one ranks wrongly under the other.
  'similarity',
  // Which pos_emb row each token reads: a checkpoint trained at one anchor is another function at the other.
  'positionAnchor',
] as const satisfies readonly (keyof Config)[];

/** Checks that a run of config `c` may continue checkpoint `ck`: refuses (with a HINT) a differing
 *  model-defining key, and returns the other keys that differ, shown as "key (checkpoint x, now y)"
 *  (the continuation then is not what a straight run would have done). */
export function checkResumeConfig(ck: CheckpointData, c: Config, where: string): string[] {
  const saved = applyOverrides(defaultConfig, ck.config, ` in ${where}`);
  const show = (k: keyof Config) => `${k} (checkpoint ${JSON.stringify(saved[k])}, now ${JSON.stringify(c[k])})`;
  // Where the table lives (a cluster's address, a run's table name) does not change the numbers.
  const placement: (keyof Config)[] = ['redisAddress', 'redisTable'];
  const differ = (Object.keys(saved) as (keyof Config)[]).filter((k) => !placement.includes(k) && JSON.stringify(saved[k]) !== JSON.stringify(c[k]));
  const modelDiffer = differ.filter((k) => (MODEL_KEYS as readonly string[]).includes(k));
  if (modelDiffer.length) throw new Error(`${where}: was trained with another model shape: ${modelDiffer.map(show).join(', ')}. HINT: resume with the config the checkpoint was trained with (the same --config file and --key=value overrides).`);
  return differ.map(show);
}
