// CRC32C (Castagnoli) of byte ranges, the checksum checkpoints carry (trainer/checkpoint_integrity.ts).
// Why CRC32C: it detects every single-bit error and every burst of up to 32 bits in a message of
// any length (the guarantee the damaged-checkpoint tests rely on), and any other damage with
// probability 1 − 2⁻³²; it is the checksum of iSCSI, ext4 metadata and Snappy/LevelDB framing.
// Why the `crc-32` package (SheetJS): pure JavaScript with no dependencies and no install scripts
// (nothing native or downloaded at install), a synchronous API (checkpoints load synchronously;
// the WebAssembly hashers only offer async initialisation), and ~0.5 GB/s on one core here.
import CRC32C from 'crc-32/crc32c.js';

/** CRC32C of `bytes` as an unsigned 32-bit integer; `seed` continues an earlier crc32c(). */
export function crc32c(bytes: Uint8Array, seed?: number): number {
  return CRC32C.buf(bytes, seed === undefined ? undefined : seed | 0) >>> 0;
}

/** The bytes of a typed array (no copy). */
export function bytesOf(a: ArrayBufferView): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}

/** `0x` + 8 hex digits, for messages. */
export const hex32 = (x: number): string => `0x${(x >>> 0).toString(16).padStart(8, '0')}`;
