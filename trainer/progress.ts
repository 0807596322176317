// A one-line progress bar for long work: done/total, rate, ETA and free-form stats (e.g. loss).
// Redraws in place on a TTY; on a pipe or in CI prints a line every `everyMs` instead.

export class Progress {
  private readonly start = performance.now();
  private lastPrint = 0;
  private lastDone = -1;
  private readonly tty = Boolean(process.stderr.isTTY);

  constructor(
    private readonly label: string,
    private readonly total: number,
    private readonly unit = 'it',
    private readonly everyMs = 10_000,
  ) {}

  update(done: number, stats: Record<string, string | number> = {}, force = false): void {
    const now = performance.now();
    if (!force && now - this.lastPrint < (this.tty ? 200 : this.everyMs)) return;
    if (force && !this.tty && done === this.lastDone) return; // already printed this exact line
    this.lastPrint = now;
    this.lastDone = done;
    const secs = (now - this.start) / 1000;
    const frac = this.total > 0 ? Math.min(done / this.total, 1) : 1;
    const width = 24;
    const bar = '█'.repeat(Math.round(frac * width)).padEnd(width, '·');
    const eta = done > 0 ? (secs / done) * (this.total - done) : NaN;
    const extra = Object.entries(stats)
      .map(([k, v]) => `${k} ${typeof v === 'number' ? fmt(v) : v}`)
      .join('  ');
    const line = `${this.label} ${bar} ${done}/${this.total} ${this.unit}  ${fmtTime(secs)} elapsed, ETA ${Number.isFinite(eta) ? fmtTime(eta) : '?'}  ${extra}`;
    if (this.tty) process.stderr.write(`\r${line.slice(0, process.stderr.columns ? process.stderr.columns - 1 : 200)}\x1b[K`);
    else process.stderr.write(line + '\n');
  }

  done(stats: Record<string, string | number> = {}): void {
    this.update(this.total, stats, true);
    if (this.tty) process.stderr.write('\n');
  }
}

function fmt(v: number): string {
  if (Number.isInteger(v)) return String(v);
  return Math.abs(v) >= 100 ? v.toFixed(0) : v.toPrecision(4);
}

export function fmtTime(secs: number): string {
  if (secs < 60) return `${secs.toFixed(1)}s`;
  const m = Math.floor(secs / 60);
  return m < 60 ? `${m}m${String(Math.round(secs % 60)).padStart(2, '0')}s` : `${Math.floor(m / 60)}h${String(m % 60).padStart(2, '0')}m`;
}
