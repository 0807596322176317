// CPU time of this process's threads other than the main one (Linux /proc), for benchmarks on
// CPU adapters: lavapipe runs shaders on its own worker threads, so their CPU time is the work a
// kernel cost, independent of how much of the machine other processes took meanwhile (wall time
// is not). Returns undefined where /proc is unavailable.
import { readdirSync, readFileSync } from 'node:fs';

/** Milliseconds of user + system CPU used so far by every thread of this process except the main one. */
export function otherThreadsCpuMs(): number | undefined {
  try {
    const ticksPerMs = 100 / 1000; // USER_HZ is 100 on Linux
    let ticks = 0;
    for (const tid of readdirSync('/proc/self/task')) {
      if (tid === String(process.pid)) continue;
      const stat = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      ticks += Number(fields[11]) + Number(fields[12]); // utime, stime (fields 14, 15 of stat)
    }
    return ticks / ticksPerMs;
  } catch {
    return undefined;
  }
}
