import { describe, expect, it } from 'vitest';
import { applyOverrides, defaultConfig } from '../config.js';
import { exampleTrainingFlops, flopShapeOf } from '../flops.js';
import { PUBLISHED_DEVICES, deviceProfile, type DeviceProfile } from './devices.js';
import { formatPlan, planJson } from './format.js';
import { fitHostTierStep, hostTierRowSeconds, plan, type PlanInput } from './plan.js';
import { preset, PRESETS } from './presets.js';
import type { AttentionCost } from './attention_cost.js';

/** A device with round numbers, so each term can be checked by hand. */
const toy: DeviceProfile = {
  ...PUBLISHED_DEVICES.h100!,
  name: 'toy',
  fp32Flops: 1e12,
  bf16Flops: 2e12,
  memoryBytes: 1e12,
  bandwidth: 1e11,
  hostLink: 1e10,
  network: 1e9,
  efficiency: { dense: 0.5, attention: 0.25, loss: 1, memory: 1 },
  overlap: true,
  dispatchSeconds: 0,
  submitSeconds: 0,
  dispatchesPerLayer: 0,
  dispatchesFixed: 0,
  hourlyUsd: 2,
  redis: { readsPerSec: 1e5, updatesPerSec: 1e4, source: 'toy' },
};

const config = applyOverrides(defaultConfig, { dim: 64, maxLen: 100, numLayers: 2, numHeads: 2, batchSize: 10, numNegatives: 32 });
const input = (o: Partial<PlanInput> = {}): PlanInput => ({ name: 'toy', config, items: 1000, users: 100, events: 5000, epochs: 2, workers: 1, device: toy, store: 'device', computeDtype: 'fp32', ...o });

describe('plan: hand-checked terms', () => {
  it('FLOPs per step = B × the per-example count; compute terms = FLOPs / (peak × efficiency)', () => {
    const p = plan(input());
    const e = exampleTrainingFlops(flopShapeOf(config), 50); // events / users = 50 tokens each
    expect(p.flops.perStep).toBeCloseTo(10 * e.total, 0);
    const [dense, attention, loss] = p.step.compute;
    expect(dense!.seconds).toBeCloseTo((10 * e.dense) / (1e12 * 0.5), 15);
    expect(attention!.seconds).toBeCloseTo((10 * e.attention) / (1e12 * 0.25), 15);
    expect(loss!.seconds).toBeCloseTo((10 * e.loss) / 1e12, 15);
    // Epoch: 100 users / (10 × 1) = 10 steps; run = 2 epochs; cost = hours × $2.
    expect(p.epoch.steps).toBe(10);
    expect(p.run.seconds).toBeCloseTo(2 * p.epoch.seconds, 12);
    expect(p.epoch.usd).toBeCloseTo((p.epoch.seconds / 3600) * 2, 12);
    expect(p.step.seconds).toBe(Math.max(p.step.device.seconds, p.step.store.seconds, p.step.network.seconds));
  });

  it('parameters of the ML-1M preset by hand: 3,707 × 50 + 200 × 50 embedding, 2 × 13,078 dense', () => {
    const pr = preset('ml-1m-hstu');
    const p = plan({ ...input(), config: applyOverrides(defaultConfig, pr.config), items: pr.items, users: pr.users, events: pr.events });
    expect(p.params.embedding).toBe(3707 * 50 + 200 * 50);
    // per layer: W_uvqk 50 × 200, W_o 50 × 50, b_o 50, rab_pos 399, rab_time 129
    expect(p.params.nonEmbedding).toBe(2 * (10000 + 2500 + 50 + 399 + 129));
    expect(p.bytesPerRow.find((r) => r.format === 'rowwise-f32')!.bytes).toBe(8 * 50 + 4);
  });

  it('names the binding term: compute, then the Redis store, then the network', () => {
    expect(plan(input()).step.binding).toMatch(/compute|memory/);
    // Redis: every touched row updated at 10k rows/s on one primary binds.
    const r = plan(input({ store: 'redis' }));
    expect(r.step.binding).toBe('store (redis)');
    expect(r.step.store.seconds).toBeGreaterThan(r.step.device.seconds);
    // Two workers over a 1 kB/s network: the all-reduce binds.
    const n = plan(input({ workers: 2, device: { ...toy, network: 1e3 } }));
    expect(n.step.binding).toBe('network');
    expect(n.step.network.detail).toMatch(/all-reduce/);
  });

  it('the 10B × 512 fp32-Adam table is 61.4 TB and needs many machines; bf16 row-wise fits Redis', () => {
    const pr = preset('table-10b');
    const c = applyOverrides(defaultConfig, pr.config);
    const p = plan({ ...input(), config: c, items: pr.items, users: pr.users, events: pr.events, workers: pr.workers, device: PUBLISHED_DEVICES.h100!, store: 'auto', computeDtype: 'bf16' });
    expect(p.tableBytes / 1e12).toBeCloseTo(61.44, 2);
    expect(p.tiers.device.devicesNeeded).toBeGreaterThan(700); // 61.4 TB / < 80 GB each
    expect(p.tiers.host.machinesNeeded).toBe(Math.ceil(p.tableBytes / (0.8 * 2e12)));
    expect(p.store).toBe('redis');
    expect(formatPlan(p)).toMatch(/BINDING: /);
    expect(JSON.stringify(planJson(p))).toContain('"binding"');
  });
});

