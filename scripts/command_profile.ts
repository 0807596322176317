// Per-command profile of whatever `run` records (scripts/profile-step*.ts): every submit is split
// into one submit per command, each waited for, so each command's wall and CPU time (all threads:
// lavapipe runs kernels on the CPU) is its own. Timings only: the commands run as recorded.
import { Recorder, type Gpu } from '../kernels/gpu/index.js';

export type ProfiledCommand = { kind: string; kernel?: { name: string }; params?: ArrayBuffer };
export interface CommandTimes { ms: number; n: number; cpu: number }
export interface CommandProfile {
  /** Per command name (the kernel's, or 'copy'), plus 'host (outside commands)'. */
  times: Map<string, CommandTimes>;
  wallMs: number;
  cpuMs: number;
  commandsMs: number;
  commandsCpuMs: number;
}

const cpuMsOf = (c: NodeJS.CpuUsage) => (c.user + c.system) / 1000;

export async function profileCommands(gpu: Gpu, run: () => Promise<unknown>, nameOf: (cmd: ProfiledCommand) => string = (cmd) => (cmd.kind === 'dispatch' ? cmd.kernel!.name : 'copy')): Promise<CommandProfile> {
  const times = new Map<string, CommandTimes>();
  const proto = Recorder.prototype as unknown as { submit: (this: Recorder) => Promise<void> };
  const origSubmit = proto.submit;
  proto.submit = async function (this: Recorder) {
    const self = this as unknown as { cmds: ProfiledCommand[] };
    const cmds = self.cmds;
    self.cmds = [];
    for (const cmd of cmds) {
      self.cmds = [cmd];
      const t0 = performance.now(), c0 = process.cpuUsage();
      await origSubmit.call(this);
      await gpu.sync();
      const e = times.get(nameOf(cmd)) ?? { ms: 0, n: 0, cpu: 0 };
      e.ms += performance.now() - t0;
      e.cpu += cpuMsOf(process.cpuUsage(c0));
      e.n++;
      times.set(nameOf(cmd), e);
    }
  };
  const t0 = performance.now(), c0 = process.cpuUsage();
  try {
    await run();
  } finally {
    proto.submit = origSubmit;
  }
  const wallMs = performance.now() - t0, cpuMs = cpuMsOf(process.cpuUsage(c0));
  const commandsMs = [...times.values()].reduce((a, e) => a + e.ms, 0);
  const commandsCpuMs = [...times.values()].reduce((a, e) => a + e.cpu, 0);
  times.set('host (outside commands)', { ms: wallMs - commandsMs, n: 1, cpu: cpuMs - commandsCpuMs });
  return { times, wallMs, cpuMs, commandsMs, commandsCpuMs };
}

/** One line per command name, largest wall time first. */
export function printProfile(p: CommandProfile): void {
  for (const [name, e] of [...p.times.entries()].sort((a, b) => b[1].ms - a[1].ms)) {
    console.log(`${name.padEnd(40)} ${e.ms.toFixed(1).padStart(9)} ms  ${String(e.n).padStart(4)} calls  ${((100 * e.ms) / p.wallMs).toFixed(1).padStart(5)}%  CPU ${e.cpu.toFixed(1).padStart(8)} ms`);
  }
}
