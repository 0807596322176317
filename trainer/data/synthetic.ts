// The default dataset: a seeded synthetic interaction log in which order and time carry signal,
// so a sequential model can beat popularity and a time-aware one can beat a position-only one.
//
// Generative story, per user (all draws from one seeded RNG → deterministic per seed):
//   * Items 1..numItems are split at random into `numClusters` near-equal clusters; inside a
//     cluster items have a Zipf(`zipf`) popularity over a random order.
//   * The user starts in a cluster drawn with a mild Zipf (0.5) over clusters (some clusters are
//     more popular overall) — the user's "home" cluster.
//   * Time: events inside a session are `exp(gapMean)` seconds apart (gapMean per user, uniform in
//     [30, 600] s); after each event the session ends with probability `breakProb` (per user, in
//     [0.05, 0.3]) and the next event comes after a long break of 1 h + exp(36 h).
//   * Interest drift (Markov chain over clusters with per-user stickiness s ∈ stickiness range):
//     inside a session the user switches cluster with probability (1 − s)/2; after a long break
//     with probability min(0.9, 2(1 − s) + 0.3) — so a long gap predicts a switch. A switch goes
//     to the "next" cluster (c + 1 mod C) with probability 0.5, else to a uniform other cluster.
//   * Each event re-consumes a uniform item of the user's last 20 events with probability
//     `reconsumeProb`, otherwise draws an item of the current cluster by its Zipf popularity.
//   * Rating (1..5): round(3.2 + (current cluster = home ? 1 : 0) + 0.8·N(0,1)), clipped.
// Event counts per user are uniform in [minEvents, maxEvents]; events are emitted user by user.
import { DataError } from './errors.js';
import { DataRng } from './rng.js';
import { PAD_RAW_ID, type Interactions, type RawId } from './types.js';

export interface SyntheticOptions {
  seed: number;
  numUsers: number;
  /** Real items (dense ids 1..numItems; `Interactions.numItems` = numItems + 1). */
  numItems: number;
  numClusters: number;
  minEvents: number;
  maxEvents: number;
  /** Zipf exponent of item popularity within a cluster. */
  zipf: number;
  reconsumeProb: number;
  /** Range of the per-user probability of staying in the current cluster. */
  stickiness: [number, number];
  /** First timestamp (seconds); each user starts up to 180 days later. */
  startTime: number;
}

export const SYNTHETIC_DEFAULTS: SyntheticOptions = {
  seed: 1,
  numUsers: 2000,
  numItems: 2000,
  numClusters: 50,
  minEvents: 30,
  maxEvents: 120,
  zipf: 1.1,
  reconsumeProb: 0.08,
  stickiness: [0.75, 0.95],
  startTime: 1_500_000_000,
};

export interface SyntheticInteractions extends Interactions {
  /** Cluster of each item id (length numItems; entry 0 = 0xffffffff for padding). */
  itemCluster: Uint32Array;
  options: SyntheticOptions;
}

const HOUR = 3600;

function cumulativeZipf(n: number, s: number): Float64Array {
  const cum = new Float64Array(n);
  let acc = 0;
  for (let r = 0; r < n; r++) cum[r] = acc += 1 / Math.pow(r + 1, s);
  return cum;
}

