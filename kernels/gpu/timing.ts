// Kernel timing: GPU timestamps around the recorded work on real GPUs with timestamp-query;
// otherwise (and always on CPU adapters, where lavapipe's timestamps were seen to under-report a
// pass 5×: 118 ms against 640 ms of wall time) the wall time of submit + onSubmittedWorkDone,
// which includes ~0.1 ms of submit overhead per measurement.
import type { Gpu } from './device.js';
import type { Recorder } from './recorder.js';

export interface Timing {
  /** Milliseconds per repetition. */
  ms: number;
  method: 'timestamp' | 'wallclock';
}

/**
 * Times `record` (which records one repetition of the work into the recorder): warms up once,
 * then records `reps` repetitions into one submit and measures it. Returns ms per repetition.
 */
export async function timeRecorded(gpu: Gpu, record: (rec: Recorder) => void, reps = 10): Promise<Timing> {
  const warm = gpu.recorder('timing:warmup');
  record(warm);
  await warm.run();

  const rec = gpu.recorder('timing');
  for (let i = 0; i < reps; i++) record(rec);
  if (gpu.has('timestamp-query') && gpu.deviceClass === 'gpu') {
    const querySet = gpu.device.createQuerySet({ label: 'timing:queries', type: 'timestamp', count: 2 });
    const resolve = gpu.device.createBuffer({ label: 'timing:resolve', size: 16, usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC });
    const staging = gpu.device.createBuffer({ label: 'timing:staging', size: 16, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
    const t0 = performance.now();
    await rec.submit({ querySet, begin: 0, end: 1 });
    const enc = gpu.device.createCommandEncoder({ label: 'timing:resolve' });
    enc.resolveQuerySet(querySet, 0, 2, resolve, 0);
    enc.copyBufferToBuffer(resolve, 0, staging, 0, 16);
    gpu.device.queue.submit([enc.finish()]);
    await staging.mapAsync(GPUMapMode.READ);
    const wallMs = performance.now() - t0;
    const [begin, end] = new BigUint64Array(staging.getMappedRange().slice(0));
    staging.unmap();
    [querySet, resolve, staging].forEach((o) => o.destroy());
    const ns = Number(end! - begin!);
    // Some drivers return zeros or garbage when a pass boundary is crossed; trust wall time then.
    if (ns > wallMs * 1e6 * 0.5 && ns < wallMs * 1e6 * 1.5) return { ms: ns / 1e6 / reps, method: 'timestamp' };
    return { ms: wallMs / reps, method: 'wallclock' };
  }
  const t0 = performance.now();
  await rec.run();
  return { ms: (performance.now() - t0) / reps, method: 'wallclock' };
}
