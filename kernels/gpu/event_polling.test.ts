import { afterEach, describe, expect, it, vi } from 'vitest';
import { createGpu } from './device.js';
import { gpuPolling, setGpuPolling } from './event_polling.js';

const realSetImmediate = globalThis.setImmediate;

/** Re-arms `fn` through setImmediate until `ms` have passed, like Dawn's poll loop does. */
function pollFor(fn: () => void, ms: number): Promise<number> {
  return new Promise((done) => {
    const start = performance.now();
    let polls = 0;
    const tick = () => {
      polls++;
      fn();
      if (performance.now() - start < ms) globalThis.setImmediate(nativeTick);
      else done(polls);
    };
    // A bound function prints as native code, as Dawn's Napi callback does.
    const nativeTick = tick.bind(null);
    globalThis.setImmediate(nativeTick);
  });
}

describe('GPU event polling', () => {
  afterEach(() => {
    setGpuPolling('spin');
    vi.restoreAllMocks();
  });

  it('sleep mode reroutes only native callbacks, after the spin window, to a 1 ms timer', async () => {
    setGpuPolling('sleep', 0.2);
    expect(gpuPolling()).toBe('sleep');
    const timeouts = vi.spyOn(globalThis, 'setTimeout');
    // A JS callback stays an immediate (the serving batcher relies on that).
    await new Promise<void>((r) => globalThis.setImmediate(() => r()));
    expect(timeouts).not.toHaveBeenCalled();
    const polls = await pollFor(() => {}, 30);
    // Spinning would poll thousands of times in 30 ms; sleeping about once per millisecond.
    expect(timeouts).toHaveBeenCalled();
    expect(timeouts.mock.calls.every((c) => c[1] === 1)).toBe(true);
    expect(polls).toBeLessThan(60);
  });

  it('each new wait starts with the spin window, however long the previous one was', async () => {
    setGpuPolling('sleep', 0.5);
    await pollFor(() => {}, 20); // the previous wait ends on 1 ms timers
    const timeouts = vi.spyOn(globalThis, 'setTimeout');
    await pollFor(() => {}, 0.3); // a new, short wait right after it
    expect(timeouts).not.toHaveBeenCalled();
  });

  it('spin mode restores the original setImmediate', async () => {
    setGpuPolling('sleep');
    setGpuPolling('spin');
    expect(globalThis.setImmediate).toBe(realSetImmediate);
    const polls = await pollFor(() => {}, 10);
    expect(polls).toBeGreaterThan(60);
  });

  it('a CPU adapter reads back correct data with the default (auto) mode', async () => {
    const gpu = await createGpu();
    try {
      expect(gpuPolling()).toBe(gpu.deviceClass === 'cpu' ? 'sleep' : 'spin');
      const data = Float32Array.from({ length: 4099 }, (_, i) => i * 0.5 - 7);
      for (let round = 0; round < 3; round++) {
        const back = await gpu.read(gpu.f32(data));
        expect(Array.from(back)).toEqual(Array.from(data));
        await gpu.sync();
      }
    } finally {
      gpu.dispose();
    }
  });
});
