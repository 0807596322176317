// Compute pipelines cached by kernel name + compile-time facts only (workgroup size, variant,
// features). Shapes never enter the key: they travel as uniforms, so one pipeline serves all.
import { checkedShaderModule, withErrorScopes } from './errors.js';
import { flags } from './flags.js';
import { spliceIncludes } from './wgsl_includes.js';

export interface KernelSource {
  /** Kernel name, used in labels and error messages (`matmul`, `silu_bwd`, ...). */
  name: string;
  /** WGSL text. `{{NAME}}` placeholders are replaced from `defines` before compiling. */
  wgsl: string;
  /** Compile-time facts substituted into the WGSL; they form the cache key. */
  defines?: Record<string, string | number | boolean>;
  entryPoint?: string;
}

export function specialize(src: KernelSource): string {
  let code = spliceIncludes(src.name, src.wgsl);
  for (const [k, v] of Object.entries(src.defines ?? {})) code = code.replaceAll(`{{${k}}}`, String(v));
  const missing = code.match(/\{\{[A-Z0-9_]+\}\}/);
  if (missing) throw new Error(`kernel ${src.name}: WGSL placeholder ${missing[0]} has no define`);
  return code;
}

export function pipelineKey(src: KernelSource): string {
  const defs = Object.entries(src.defines ?? {})
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([k, v]) => `${k}=${v}`)
    .join(',');
  return `${src.name}|${src.entryPoint ?? 'main'}|${defs}`;
}

export class PipelineCache {
  private readonly cache = new Map<string, Promise<GPUComputePipeline>>();
  private readonly ready = new Map<string, GPUComputePipeline>();
  /** Compilations run one at a time: error scopes are a per-device stack, so two compilations
   *  interleaved at their awaits would catch (and blame) each other's errors. */
  private queue: Promise<unknown> = Promise.resolve();
  compiled = 0;

  constructor(private readonly device: GPUDevice) {}

  /** Compiles (once) and returns the pipeline; compilation errors throw with the WGSL line. */
  async get(src: KernelSource): Promise<GPUComputePipeline> {
    const key = pipelineKey(src);
    const hit = this.ready.get(key);
    if (hit) return hit;
    let pending = this.cache.get(key);
    if (!pending) {
      pending = this.queue.then(() => this.compile(src, key));
      this.queue = pending.catch(() => undefined);
      this.cache.set(key, pending);
      pending.catch(() => this.cache.delete(key));
    }
    const pipeline = await pending;
    this.ready.set(key, pipeline);
    return pipeline;
  }

  /** Synchronous lookup for hot paths that compiled ahead (throws if not compiled yet). */
  getReady(src: KernelSource): GPUComputePipeline {
    const hit = this.ready.get(pipelineKey(src));
    if (!hit) throw new Error(`kernel ${src.name}: pipeline not compiled yet; await gpu.pipelines.get() first`);
    return hit;
  }

  private async compile(src: KernelSource, key: string): Promise<GPUComputePipeline> {
    const code = specialize(src);
    try {
      const module = await checkedShaderModule(this.device, src.name, code);
      const pipeline = await withErrorScopes(this.device, `kernel ${src.name}: pipeline creation`, () =>
        this.device.createComputePipeline({
          label: `${src.name}:pipeline`,
          layout: 'auto',
          compute: { module, entryPoint: src.entryPoint ?? 'main' },
        }),
      );
      this.compiled++;
      return pipeline;
    } catch (e) {
      if (flags().debug) console.error(`---- WGSL of ${key} ----\n${numbered(code)}`);
      throw e;
    }
  }
}

function numbered(code: string): string {
  return code
    .split('\n')
    .map((l, i) => `${String(i + 1).padStart(4)}  ${l}`)
    .join('\n');
}
