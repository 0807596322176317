// Turns WebGPU's asynchronous error reporting into thrown errors that name the kernel and,
// for WGSL compilation errors, the line of WGSL at fault.

export class GpuError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'GpuError';
  }
}

/** Compiles WGSL and throws on any compilation error, quoting the offending line. */
export async function checkedShaderModule(device: GPUDevice, kernel: string, code: string): Promise<GPUShaderModule> {
  device.pushErrorScope('validation');
  const module = device.createShaderModule({ label: `${kernel}:shader`, code });
  const info = await module.getCompilationInfo();
  const scopeError = await device.popErrorScope();
  const errors = info.messages.filter((m) => m.type === 'error');
  if (errors.length > 0 || scopeError) {
    const lines = code.split('\n');
    const detail = errors
      .map((m) => `  line ${m.lineNum}:${m.linePos}: ${m.message}\n    > ${lines[m.lineNum - 1]?.trim() ?? ''}`)
      .join('\n');
    throw new GpuError(
      `kernel ${kernel}: WGSL compilation failed\n${detail || scopeError?.message}\n` +
        `HINT: set HSTU_DEBUG=1 to print the whole WGSL source.`,
    );
  }
  return module;
}

/** Runs `work` inside validation + out-of-memory error scopes and throws what they caught. */
export async function withErrorScopes<T>(device: GPUDevice, what: string, work: () => T): Promise<T> {
  device.pushErrorScope('out-of-memory');
  device.pushErrorScope('validation');
  let result: T;
  try {
    result = work();
  } finally {
    const validation = await device.popErrorScope();
    const oom = await device.popErrorScope();
    const err = validation ?? oom;
    if (err) {
      const kind = validation ? 'validation error' : 'out of memory';
      throw new GpuError(`${what}: ${kind}: ${err.message}`);
    }
  }
  return result;
}
