import type { AttentionCost } from './attention_cost.js';

// Device profiles for the planner: published peak numbers of common accelerators (each with its
// source) and the local device as `npm run plan -- --calibrate` measured it (read from a JSON file;
// the CLI passes it in, this module does no I/O).
//
// A profile's compute rate for a kernel class is peak × efficiency. For published devices the
// efficiencies are ASSUMPTIONS (typical fractions of peak reached by good GEMM, fused-attention
// and bandwidth-bound kernels; the planner prints them), not measurements: nothing here ran on
// those devices. For the local device they are measured: the bench-suite kernels' rate at the
// calibration shapes divided by the measured best-matmul ceiling.

export type KernelClass = 'dense' | 'attention' | 'loss';

export interface DeviceProfile {
  name: string;
  description: string;
  /** Where the peak numbers come from. */
  source: string;
  /** Dense fp32 FLOP/s (no tensor cores) and bf16 FLOP/s (tensor/matrix cores, dense). */
  fp32Flops: number;
  bf16Flops: number;
  /** Device memory in bytes, and its bandwidth in bytes/s. */
  memoryBytes: number;
  bandwidth: number;
  /** Host ↔ device link (bytes/s, one direction): PCIe or the unified-memory fabric. */
  hostLink: number;
  /** Network bytes/s per device (NIC share) for all-reduce and the Redis tier; an assumption. */
  network: number;
  /** Fraction of peak reached per kernel class, and of bandwidth by memory-bound work; loss is
   *  the per-position catalogue path (GEMMs over every item), lossGathered the gathered path
   *  (scoring + item gradient of the drawn rows, its gathers included), lossShared shared negatives. */
  efficiency: Record<KernelClass, number> & { memory: number; lossShared?: number; lossGathered?: number };
  /** Fixed cost of one visible (pair × head) of one layer's attention, fwd + bwd (s), on top of
   *  its FLOPs at efficiency.attention: the per-pair work that does not scale with the head width
   *  (mask, relative bias, SiLU, tile bookkeeping). Absent: attention is priced by FLOPs alone. */
  attentionPairHeadSeconds?: number;
  /** Attention priced per workgroup loop iteration as the kernels run (model/plan/attention_cost.ts),
   *  fitted by the calibration; when present it replaces the per-FLOP and per-pair pricing. */
  attentionCost?: AttentionCost;
  /** Missed rows/s the host tier's device cache handles (fetch, upload, dirty write-back) as
   *  measured here; absent: a missed row costs only its bytes over hostLink. */
  hostTierRowsPerSec?: number;
  /** A host-tier missed row's cost inside whole training steps (scripts/plan-calibrate-host-steps.ts);
   *  where present it prices the host store's missed rows instead of hostTierRowsPerSec. */
  hostTierStep?: HostTierStepCost;
  /** The step's host work as measured here (scripts/plan-calibrate-step-host.ts); absent: not
   *  priced (published devices: nothing ran on them). */
  host?: HostStepCosts;
  /** Which loss path the trainer's cost rule picks here (model/loss_path.ts). */
  deviceClass: 'cpu' | 'gpu';
  /** Whether efficiencies were measured here (calibration) or assumed. */
  efficiencySource: 'assumed' | 'measured';
  /** GPUs overlap memory-bound and compute-bound kernels' costs poorly within one kernel but the
   *  step's roofline is max(compute, memory); a CPU-emulated device (lavapipe) runs every kernel
   *  on the same cores, so its costs add. */
  overlap: boolean;
  /** Fixed cost per dispatched kernel (s) and per submitted step (s). */
  dispatchSeconds: number;
  submitSeconds: number;
  /** Dispatches per layer and per step outside the layers (this implementation's count). */
  dispatchesPerLayer: number;
  dispatchesFixed: number;
  /** On-demand price per device-hour (USD): an assumption for cost figures, overridable. */
  hourlyUsd: number;
  /** Redis rows/s per shard core (reads, row-wise updates), and where they come from. */
  redis: RedisRates;
}