export function generateSynthetic(partial: Partial<SyntheticOptions> = {}): SyntheticInteractions {
  const o: SyntheticOptions = { ...SYNTHETIC_DEFAULTS, ...partial };
  const bad = (what: string, got: unknown) => new DataError(`generateSynthetic: expected ${what}, got ${JSON.stringify(got)}`);
  for (const k of ['numUsers', 'numItems', 'numClusters', 'minEvents'] as const) {
    if (!Number.isInteger(o[k]) || o[k] < 1) throw bad(`${k} to be an integer ≥ 1`, o[k]);
  }
  if (o.numClusters > o.numItems) throw bad(`numClusters ≤ numItems (${o.numItems})`, o.numClusters);
  if (!Number.isInteger(o.maxEvents) || o.maxEvents < o.minEvents) throw bad(`maxEvents ≥ minEvents (${o.minEvents})`, o.maxEvents);
  if (!(o.reconsumeProb >= 0 && o.reconsumeProb <= 1)) throw bad('reconsumeProb in [0, 1]', o.reconsumeProb);
  const [s0, s1] = o.stickiness;
  if (!(s0 >= 0 && s0 <= s1 && s1 <= 1)) throw bad('stickiness [lo, hi] with 0 ≤ lo ≤ hi ≤ 1', o.stickiness);
  const endBound = o.startTime + 180 * 24 * HOUR + o.maxEvents * 30 * 24 * HOUR;
  if (endBound > 4294967295) throw bad('startTime small enough for u32 timestamps', o.startTime);

  const rng = new DataRng(o.seed);
  const C = o.numClusters;
  // Items → clusters (random), each cluster's items in a random popularity order.
  const perm = rng.shuffle(Uint32Array.from({ length: o.numItems }, (_, i) => i + 1));
  const clusterItems: Uint32Array[] = [];
  const itemCluster = new Uint32Array(o.numItems + 1);
  itemCluster[0] = 0xffffffff;
  for (let c = 0; c < C; c++) {
    const lo = Math.floor((c * o.numItems) / C);
    const hi = Math.floor(((c + 1) * o.numItems) / C);
    clusterItems.push(perm.slice(lo, hi));
    for (let k = lo; k < hi; k++) itemCluster[perm[k]!] = c;
  }
  const clusterCum = clusterItems.map((items) => cumulativeZipf(items.length, o.zipf));
  const homeCum = cumulativeZipf(C, 0.5);
  const homeOrder = rng.shuffle(Uint32Array.from({ length: C }, (_, i) => i));

  const total = (() => {
    let t = 0;
    const lengths = new Uint32Array(o.numUsers);
    for (let u = 0; u < o.numUsers; u++) t += lengths[u] = rng.int(o.minEvents, o.maxEvents);
    return { t, lengths };
  })();
  const users = new Uint32Array(total.t);
  const items = new Uint32Array(total.t);
  const timestamps = new Uint32Array(total.t);
  const ratings = new Float32Array(total.t);
  let e = 0;
  for (let u = 0; u < o.numUsers; u++) {
    const stick = s0 + (s1 - s0) * rng.next();
    const gapMean = 30 + 570 * rng.next();
    const breakProb = 0.05 + 0.25 * rng.next();
    const home = homeOrder[rng.pickCumulative(homeCum)]!;
    let cluster = home;
    let t = o.startTime + rng.int(0, 180 * 24 * HOUR);
    const first = e;
    for (let k = 0; k < total.lengths[u]!; k++, e++) {
      if (k > 0) {
        const longBreak = rng.next() < breakProb;
        t += longBreak ? HOUR + Math.round(rng.exp(36 * HOUR)) : 1 + Math.round(rng.exp(gapMean));
        const pSwitch = longBreak ? Math.min(0.9, 2 * (1 - stick) + 0.3) : (1 - stick) / 2;
        if (C > 1 && rng.next() < pSwitch) {
          cluster = rng.next() < 0.5 ? (cluster + 1) % C : (cluster + rng.int(1, C - 1)) % C;
        }
      }
      let item: number;
      if (k > 0 && rng.next() < o.reconsumeProb) {
        item = items[rng.int(Math.max(first, e - 20), e - 1)]!;
      } else {
        item = clusterItems[cluster]![rng.pickCumulative(clusterCum[cluster]!)]!;
      }
      users[e] = u;
      items[e] = item;
      timestamps[e] = t;
      const z = Math.sqrt(-2 * Math.log(1 - rng.next())) * Math.cos(2 * Math.PI * rng.next());
      ratings[e] = Math.min(5, Math.max(1, Math.round(3.2 + (cluster === home ? 1 : 0) + 0.8 * z)));
    }
  }
  const itemRawIds: RawId[] = [PAD_RAW_ID];
  for (let i = 1; i <= o.numItems; i++) itemRawIds.push(i);
  const desc = `synthetic(seed=${o.seed}, users=${o.numUsers}, items=${o.numItems}, clusters=${o.numClusters}, events/user=${o.minEvents}..${o.maxEvents})`;
  return {
    source: desc,
    format: 'synthetic',
    formatNote: `${desc}: cluster-Markov interests with time-dependent switching; ${total.t} events`,
    count: total.t,
    users,
    items,
    timestamps,
    ratings,
    hasRatings: true,
    timestampsSynthetic: false,
    numUsers: o.numUsers,
    numItems: o.numItems + 1,
    userRawIds: Array.from({ length: o.numUsers }, (_, i) => i),
    itemRawIds,
    itemCluster,
    options: o,
  };
}