describe('plan: impossible configurations say what would be needed', () => {
  it('a table that fits nowhere', () => {
    expect(() => plan(input({ items: 1e13, store: 'auto', device: PUBLISHED_DEVICES.h100! }))).toThrow(/fits nowhere.*device store: \d+ × h100.*host store: \d+ machines.*redis: \d+ primaries.*HINT/s);
  });

  it('a device store on too few devices, a host store on too few machines', () => {
    expect(() => plan(input({ items: 5e9, device: PUBLISHED_DEVICES.h100! }))).toThrow(/does not fit on 1 × h100.*HINT: --workers \d+/s);
    expect(() => plan(input({ items: 5e11, store: 'host', device: PUBLISHED_DEVICES.h100! }))).toThrow(/host RAM.*HINT: --workers \d+, or --store redis/s);
  });

  it("a batch whose activations exceed the device's memory", () => {
    expect(() => plan(input({ device: { ...toy, memoryBytes: 1e6 } }))).toThrow(/activations.*HINT: lower --batchSize/s);
  });

  it('bad numbers', () => {
    expect(() => plan(input({ items: 0 }))).toThrow(/items/);
    expect(() => plan(input({ workers: 1.5 }))).toThrow(/workers/);
  });
});

describe('presets and devices', () => {
  it('every preset plans on an H100 without error and names its binding term', () => {
    for (const pr of Object.values(PRESETS)) {
      const p = plan({ name: pr.name, config: applyOverrides(defaultConfig, pr.config), items: pr.items, extraRows: pr.extraRows, users: pr.users, events: pr.events, epochs: pr.epochs, workers: pr.workers, device: PUBLISHED_DEVICES.h100!, store: 'auto', stochasticLengthAlpha: pr.stochasticLengthAlpha, computeDtype: pr.computeDtype, redisNodeBytes: 256 * 1024 ** 3 });
      expect(p.step.binding, pr.name).toMatch(/compute|memory|dispatch|store|network/);
      expect(p.step.seconds, pr.name).toBeGreaterThan(0);
    }
  });

  it('unknown preset and device names list the valid ones', () => {
    expect(() => preset('ml-2m')).toThrow(/unknown preset 'ml-2m'.*ml-1m-hstu.*dlrmv3/s);
    expect(() => deviceProfile('tpu')).toThrow(/unknown device 'tpu'.*h100, h200, a100, mi300x, l4/s);
    expect(() => deviceProfile('local')).toThrow(/--calibrate/);
  });
});

