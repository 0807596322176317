// Checksums of checkpoint files (format 2; trainer/proto/checkpoint.proto), three layers:
//  - every tensor carries the CRC32C of its data bytes, so damage is reported by tensor name (at
//    load they are recomputed only when the file checksum below fails: one pass over the data);
//  - the manifest carries `header_crc32c`, the CRC32C of a canonical text of everything else
//    (format version, task, config, step, epoch, item id map, trainer state, and each tensor's
//    name, shape, dtype, byte length and CRC): a flipped task flag, step or raw item id is caught
//    and named as metadata damage;
//  - the file ends with field 15 (`body_crc32c`, fixed32), the CRC32C of every byte before it,
//    so damage to the protobuf framing itself (tags, lengths) is refused too. CRC32C detects every
//    single-bit error at any length, so every single-bit flip of a format-2 file is refused.
import type { BlobDType } from './checkpoint.js';
import { crc32c } from './checksum.js';

/** Tag byte of the trailing `body_crc32c` field: field 15, wire type 5 (fixed32). */
export const BODY_CRC_TAG = (15 << 3) | 5;
const TRAILER_BYTES = 5;

export interface BlobMeta {
  name: string;
  shape: number[];
  dtype: BlobDType | string;
  byteLength: number;
  crc32c: number;
}

export interface HeaderFields {
  version: number;
  task: string;
  configJson: string;
  step: number;
  epoch: number;
  itemRawIds: string[];
  trainerStateJson: string;
  params: BlobMeta[];
  optimizerState: BlobMeta[];
}

/** CRC32C of the canonical JSON text of the header fields (independent of protobuf's encoding). */
export function headerCrc(h: HeaderFields): number {
  const blob = (b: BlobMeta) => [b.name, Array.from(b.shape), b.dtype, b.byteLength, b.crc32c >>> 0];
  const text = JSON.stringify([
    'hstu-checkpoint-header', h.version, h.task, h.configJson, h.step, h.epoch, h.itemRawIds, h.trainerStateJson,
    h.params.map(blob), h.optimizerState.map(blob),
  ]);
  return crc32c(new TextEncoder().encode(text));
}

/** `fileBytes` followed by the `body_crc32c` field holding the CRC32C of all of `fileBytes`. */
export function appendBodyCrc(fileBytes: Uint8Array): Uint8Array {
  const out = new Uint8Array(fileBytes.length + TRAILER_BYTES);
  out.set(fileBytes, 0);
  out[fileBytes.length] = BODY_CRC_TAG;
  new DataView(out.buffer).setUint32(fileBytes.length + 1, crc32c(fileBytes), true);
  return out;
}

/** Where the trailing `body_crc32c` field stands: absent (format 1 files, or a truncated file),
 *  present and matching every byte before it, or present and not matching. */
export function bodyCrcStatus(fileBytes: Uint8Array, minLength: number): 'absent' | 'ok' | 'mismatch' {
  const n = fileBytes.length;
  if (n < minLength + TRAILER_BYTES || fileBytes[n - TRAILER_BYTES] !== BODY_CRC_TAG) return 'absent';
  const stored = new DataView(fileBytes.buffer, fileBytes.byteOffset, n).getUint32(n - 4, true);
  return stored === crc32c(fileBytes.subarray(0, n - TRAILER_BYTES)) ? 'ok' : 'mismatch';
}
