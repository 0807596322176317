// The planner's command line: argument parsing, presets and config files into planner inputs, and
// its errors. (--calibrate and --validate need the GPU and minutes: `npm run plan -- --validate`.)
import { describe, expect, it } from 'vitest';
import { plan } from '../model/plan/plan.js';
import { FALLBACK_CALIBRATION, type CalibrationFile } from '../model/plan/devices.js';
import { parsePlanArgs, planInputOf } from './plan.js';
import { attentionFitOf, type CaseBest } from './plan-calibrate.js';
import { hostStepRate } from './plan-calibrate-host-steps.js';
import type { Case } from './bench-suite-cases.js';

const cal: CalibrationFile = {
  version: 1,
  measuredAt: 'test',
  adapter: 'test adapter',
  ceiling: { matmulGflops: 20, copyGBps: 4 },
  rates: { dense: 10, attention: 2, loss: 5, lossShared: 3, memory: 1 },
  dispatchSeconds: 2e-5,
  submitSeconds: 1e-4,
  dispatchesPerLayer: 25,
  dispatchesFixed: 31,
  hostMemoryBytes: 24e9,
  uploadBytesPerSec: 8e9,
  deviceMemoryBytes: 24e9,
  redis: { readsPerSec: 452000, updatesPerSec: 49000, source: 'test' },
  calibrationConfig: 'test',
};

describe('plan CLI', () => {
  it('a preset with overrides, workers, device and store', () => {
    const a = parsePlanArgs(['--preset', 'ml-20m-hstu', '--workers', '4', '--device', 'A100', '--store', 'host', '--batchSize=64', '--items', '1_000_000']);
    const p = planInputOf(a);
    expect(p.config.batchSize).toBe(64);
    expect(p.config.dim).toBe(256);
    expect(p.items).toBe(1e6);
    expect(p.workers).toBe(4);
    expect(p.device.name).toBe('a100');
    expect(p.store).toBe('host');
    expect(plan(p).store).toBe('host');
  });

  it('a config file needs --items; the local device needs a calibration', () => {
    expect(() => planInputOf(parsePlanArgs(['--config', 'trainer/configs/ml-1m/hstu.json']))).toThrow(/--items.*HINT/s);
    const p = planInputOf(parsePlanArgs(['--config', 'trainer/configs/ml-1m/hstu.json', '--items', '3706', '--device', 'local']), cal);
    expect(p.device.efficiencySource).toBe('measured');
    expect(p.device.efficiency.dense).toBeCloseTo(0.5, 12); // 10 of 20 GFLOP/s
    expect(p.computeDtype).toBe('fp32');
    expect(p.lossAsImplemented).toBe(true);
    expect(() => planInputOf(parsePlanArgs(['--preset', 'ml-1m-hstu', '--device', 'local']))).toThrow(/--calibrate/);
    // The committed snapshot (what main() falls back to without a file) plans as measured rates.
    const f = plan(planInputOf(parsePlanArgs(['--preset', 'ml-1m-hstu', '--device', 'local']), FALLBACK_CALIBRATION));
    expect(f.input.device.efficiencySource).toBe('measured');
    expect(f.step.compute[0]!.seconds).toBeCloseTo(f.flops.perStepByClass.dense / (FALLBACK_CALIBRATION.rates.dense * 1e9), 12);
  });

  it('bad input: unknown preset, device, flag, key, store; missing values', () => {
    expect(() => planInputOf(parsePlanArgs(['--preset', 'nope']))).toThrow(/valid presets: .*ml-1m-hstu/);
    expect(() => planInputOf(parsePlanArgs(['--preset', 'ml-1m-hstu', '--device', 'v100']))).toThrow(/valid devices: h100, h200, a100, mi300x, l4, m2-ultra, m3-max, local/);
    expect(() => parsePlanArgs(['--preset', 'ml-1m-hstu', '--bogus'])).toThrow(/unknown argument '--bogus'/);
    expect(() => planInputOf(parsePlanArgs(['--preset', 'ml-1m-hstu', '--dimm=4']))).toThrow(/unknown config key 'dimm'.*did you mean 'dim'/);
    expect(() => parsePlanArgs(['--preset', 'ml-1m-hstu', '--store', 'disk'])).toThrow(/device \| host \| redis/);
    expect(() => parsePlanArgs(['--preset'])).toThrow(/needs a value/);
    expect(() => parsePlanArgs(['--items', '0', '--preset', 'x'])).toThrow(/--items: expected an integer ≥ 1/);
    expect(() => parsePlanArgs([])).toThrow(/--preset NAME or --config FILE/);
    expect(() => parsePlanArgs(['--validate', '--redis', 'localhost'])).toThrow(/--redis: expected host:port.*HINT/);
  });

  it('--validate uses the cluster at --redis (default 127.0.0.1:7100)', () => {
    expect(parsePlanArgs(['--validate']).redis).toBe('127.0.0.1:7100');
    expect(parsePlanArgs(['--validate', '--redis', '127.0.0.1:7500']).redis).toBe('127.0.0.1:7500');
  });

  it('--rows picks validation rows by name', () => {
    expect(parsePlanArgs(['--validate']).rows).toBeUndefined();
    expect(parsePlanArgs(['--validate', '--rows', 'device-small, host-cache-10%']).rows).toEqual(['device-small', 'host-cache-10%']);
    expect(() => parsePlanArgs(['--validate', '--rows'])).toThrow(/--rows needs a value/);
  });
});

