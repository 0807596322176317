// Damaged checkpoints are refused at load, never used: every single-bit flip of a small file,
// zeroed 4 KiB blocks, truncation at every length, a flipped task flag, duplicated raw item ids,
// non-finite tensors and trainer state out of range; format-1 files (no checksums) load with a
// warning. Each case here loaded silently before checkpoints carried checksums (issue 16, item 2).
import { readFileSync } from 'node:fs';
import protobuf from 'protobufjs';
import { describe, expect, it } from 'vitest';
import { decodeCheckpoint, encodeCheckpoint, FILE_MAGIC, PROTO_MAGIC, type Blob, type CheckpointData } from './checkpoint.js';
import { appendBodyCrc } from './checkpoint_integrity.js';
import { checkStepInEpoch } from './checkpoint_validate.js';

/** Deterministic nonzero finite values (zeroing or flipping any byte changes the tensor). */
function values(n: number, seed: number): Float32Array {
  let s = seed >>> 0;
  return Float32Array.from({ length: n }, () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return ((s >>> 8) / (1 << 24) - 0.5) * 0.2 + (s & 1 ? 1e-3 : -1e-3);
  });
}

/** A retrieval-shaped checkpoint: `rows` items of dim `d`, one dense tensor, Adam state, trainer
 *  state with model selection and metrics history. */
function small(rows = 6, d = 4, dense = 8): CheckpointData {
  const t = (name: string, shape: number[], seed: number): Blob => ({ name, shape, dtype: 'f32', data: values(shape.reduce((a, b) => a * b, 1), seed) });
  const v = { split: 'validation', epoch: 1, 'ndcg@10': 0.25, count: 40 };
  return {
    task: 'retrieval',
    config: { task: 'retrieval', model: 'hstu', dim: d, epochs: 3 },
    step: 9,
    epoch: 2,
    params: [t('item_emb', [rows, d], 1), t('pos_emb', [dense], 2)],
    optimizerState: [t('item_emb.m', [rows, d], 3), t('item_emb.v', [rows], 4), t('pos_emb.m', [dense], 5), t('pos_emb.v', [dense], 6)],
    itemRawIds: ['<pad>', ...Array.from({ length: rows - 1 }, (_, i) => String(100 + i))],
    trainerState: { best: v, test: { ...v, split: 'test' }, sinceBest: 1, trainTokens: 1234, trainSecs: 0.5, metrics: [v, { ...v, epoch: 2 }] },
  };
}

const quiet = () => {};
const decode = (b: Uint8Array) => decodeCheckpoint(b, 'ck.hstu', quiet);

/** Outcome of loading damaged bytes: refused with a HINT, harmless (decodes to exactly the
 *  original), or silently wrong. */
function outcome(damaged: Uint8Array, original: CheckpointData): 'refused' | 'harmless' | 'silent' {
  let d: CheckpointData;
  try {
    d = decode(damaged);
  } catch (e) {
    if (!/HINT/.test((e as Error).message)) throw new Error(`refused without a HINT: ${(e as Error).message}`);
    return 'refused';
  }
  const same = (a: Blob[], b: Blob[]) => a.length === b.length && a.every((x, i) => x.name === b[i]!.name && x.shape.join() === b[i]!.shape.join() && Buffer.from(x.data.buffer, x.data.byteOffset, x.data.byteLength).equals(Buffer.from(b[i]!.data.buffer, b[i]!.data.byteOffset, b[i]!.data.byteLength)));
  const meta = (c: CheckpointData) => JSON.stringify([c.task, c.config, c.step, c.epoch, c.itemRawIds, c.trainerState]);
  return meta(d) === meta(original) && same(d.params, original.params) && same(d.optimizerState, original.optimizerState) ? 'harmless' : 'silent';
}

const protoType = () => protobuf.loadSync(new URL('./proto/checkpoint.proto', import.meta.url).pathname).lookupType('hstu.Checkpoint');

/** Decodes the manifest, lets `edit` change it, re-encodes; `fixBody` recomputes the file checksum
 *  (so only the inner checksums can catch the edit). */
function reencode(bytes: Uint8Array, edit: (m: Record<string, unknown>) => void, fixBody = true): Uint8Array {
  const type = protoType();
  const m = type.toObject(type.decode(bytes.subarray(FILE_MAGIC.length, bytes.length - 5)), { longs: Number, bytes: Uint8Array }) as Record<string, unknown>;
  edit(m);
  const body = type.encode(type.fromObject(m)).finish();
  const out = new Uint8Array(FILE_MAGIC.length + body.length);
  out.set(bytes.subarray(0, FILE_MAGIC.length));
  out.set(body, FILE_MAGIC.length);
  if (fixBody) return appendBodyCrc(out);
  const tail = bytes.subarray(bytes.length - 5);
  const o2 = new Uint8Array(out.length + 5);
  o2.set(out);
  o2.set(tail, out.length);
  return o2;
}

