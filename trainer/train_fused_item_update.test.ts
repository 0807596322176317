// The training step's fused item update (kernels/optim/item_adam via trainer/item_gradients
// fusedItemUpdate): on the gathered loss path it must train exactly as the unfused passes do (same
// losses, same bits of every parameter and of the item table), and it must really run (counted
// dispatches); with gradient clipping or HSTU_ITEM_UPDATE=unfused the unfused passes run.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createGpu, Recorder, setFlags, type Gpu, type KernelSource } from '../kernels/gpu/index.js';
import { tinyRunConfig, tinyRunData } from './tiny_run.js';
import { train } from './train.js';

let gpu: Gpu;
beforeAll(async () => (gpu = await createGpu()));
afterAll(() => gpu?.dispose());
afterEach(() => setFlags({ itemUpdate: 'auto' }));

/** Trains and counts the dispatches of each kernel name. */
async function run(itemUpdate: 'auto' | 'unfused', overrides: Record<string, unknown> = {}) {
  setFlags({ itemUpdate });
  const counts = new Map<string, number>();
  const proto = Recorder.prototype as unknown as { dispatch: (this: Recorder, k: KernelSource, ...rest: unknown[]) => Recorder };
  const orig = proto.dispatch;
  proto.dispatch = function (this: Recorder, k: KernelSource, ...rest: unknown[]) {
    counts.set(k.name, (counts.get(k.name) ?? 0) + 1);
    return orig.call(this, k, ...rest);
  };
  try {
    const r = await train({ config: tinyRunConfig({ sampledSoftmaxPath: 'gathered', epochs: 1, ...overrides }), data: tinyRunData(), gpu, noEval: true, log: () => undefined });
    return { ...r, counts };
  } finally {
    proto.dispatch = orig;
  }
}

describe('fused item update in training', () => {
  it('same losses and parameter bits as the unfused passes (gathered loss, d = 16), and it runs', async () => {
    const a = await run('unfused');
    const b = await run('auto');
    expect(a.counts.get('optim_item_adam') ?? 0).toBe(0);
    expect(b.counts.get('optim_item_adam')).toBe(b.step);
    expect(b.counts.get('optim_rowwise_fused_vec4') ?? 0).toBe(0);
    expect(b.losses).toEqual(a.losses);
    expect([...b.params.keys()].sort()).toEqual([...a.params.keys()].sort());
    for (const [name, w] of a.params) expect(Buffer.from(b.params.get(name)!.buffer).equals(Buffer.from(w.buffer)), name).toBe(true);
  });

  it('gradient clipping keeps the unfused passes (the clip needs the item gradient norm first)', async () => {
    const b = await run('auto', { gradClipNorm: 1 });
    expect(b.counts.get('optim_item_adam') ?? 0).toBe(0);
    expect(b.counts.get('optim_rowwise_fused_vec4')).toBe(b.step);
  });

  it('a bad HSTU_ITEM_UPDATE is refused with a hint', async () => {
    setFlags({ itemUpdate: 'fast' });
    await expect(train({ config: tinyRunConfig({ sampledSoftmaxPath: 'gathered', epochs: 1 }), data: tinyRunData(), gpu, noEval: true, log: () => undefined })).rejects.toThrow(/HSTU_ITEM_UPDATE: expected 'auto' or 'unfused', got 'fast'.*HINT/);
  });
});
