// Raw id (string field) → dense id. Ids are first numbered in order of appearance while
// streaming, then renumbered in ascending raw-id order so the result does not depend on line order.
import type { RawId } from './types.js';

/** `"42"` → 42, `"007"`/`"a1"`/`"1e3"` stay strings (only canonical non-negative safe integers become numbers). */
export function toRawId(field: string): RawId {
  if (/^(0|[1-9][0-9]{0,15})$/.test(field)) {
    const n = Number(field);
    if (Number.isSafeInteger(n)) return n;
  }
  return field;
}

/** Numbers ascending by value, then strings ascending by code units. */
export function compareRawIds(a: RawId, b: RawId): number {
  if (typeof a === 'number') return typeof b === 'number' ? a - b : -1;
  if (typeof b === 'number') return 1;
  return a < b ? -1 : a > b ? 1 : 0;
}

export class IdMapBuilder {
  private readonly index = new Map<string, number>();
  private readonly raw: string[] = [];

  /** Temporary id (order of first appearance, 0-based). */
  id(field: string): number {
    let t = this.index.get(field);
    if (t === undefined) {
      t = this.raw.length;
      this.index.set(field, t);
      this.raw.push(field);
    }
    return t;
  }

  get size(): number {
    return this.raw.length;
  }

  /**
   * Final numbering: `remap[temp] = dense` with dense ids starting at `base` in ascending raw-id
   * order, and `rawIds[dense] = raw` (entries below `base` are filled with `pad`).
   */
  finish(base: number, pad: RawId): { remap: Uint32Array; rawIds: RawId[] } {
    const raws = this.raw.map(toRawId);
    const order = Array.from(raws.keys()).sort((x, y) => compareRawIds(raws[x]!, raws[y]!) || x - y);
    const remap = new Uint32Array(raws.length);
    const rawIds: RawId[] = new Array<RawId>(base).fill(pad);
    order.forEach((temp, k) => {
      remap[temp] = base + k;
      rawIds.push(raws[temp]!);
    });
    return { remap, rawIds };
  }
}
