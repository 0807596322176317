import './webgpu.js';
// Labelled tensors (a GPUBuffer with shape and dtype) and a size-bucketed buffer pool.

export type DType = 'f32' | 'u32' | 'i32';
export type TypedArrayOf<D extends DType> = D extends 'f32' ? Float32Array : D extends 'u32' ? Uint32Array : Int32Array;

export const STORAGE_USAGE = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;

export class Tensor<D extends DType = DType> {
  constructor(
    readonly buffer: GPUBuffer,
    readonly shape: readonly number[],
    readonly dtype: D,
    readonly label: string,
    private readonly pool?: BufferPool,
  ) {}

  /** Number of elements. */
  get numel(): number {
    return numel(this.shape);
  }
  /** Bytes of the data (the buffer may be larger: pool buckets round up). */
  get byteLength(): number {
    return this.numel * 4;
  }
  /** Gives the buffer back to the pool (or destroys it). Safe to reuse in later recorded work:
   *  the queue runs submitted work in order. */
  release(): void {
    if (this.pool) this.pool.give(this.buffer);
    else this.buffer.destroy();
  }
}

export function numel(shape: readonly number[]): number {
  let n = 1;
  for (const s of shape) {
    if (!Number.isInteger(s) || s < 0) throw new Error(`expected non-negative integer dims, got shape [${shape.join(', ')}]`);
    n *= s;
  }
  return n;
}

/** Buffers bucketed by power-of-two size (min 256 bytes) so reuse is likely and waste ≤ 2×. */
export class BufferPool {
  private readonly free = new Map<number, GPUBuffer[]>();
  private readonly all = new Set<GPUBuffer>();
  bytesAllocated = 0;

  constructor(private readonly device: GPUDevice) {}

  static bucket(bytes: number): number {
    let b = 256;
    while (b < bytes) b *= 2;
    return b;
  }

  take(bytes: number, label: string): GPUBuffer {
    const size = BufferPool.bucket(bytes);
    if (size > this.device.limits.maxBufferSize) {
      throw new Error(
        `${label}: buffer of ${bytes} bytes exceeds this device's maxBufferSize ${this.device.limits.maxBufferSize}. ` +
          `HINT: use a smaller batch or model, or a device with more memory.`,
      );
    }
    const list = this.free.get(size);
    const reused = list?.pop();
    if (reused) {
      reused.label = label;
      return reused;
    }
    const buffer = this.device.createBuffer({ label, size, usage: STORAGE_USAGE });
    this.all.add(buffer);
    this.bytesAllocated += size;
    return buffer;
  }

  give(buffer: GPUBuffer): void {
    if (!this.all.has(buffer)) throw new Error(`buffer ${buffer.label} does not belong to this pool`);
    const list = this.free.get(buffer.size) ?? [];
    if (list.includes(buffer)) throw new Error(`buffer ${buffer.label} released twice`);
    list.push(buffer);
    this.free.set(buffer.size, list);
  }

  destroy(): void {
    for (const b of this.all) b.destroy();
    this.all.clear();
    this.free.clear();
    this.bytesAllocated = 0;
  }
}
