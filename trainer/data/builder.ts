// Accumulates parsed events into growable typed arrays and finishes them into `Interactions`.
import { GrowableF32, GrowableU32 } from './growable.js';
import { IdMapBuilder } from './idmap.js';
import { PAD_ITEM, PAD_RAW_ID, type Interactions } from './types.js';

export class InteractionBuilder {
  private readonly users = new IdMapBuilder();
  private readonly items = new IdMapBuilder();
  private readonly u = new GrowableU32(1 << 16);
  private readonly i = new GrowableU32(1 << 16);
  private readonly t = new GrowableU32(1 << 16);
  private readonly r = new GrowableF32(1 << 16);
  /** Per temporary user id: events seen so far (for synthetic timestamps). */
  private readonly perUser = new GrowableU32(1024);

  /** @param syntheticTime when true, `timestamp` arguments are ignored and each event gets its
   * index among its user's events as timestamp. */
  constructor(private readonly syntheticTime: boolean) {}

  get count(): number {
    return this.u.length;
  }

  add(userField: string, itemField: string, timestamp: number, rating: number): void {
    const user = this.users.id(userField);
    if (user === this.perUser.length) this.perUser.push(0);
    if (this.syntheticTime) {
      timestamp = this.perUser.get(user);
    }
    this.perUser.set(user, this.perUser.get(user) + 1);
    this.u.push(user);
    this.i.push(this.items.id(itemField));
    this.t.push(timestamp);
    this.r.push(rating);
  }

  finish(meta: Pick<Interactions, 'source' | 'format' | 'formatNote' | 'hasRatings'>): Interactions {
    const userMap = this.users.finish(0, PAD_RAW_ID);
    const itemMap = this.items.finish(PAD_ITEM + 1, PAD_RAW_ID);
    const users = this.u.finish();
    const items = this.i.finish();
    for (let e = 0; e < users.length; e++) {
      users[e] = userMap.remap[users[e]!]!;
      items[e] = itemMap.remap[items[e]!]!;
    }
    return {
      ...meta,
      count: users.length,
      users,
      items,
      timestamps: this.t.finish(),
      ratings: meta.hasRatings ? this.r.finish() : new Float32Array(users.length),
      timestampsSynthetic: this.syntheticTime,
      numUsers: userMap.rawIds.length,
      numItems: itemMap.rawIds.length,
      userRawIds: userMap.rawIds,
      itemRawIds: itemMap.rawIds,
    };
  }
}