describe('plan: the loss path and attention as implemented', () => {
  const cpu: DeviceProfile = { ...toy, deviceClass: 'cpu', efficiency: { dense: 0.5, attention: 0.25, loss: 0.5, lossGathered: 0.1, memory: 1 } };
  const lens = Array.from({ length: 10 }, () => 40); // P = 400 positions
  const asImpl = (items: number, o: Partial<PlanInput> = {}) => plan(input({ device: cpu, items, lossAsImplemented: true, stepLengths: lens, ...o }));

  it('per-position on a CPU: catalogue GEMMs up to 4·(R+1) = 132 items, gathered rows above', () => {
    // R = 32, K = 33: the cost rule switches at items > 6 · (2/3) · 33 = 132 (model/loss_path.ts).
    const small = asImpl(132), big = asImpl(133);
    expect(small.lossPath).toBe('catalogue');
    expect(big.lossPath).toBe('gathered');
    // Catalogue: 3 GEMMs of P × items × d at efficiency.loss; gathered: 6·P·K·d at lossGathered.
    expect(small.flops.perStepByClass.loss).toBe(6 * 400 * 132 * 64);
    expect(small.step.compute[2]!.seconds).toBeCloseTo((6 * 400 * 132 * 64) / (1e12 * 0.5), 15);
    expect(big.flops.perStepByClass.loss).toBe(6 * 400 * 33 * 64);
    expect(big.step.compute[2]!.seconds).toBeCloseTo((6 * 400 * 33 * 64) / (1e12 * 0.1), 15);
    // The catalogue path updates every item's row; the gathered one only the rows it touched.
    expect(small.step.uniqueRows).toBe(132);
    const huge = asImpl(1e5);
    expect(huge.step.uniqueRows).toBeLessThan(2 * 400 + 400 * 32);
    expect(huge.step.uniqueRows).toBeGreaterThan(0.9 * (2 * 400 + 400 * 32) * 0.9);
    // A million items: the gathered loss does not grow with the catalogue.
    expect(asImpl(1e6).flops.perStepByClass.loss).toBe(big.flops.perStepByClass.loss);
  });

  it('a forced path and GPU-class devices follow the same rule as the trainer', () => {
    expect(asImpl(1e6, { config: applyOverrides(config, { sampledSoftmaxPath: 'catalogue' }) }).lossPath).toBe('catalogue');
    expect(asImpl(30, { device: { ...cpu, deviceClass: 'gpu' } }).lossPath).toBe('gathered'); // 30 > 1 · (2/3) · 33
    expect(asImpl(1e6, { config: applyOverrides(config, { negativeSampling: 'shared' }) }).lossPath).toBeNull();
  });

  it('attention = FLOPs at the attention rate + (pair × head)s × the per-pair cost', () => {
    const a = 3e-9;
    const p = asImpl(1000, { device: { ...cpu, attentionPairHeadSeconds: a } });
    // 10 sequences of 40: 820 causal pairs each, 2 layers, 2 heads of dqk = dv = 32.
    const pairHeads = 10 * 820 * 2 * 2;
    expect(p.flops.attentionPairHeads).toBeCloseTo(pairHeads, 6);
    const flops = 3 * pairHeads * (2 * 32 + 2 * 32);
    expect(p.flops.perStepByClass.attention).toBeCloseTo(flops, 3);
    expect(p.step.compute[1]!.seconds).toBeCloseTo(flops / (1e12 * 0.25) + pairHeads * a, 15);
  });
});