/** Redis rows/s per primary (reads; row-wise Adam updates applied on Redis) and, where measured
 *  on a cluster, what the workers' all-reduce through Redis costs: bytes/s of large values
 *  written and read back (SET + GET of 1 MiB, the all-reduce's chunk), one command's round trip,
 *  and the primaries it was measured with. */
export interface RedisRates {
  readsPerSec: number;
  updatesPerSec: number;
  source: string;
  bytesPerSec?: number;
  roundTripSeconds?: number;
  primaries?: number;
}

/**
 * What a training step does on the host, serially with the device (the step records every kernel,
 * then submits, then waits), none of which the kernel rates include (a kernel is timed from its
 * submit): per slot of the per-position gathered loss (the P·K negative draws and the slot plan:
 * distinct rows, CSR), per recorded command (the JS that records it: its tensors, uniform block,
 * host-side plans of the embedding scatter), and per read back to the host (the copy's submit,
 * mapAsync and the poll's wake-up, on top of the device work it waits for).
 */
export interface HostStepCosts {
  slotSeconds: number;
  commandSeconds: number;
  readSeconds: number;
  /** Reads per step of trainer/train.ts's trainStep (the loss and the gradient norms). */
  readsPerStep: number;
  source: string;
}

/**
 * Seconds per missed row of the host tier as whole training steps see it (each miss evicting a
 * dirty row): baseSeconds + perDimSeconds × d, fitted from the difference of host-store and
 * device-store steps of one calibration config at two widths (model/plan/plan.ts
 * fitHostTierStep). It holds what the ensure() micro-benchmark leaves out: finding the step's
 * rows (negative draws), the next step's prefetch and its merge, dirty marks, and the uploads'
 * copies, which the device runs at the step's first submit.
 */
export interface HostTierStepCost {
  baseSeconds: number;
  perDimSeconds: number;
  /** The measured seconds per missed row at each calibration width (the fit's points). */
  points?: { dim: number; seconds: number }[];
  source: string;
}

/** DESIGN §7's Redis figures (loopback, d = 64, measured on the project's CI machine). */
export const DESIGN_REDIS = { readsPerSec: 452_000, updatesPerSec: 49_000, source: 'DESIGN §7 (measured on the CI machine, loopback, d = 64), not re-measured' };

const T = 1e12, G = 1e9;
// Efficiency assumptions for GPU-class devices: bf16 GEMMs at large shapes reach 60–75% of peak;
// fused jagged attention (FlashAttention-style) 35–50%; the sampled-softmax logits are small GEMMs;
// bandwidth-bound kernels reach ~80% of HBM bandwidth. We take the low ends.
const GPU_EFF = { dense: 0.6, attention: 0.35, loss: 0.4, memory: 0.8 };
// Dispatch costs of a CUDA-class device: ~5 µs per kernel launch, 20 µs per step's sync.
const GPU_LAUNCH = { dispatchSeconds: 5e-6, submitSeconds: 20e-6 };
// This implementation's dispatch count (measured by --calibrate on lavapipe; the same code runs
// anywhere): used until a calibration file says otherwise.
const OUR_DISPATCHES = { dispatchesPerLayer: 24, dispatchesFixed: 40 };

const gpu = (p: Omit<DeviceProfile, 'efficiency' | 'efficiencySource' | 'deviceClass' | 'overlap' | 'dispatchSeconds' | 'submitSeconds' | 'dispatchesPerLayer' | 'dispatchesFixed' | 'redis'>): DeviceProfile => ({
  ...p,
  efficiency: GPU_EFF,
  efficiencySource: 'assumed',
  deviceClass: 'gpu',
  overlap: true,
  ...GPU_LAUNCH,
  ...OUR_DISPATCHES,
  redis: DESIGN_REDIS,
});

