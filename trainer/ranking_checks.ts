// Refuse, before training, ranking data that cannot give a meaningful result: no user with the
// 2g + 1 events that the validation and test groups need (today's failure came only after
// training), no training window, or a like threshold under which every training rating, or none,
// is a like (the head's bias init is then log(0) = ±Inf and training "diverges").
import type { Config } from '../model/config.js';
import { DataError, seqLength, type Sequences } from './data/index.js';
import { shortUsersNote } from './data/evaluable.js';

export function requireRankingEvaluable(all: Sequences, train: Sequences, counts: { validation: number; test: number }, c: Config, source: string): void {
  const g = c.rankingEvalGroup, minEvents = 2 * g + 1;
  if (counts.validation === 0 || counts.test === 0) {
    throw new DataError(
      `${source}: no user has the ${minEvents} or more events that ranking evaluation needs (rankingEvalGroup ${g}: ${g} validation + ${g} test candidates and ≥ 1 history event; ${shortUsersNote(all, minEvents)}), ` +
        `so validation and test would have 0 examples. HINT: use a dataset where users have at least ${minEvents} rated interactions${g > 1 ? ', or lower --rankingEvalGroup' : ''}.`,
    );
  }
  let windows = 0;
  for (let u = 0; u < train.numUsers && windows === 0; u++) if (seqLength(train, u) >= 2) windows++;
  if (windows === 0) {
    throw new DataError(`${source}: after holding out the evaluation events, no user has the 2 training events a ranking window needs (1 history event + 1 candidate). HINT: use a dataset where users have at least ${minEvents + 1} rated interactions.`);
  }
  const n = train.offsets[train.numUsers]!;
  let likes = 0, lo = Infinity, hi = -Infinity;
  for (let e = 0; e < n; e++) {
    const r = train.ratings[e]!;
    if (r >= c.likeThreshold) likes++;
    if (r < lo) lo = r;
    if (r > hi) hi = r;
  }
  if (likes === 0 || likes === n) {
    throw new DataError(
      `${source}: with likeThreshold ${c.likeThreshold}, ${likes === 0 ? 'no' : 'every'} training rating is a like (ratings range over [${lo}, ${hi}]), ` +
        `so the like task has a single class: its base rate is ${likes === 0 ? 0 : 1} and its logit (the head's bias init) is ${likes === 0 ? '-' : '+'}Infinity, and AUC is undefined. ` +
        `HINT: pick --likeThreshold in (${lo}, ${hi}] so that some ratings are likes and some are not (MovieLens: 4).`,
    );
  }
}