describe('plan: host tier on a CPU-emulated device', () => {
  it('a missed row costs the measured host-tier work when slower than the link, and adds to the device time', () => {
    const cpuHost: DeviceProfile = { ...toy, deviceClass: 'cpu', overlap: false, hostTierRowsPerSec: 1e4 };
    const p = plan(input({ device: cpuHost, items: 1e6, store: 'host', cacheRows: 1e5, lossAsImplemented: true, stepLengths: Array.from({ length: 10 }, () => 40) }));
    const misses = p.step.uniqueRows * (1 - p.step.cacheHitRate);
    expect(misses).toBeGreaterThan(0);
    expect(p.step.store.seconds).toBeCloseTo(misses / 1e4, 12); // ≫ 2 · misses · rowB / 10 GB/s
    expect(p.step.seconds).toBeCloseTo(p.step.device.seconds + p.step.store.seconds, 12);
    const gpu = plan(input({ device: { ...cpuHost, overlap: true }, items: 1e6, store: 'host', cacheRows: 1e5, lossAsImplemented: true, stepLengths: Array.from({ length: 10 }, () => 40) }));
    expect(gpu.step.seconds).toBe(Math.max(gpu.step.device.seconds, gpu.step.store.seconds, gpu.step.network.seconds));
  });
});

describe('plan: the host tier priced per missed row of whole steps (a + b·d)', () => {
  it('fits the line through two widths by hand, and keeps it non-negative', () => {
    // d = 16: 6 µs per row, d = 64: 12 µs → slope 6 µs / 48 = 125 ns per float, base 6 − 2 = 4 µs.
    const f = fitHostTierStep({ dim: 16, seconds: 6e-6 }, { dim: 64, seconds: 12e-6 }, 'hand');
    expect(f.perDimSeconds).toBeCloseTo(125e-9, 15);
    expect(f.baseSeconds).toBeCloseTo(4e-6, 15);
    expect(hostTierRowSeconds(f, 32)).toBeCloseTo(8e-6, 15); // 4 + 32 × 0.125
    expect(f.points).toEqual([{ dim: 16, seconds: 6e-6 }, { dim: 64, seconds: 12e-6 }]);
    // A wider row measured cheaper (noise): no slope, both priced at the mean 9 µs.
    const flat = fitHostTierStep({ dim: 16, seconds: 10e-6 }, { dim: 64, seconds: 8e-6 }, 'hand');
    expect(flat.perDimSeconds).toBe(0);
    expect(hostTierRowSeconds(flat, 1000)).toBeCloseTo(9e-6, 15);
    // A slope steeper than the line through the origin: proportional to d through the wider point.
    const steep = fitHostTierStep({ dim: 16, seconds: 1e-6 }, { dim: 64, seconds: 16e-6 }, 'hand');
    expect(steep.baseSeconds).toBe(0);
    expect(hostTierRowSeconds(steep, 32)).toBeCloseTo(8e-6, 15); // 32 × 16 µs / 64
    expect(() => fitHostTierStep({ dim: 64, seconds: 1e-6 }, { dim: 16, seconds: 1e-6 }, 'hand')).toThrow(/dLo < dHi/);
  });

  it('replaces the ensure() rate in the host store term: misses × (a + b·d)', () => {
    const step = { baseSeconds: 4e-6, perDimSeconds: 125e-9, source: 'hand' };
    const cpuHost: DeviceProfile = { ...toy, deviceClass: 'cpu', overlap: false, hostTierRowsPerSec: 1e6, hostTierStep: step };
    const p = plan(input({ device: cpuHost, items: 1e6, store: 'host', cacheRows: 1e5, lossAsImplemented: true, stepLengths: Array.from({ length: 10 }, () => 40) }));
    const misses = p.step.uniqueRows * (1 - p.step.cacheHitRate);
    // config d = 64: 4 + 64 × 0.125 = 12 µs per missed row (not 1 µs at the ensure() rate).
    expect(p.step.store.seconds).toBeCloseTo(misses * 12e-6, 12);
    expect(p.step.store.detail).toMatch(/12\.00 µs each of host-tier work in a step/);
    expect(p.step.seconds).toBeCloseTo(p.step.device.seconds + p.step.store.seconds, 12);
  });
});

