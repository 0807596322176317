// Shared data types of the trainer's data layer: an interaction log (what parsers and the
// synthetic generator produce) with its raw → dense id maps.

/** Padding / "no item" id. Real items have dense ids 1..numItems−1. */
export const PAD_ITEM = 0;
/** What `itemRawIds[0]` holds: a placeholder for the padding id (no raw item maps to it). */
export const PAD_RAW_ID = '<pad>';

/** A raw id as read from a file: a number when the field is a canonical non-negative integer
 * (`"42"` → 42; `"007"` stays the string `"007"`), otherwise the string itself. */
export type RawId = string | number;

/** File formats `loadInteractions` understands (see load.ts for each one's layout). */
export type ConcreteFormat = 'ml-1m' | 'ml-100k' | 'ratings-csv' | 'sasrec' | 'seq-per-line' | 'csv' | 'parquet';
export type DataFormat = ConcreteFormat | 'auto';

/**
 * An interaction log in file (or generation) order, structure-of-arrays. Event e is
 * `(users[e], items[e], timestamps[e], ratings[e])`.
 *
 * Dense ids: users are 0..numUsers−1, items 1..numItems−1 (0 = padding, `PAD_ITEM`). Both are
 * assigned in ascending raw-id order (numeric raw ids by value first, then string ids by code
 * units), so the mapping does not depend on the order of lines in the file.
 */
export interface Interactions {
  /** Where the events came from: a file path, or e.g. `synthetic(seed=1,…)`. */
  source: string;
  format: ConcreteFormat | 'synthetic';
  /** One human-readable line on how the format was chosen/what was synthesised. */
  formatNote: string;
  /** Number of events. */
  count: number;
  /** Dense user id per event, 0-based. */
  users: Uint32Array;
  /** Dense item id per event, ≥ 1. */
  items: Uint32Array;
  /** Seconds (u32). When `timestampsSynthetic`, the 0-based index of the event within its user. */
  timestamps: Uint32Array;
  /** Rating per event; all 0 when `hasRatings` is false. */
  ratings: Float32Array;
  hasRatings: boolean;
  /** True for formats without time (SASRec text, CSV without a timestamp column): the
   * timestamp of an event is its position among that user's lines (0, 1, 2, …). */
  timestampsSynthetic: boolean;
  numUsers: number;
  /** Max dense item id + 1 (the padding id 0 counts); embedding tables have this many rows. */
  numItems: number;
  /** Raw id of each dense user id (length numUsers). */
  userRawIds: RawId[];
  /** Raw id of each dense item id (length numItems); index 0 holds `PAD_RAW_ID`. */
  itemRawIds: RawId[];
}

/**
 * Per-user event sequences in CSR form, rows indexed by dense user id: user u's events are
 * `offsets[u] .. offsets[u+1]−1` of the flat arrays, sorted by (timestamp, original order).
 */
export interface Sequences {
  numUsers: number;
  numItems: number;
  /** Length numUsers + 1, offsets[0] = 0. */
  offsets: Uint32Array;
  items: Uint32Array;
  timestamps: Uint32Array;
  ratings: Float32Array;
}
