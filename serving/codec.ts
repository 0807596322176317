// Body codecs of the serving API: JSON and protobuf (serving/proto/serving.proto) map to the same
// plain objects (snake_case field names, protobufjs keepCase), so the handlers see one shape.
import { fileURLToPath } from 'node:url';
import protobuf from 'protobufjs';
import { RequestError } from './errors.js';

const PROTO_PATH = fileURLToPath(new URL('./proto/serving.proto', import.meta.url));
let root: protobuf.Root | undefined;
export function messageType(name: string): protobuf.Type {
  root ??= new protobuf.Root().loadSync(PROTO_PATH, { keepCase: true });
  return root.lookupType(`hstu.serving.${name}`);
}

export const JSON_TYPE = 'application/json';
export const PROTO_TYPE = 'application/x-protobuf';
export type BodyFormat = 'json' | 'protobuf';

/** The body format of a Content-Type header, or a 415 error. */
export function formatOf(contentType: string | undefined): BodyFormat {
  const base = (contentType ?? '').split(';')[0]!.trim().toLowerCase();
  if (base === JSON_TYPE) return 'json';
  if (base === PROTO_TYPE || base === 'application/protobuf' || base === 'application/octet-stream') return 'protobuf';
  throw new RequestError(415, 'unsupported_media_type', `Content-Type '${contentType ?? ''}' is not supported.`, `send ${JSON_TYPE} or ${PROTO_TYPE}.`);
}

/** Decodes a request body into a plain object (no defaults filled in for JSON). */
export function decodeBody(body: Buffer, format: BodyFormat, message: string): Record<string, unknown> {
  if (format === 'json') {
    let v: unknown;
    try {
      v = JSON.parse(body.toString('utf8'));
    } catch (e) {
      throw new RequestError(400, 'bad_json', `the body is not valid JSON (${(e as Error).message}).`, `send a JSON object as in serving/proto/serving.proto's ${message}.`);
    }
    if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new RequestError(400, 'bad_json', `expected a JSON object, got ${Array.isArray(v) ? 'an array' : v === null ? 'null' : typeof v}.`, `send a JSON object as in ${message}.`);
    return v as Record<string, unknown>;
  }
  try {
    const t = messageType(message);
    return t.toObject(t.decode(body), { longs: Number, defaults: false, arrays: true }) as Record<string, unknown>;
  } catch (e) {
    throw new RequestError(400, 'bad_protobuf', `the body is not a valid ${message} protobuf (${(e as Error).message}).`, `encode it with serving/proto/serving.proto's ${message}.`);
  }
}

/** Encodes a response object in the request's format. */
export function encodeBody(obj: Record<string, unknown>, format: BodyFormat, message: string): { body: Buffer; contentType: string } {
  if (format === 'json') return { body: Buffer.from(JSON.stringify(obj)), contentType: `${JSON_TYPE}; charset=utf-8` };
  const t = messageType(message);
  return { body: Buffer.from(t.encode(t.fromObject(obj)).finish()), contentType: PROTO_TYPE };
}