/** Published profiles. Prices are rough on-demand cloud list prices (assumptions; --price overrides). */
export const PUBLISHED_DEVICES: Record<string, DeviceProfile> = {
  // NVIDIA H100 SXM5 datasheet (nvidia.com/en-us/data-center/h100): FP32 67 TFLOPS, BF16 Tensor
  // 989 TFLOPS dense (1,979 with sparsity), 80 GB HBM3 at 3.35 TB/s; PCIe Gen5 128 GB/s (both
  // directions); a DGX H100 has one 400 Gb/s ConnectX-7 per GPU.
  h100: gpu({ name: 'h100', description: 'NVIDIA H100 SXM5 80 GB', source: 'NVIDIA H100 datasheet', fp32Flops: 67 * T, bf16Flops: 989 * T, memoryBytes: 80e9, bandwidth: 3.35e12, hostLink: 64 * G, network: 50 * G, hourlyUsd: 3.0 }),
  // NVIDIA H200 SXM datasheet (nvidia.com/en-us/data-center/h200): same compute as H100 SXM,
  // 141 GB HBM3e at 4.8 TB/s.
  h200: gpu({ name: 'h200', description: 'NVIDIA H200 SXM 141 GB', source: 'NVIDIA H200 datasheet', fp32Flops: 67 * T, bf16Flops: 989 * T, memoryBytes: 141e9, bandwidth: 4.8e12, hostLink: 64 * G, network: 50 * G, hourlyUsd: 4.0 }),
  // NVIDIA A100 80GB SXM datasheet (nvidia.com/en-us/data-center/a100): FP32 19.5 TFLOPS, BF16
  // Tensor 312 TFLOPS dense, 80 GB HBM2e at 2,039 GB/s; PCIe Gen4 64 GB/s (both directions).
  a100: gpu({ name: 'a100', description: 'NVIDIA A100 SXM 80 GB', source: 'NVIDIA A100 datasheet', fp32Flops: 19.5 * T, bf16Flops: 312 * T, memoryBytes: 80e9, bandwidth: 2.039e12, hostLink: 32 * G, network: 25 * G, hourlyUsd: 1.8 }),
  // AMD Instinct MI300X datasheet (amd.com/en/products/accelerators/instinct/mi300/mi300x.html):
  // FP32 (vector and matrix) 163.4 TFLOPS, BF16 1,307.4 TFLOPS dense, 192 GB HBM3 at 5.3 TB/s;
  // PCIe Gen5 x16.
  mi300x: gpu({ name: 'mi300x', description: 'AMD Instinct MI300X 192 GB', source: 'AMD MI300X datasheet', fp32Flops: 163.4 * T, bf16Flops: 1307.4 * T, memoryBytes: 192e9, bandwidth: 5.3e12, hostLink: 64 * G, network: 50 * G, hourlyUsd: 3.5 }),
  // NVIDIA L4 datasheet (nvidia.com/en-us/data-center/l4): FP32 30.3 TFLOPS, BF16 Tensor 121
  // TFLOPS dense (242 with sparsity), 24 GB GDDR6 at 300 GB/s; PCIe Gen4 x16.
  l4: gpu({ name: 'l4', description: 'NVIDIA L4 24 GB', source: 'NVIDIA L4 datasheet', fp32Flops: 30.3 * T, bf16Flops: 121 * T, memoryBytes: 24e9, bandwidth: 300 * G, hostLink: 32 * G, network: 12.5 * G, hourlyUsd: 0.8 }),
  // Apple M2 Ultra (76-core GPU): Apple's Mac Studio / Mac Pro (2023) specifications give 800 GB/s
  // unified memory bandwidth and up to 192 GB; 27.2 TFLOPS fp32 is Apple's WWDC 2023 figure. The
  // GPU has no bf16 matrix units faster than fp32, so bf16 = fp32 here. Unified memory: the host
  // link is the memory itself.
  'm2-ultra': gpu({ name: 'm2-ultra', description: 'Apple M2 Ultra (76-core GPU), 192 GB unified', source: 'Apple Mac Studio (2023) tech specs; WWDC 2023', fp32Flops: 27.2 * T, bf16Flops: 27.2 * T, memoryBytes: 192e9, bandwidth: 800 * G, hostLink: 800 * G, network: 1.25 * G, hourlyUsd: 1.0 }),
  // Apple M3 Max (40-core GPU): Apple's MacBook Pro (Nov 2023) specifications give 400 GB/s and
  // up to 128 GB; Apple publishes no FLOP/s for it: 16.4 TFLOPS fp32 is 40 cores × 128 ALUs ×
  // 2 FLOPs × ~1.6 GHz (third-party estimate), marked as such.
  'm3-max': gpu({ name: 'm3-max', description: 'Apple M3 Max (40-core GPU), 128 GB unified (fp32 peak estimated)', source: 'Apple MacBook Pro (2023) tech specs; FLOP/s estimated from core count', fp32Flops: 16.4 * T, bf16Flops: 16.4 * T, memoryBytes: 128e9, bandwidth: 400 * G, hostLink: 400 * G, network: 1.25 * G, hourlyUsd: 0.5 }),
};