describe('calibration: attention as per-(pair × head) + per-FLOP cost', () => {
  const attn = (H: number, w: number, pairs: number): Case => ({ kernel: 'hstu_attention', variant: 'fwd+bwd', shape: `B=1 L=1 N=1 H=${H} dqk=${w} dv=${w}`, flops: 3 * pairs * H * 4 * w, bytes: 0, bound: 'compute', record: () => {} });
  it('recovers a and g from two head widths and lengths (times built from a = 2 ns, g = 5 GFLOP/s)', () => {
    const best: CaseBest = new Map();
    for (const [H, w, pairs] of [[1, 50, 20100], [4, 16, 5050]] as const) {
      const k = attn(H, w, pairs);
      best.set(k, (pairs * H * 2e-9 + k.flops / 5e9) * 1000);
    }
    const fit = attentionFitOf(best);
    expect(fit.pairHeadNs).toBeCloseTo(2, 9);
    expect(fit.gflops).toBeCloseTo(5, 9);
  });
  it('one head width cannot separate them: pooled rate, no per-pair cost', () => {
    const best: CaseBest = new Map([[attn(1, 32, 1000), 10], [attn(2, 32, 3000), 50]]);
    const fit = attentionFitOf(best);
    expect(fit.pairHeadNs).toBe(0);
    expect(fit.gflops).toBeCloseTo((3 * 1000 * 128 + 3 * 6000 * 128) / 0.06 / 1e9, 9);
    expect(fit.fit).toMatch(/pooled/);
  });
});

describe('host tier calibration on whole steps', () => {
  it('per missed row = the lowest (host step − fastest device step) / its misses, by hand', () => {
    // Fastest device step 10 ms. Host steps: (50 − 10) / 5000 = 8 µs, (40 − 10) / 5000 = 6 µs,
    // (45 − 10) / 7000 = 5 µs: the last sets the rate, 200,000 rows/s.
    const r = hostStepRate([0.012, 0.010, 0.011], [0.050, 0.040, 0.045], [5000, 5000, 7000]);
    expect(r.rowsPerSec).toBeCloseTo(200_000, 6);
    expect(r).toMatchObject({ deviceStep: 0.010, hostStep: 0.045, misses: 7000 });
    // Steps without misses or faster than the device step say nothing; none left: a clear error.
    expect(() => hostStepRate([0.01], [0.009, 0.02], [100, 0])).toThrow(/HINT/);
  });
});
