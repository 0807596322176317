// The one place that reads environment variables and tunables. Each is documented here and in
// README.md ("Choosing the adapter"). Read once, lazily, so tests can set process.env first.

export interface Flags {
  /** HSTU_ADAPTER: which WebGPU adapter to use.
   *  `auto` (default): the high-performance adapter Dawn offers (a real GPU when there is one,
   *  else lavapipe); `cpu`: Mesa's lavapipe (llvmpipe) on the CPU; `gpu`: a real GPU, fail if none;
   *  anything else: a substring of the adapter name, handed to Dawn as `adapter=<substring>`. */
  adapter: string;
  /** HSTU_BACKEND: Dawn backend (`vulkan`, `metal`, `d3d12`, ...); empty = Dawn's default. */
  backend: string;
  /** HSTU_DEBUG=1: one error scope per dispatch (names the failing kernel exactly, slower) and
   *  the WGSL of a failing kernel is printed. */
  debug: boolean;
  /** HSTU_MATMUL: force a matmul variant (`naive`, `regblock`, `vec4`, `subgroup`, `tiled`); empty = by
   *  device class (see defaultMatmulVariant in kernels/matmul/matmul.ts). */
  matmulVariant: string;
  /** HSTU_LOSS_PATH: force how per-position sampled-softmax negatives are scored (`catalogue`
   *  or `gathered`, over the config's sampledSoftmaxPath); empty = the config's choice (see
   *  lossPathFor in model/retrieval_loss.ts). */
  lossPath: string;
  /** HSTU_TIMESTAMPS=0: never use timestamp queries for timing (fall back to submit-and-wait). */
  timestamps: boolean;
  /** HSTU_GPU_POLL: how to wait for GPU work (see kernels/gpu/event_polling.ts). `auto` (default):
   *  `sleep` on a CPU adapter, `spin` on a real GPU; `spin`: Dawn's busy poll; `sleep`: poll every
   *  1 ms after the first 0.2 ms of a wait, leaving the cores to the kernels. */
  gpuPoll: string;
  /** HSTU_ITEM_UPDATE: how a training step updates the item table after the gathered loss.
   *  `auto` (default): the fused pass (kernels/optim/item_adam: item gradient + row-wise Adam,
   *  same bits) wherever it applies; `unfused`: always the separate passes (for comparisons). */
  itemUpdate: string;
}

let cached: Flags | undefined;

export function flags(): Flags {
  if (cached) return cached;
  const env = process.env;
  cached = {
    adapter: (env.HSTU_ADAPTER ?? 'auto').trim() || 'auto',
    backend: (env.HSTU_BACKEND ?? '').trim(),
    debug: env.HSTU_DEBUG === '1' || env.HSTU_DEBUG === 'true',
    matmulVariant: (env.HSTU_MATMUL ?? '').trim(),
    lossPath: (env.HSTU_LOSS_PATH ?? '').trim(),
    timestamps: env.HSTU_TIMESTAMPS !== '0',
    gpuPoll: (env.HSTU_GPU_POLL ?? 'auto').trim() || 'auto',
    itemUpdate: (env.HSTU_ITEM_UPDATE ?? 'auto').trim() || 'auto',
  };
  return cached;
}

/** For tests and CLIs that take `--adapter=` etc.: override flags before the device is made. */
export function setFlags(patch: Partial<Flags>): void {
  cached = { ...flags(), ...patch };
}
