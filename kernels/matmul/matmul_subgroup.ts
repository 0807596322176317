// The subgroup matmul variant's source: picks the load modes for a layout and expands the
// `//#if` / `//#for` lines of matmul_subgroup.wgsl (the source depends only on the two modes,
// which are the kernel's defines, its pipeline cache key); and the B packing behind its
// uniform-buffer path (B = ubo): the pack kernel, its scratch buffer and when to use it.
import { readFileSync } from 'node:fs';
import type { Gpu, KernelSource } from '../gpu/index.js';

const TEMPLATE = readFileSync(new URL('./matmul_subgroup.wgsl', import.meta.url), 'utf8');

/** How the A block is loaded: vec4 along k (A untransposed, k % 4 == 0), vec4 along m (A
 *  transposed, m % 4 == 0) or scalars (any layout). */
export type SubgroupAMode = 'k4' | 'm4' | 'scalar';
/** How B is loaded: vec4 along n (B untransposed, n % 4 == 0), vec4 along k (B transposed,
 *  k % 4 == 0), scalars (any layout), or from a packed 64 KiB uniform-buffer window (any layout;
 *  the host dispatches once per window). */
export type SubgroupBMode = 'n4' | 'k4' | 'scalar' | 'ubo';

/** Lanes per workgroup (one subgroup), rows and columns of C per workgroup. */
export const SUBGROUP_WG = 8;
export const SUBGROUP_ROWS = 8;
export const SUBGROUP_COLS = 4 * SUBGROUP_WG;

export function subgroupModes(o: { m: number; n: number; k: number; transA?: boolean; transB?: boolean }, windowed = false): { A: SubgroupAMode; B: SubgroupBMode } {
  const A: SubgroupAMode = !o.transA && o.k % 4 === 0 ? 'k4' : o.transA && o.m % 4 === 0 ? 'm4' : 'scalar';
  const B: SubgroupBMode = windowed ? 'ubo' : !o.transB && o.n % 4 === 0 ? 'n4' : o.transB && o.k % 4 === 0 ? 'k4' : 'scalar';
  return { A, B };
}

/** A B window: 512 k steps × 32 columns of f32 = 64 KiB, WebGPU's default maxUniformBufferBindingSize. */
export const B_WINDOW_K = 512;
export const B_WINDOW_BYTES = B_WINDOW_K * SUBGROUP_COLS * 4;
/** Windowed B pays a pack pass and one dispatch per window; it wins when each dispatch has many
 *  row tiles to spread over the CPU threads. Below these it runs the plain subgroup kernel. */
export const B_WINDOW_MIN_M = 256;
export const B_WINDOW_MAX_WINDOWS = 4096;

/** Whether `matmul` with the subgroup variant runs B through uniform-buffer windows. */
export function useBWindows(gpu: Gpu, o: { m: number; n: number; k: number; batch: number; broadcastB?: boolean }): boolean {
  if (gpu.device.limits.maxUniformBufferBindingSize < B_WINDOW_BYTES || o.m < B_WINDOW_MIN_M || o.k === 0) return false;
  const windows = (o.broadcastB ? 1 : o.batch) * Math.ceil(o.n / SUBGROUP_COLS) * Math.ceil(o.k / B_WINDOW_K);
  return windows <= B_WINDOW_MAX_WINDOWS && windows * B_WINDOW_BYTES <= gpu.device.limits.maxStorageBufferBindingSize;
}

export const B_PACK_WG = 64;
export const B_PACK_KERNEL: KernelSource = { name: 'matmul_bpack', wgsl: readFileSync(new URL('./matmul_bpack.wgsl', import.meta.url), 'utf8'), defines: { WG: B_PACK_WG } };

const packBuffers = new WeakMap<Gpu, GPUBuffer>();
/** The packed-B scratch of this Gpu (storage for the pack, uniform for the windows), grown on
 *  demand and never shrunk. Reusing it across matmuls recorded together is safe: each dispatch
 *  of a pass sees the writes of the dispatches before it. A replaced buffer stays alive while
 *  recorded commands still reference it. */
