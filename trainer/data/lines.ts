// Streaming line reader over raw bytes (never the whole file in memory), with a cap on the length
// of one line: a file without newlines (a binary file, `/dev/zero`) gets a clear DataError instead
// of growing one string until V8 gives up ("RangeError: Invalid string length").
import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import { DataError, lineError } from './errors.js';

/** Longest line accepted by default (bytes, without the newline): far above any ratings line. */
export const DEFAULT_MAX_LINE_BYTES = 64 * 2 ** 20;

export interface LineReadOptions {
  /** Longest line in bytes; a longer one is a DataError. Default DEFAULT_MAX_LINE_BYTES. */
  maxLineBytes?: number;
}

/** What the reader saw at the end of the file (the truncation check uses it). */
export interface LineReadSummary {
  /** Whether the file's last byte is a newline (false also for an empty file). */
  endsWithNewline: boolean;
  /** The last non-empty line and its 1-based number ('' and 0 when none). */
  lastLine: string;
  lastLineNo: number;
}

const NEWLINE = 0x0a;

/**
 * Calls `onLine(line, lineNo)` for every non-empty line (1-based numbers; a trailing `\r` is
 * removed, so Windows line endings work; a UTF-8 BOM on line 1 is dropped). Empty
 * (whitespace-only) lines are allowed only at the start or the end of the file; one between data
 * lines is an error naming its line. Errors thrown by `onLine` close the stream and reject.
 */
export async function forEachLine(path: string, onLine: (line: string, lineNo: number) => void, opts: LineReadOptions = {}): Promise<LineReadSummary> {
  const max = opts.maxLineBytes ?? DEFAULT_MAX_LINE_BYTES;
  const stream = createReadStream(path, { highWaterMark: 1 << 20 });
  let lineNo = 0;
  let firstBlank = 0;
  let sawData = false;
  let lastByte = -1;
  const summary: LineReadSummary = { endsWithNewline: false, lastLine: '', lastLineNo: 0 };
  const tooLong = (bytes: number) =>
    new DataError(
      `${path}:${lineNo + 1}: expected lines of at most ${max} bytes, got a line of more than ${bytes} bytes without a newline. ` +
        `HINT: this does not look like a ratings text file (a binary file, a device such as /dev/zero, or a file with no line breaks); check --data.`,
    );
  const emit = (bytes: Buffer) => {
    lineNo++;
    let line = bytes.toString('utf8');
    if (line.endsWith('\r')) line = line.slice(0, -1);
    if (lineNo === 1 && line.charCodeAt(0) === 0xfeff) line = line.slice(1); // UTF-8 BOM
    if (line.trim() === '') {
      if (firstBlank === 0 && sawData) firstBlank = lineNo;
      return;
    }
    if (firstBlank !== 0) {
      throw lineError(path, firstBlank, `expected data or end of file, got an empty line followed by more data at line ${lineNo}`, '');
    }
    sawData = true;
    summary.lastLine = line;
    summary.lastLineNo = lineNo;
    onLine(line, lineNo);
  };
  let pending: Buffer[] = [];
  let pendingLen = 0;
  try {
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      if (chunk.length === 0) continue;
      lastByte = chunk[chunk.length - 1]!;
      let start = 0;
      for (;;) {
        const nl = chunk.indexOf(NEWLINE, start);
        if (nl < 0) break;
        const piece = chunk.subarray(start, nl);
        if (pendingLen + piece.length > max) throw tooLong(max);
        const line = pendingLen > 0 ? Buffer.concat([...pending, piece]) : piece;
        pending = [];
        pendingLen = 0;
        emit(line);
        start = nl + 1;
      }
      if (start < chunk.length) {
        const rest = chunk.subarray(start);
        if (pendingLen + rest.length > max) throw tooLong(max);
        pending.push(rest);
        pendingLen += rest.length;
      }
    }
    if (pendingLen > 0) emit(Buffer.concat(pending));
    summary.endsWithNewline = lastByte === NEWLINE;
    return summary;
  } finally {
    stream.destroy();
  }
}

/** The first non-empty line of a file (reads at most 64 KiB), without `\r`/BOM; '' when none. */
export async function firstLine(path: string): Promise<string> {
  const stream = createReadStream(path, { encoding: 'utf8', start: 0, end: 65535 });
  const rl = createInterface({ input: stream, crlfDelay: Infinity });
  try {
    for await (let line of rl) {
      if (line.endsWith('\r')) line = line.slice(0, -1);
      if (line.charCodeAt(0) === 0xfeff) line = line.slice(1);
      if (line.trim() !== '') return line;
    }
    return '';
  } finally {
    rl.close();
    stream.destroy();
  }
}
