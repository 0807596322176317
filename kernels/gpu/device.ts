// Device acquisition and the Gpu context every kernel host receives.
import { createNavigatorGpu } from './webgpu.js';
import { BufferPool, Tensor, numel, type DType, type TypedArrayOf } from './buffers.js';
import { GpuError } from './errors.js';
import { setGpuPolling } from './event_polling.js';
import { flags } from './flags.js';
import { PipelineCache } from './pipelines.js';
import { Recorder, UniformArena } from './recorder.js';

/** Limits raised from WebGPU's defaults to whatever the adapter offers. */
const RAISED_LIMITS = [
  'maxBufferSize',
  'maxStorageBufferBindingSize',
  'maxComputeWorkgroupStorageSize',
  'maxComputeInvocationsPerWorkgroup',
  'maxComputeWorkgroupSizeX',
  'maxComputeWorkgroupSizeY',
  'maxComputeWorkgroupSizeZ',
  'maxComputeWorkgroupsPerDimension',
  'maxStorageBuffersPerShaderStage',
  'maxUniformBufferBindingSize',
  'maxBindingsPerBindGroup',
] as const;

const WANTED_FEATURES: GPUFeatureName[] = ['timestamp-query', 'shader-f16', 'subgroups' as GPUFeatureName];

export type DeviceClass = 'cpu' | 'gpu';

export interface AdapterSummary {
  description: string;
  vendor: string;
  architecture: string;
  deviceClass: DeviceClass;
  features: string[];
}

export class Gpu {
  readonly pool: BufferPool;
  readonly pipelines: PipelineCache;
  readonly uniforms: UniformArena;
  private disposed = false;

  constructor(
    readonly device: GPUDevice,
    readonly adapter: AdapterSummary,
  ) {
    this.pool = new BufferPool(device);
    this.pipelines = new PipelineCache(device);
    this.uniforms = new UniformArena(device);
    device.addEventListener('uncapturederror', (ev) => {
      console.error(`[gpu] uncaptured error: ${(ev as GPUUncapturedErrorEvent).error.message}`);
    });
  }

  get deviceClass(): DeviceClass {
    return this.adapter.deviceClass;
  }
  has(feature: string): boolean {
    return this.device.features.has(feature);
  }

  /** A pooled tensor with undefined contents. */
  empty<D extends DType>(shape: readonly number[], dtype: D, label: string): Tensor<D> {
    const bytes = Math.max(4, numel(shape) * 4);
    if (bytes > this.device.limits.maxStorageBufferBindingSize) {
      throw new GpuError(
        `${label}: tensor [${shape.join(', ')}] is ${bytes} bytes, over this device's maxStorageBufferBindingSize ` +
          `(${this.device.limits.maxStorageBufferBindingSize}). HINT: split it (see kernels/embedding for tables).`,
      );
    }
    return new Tensor(this.pool.take(bytes, label), shape, dtype, label, this.pool);
  }

  /** A pooled tensor holding `data`. */
  upload<D extends DType>(data: TypedArrayOf<D>, shape: readonly number[], dtype: D, label: string): Tensor<D> {
    if (data.length !== numel(shape)) throw new Error(`${label}: expected ${numel(shape)} values for shape [${shape}], got ${data.length}`);
    const t = this.empty(shape, dtype, label);
    this.write(t, data);
    return t;
  }

  f32(data: ArrayLike<number>, shape: readonly number[] = [data.length], label = 'f32'): Tensor<'f32'> {
    return this.upload(Float32Array.from(data), shape, 'f32', label);
  }
  u32(data: ArrayLike<number>, shape: readonly number[] = [data.length], label = 'u32'): Tensor<'u32'> {
    return this.upload(Uint32Array.from(data), shape, 'u32', label);
  }
  i32(data: ArrayLike<number>, shape: readonly number[] = [data.length], label = 'i32'): Tensor<'i32'> {
    return this.upload(Int32Array.from(data), shape, 'i32', label);
  }

