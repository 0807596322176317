// Loud, specific errors for data loading: file, 1-based line, the line itself, what was expected.

/** Any error about input data (missing file, malformed line, bad option). */
export class DataError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DataError';
  }
}

const MAX_SHOWN = 80;

/** The line as a quoted JSON string (tabs/CR visible), truncated to 80 characters. */
export function showLine(line: string): string {
  const cut = line.length > MAX_SHOWN ? line.slice(0, MAX_SHOWN) : line;
  return JSON.stringify(cut) + (line.length > MAX_SHOWN ? `… (${line.length} chars)` : '');
}

/** `file:line: expected …, got …: "<line>"` */
export function lineError(file: string, lineNo: number, problem: string, line: string): DataError {
  return new DataError(`${file}:${lineNo}: ${problem}: ${showLine(line)}`);
}