/** What `--calibrate` writes (and the planner reads back as the 'local' device). */
export interface CalibrationFile {
  version: 1;
  measuredAt: string;
  adapter: string;
  /** Best matmul GFLOP/s at 1024³ and copy GB/s (kernels/ceiling). */
  ceiling: { matmulGflops: number; copyGBps: number };
  /** Rate per kernel class at the calibration config's shapes (GFLOP/s; memory: GB/s). */
  rates: { dense: number; attention: number; loss: number; lossShared: number; memory: number; lossGathered?: number };
  /** Attention as per-(pair × head) cost plus per-FLOP cost, least-squares fit over the
   *  calibration shapes' attention fwd+bwd (head widths 50 and 16, histories ≤ 200 and ≤ 100).
   *  Absent (older files): attention at rates.attention alone. */
  attention?: { pairHeadNs: number; gflops: number; fit: string };
  /** Attention per workgroup iteration (model/plan/attention_cost.ts), fitted over the
   *  calibration's attention cases; absent in older files (then `attention` prices it). */
  attentionCost?: AttentionCost;
  /** Missed rows/s of the host tier's device cache (scripts/plan-calibrate-host.ts); absent in older files. */
  hostTierRowsPerSec?: number;
  /** A missed row's cost in whole host-store steps (scripts/plan-calibrate-host-steps.ts); absent in older files. */
  hostTierStep?: HostTierStepCost;
  /** The step's host work (scripts/plan-calibrate-step-host.ts); absent in older files. */
  host?: HostStepCosts;
  /** The adapter's class (lavapipe: 'cpu'); absent: 'cpu'. */
  deviceClass?: 'cpu' | 'gpu';
  dispatchSeconds: number;
  submitSeconds: number;
  dispatchesPerLayer: number;
  dispatchesFixed: number;
  /** Host memory of this machine (bytes) and the upload rate (bytes/s). */
  hostMemoryBytes: number;
  uploadBytesPerSec: number;
  deviceMemoryBytes: number;
  redis: RedisRates;
  calibrationConfig: string;
}

