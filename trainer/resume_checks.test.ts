// A retrieval resume whose checkpoint step is not inside its epoch for this run's batch count is
// refused (the batches to skip would be the wrong ones), as the ranking trainer already did; a
// format-1 checkpoint resumed for zero steps is rewritten with checksums (the README's hint).
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createGpu, type Gpu } from '../kernels/gpu/index.js';
import protobuf from 'protobufjs';
import { decodeCheckpoint, FILE_MAGIC, loadCheckpoint, PROTO_MAGIC, type Blob, type CheckpointData } from './checkpoint.js';
import { train } from './train.js';
import { tinyRunConfig, tinyRunData } from './tiny_run.js';

let gpu: Gpu;
beforeAll(async () => (gpu = await createGpu()));
afterAll(() => gpu?.dispose());

describe('retrieval resume checks', () => {
  it('refuses a checkpoint whose step is outside its epoch for this batch size, with a hint', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hstu-resume-'));
    await train({ config: tinyRunConfig(), data: tinyRunData(), outDir: dir, maxSteps: 4, noEval: true, log: () => {}, gpu });
    const resume = join(dir, 'checkpoint.hstu');
    await expect(train({ config: tinyRunConfig({ batchSize: 200 }), data: tinyRunData(), resume, maxSteps: 6, noEval: true, log: () => {}, gpu }))
      .rejects.toThrow(/step 4 is not inside epoch 0 of 1 steps.*HINT: resume with the batchSize/);
  });
});

/** What format 1 wrote: the same manifest without checksums. */
function encodeV1(c: CheckpointData): Uint8Array {
  const type = protobuf.loadSync(new URL('./proto/checkpoint.proto', import.meta.url).pathname).lookupType('hstu.Checkpoint');
  const blob = (b: Blob) => ({ name: b.name, shape: b.shape, dtype: b.dtype, data: new Uint8Array(b.data.buffer, b.data.byteOffset, b.data.byteLength) });
  const body = type.encode(type.create({
    magic: PROTO_MAGIC, version: 1, task: c.task, configJson: JSON.stringify(c.config), step: c.step, epoch: c.epoch,
    params: c.params.map(blob), optimizerState: c.optimizerState.map(blob), itemRawIds: c.itemRawIds, trainerStateJson: JSON.stringify(c.trainerState),
  })).finish();
  return Buffer.concat([Buffer.from(FILE_MAGIC), body]);
}

describe('format-1 checkpoints', () => {
  it('resuming one for zero steps rewrites it with checksums, the same tensors', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hstu-v1-'));
    await train({ config: tinyRunConfig(), data: tinyRunData(), outDir: dir, maxSteps: 4, noEval: true, log: () => {}, gpu });
    const path = join(dir, 'checkpoint.hstu');
    const v2 = loadCheckpoint(path);
    writeFileSync(path, encodeV1(v2));
    const warnings: string[] = [];
    decodeCheckpoint(readFileSync(path), path, (l) => warnings.push(l));
    expect(warnings[0]).toMatch(/format-1 checkpoint without checksums/);
    await train({ config: tinyRunConfig(), data: tinyRunData(), outDir: dir, resume: path, maxSteps: 4, noEval: true, log: () => {}, gpu });
    const again = decodeCheckpoint(readFileSync(path), path, (l) => warnings.push(l));
    expect(warnings).toHaveLength(1); // no warning: format 2 again
    expect(again.step).toBe(4);
    for (const [i, b] of v2.params.entries()) expect(Buffer.from(again.params[i]!.data.buffer).equals(Buffer.from(b.data.buffer)), b.name).toBe(true);
  });
});