export function bWindowBuffer(gpu: Gpu, bytes: number): GPUBuffer {
  let buf = packBuffers.get(gpu);
  if (!buf || buf.size < bytes) {
    const max = Math.min(gpu.device.limits.maxBufferSize, gpu.device.limits.maxStorageBufferBindingSize);
    if (bytes > max) throw new Error(`matmul: packed B of ${bytes} bytes exceeds this device's buffer limits (${max}). HINT: split the batch.`);
    const size = Math.min(max, Math.max(bytes, (buf?.size ?? 0) * 2));
    buf = gpu.device.createBuffer({ label: 'matmul:packed_B', size, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.UNIFORM });
    packBuffers.set(gpu, buf);
  }
  return buf;
}

/** True when this device can run the variant: subgroup operations, and subgroups of at least 8
 *  lanes so that one 8-lane workgroup is one subgroup (lavapipe on 256-bit SIMD: 8). */
export function subgroupVariantSupported(gpu: Gpu): boolean {
  const minSize = gpu.device.adapterInfo?.subgroupMinSize;
  return gpu.has('subgroups') && typeof minSize === 'number' && minSize >= SUBGROUP_WG;
}

/** Expands the template for one pair of modes. `common` is matmul.wgsl (uniforms + epilogue). */
export function expandSubgroupTemplate(template: string, A: SubgroupAMode, B: SubgroupBMode): string {
  // One directive body → code lines; `for` bodies may hold another `//#for` (nested loops).
  const expand = (rest: string): string[] => {
    const loop = /^for (r|q|c): (?:\/\/#)?(.*)$/.exec(rest);
    if (!loop && rest.startsWith('for ')) throw new Error(`matmul_subgroup.wgsl: unknown directive '//#${rest}'`);
    if (!loop) return [rest];
    const [, name, body] = loop as unknown as [string, 'r' | 'q' | 'c', string];
    const lines: string[] = [];
    for (let i = 0; i < (name === 'r' ? SUBGROUP_ROWS : 4); i++) {
      let stmt = body.replaceAll(`{${name}}`, String(i));
      if (name === 'r') stmt = stmt.replaceAll('{r4}', String(i & 3)).replaceAll('{rh}', String(i >> 2));
      lines.push(...(body.startsWith('for ') ? expand(stmt) : [stmt]));
    }
    return lines;
  };
  const out: string[] = [];
  for (const line of template.split('\n')) {
    const m = /^(\s*)\/\/#(.*)$/.exec(line);
    if (!m) {
      out.push(line);
      continue;
    }
    const indent = m[1]!;
    let rest = m[2]!;
    const cond = /^if (A|B)=(\w+): (.*)$/.exec(rest);
    if (!cond && rest.startsWith('if ')) throw new Error(`matmul_subgroup.wgsl: unknown directive '//#${rest}'`);
    if (cond) {
      if ((cond[1] === 'A' ? A : B) !== cond[2]) continue;
      rest = cond[3]!.replace(/^\/\/#/, '');
    }
    out.push(...expand(rest).map((s) => indent + s));
  }
  const text = out.join('\n');
  // Directives left over (a typo) would silently drop code: fail loudly instead.
  const left = /^\s*\/\/#.*/m.exec(text) ?? /\{(r|q|c|r4|rh)\}/.exec(text.replace(/\/\/.*$/gm, ''));
  if (left) throw new Error(`matmul_subgroup.wgsl: unexpanded directive '${left[0]}' for A=${A} B=${B}`);
  return text;
}

const cache = new Map<string, string>();

/** The kernel for these modes: `enable subgroups;`, the shared header with A and B rebound as
 *  vec4 arrays where the mode loads vec4s, and the expanded template. */
export function subgroupKernel(common: string, A: SubgroupAMode, B: SubgroupBMode): KernelSource {
  const key = `${A}|${B}`;
  let wgsl = cache.get(key);
  if (!wgsl) {
    let header = common;
    if (A !== 'scalar') header = replaceOnce(header, 'var<storage, read> a: array<f32>;', 'var<storage, read> a: array<vec4<f32>>;');
    if (B === 'n4' || B === 'k4') header = replaceOnce(header, 'var<storage, read> b: array<f32>;', 'var<storage, read> b: array<vec4<f32>>;');
    wgsl = 'enable subgroups;\n' + header + expandSubgroupTemplate(TEMPLATE, A, B);
    cache.set(key, wgsl);
  }
  return { name: 'matmul_subgroup', wgsl, defines: { A, B } };
}

function replaceOnce(text: string, from: string, to: string): string {
  if (!text.includes(from)) throw new Error(`matmul.wgsl: expected the declaration '${from}', got none`);
  return text.replace(from, to);
}
