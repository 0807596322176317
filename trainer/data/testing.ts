// Test helpers for the data layer (not used by production code).
import { InteractionBuilder } from './builder.js';
import type { Interactions } from './types.js';

/** Interactions from [user, item, timestamp] triples (raw ids = the numbers given); the rating of
 * each event is its line index, so tests can track the original order. */
export function fromTriples(rows: [number, number, number][]): Interactions {
  const b = new InteractionBuilder(false);
  rows.forEach(([u, i, t], k) => b.add(String(u), String(i), t, k));
  return b.finish({ source: 'test', format: 'csv', formatNote: '', hasRatings: true });
}
