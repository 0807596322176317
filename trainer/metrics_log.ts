// metrics.jsonl as exactly the run's history, whatever kills and resumes happened. The file is
// never appended to: it is rewritten whole (atomically, trainer/atomic_write.ts) from
//  - the history: one line per validation evaluation, recorded in every checkpoint's trainer
//    state (`metrics`), so a resume rewrites the file from the checkpoint's history and a line
//    written after that checkpoint (by a run killed before its next save) is dropped, then
//    written again when the resumed run redoes that evaluation: never twice;
//  - the closing lines (the test line at the best epoch, baselines): a function of the saved model
//    selection, recomputed by every invocation that ends and written in one piece, so a resume of
//    a finished run rewrites the same lines and a kill between two of them loses none.
import { existsSync, readFileSync } from 'node:fs';
import { writeFileAtomic } from './atomic_write.js';

export type MetricsLine = Record<string, unknown>;

export class MetricsLog {
  private readonly history: MetricsLine[];
  private closing: MetricsLine[] = [];

  /** Starts the file as `history` (empty for a fresh run). No file when `path` is undefined. */
  constructor(private readonly path: string | undefined, history: readonly MetricsLine[] = []) {
    this.history = history.map((l) => ({ ...l }));
    this.flush();
  }

  /** Appends a line to the run's history (saved in the next checkpoint via `saved`). */
  record(line: MetricsLine): void {
    this.history.push(line);
    this.flush();
  }

  /** Sets the closing lines, replacing any set before. */
  close(lines: MetricsLine[]): void {
    this.closing = lines;
    this.flush();
  }

  /** The history to store in a checkpoint's trainer state (as JSON: NaN becomes null, as in the file). */
  get saved(): MetricsLine[] {
    return JSON.parse(JSON.stringify(this.history)) as MetricsLine[];
  }

  private flush(): void {
    if (!this.path) return;
    writeFileAtomic(this.path, [...this.history, ...this.closing].map((l) => JSON.stringify(l) + '\n').join(''));
  }
}

/** The history to continue from: none for a fresh run; the checkpoint's; or, for a checkpoint
 *  written before histories were recorded, the validation lines of the existing file up to the
 *  checkpoint's epoch, each epoch once (later copies were written by runs killed before saving). */
export function historyOf(ck: { epoch: number; trainerState: Record<string, unknown> } | undefined, path: string | undefined): MetricsLine[] {
  if (!ck) return [];
  const saved = ck.trainerState.metrics;
  if (Array.isArray(saved)) return saved as MetricsLine[];
  if (!path || !existsSync(path)) return [];
  const seen = new Set<number>();
  const out: MetricsLine[] = [];
  for (const text of readFileSync(path, 'utf8').split('\n')) {
    let l: MetricsLine;
    try {
      l = JSON.parse(text) as MetricsLine;
    } catch {
      continue; // a torn last line of an appending writer
    }
    if (typeof l !== 'object' || l === null || l.split !== 'validation' || typeof l.epoch !== 'number' || l.epoch > ck.epoch || seen.has(l.epoch)) continue;
    seen.add(l.epoch);
    out.push(l);
  }
  return out;
}
