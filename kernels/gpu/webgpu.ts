// Installs the WebGPU globals (GPUBufferUsage, GPUMapMode, ...) from Dawn's Node bindings.
// Imported first by every module of kernels/gpu that touches them.
import { create, globals } from 'webgpu';

Object.assign(globalThis, globals);

// dawn.node segfaults at the next call if the object returned by create() is garbage-collected,
// so every one we make is kept for the life of the process.
const keepAlive: unknown[] = [];

export function createNavigatorGpu(dawnFlags: string[]): GPU {
  const g = create(dawnFlags);
  keepAlive.push(g);
  return g;
}
