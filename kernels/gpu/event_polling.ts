// How the process waits for the GPU. Dawn's Node binding (its AsyncRunner) learns that a
// mapAsync or onSubmittedWorkDone has finished by polling: while any such promise is pending it
// re-arms `globalThis.setImmediate` with a native callback that calls ProcessEvents, i.e. a busy
// loop that keeps one core at 100% (7,646 polls in 85 ms for 40 small reads, measured here).
// On a real GPU that only burns a host core; on a CPU adapter (lavapipe) the spinning thread
// competes with the very threads that run the kernels, and on a 2-core machine it made training
// steps 1.5–2× slower (BENCHMARKS.md, "Waiting for the GPU without spinning").
//
// `sleep` mode keeps the first `spinMs` of each wait as it is (short waits stay fast), then backs
// off: each later poll first sleeps a quarter of the time waited so far (≥ 50 µs), so a wait is
// overshot by at most ~25%, in a blocking Atomics.wait while that is under 1 ms (Node's timers
// cannot sleep less) and on a 1 ms timer beyond. Only Dawn's own native callback is rerouted;
// every other setImmediate in the process is untouched.

export type PollMode = 'spin' | 'sleep';

const MIN_SLEEP_MS = 0.05;
const sleeper = new Int32Array(new SharedArrayBuffer(4));

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
  // Dawn re-arms its poll from inside the poll while work is pending; a poll armed from anywhere
  // else (a new mapAsync, onSubmittedWorkDone) starts a new wait.
  let inPoll = false;
  let waitStart = 0;
  const routed = function (this: unknown, fn: (...args: unknown[]) => void, ...args: unknown[]) {
    if (!isNative(fn)) return immediate(fn, ...args);
    const now = performance.now();
    if (!inPoll) waitStart = now;
    const waited = now - waitStart;
    const sleepMs = waited < spinMs ? 0 : Math.max(MIN_SLEEP_MS, waited / 4);
    const poll = (...a: unknown[]) => {
      if (sleepMs > 0 && sleepMs < 1) Atomics.wait(sleeper, 0, 0, sleepMs);
      inPoll = true;
      try {
        fn(...a);
      } finally {
        inPoll = false;
      }
    };
    if (sleepMs >= 1) return setTimeout(poll, 1, ...args) as unknown as NodeJS.Immediate;
    return immediate(poll, ...args);
  };
  globalThis.setImmediate = Object.assign(routed, immediate) as typeof setImmediate;
}

/** The mode in force (`spin` until something installs `sleep`). */
export function gpuPolling(): PollMode {
  return installed ?? 'spin';
}
