export { createGpu, withGpu, Gpu, type DeviceClass, type AdapterSummary } from './device.js';
export { Tensor, BufferPool, numel, STORAGE_USAGE, type DType } from './buffers.js';
export { Recorder, Params, grid, type Binding } from './recorder.js';
export { PipelineCache, specialize, pipelineKey, type KernelSource } from './pipelines.js';
export { GpuError } from './errors.js';
export { timeRecorded, type Timing } from './timing.js';
export { flags, setFlags } from './flags.js';
