// Raw item ids (as in the training data) ↔ dense ids of a checkpoint (1..numItems; 0 = padding).
import { badRequest } from './errors.js';

export class ItemVocab {
  private readonly dense = new Map<string, number>();

  constructor(readonly rawIds: readonly string[]) {
    rawIds.forEach((raw, i) => {
      if (i > 0) this.dense.set(raw, i);
    });
  }

  get numItems(): number {
    return this.rawIds.length - 1;
  }

  has(raw: string): boolean {
    return this.dense.has(raw);
  }

  denseOf(raw: string): number | undefined {
    return this.dense.get(raw);
  }

  /** Dense ids of `raws`; unknown ids fail the request unless `skip` (then they are left out and
   *  reported; `keep` says which inputs survived, for parallel arrays). */
  map(raws: readonly string[], skip: boolean, what: string): { ids: Uint32Array; keep: number[]; skipped: string[] } {
    const ids: number[] = [], keep: number[] = [], skipped: string[] = [];
    raws.forEach((r, i) => {
      const d = this.dense.get(r);
      if (d === undefined) skipped.push(r);
      else {
        ids.push(d);
        keep.push(i);
      }
    });
    if (skipped.length > 0 && !skip) {
      const list = [...new Set(skipped)].slice(0, 5).map((s) => JSON.stringify(s)).join(', ');
      throw badRequest('unknown_item', `${skipped.length} unknown item id(s) in ${what}: ${list}${skipped.length > 5 ? ', …' : ''}.`, 'use item ids the checkpoint was trained on, or set "skip_unknown_items": true to drop them.');
    }
    return { ids: Uint32Array.from(ids), keep, skipped };
  }
}
