import { describe, expect, it } from 'vitest';
import { crc32c, hex32 } from './checksum.js';

describe('crc32c', () => {
  it('matches the CRC-32C check values (RFC 3720 B.4 and the catalogue "123456789")', () => {
    const enc = (s: string) => new TextEncoder().encode(s);
    expect(hex32(crc32c(enc('123456789')))).toBe('0xe3069283');
    expect(hex32(crc32c(new Uint8Array(32)))).toBe('0x8a9136aa');
    expect(hex32(crc32c(new Uint8Array(32).fill(0xff)))).toBe('0x62a8ab43');
    expect(hex32(crc32c(Uint8Array.from({ length: 32 }, (_, i) => i)))).toBe('0x46dd794e');
    expect(crc32c(new Uint8Array(0))).toBe(0);
  });

  it('continues from a seed: crc(a ‖ b) = crc(b, crc(a))', () => {
    const a = Uint8Array.from({ length: 1000 }, (_, i) => (i * 31) & 255);
    expect(crc32c(a.subarray(400), crc32c(a.subarray(0, 400)))).toBe(crc32c(a));
  });

  it('changes under every single-bit flip of a 2 KiB message', () => {
    const m = Uint8Array.from({ length: 2048 }, (_, i) => (i * 131 + 7) & 255);
    const ref = crc32c(m);
    for (let bit = 0; bit < m.length * 8; bit++) {
      m[bit >> 3]! ^= 1 << (bit & 7);
      if (crc32c(m) === ref) throw new Error(`flip of bit ${bit} kept the crc`);
      m[bit >> 3]! ^= 1 << (bit & 7);
    }
  });
});
