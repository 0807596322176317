// A command recorder: kernels record dispatches (synchronously), `submit()` encodes them all into
// as few compute passes as possible and ONE queue submit. On lavapipe one pass per dispatch costs
// ~280 µs and one dispatch inside a shared pass ~17 µs, so batching a whole step matters.
import type { KernelSource } from './pipelines.js';
import type { Gpu } from './device.js';
import type { Tensor } from './buffers.js';
import { GpuError, withErrorScopes } from './errors.js';
import { flags } from './flags.js';

export type Binding = GPUBuffer | Tensor | { buffer: GPUBuffer; offset?: number; size?: number };

interface DispatchCmd {
  kind: 'dispatch';
  kernel: KernelSource;
  bindings: Binding[];
  params?: ArrayBuffer;
  workgroups: [number, number, number];
}
interface CopyCmd {
  kind: 'copy';
  src: GPUBuffer;
  srcOffset: number;
  dst: GPUBuffer;
  dstOffset: number;
  size: number;
}
type Cmd = DispatchCmd | CopyCmd;

/** Builds the uniform block of a kernel: fields in declaration order, 4 bytes each. */
export class Params {
  private readonly view: DataView;
  private readonly bytes: ArrayBuffer;
  private n = 0;
  constructor(maxFields = 32) {
    this.bytes = new ArrayBuffer(maxFields * 4);
    this.view = new DataView(this.bytes);
  }
  u32(v: number): this {
    if (!Number.isInteger(v) || v < 0 || v > 0xffffffff) throw new Error(`expected a u32 param, got ${v}`);
    this.view.setUint32(4 * this.n++, v, true);
    return this;
  }
  i32(v: number): this {
    if (!Number.isInteger(v) || v < -0x80000000 || v > 0x7fffffff) throw new Error(`expected an i32 param, got ${v}`);
    this.view.setInt32(4 * this.n++, v, true);
    return this;
  }
  f32(v: number): this {
    this.view.setFloat32(4 * this.n++, v, true);
    return this;
  }
  /** The block padded to 16 bytes (WGSL uniform struct size rounding). */
  done(): ArrayBuffer {
    const size = Math.max(16, Math.ceil((this.n * 4) / 16) * 16);
    return this.bytes.slice(0, size);
  }
}

/** Splits `groups` workgroups into an (x, y) grid within maxComputeWorkgroupsPerDimension. Kernels
 *  recover the linear id as `wid.x + wid.y * nwg.x` and must bounds-check it. */
export function grid(groups: number, maxPerDim = 65535): [number, number, number] {
  if (groups <= maxPerDim) return [Math.max(groups, 1), 1, 1];
  const y = Math.ceil(groups / maxPerDim);
  if (y > maxPerDim) throw new Error(`dispatch of ${groups} workgroups exceeds ${maxPerDim}² (device limit)`);
  return [Math.ceil(groups / y), y, 1];
}

export class Recorder {
  private cmds: Cmd[] = [];

  constructor(readonly gpu: Gpu, readonly label = 'work') {}

  get size(): number {
    return this.cmds.length;
  }

  dispatch(kernel: KernelSource, bindings: Binding[], workgroups: [number, number, number] | number, params?: ArrayBuffer): this {
    const wg: [number, number, number] = typeof workgroups === 'number' ? grid(workgroups) : workgroups;
    const max = this.gpu.device.limits.maxComputeWorkgroupsPerDimension;
    if (wg.some((g) => g > max)) throw new Error(`kernel ${kernel.name}: dispatch [${wg}] exceeds maxComputeWorkgroupsPerDimension ${max}`);
    if (wg.some((g) => g === 0)) return this; // nothing to do (e.g. an empty batch)
    this.cmds.push({ kind: 'dispatch', kernel, bindings, params, workgroups: wg });
    return this;
  }

  copy(src: GPUBuffer | Tensor, dst: GPUBuffer | Tensor, size: number, srcOffset = 0, dstOffset = 0): this {
    if (size === 0) return this;
    this.cmds.push({ kind: 'copy', src: bufferOf(src), srcOffset, dst: bufferOf(dst), dstOffset, size });
    return this;
  }