  /** Queues a write of `data` into the tensor (ordered before later submits). */
  write(t: Tensor, data: ArrayBufferView, byteOffset = 0): void {
    if (data.byteLength === 0) return;
    // Never hand dawn.node a view on a SharedArrayBuffer: it crashes. Copy first.
    const src = data.buffer instanceof ArrayBuffer ? data : new Uint8Array(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
    this.device.queue.writeBuffer(t.buffer, byteOffset, src.buffer as ArrayBuffer, src.byteOffset, src.byteLength);
  }

  /** Copies the tensor back to the CPU (waits for all submitted work). */
  async read<D extends DType>(t: Tensor<D>): Promise<TypedArrayOf<D>> {
    const bytes = t.byteLength;
    const ctor = (t.dtype === 'f32' ? Float32Array : t.dtype === 'u32' ? Uint32Array : Int32Array) as unknown as new (b: ArrayBuffer) => TypedArrayOf<D>;
    if (bytes === 0) return new ctor(new ArrayBuffer(0));
    const staging = this.device.createBuffer({ label: `${t.label}:readback`, size: Math.ceil(bytes / 4) * 4, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
    const enc = this.device.createCommandEncoder({ label: `${t.label}:readback` });
    enc.copyBufferToBuffer(t.buffer, 0, staging, 0, staging.size);
    this.device.queue.submit([enc.finish()]);
    await staging.mapAsync(GPUMapMode.READ);
    const out = new ctor(staging.getMappedRange().slice(0, bytes));
    staging.unmap();
    staging.destroy();
    return out;
  }

  recorder(label = 'work'): Recorder {
    return new Recorder(this, label);
  }

  /** Waits until everything submitted so far has finished on the GPU. */
  async sync(): Promise<void> {
    await this.device.queue.onSubmittedWorkDone();
  }

  /** Releases every buffer and the device so the process can exit. Idempotent. */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.pool.destroy();
    this.uniforms.destroy();
    this.device.destroy();
  }
}

export interface GpuOptions {
  /** Overrides HSTU_ADAPTER (see kernels/gpu/flags.ts). */
  adapter?: string;
}

/** Finds an adapter per HSTU_ADAPTER, raises limits to what it offers, and returns a Gpu. */
export async function createGpu(opts: GpuOptions = {}): Promise<Gpu> {
  const choice = (opts.adapter ?? flags().adapter).toLowerCase();
  const dawnFlags: string[] = [];
  if (flags().backend) dawnFlags.push(`backend=${flags().backend}`);
  if (choice === 'cpu' || choice === 'lavapipe' || choice === 'llvmpipe') dawnFlags.push('adapter=llvmpipe');
  else if (choice !== 'auto' && choice !== 'gpu') dawnFlags.push(`adapter=${choice}`);
  const navigatorGpu = createNavigatorGpu(dawnFlags);

  let adapter: GPUAdapter | null = null;
  let failure = '';
  try {
    adapter = await navigatorGpu.requestAdapter({ powerPreference: 'high-performance' });
  } catch (e) {
    failure = (e as Error).message;
  }
  if (!adapter) {
    throw new GpuError(
      `no WebGPU adapter found (HSTU_ADAPTER=${choice}${failure ? `; Dawn said: ${failure}` : ''}).\n` +
        `HINT: run \`bash scripts/bootstrap.sh\` (installs Mesa's lavapipe on Debian 12), or install your GPU's ` +
        `Vulkan driver; HSTU_ADAPTER=auto|cpu|gpu|<name substring> picks among adapters.`,
    );
  }
  const info = adapter.info;
  const description = info.description || `${info.vendor} ${info.architecture} ${info.device}`.trim();
  const isCpu =
    Boolean((adapter as GPUAdapter & { isFallbackAdapter?: boolean }).isFallbackAdapter ?? (info as { isFallbackAdapter?: boolean }).isFallbackAdapter) ||
    info.architecture === 'software' ||
    /llvmpipe|lavapipe|swiftshader|software/i.test(description);
  if (choice === 'gpu' && isCpu) {
    throw new GpuError(`HSTU_ADAPTER=gpu but the only adapter is a CPU one (${description}).\nHINT: install your GPU's Vulkan driver, or use HSTU_ADAPTER=auto.`);
  }
  setGpuPolling(pollModeFor(flags().gpuPoll, isCpu));

  const requiredLimits: Record<string, number> = {};
  for (const name of RAISED_LIMITS) {
    const v = (adapter.limits as unknown as Record<string, number>)[name];
    if (typeof v === 'number') requiredLimits[name] = v;
  }
  const requiredFeatures = WANTED_FEATURES.filter((f) => adapter.features.has(f) && (f !== 'timestamp-query' || flags().timestamps));
  const device = await adapter.requestDevice({ label: 'hstu-webgpu', requiredLimits, requiredFeatures });
  device.lost.then((l) => {
    if (l.reason !== 'destroyed') console.error(`[gpu] device lost: ${l.message}`);
  });
  return new Gpu(device, {
    description,
    vendor: info.vendor,
    architecture: info.architecture,
    deviceClass: isCpu ? 'cpu' : 'gpu',
    features: [...device.features].sort(),
  });
}

function pollModeFor(choice: string, isCpu: boolean): 'spin' | 'sleep' {
  if (choice === 'auto') return isCpu ? 'sleep' : 'spin';
  if (choice === 'spin' || choice === 'sleep') return choice;
  throw new GpuError(`HSTU_GPU_POLL=${choice} is not a polling mode.\nHINT: use auto (default), spin or sleep.`);
}

/** Runs `fn` with a fresh Gpu and always disposes it. */
export async function withGpu<T>(fn: (gpu: Gpu) => Promise<T>, opts?: GpuOptions): Promise<T> {
  const gpu = await createGpu(opts);
  try {
    return await fn(gpu);
  } finally {
    gpu.dispose();
  }
}
