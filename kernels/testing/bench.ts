// Benchmark harness: every kernel's <kernel>.bench.ts exports `bench: BenchSpec`; the CLI
// (scripts/bench.ts, `npm run bench -- <name>`) runs them and prints a table or JSON lines.
import type { Gpu } from '../gpu/device.js';
import type { Recorder } from '../gpu/recorder.js';
import { timeRecorded } from '../gpu/timing.js';

export interface BenchRow {
  kernel: string;
  variant: string;
  shape: string;
  ms: number;
  /** Useful FLOPs per second / 1e9 (0 when the kernel is memory-bound by nature). */
  gflops: number;
  /** Bytes that must move (napkin math: read once + write once) per second / 1e9. */
  gbps: number;
  /** Percent of this device's ceiling: matmul GFLOP/s for compute-bound rows, copy GB/s otherwise. */
  pct_ceiling: number;
  /** Anything else worth recording (speedups, method, ...). */
  [extra: string]: string | number | boolean;
}

export interface Ceiling {
  copyGBps: number;
  matmulGflops: number;
}

export interface BenchContext {
  gpu: Gpu;
  /** Smaller shapes, fewer reps (used by tests of the bench harness and `--quick`). */
  quick: boolean;
  /** The device ceiling, measured once per process (see kernels/ceiling). */
  ceiling(): Promise<Ceiling>;
  /** Times the recorded work: ms per repetition. */
  time(record: (rec: Recorder) => void, reps?: number): Promise<number>;
  /** Builds a row, deriving GFLOP/s, GB/s and % of ceiling. */
  row(r: { kernel: string; variant: string; shape: string; ms: number; flops: number; bytes: number; bound?: 'compute' | 'memory'; extra?: Record<string, string | number | boolean> }): Promise<BenchRow>;
}

export interface BenchSpec {
  name: string;
  description: string;
  run(ctx: BenchContext): Promise<BenchRow[]>;
}

export function makeContext(gpu: Gpu, quick: boolean, measureCeiling: (gpu: Gpu, quick: boolean) => Promise<Ceiling>): BenchContext {
  let ceiling: Promise<Ceiling> | undefined;
  const ctx: BenchContext = {
    gpu,
    quick,
    ceiling: () => (ceiling ??= measureCeiling(gpu, quick)),
    time: async (record, reps) => (await timeRecorded(gpu, record, reps ?? (quick ? 2 : 5))).ms,
    row: async (r) => {
      const c = await ctx.ceiling();
      const gflops = r.flops / (r.ms * 1e6);
      const gbps = r.bytes / (r.ms * 1e6);
      const bound = r.bound ?? (r.flops > 0 ? 'compute' : 'memory');
      const pct = bound === 'compute' ? (100 * gflops) / c.matmulGflops : (100 * gbps) / c.copyGBps;
      return { kernel: r.kernel, variant: r.variant, shape: r.shape, ms: round(r.ms, 4), gflops: round(gflops, 3), gbps: round(gbps, 3), pct_ceiling: round(pct, 1), ...(r.extra ?? {}) };
    },
  };
  return ctx;
}

export function round(x: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

export function formatTable(rows: BenchRow[]): string {
  if (rows.length === 0) return '(no rows)';
  const base = ['kernel', 'variant', 'shape', 'ms', 'gflops', 'gbps', 'pct_ceiling'];
  const extras = [...new Set(rows.flatMap((r) => Object.keys(r)).filter((k) => !base.includes(k)))];
  const cols = [...base, ...extras];
  const cells = rows.map((r) => cols.map((c) => (r[c] === undefined ? '' : String(r[c]))));
  const widths = cols.map((c, i) => Math.max(c.length, ...cells.map((row) => row[i]!.length)));
  const line = (xs: string[]) => xs.map((x, i) => x.padEnd(widths[i]!)).join('  ').trimEnd();
  return [line(cols), line(widths.map((w) => '-'.repeat(w))), ...cells.map(line)].join('\n');
}