describe('checkpoint checksums', () => {
  it('round-trips (the checksums do not change what loads)', () => {
    const c = small();
    const bytes = encodeCheckpoint(c);
    expect(outcome(bytes, c)).toBe('harmless');
  });

  it('refuses every single-bit flip of a small checkpoint', () => {
    const c = small();
    const bytes = encodeCheckpoint(c);
    expect(bytes.length).toBeGreaterThan(700);
    const counts = { refused: 0, harmless: 0, silent: 0 };
    const notRefused: string[] = [];
    for (let bit = 0; bit < bytes.length * 8; bit++) {
      const d = new Uint8Array(bytes);
      d[bit >> 3]! ^= 1 << (bit & 7);
      const o = outcome(d, c);
      counts[o]++;
      if (o !== 'refused') notRefused.push(`byte ${bit >> 3} bit ${bit & 7}: ${o}`);
    }
    expect(notRefused.slice(0, 10)).toEqual([]);
    expect(counts.refused).toBe(bytes.length * 8);
  });

  it('names the damaged tensor, or the header, in the error', () => {
    const c = small();
    const bytes = encodeCheckpoint(c);
    const at = (s: string) => Buffer.from(bytes).indexOf(Buffer.from(s)); // first occurrence
    // A byte inside pos_emb.v's data: the data follows its name, shape and dtype.
    const d = new Uint8Array(bytes);
    const posV = Buffer.from(bytes).indexOf(Buffer.from('pos_emb.v'));
    d[posV + 20]! ^= 0x10;
    expect(() => decode(d)).toThrow(/tensor pos_emb\.v \[8\] fails its checksum.*HINT/);
    const e = new Uint8Array(bytes);
    e[at('"epochs":3') + 9]! ^= 0x01; // "epochs":3 → "epochs":2
    expect(() => decode(e)).toThrow(/its header \(task, config, step.*fails its checksum.*HINT/);
  });

  it('refuses zeroed 4 KiB blocks anywhere in a larger checkpoint', () => {
    const c = small(300, 16, 200); // ~60 KB
    const bytes = encodeCheckpoint(c);
    expect(bytes.length).toBeGreaterThan(40_000);
    let tried = 0;
    for (let off = 0; off < bytes.length; off += 1024) { // aligned 4 KiB blocks and blocks straddling them
      const d = new Uint8Array(bytes);
      d.fill(0, off, Math.min(off + 4096, d.length));
      expect(outcome(d, c), `zeroed [${off}, ${off + 4096})`).toBe('refused');
      tried++;
    }
    expect(tried).toBeGreaterThan(40);
  });

  it('refuses the file truncated at every length', () => {
    const c = small();
    const bytes = encodeCheckpoint(c);
    for (let n = 0; n < bytes.length; n++) expect(outcome(bytes.subarray(0, n), c), `first ${n} bytes`).toBe('refused');
  });

  it('refuses a flipped task flag: by the header checksum, and by the config when the checksum was recomputed', () => {
    const c = { ...small(), task: 'ranking' as const, config: { ...small().config, task: 'ranking' } };
    const bytes = encodeCheckpoint(c);
    const flipped = reencode(bytes, (m) => (m.task = 'retrieval'));
    expect(() => decode(flipped)).toThrow(/its header .* fails its checksum.*HINT/);
    // A deliberate edit that also rewrote every checksum still disagrees with the config.
    const edited = encodeCheckpoint({ ...c, task: 'retrieval' });
    expect(() => decode(edited)).toThrow(/task flag says 'retrieval' but the config says 'ranking'.*HINT/);
  });

  it('refuses duplicated raw item ids, and an item table that does not match the id map', () => {
    const c = small();
    const dup = { ...c, itemRawIds: c.itemRawIds.map((id, i) => (i === 4 ? c.itemRawIds[2]! : id)) };
    expect(() => decode(encodeCheckpoint(dup))).toThrow(/raw item id "101" maps to two dense ids \(2 and 4\).*HINT/);
    const flippedId = reencode(encodeCheckpoint(c), (m) => ((m.itemRawIds as string[])[4] = '101'));
    expect(() => decode(flippedId)).toThrow(/its header .* fails its checksum/);
    expect(() => decode(encodeCheckpoint({ ...c, itemRawIds: c.itemRawIds.slice(0, -1) }))).toThrow(/item table has 6 rows but the item id map has 5 ids.*HINT/);
  });

  it('refuses non-finite tensors, naming the tensor and the first bad value', () => {
    for (const [group, index, bad] of [['params', 1, NaN], ['params', 0, Infinity], ['optimizerState', 1, -Infinity]] as const) {
      const c = small();
      const b = c[group][index]!;
      (b.data as Float32Array)[3] = bad;
      expect(() => decode(encodeCheckpoint(c))).toThrow(new RegExp(`tensor ${b.name.replace('.', '\\.')} holds 1 non-finite value \\(the first, ${bad}, at flat index 3 .*HINT`));
    }
  });

  it('refuses trainer state out of range or inconsistent', () => {
    const c = small();
    const st = c.trainerState as Record<string, unknown>;
    const cases: [Partial<CheckpointData>, RegExp][] = [
      [{ step: 1 }, /step 1 is below epoch 2/],
      [{ epoch: 4, step: 20 }, /epoch 4 is beyond the config's 3 epochs/],
      [{ trainerState: { ...st, sinceBest: -1 } }, /sinceBest -1 is not an integer in \[0, epoch 2\]/],
      [{ trainerState: { ...st, best: { epoch: 3 }, test: { epoch: 3 } } }, /best is not a record of an epoch in \[1, 2\]/],
      [{ trainerState: { ...st, best: undefined } }, /test record but no best/],
      [{ trainerState: { ...st, test: { epoch: 2 } } }, /test record is of epoch 2, its best validation epoch is 1/],
      [{ trainerState: { ...st, trainSecs: -3 } }, /trainSecs -3 is not a finite number/],
      [{ trainerState: { ...st, metrics: [{ split: 'validation', epoch: 1 }, { split: 'validation', epoch: 1 }] } }, /metrics\[1\] repeats or goes back to epoch 1/],
    ];
    for (const [over, re] of cases) expect(() => decode(encodeCheckpoint({ ...c, ...over })), String(re)).toThrow(new RegExp(`${re.source}.*HINT`));
  });

  it('refuses a resume whose step is not inside its epoch', () => {
    expect(() => checkStepInEpoch(12, 2, 6, 'ck')).not.toThrow();
    expect(() => checkStepInEpoch(17, 2, 6, 'ck')).not.toThrow();
    expect(() => checkStepInEpoch(18, 2, 6, 'ck')).toThrow(/step 18 is not inside epoch 2 of 6 steps.*HINT/);
    expect(() => checkStepInEpoch(11, 2, 6, 'ck')).toThrow(/not inside epoch/);
  });
});

describe('format versions', () => {
  /** What format 1 wrote: the same manifest without any checksum. */
  function encodeV1(c: CheckpointData): Uint8Array {
    const type = protoType();
    const blob = (b: Blob) => ({ name: b.name, shape: b.shape, dtype: b.dtype, data: new Uint8Array(b.data.buffer, b.data.byteOffset, b.data.byteLength) });
    const body = type.encode(type.create({
      magic: PROTO_MAGIC, version: 1, task: c.task, configJson: JSON.stringify(c.config), step: c.step, epoch: c.epoch,
      params: c.params.map(blob), optimizerState: c.optimizerState.map(blob), itemRawIds: c.itemRawIds, trainerStateJson: JSON.stringify(c.trainerState),
    })).finish();
    return Buffer.concat([Buffer.from(FILE_MAGIC), body]);
  }

  it('loads a format-1 checkpoint with a warning, and still checks its contents', () => {
    const c = small();
    const warnings: string[] = [];
    const d = decodeCheckpoint(encodeV1(c), 'old.hstu', (l) => warnings.push(l));
    expect(d.itemRawIds).toEqual(c.itemRawIds);
    expect(Array.from(d.params[0]!.data)).toEqual(Array.from(c.params[0]!.data));
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/old\.hstu is a format-1 checkpoint without checksums.*HINT/);
    const dup = { ...c, itemRawIds: c.itemRawIds.map((id, i) => (i === 3 ? c.itemRawIds[1]! : id)) };
    expect(() => decodeCheckpoint(encodeV1(dup), 'old.hstu', quiet)).toThrow(/maps to two dense ids/);
    expect(() => decodeCheckpoint(encodeV1({ ...c, config: null as unknown as Record<string, unknown> }), 'old.hstu', quiet)).toThrow(/the config is not an object.*HINT/);
    // A format-1 file whose 5th-last byte happens to be the file checksum's tag ('}' of nested JSON) still loads.
    const nested = encodeV1({ ...c, trainerState: { ...c.trainerState, x: { y: { z: { w: { v: 1 } } } } } });
    expect(nested[nested.length - 5]).toBe(0x7d);
    expect(decodeCheckpoint(nested, 'old.hstu', quiet).trainerState.x).toEqual({ y: { z: { w: { v: 1 } } } });
  });

  it('refuses a format-1 header on a file that carries checksums, and names a newer format', () => {
    const bytes = encodeCheckpoint(small());
    expect(() => decode(reencode(bytes, (m) => (m.version = 1)))).toThrow(/says format 1 but carries format-2 checksums.*HINT/);
    expect(() => decode(reencode(bytes, (m) => (m.version = 3)))).toThrow(/format version 3, this build reads 1 and 2.*HINT: use the hstu-webgpu version that wrote it/);
    expect(() => decode(reencode(bytes, (m) => (m.version = 3), false))).toThrow(/damaged \(format version field reads 3/);
  });

  it('a written file starts with the magic and ends with the file checksum field', () => {
    const bytes = encodeCheckpoint(small());
    expect(Buffer.from(bytes.subarray(0, 8)).toString()).toBe(FILE_MAGIC);
    expect(bytes[bytes.length - 5]).toBe((15 << 3) | 5);
    expect(readFileSync(new URL('./proto/checkpoint.proto', import.meta.url), 'utf8')).toMatch(/fixed32 body_crc32c = 15;/);
  });
});