/** Knobs of `--synthetic k=v,k=v` (trainer/cli.ts): the generator above at any scale. */
export const SYNTHETIC_KNOBS: Record<string, string> = {
  users: 'number of users (default 2000)',
  items: 'number of items, ids 1..items (default 2000)',
  events: 'total events, ≈ (each user draws a length uniform in [events/users/2, 3·events/users/2]); default: 30..120 per user',
  clusters: 'interest clusters (default 50, or items/10000 when larger); a user drifts between them',
  zipf: 'Zipf exponent of item popularity inside a cluster (default 1.1)',
  reconsume: 'probability an event repeats one of the user\'s last 20 items (default 0.08)',
  stickiness: 'lo:hi range of the per-user probability of staying in a cluster (default 0.75:0.95)',
  seed: 'RNG seed (default: the config seed)',
};

/** Parses "users=200000,items=10000000,events=50000000,seed=1" into generator options. */
export function parseSyntheticSpec(spec: string, defaultSeed = 1): Partial<SyntheticOptions> {
  const o: Partial<SyntheticOptions> = { seed: defaultSeed };
  let events: number | undefined;
  const known = Object.keys(SYNTHETIC_KNOBS).join(', ');
  for (const part of spec.split(',').map((s) => s.trim()).filter(Boolean)) {
    const [k, v] = part.split('=');
    if (v === undefined) throw new DataError(`--synthetic: expected key=value, got '${part}'. HINT: e.g. --synthetic users=200000,items=10000000,events=50000000,seed=1 (keys: ${known})`);
    const num = Number(v);
    const need = (ok: boolean, what: string) => {
      if (!ok) throw new DataError(`--synthetic: ${k} expected ${what}, got '${v}'`);
    };
    switch (k) {
      case 'users': need(Number.isInteger(num) && num >= 1, 'an integer ≥ 1'); o.numUsers = num; break;
      case 'items': need(Number.isInteger(num) && num >= 1, 'an integer ≥ 1'); o.numItems = num; break;
      case 'events': need(Number.isInteger(num) && num >= 1, 'an integer ≥ 1'); events = num; break;
      case 'clusters': need(Number.isInteger(num) && num >= 1, 'an integer ≥ 1'); o.numClusters = num; break;
      case 'zipf': need(num > 0, 'a number > 0'); o.zipf = num; break;
      case 'reconsume': need(num >= 0 && num <= 1, 'a probability in [0, 1]'); o.reconsumeProb = num; break;
      case 'seed': need(Number.isInteger(num), 'an integer'); o.seed = num; break;
      case 'stickiness': {
        const [lo, hi] = v.split(':').map(Number);
        need(lo !== undefined && hi !== undefined && lo >= 0 && lo <= hi && hi <= 1, 'lo:hi with 0 ≤ lo ≤ hi ≤ 1');
        o.stickiness = [lo!, hi!];
        break;
      }
      default: throw new DataError(`--synthetic: unknown knob '${k}'. HINT: known knobs: ${known}`);
    }
  }
  const users = o.numUsers ?? SYNTHETIC_DEFAULTS.numUsers;
  const items = o.numItems ?? SYNTHETIC_DEFAULTS.numItems;
  if (o.numClusters === undefined) o.numClusters = Math.min(items, Math.max(SYNTHETIC_DEFAULTS.numClusters, Math.round(items / 10000)));
  if (events !== undefined) {
    const mean = events / users;
    if (mean < 3) throw new DataError(`--synthetic: events=${events} over users=${users} is ${mean.toFixed(2)} per user, need ≥ 3 (training, validation and test events). HINT: raise events or lower users.`);
    o.minEvents = Math.max(3, Math.round(mean / 2));
    o.maxEvents = Math.max(o.minEvents, Math.round(2 * mean - o.minEvents));
  }
  return o;
}