  /** Compiles what is missing, encodes everything into one command buffer and submits it.
   *  Resolves once submitted (not completed): read results with gpu.read(), or await gpu.sync(). */
  async submit(timestamps?: { querySet: GPUQuerySet; begin: number; end: number }): Promise<void> {
    const cmds = this.cmds;
    this.cmds = [];
    if (cmds.length === 0) return;
    const { device } = this.gpu;
    const pipelines = await Promise.all(cmds.map((c) => (c.kind === 'dispatch' ? this.gpu.pipelines.get(c.kernel) : null)));
    const uniforms = this.gpu.uniforms;

    const encode = (part: Cmd[], parts: (GPUComputePipeline | null)[]): GPUCommandBuffer => {
      const encoder = device.createCommandEncoder({ label: `${this.label}:encoder` });
      let pass: GPUComputePassEncoder | null = null;
      let passIndex = 0;
      const lastDispatch = part.reduce((last, c, i) => (c.kind === 'dispatch' ? i : last), -1);
      part.forEach((cmd, i) => {
        if (cmd.kind === 'copy') {
          pass?.end();
          pass = null;
          encoder.copyBufferToBuffer(cmd.src, cmd.srcOffset, cmd.dst, cmd.dstOffset, cmd.size);
          return;
        }
        if (!pass) {
          const writes: GPUComputePassTimestampWrites | undefined = timestamps && {
            querySet: timestamps.querySet,
            beginningOfPassWriteIndex: passIndex === 0 ? timestamps.begin : undefined,
            endOfPassWriteIndex: lastRunsInThisPass(part, i, lastDispatch) ? timestamps.end : undefined,
          };
          const useWrites = writes && (writes.beginningOfPassWriteIndex !== undefined || writes.endOfPassWriteIndex !== undefined);
          pass = encoder.beginComputePass({ label: `${this.label}:pass${passIndex++}`, timestampWrites: useWrites ? writes : undefined });
        }
        const pipeline = parts[i]!;
        const entries: GPUBindGroupEntry[] = [];
        let slot = 0;
        if (cmd.params) entries.push({ binding: slot++, resource: uniforms.write(cmd.params) });
        for (const b of cmd.bindings) entries.push({ binding: slot++, resource: resourceOf(b) });
        const bindGroup = device.createBindGroup({ label: `${cmd.kernel.name}:bindgroup`, layout: pipeline.getBindGroupLayout(0), entries });
        const p: GPUComputePassEncoder = pass;
        p.setPipeline(pipeline);
        p.setBindGroup(0, bindGroup);
        p.dispatchWorkgroups(...cmd.workgroups);
      });
      (pass as GPUComputePassEncoder | null)?.end();
      return encoder.finish({ label: `${this.label}:commands` });
    };

    const submitPart = (part: Cmd[], parts: (GPUComputePipeline | null)[], what: string) =>
      withErrorScopes(device, what, () => {
        uniforms.reset();
        const commands = encode(part, parts);
        uniforms.flush();
        device.queue.submit([commands]);
      });

    if (flags().debug) {
      // One submit and error scope per command names the failing kernel exactly; slow.
      for (const [i, c] of cmds.entries()) {
        await submitPart([c], [pipelines[i]!], c.kind === 'dispatch' ? `kernel ${c.kernel.name}` : 'copy');
      }
      return;
    }
    const names = [...new Set(cmds.flatMap((c) => (c.kind === 'dispatch' ? [c.kernel.name] : [])))].join(', ');
    await submitPart(cmds, pipelines, `submit of [${names}]`);
  }

  /** submit() and wait until the GPU has finished. */
  async run(): Promise<void> {
    await this.submit();
    await this.gpu.sync();
  }
}

function lastRunsInThisPass(cmds: Cmd[], start: number, lastDispatch: number): boolean {
  for (let j = start; j <= lastDispatch; j++) if (cmds[j]!.kind === 'copy') return false;
  return true;
}

function bufferOf(b: GPUBuffer | Tensor): GPUBuffer {
  return 'buffer' in b ? b.buffer : b;
}

function resourceOf(b: Binding): GPUBufferBinding {
  if ('buffer' in b) {
    const r = b as { buffer: GPUBuffer; offset?: number; size?: number; byteLength?: number; shape?: unknown };
    if ('shape' in b) return { buffer: r.buffer }; // Tensor
    return { buffer: r.buffer, offset: r.offset ?? 0, size: r.size };
  }
  return { buffer: b };
}

/** Uniform blocks of all dispatches of a submit live in 64 KiB chunks at 256-byte-aligned
 *  offsets, written with one writeBuffer per chunk. Chunks are reused by the next submit right
 *  away: queue.writeBuffer is ordered after earlier submits. */
export class UniformArena {
  private chunks: { buffer: GPUBuffer; cpu: Uint8Array; used: number }[] = [];
  private current = 0;
  private static readonly CHUNK = 65536;

  constructor(private readonly device: GPUDevice) {}

  reset(): void {
    for (const c of this.chunks) c.used = 0;
    this.current = 0;
  }

  write(data: ArrayBuffer): GPUBufferBinding {
    const align = this.device.limits.minUniformBufferOffsetAlignment;
    const size = data.byteLength;
    if (size > UniformArena.CHUNK) throw new GpuError(`uniform block of ${size} bytes is too large`);
    let chunk = this.chunks[this.current];
    if (!chunk || chunk.used + size > UniformArena.CHUNK) {
      if (chunk) this.current++;
      chunk = this.chunks[this.current];
      if (!chunk) {
        const buffer = this.device.createBuffer({ label: 'uniforms:arena', size: UniformArena.CHUNK, usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST });
        chunk = { buffer, cpu: new Uint8Array(UniformArena.CHUNK), used: 0 };
        this.chunks.push(chunk);
      }
    }
    const offset = chunk.used;
    chunk.cpu.set(new Uint8Array(data), offset);
    chunk.used = Math.ceil((offset + size) / align) * align;
    return { buffer: chunk.buffer, offset, size };
  }

  flush(): void {
    for (const c of this.chunks) if (c.used > 0) this.device.queue.writeBuffer(c.buffer, 0, c.cpu, 0, c.used);
  }

  destroy(): void {
    for (const c of this.chunks) c.buffer.destroy();
    this.chunks = [];
  }
}