describe('plan: attention per workgroup iteration on a calibrated device', () => {
  it('replaces the per-FLOP price with layers × attention_cost.ts of the real lengths', () => {
    const cost: AttentionCost = { baseNs: 10, perWidthNs: 0.5, unalignedNs: 3, stagedHistNs: 7, fit: 'hand' };
    const p = plan(input({ device: { ...toy, deviceClass: 'cpu', overlap: false, attentionCost: cost }, stepLengths: [10, 8] }));
    // config: 2 layers, 2 heads of dqk = dv = 32, N = 100: per layer 2 × 78 = 156 iterations
    // (lengths 10 and 8, see attention_cost.test.ts), width 64, aligned, no staging:
    // 156 × (10 + 64 × 0.5) ns = 6552 ns; 2 layers → 13,104 ns.
    expect(p.step.compute[1]!.seconds).toBeCloseTo(13104e-9, 18);
    expect(p.step.compute[1]!.detail).toMatch(/workgroup iterations/);
  });
});

describe('plan: W = 2 workers on Redis, as worker_sync.ts runs them on one CPU-emulated machine', () => {
  // Round numbers; a catalogue of 10⁹ items, so distinct rows ≈ draws (collisions < 0.001).
  const cpuRedis: DeviceProfile = { ...toy, deviceClass: 'cpu', overlap: false, redis: { readsPerSec: 1e5, updatesPerSec: 1e4, bytesPerSec: 1e8, roundTripSeconds: 1e-4, primaries: 3, source: 'toy' } };
  const shared = applyOverrides(config, { negativeSampling: 'shared', numNegatives: 32 });
  const lens = Array.from({ length: 10 }, () => 40); // one worker's slice: 400 positions
  const at = (o: Partial<PlanInput>) => plan(input({ config: shared, device: cpuRedis, items: 1e9, store: 'redis', cacheRows: 1e4, redisPrimaries: 3, lossAsImplemented: true, stepLengths: lens, ...o }));

  it('store, all-reduce through Redis and the shared cores, by hand', () => {
    const one = at({ workers: 1 });
    const two = at({ workers: 2, workersShareDevice: true, allReduceVia: 'redis' });
    // Rows per worker: 2 × 400 inputs/targets + the 32 shared negatives ≈ 832 (all distinct).
    expect(two.step.uniqueRows).toBeCloseTo(832, 2);
    // Reads: the cache is invalidated every step, so each worker reads its 832 rows:
    //   2 × 832 / (3 primaries × 10⁵/s) = 5.5467 ms.
    // Updates: the union, each row once: 2 × 800 + 32 = 1632 rows / (3 × 10⁴/s) = 54.4 ms.
    expect(two.step.store.seconds).toBeCloseTo((2 * 832) / 3e5 + 1632 / 3e4, 6);
    // All-reduce + row all-gather: per rank 4P + 12 (dense + loss + header) + 4 + 832 × 4 × 65 + 8
    // bytes; (1 + W) · W = 6 buffers through the cluster at 10⁸ B/s; 16 round trips × 0.1 ms;
    // 3 sync points × 5 ms (half the 10 ms poll).
    const P = two.params.nonEmbedding;
    const perRank = 4 * P + 12 + 4 + 832 * 4 * 65 + 8;
    expect(two.step.network.seconds).toBeCloseTo((6 * perRank) / 1e8 + 16 * 1e-4 + 3 * 0.005, 5);
    // Both workers' kernels share the device: twice one worker's device time on its slice.
    expect(two.step.device.seconds).toBeCloseTo(2 * one.step.device.seconds, 12);
    // Nothing overlaps in the synchronous step on a CPU-emulated device: the terms add.
    expect(two.step.seconds).toBeCloseTo(two.step.device.seconds + two.step.store.seconds + two.step.network.seconds, 12);
    // One worker keeps its cache (hit rate as modelled) and pays no all-reduce.
    expect(one.step.network.seconds).toBeLessThan(two.step.network.seconds);
    expect(one.step.cacheHitRate).toBeGreaterThan(0);
    expect(two.step.cacheHitRate).toBe(0);
  });

  it("per-position negatives: the union counts each worker's own draws", () => {
    const pp = at({ workers: 2, workersShareDevice: true, allReduceVia: 'redis', config: applyOverrides(config, { numNegatives: 32 }) });
    // 400 positions × 32 negatives per worker + 800 inputs = 13,600 rows each; union ≈ 27,200.
    expect(pp.step.uniqueRows).toBeCloseTo(13600, -1);
    expect(pp.step.store.seconds).toBeCloseTo((2 * pp.step.uniqueRows) / 3e5 + 27200 / 3e4, 2);
  });
});

