// The subgroup matmul variant's source: picks the load modes for a layout and expands the
// `//#if` / `//#for` lines of matmul_subgroup.wgsl. The source depends only on the two modes,
// which are the kernel's defines (its pipeline cache key).
import { readFileSync } from 'node:fs';
import type { Gpu, KernelSource } from '../gpu/index.js';

const TEMPLATE = readFileSync(new URL('./matmul_subgroup.wgsl', import.meta.url), 'utf8');

/** How the A block is loaded: vec4 along k (A untransposed, k % 4 == 0), vec4 along m (A
 *  transposed, m % 4 == 0) or scalars (any layout). */
export type SubgroupAMode = 'k4' | 'm4' | 'scalar';
/** How B is loaded: vec4 along n (B untransposed, n % 4 == 0), vec4 along k (B transposed,
 *  k % 4 == 0) or scalars (any layout). */
export type SubgroupBMode = 'n4' | 'k4' | 'scalar';

/** Lanes per workgroup (one subgroup), rows and columns of C per workgroup. */
export const SUBGROUP_WG = 8;
export const SUBGROUP_ROWS = 8;
export const SUBGROUP_COLS = 4 * SUBGROUP_WG;

export function subgroupModes(o: { m: number; n: number; k: number; transA?: boolean; transB?: boolean }): { A: SubgroupAMode; B: SubgroupBMode } {
  const A: SubgroupAMode = !o.transA && o.k % 4 === 0 ? 'k4' : o.transA && o.m % 4 === 0 ? 'm4' : 'scalar';
  const B: SubgroupBMode = !o.transB && o.n % 4 === 0 ? 'n4' : o.transB && o.k % 4 === 0 ? 'k4' : 'scalar';
  return { A, B };
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
    if (B !== 'scalar') header = replaceOnce(header, 'var<storage, read> b: array<f32>;', 'var<storage, read> b: array<vec4<f32>>;');
    wgsl = 'enable subgroups;\n' + header + expandSubgroupTemplate(TEMPLATE, A, B);
    cache.set(key, wgsl);
  }
  return { name: 'matmul_subgroup', wgsl, defines: { A, B } };
}

function replaceOnce(text: string, from: string, to: string): string {
  if (!text.includes(from)) throw new Error(`matmul.wgsl: expected the declaration '${from}', got none`);
  return text.replace(from, to);
}
