// Errors a client caused (HTTP 4xx): the message says what was wrong, `hint` how to fix it.
export class RequestError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly hint: string,
  ) {
    super(`${message} HINT: ${hint}`);
    this.name = 'RequestError';
  }
}

export const badRequest = (code: string, message: string, hint: string): RequestError => new RequestError(400, code, message, hint);