describe('plan: the step\'s host work (HostStepCosts) on a calibrated device', () => {
  const host = { slotSeconds: 1e-8, commandSeconds: 1e-5, readSeconds: 1e-4, readsPerStep: 2, source: 'hand' };
  const cpuHost: DeviceProfile = { ...toy, deviceClass: 'cpu', overlap: false, dispatchesFixed: 10, dispatchesPerLayer: 5, host };
  const lens = Array.from({ length: 10 }, () => 40); // 400 positions

  it('slots × slot cost + commands × command cost + reads × read cost, added to the device time', () => {
    const p = plan(input({ device: cpuHost, items: 1e6, lossAsImplemented: true, stepLengths: lens }));
    expect(p.lossPath).toBe('gathered');
    // 400 positions × (32 negatives + the positive) = 13,200 slots × 10 ns = 132 µs; commands
    // 10 + 2 layers × 5 = 20 × 10 µs = 200 µs; 2 reads × 100 µs = 200 µs: 532 µs.
    expect(p.step.host.seconds).toBeCloseTo(13200e-8 + 20e-5 + 2e-4, 15);
    const kernels = p.step.compute.reduce((a, t) => a + t.seconds, 0) + p.step.memory.seconds + p.step.overhead.seconds;
    expect(p.step.device.seconds).toBeCloseTo(kernels + 532e-6, 15);
    // Shared negatives have no per-position slots: commands and reads only (400 µs).
    const shared = plan(input({ device: cpuHost, items: 1e6, lossAsImplemented: true, stepLengths: lens, config: applyOverrides(config, { negativeSampling: 'shared' }) }));
    expect(shared.step.host.seconds).toBeCloseTo(20e-5 + 2e-4, 15);
    // Published devices measured nothing: no host term.
    expect(plan(input({ stepLengths: lens })).step.host.seconds).toBe(0);
  });

  it("2 workers on Redis: worker_sync's reads, host work not shared, the cache's per-row work in the store", () => {
    const dev: DeviceProfile = { ...cpuHost, hostTierRowsPerSec: 1e5, redis: { readsPerSec: 1e5, updatesPerSec: 1e4, bytesPerSec: 1e8, roundTripSeconds: 1e-4, primaries: 3, source: 'toy' } };
    const shared = applyOverrides(config, { negativeSampling: 'shared', numNegatives: 32 });
    const two = plan(input({ config: shared, device: dev, items: 1e9, store: 'redis', cacheRows: 1e4, redisPrimaries: 3, lossAsImplemented: true, stepLengths: lens, workers: 2, workersShareDevice: true, allReduceVia: 'redis' }));
    // Reads: the loss, 11 dense tensors (pos_emb + 2 layers × 5), the item-row gradients = 13.
    expect(two.step.host.seconds).toBeCloseTo(20e-5 + 13e-4, 15);
    const kernels = two.step.compute.reduce((a, t) => a + t.seconds, 0) + two.step.memory.seconds + two.step.overhead.seconds;
    expect(two.step.device.seconds).toBeCloseTo(2 * kernels + two.step.host.seconds, 15);
    // Store: 2 × 832 reads / 3e5 + 1632 updates / 3e4 + 832 rows into the cache at 1e5 rows/s.
    expect(two.step.store.seconds).toBeCloseTo((2 * 832) / 3e5 + 1632 / 3e4 + 832 / 1e5, 6);
  });
});
