// Streaming line reader: node:readline over fs.createReadStream (never the whole file in memory).
import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import { lineError } from './errors.js';

/**
 * Calls `onLine(line, lineNo)` for every non-empty line (1-based numbers; a trailing `\r` is
 * removed, so Windows line endings work). Empty (whitespace-only) lines are allowed only at the
 * start or the end of the file; one between data lines is an error naming its line. Errors thrown by `onLine`
 * close the stream and reject.
 */
export async function forEachLine(path: string, onLine: (line: string, lineNo: number) => void): Promise<void> {
  const stream = createReadStream(path, { encoding: 'utf8', highWaterMark: 1 << 20 });
  const rl = createInterface({ input: stream, crlfDelay: Infinity });
  let lineNo = 0;
  let firstBlank = 0;
  let sawData = false;
  try {
    for await (let line of rl) {
      lineNo++;
      if (line.endsWith('\r')) line = line.slice(0, -1);
      if (lineNo === 1 && line.charCodeAt(0) === 0xfeff) line = line.slice(1); // UTF-8 BOM
      if (line.trim() === '') {
        if (firstBlank === 0 && sawData) firstBlank = lineNo;
        continue;
      }
      if (firstBlank !== 0) {
        throw lineError(path, firstBlank, `expected data or end of file, got an empty line followed by more data at line ${lineNo}`, '');
      }
      sawData = true;
      onLine(line, lineNo);
    }
  } finally {
    rl.close();
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
