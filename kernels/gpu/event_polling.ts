// How the process waits for the GPU. Dawn's Node binding (its AsyncRunner) learns that a
// mapAsync or onSubmittedWorkDone has finished by polling: while any such promise is pending it
// re-arms `globalThis.setImmediate` with a native callback that calls ProcessEvents, i.e. a busy
// loop that keeps one core at 100% (7,646 polls in 85 ms for 40 small reads, measured here).
// On a real GPU that only burns a host core; on a CPU adapter (lavapipe) the spinning thread
// competes with the very threads that run the kernels, and on a 2-core machine it made training
// steps 1.5–2× slower (BENCHMARKS.md, "Waiting for the GPU without spinning").
//
// `sleep` mode keeps the first `spinMs` of each wait as it is (short waits stay fast), then
// re-arms Dawn's poll with a 1 ms timer instead. Only Dawn's own native callback is rerouted;
// every other setImmediate in the process is untouched.

export type PollMode = 'spin' | 'sleep';

/** A gap without polls longer than this ends a wait; the next poll starts a new one. */
const NEW_WAIT_GAP_MS = 5;

let installed: PollMode | undefined;
let originalSetImmediate: typeof setImmediate | undefined;

function isNative(fn: unknown): boolean {
  return typeof fn === 'function' && Function.prototype.toString.call(fn).includes('[native code]');
}

/** Routes Dawn's event polling per `mode`; idempotent, and `spin` undoes `sleep`. */
export function setGpuPolling(mode: PollMode, spinMs = 0.2): void {
  if (installed === mode) return;
  if (!originalSetImmediate) originalSetImmediate = globalThis.setImmediate;
  const immediate = originalSetImmediate;
  installed = mode;
  if (mode === 'spin') {
    globalThis.setImmediate = immediate;
    return;
  }
  let waitStart = 0;
  let lastPoll = -Infinity;
  const routed = function (this: unknown, fn: (...args: unknown[]) => void, ...args: unknown[]) {
    if (!isNative(fn)) return immediate(fn, ...args);
    const now = performance.now();
    if (now - lastPoll > NEW_WAIT_GAP_MS) waitStart = now;
    lastPoll = now;
    if (now - waitStart < spinMs) return immediate(fn, ...args);
    return setTimeout(fn, 1, ...args) as unknown as NodeJS.Immediate;
  };
  globalThis.setImmediate = Object.assign(routed, immediate) as typeof setImmediate;
}

/** The mode in force (`spin` until something installs `sleep`). */
export function gpuPolling(): PollMode {
  return installed ?? 'spin';
}