/** The local device's profile from a calibration file. */
export function localProfile(cal: CalibrationFile): DeviceProfile {
  // The ceiling is timed once, the rates are each kernel's best over a run: under a changing load
  // a rate can beat the ceiling's single timing, so the peak is the best of all of them.
  const peak = Math.max(cal.ceiling.matmulGflops, cal.rates.dense, cal.rates.attention, cal.rates.loss, cal.rates.lossShared, cal.rates.lossGathered ?? 0, cal.attention?.gflops ?? 0) * 1e9;
  const attention = cal.attention ? (cal.attention.gflops * 1e9) / peak : (cal.rates.attention * 1e9) / peak;
  return {
    name: 'local',
    description: `this machine (${cal.adapter}), calibrated ${cal.measuredAt}`,
    source: `npm run plan -- --calibrate (${cal.calibrationConfig})`,
    fp32Flops: peak,
    bf16Flops: peak, // our kernels compute in f32 everywhere
    memoryBytes: cal.deviceMemoryBytes,
    bandwidth: Math.max(cal.ceiling.copyGBps, cal.rates.memory) * 1e9,
    hostLink: cal.uploadBytesPerSec,
    network: 1.25e9,
    efficiency: { dense: (cal.rates.dense * 1e9) / peak, attention, loss: (cal.rates.loss * 1e9) / peak, lossShared: (cal.rates.lossShared * 1e9) / peak, ...(cal.rates.lossGathered ? { lossGathered: (cal.rates.lossGathered * 1e9) / peak } : {}), memory: cal.rates.memory / Math.max(cal.ceiling.copyGBps, cal.rates.memory) },
    ...(cal.attention ? { attentionPairHeadSeconds: cal.attention.pairHeadNs * 1e-9 } : {}),
    ...(cal.attentionCost ? { attentionCost: cal.attentionCost } : {}),
    ...(cal.hostTierRowsPerSec ? { hostTierRowsPerSec: cal.hostTierRowsPerSec } : {}),
    ...(cal.hostTierStep ? { hostTierStep: cal.hostTierStep } : {}),
    ...(cal.host ? { host: cal.host } : {}),
    efficiencySource: 'measured',
    deviceClass: cal.deviceClass ?? 'cpu',
    overlap: false,
    dispatchSeconds: cal.dispatchSeconds,
    submitSeconds: cal.submitSeconds,
    dispatchesPerLayer: cal.dispatchesPerLayer,
    dispatchesFixed: cal.dispatchesFixed,
    hourlyUsd: 0,
    redis: cal.redis,
  };
}

/**
 * The fallback for `--device local` when no calibration file exists: a snapshot of one
 * `npm run plan -- --validate` on the project's CI machine (lavapipe on 2 shared vCPUs, load
 * ≈ 15, 2026-12-07 03:03 UTC; BENCHMARKS.md "Planner validation"), Redis rows/s from the same
 * day's first run on the local cluster. It describes that machine, not yours: run --calibrate.
 */
export const FALLBACK_CALIBRATION: CalibrationFile = {
  version: 1,
  measuredAt: '2026-12-07 (snapshot committed in model/plan/devices.ts)',
  adapter: 'llvmpipe: Mesa 25.0.7 (LLVM 15.0.6), the CI machine',
  ceiling: { matmulGflops: 3.48, copyGBps: 0.69 },
  rates: { dense: 9.12, attention: 1.79, loss: 2.86, lossShared: 3.17, memory: 2.84, lossGathered: 0.83 },
  attention: { pairHeadNs: 0, gflops: 1.79, fit: 'pooled over 4 shapes (the per-(pair × head) fit came out negative)' },
  deviceClass: 'cpu',
  dispatchSeconds: 201e-6,
  submitSeconds: 15e-6,
  dispatchesPerLayer: 55,
  dispatchesFixed: 27,
  hostMemoryBytes: 25.3e9,
  uploadBytesPerSec: 1.0e9,
  deviceMemoryBytes: 25.3e9,
  hostTierRowsPerSec: 289_000,
  redis: { readsPerSec: 48_298, updatesPerSec: 9_111, source: 'measured by --calibrate on the CI machine\'s local cluster (3 primaries, loopback, d = 64, 4,096 rows per call, cas updates), 2026-12-07 02:43 UTC' },
  calibrationConfig: 'fallback snapshot (no .bench/device-profile.json): run npm run plan -- --calibrate',
};

/** Every device name the planner accepts ('local' needs a calibration file). */
export const deviceNames = (): string[] => [...Object.keys(PUBLISHED_DEVICES), 'local'];

/** A profile by name; unknown names list the valid ones. */
export function deviceProfile(name: string, calibration?: CalibrationFile): DeviceProfile {
  const key = name.toLowerCase();
  if (key === 'local') {
    if (!calibration) throw new Error(`plan: device 'local' has no calibration yet. HINT: run npm run plan -- --calibrate (writes .bench/device-profile.json), or pick one of ${deviceNames().join(', ')}.`);
    return localProfile(calibration);
  }
  const p = PUBLISHED_DEVICES[key];
  if (!p) throw new Error(`plan: unknown device '${name}'. HINT: valid devices: ${deviceNames().join(', ')}.`);
  return p;
}
