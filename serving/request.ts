// Validation of decoded request bodies (JSON or protobuf, same plain shape: serving/codec.ts) into
// typed requests. Every problem is a 4xx RequestError saying what was wrong and how to fix it;
// nothing here touches the model or the cache.
import { badRequest } from './errors.js';

export interface Limits {
  /** Most history events a request may carry (the model's maxLen − 1). */
  maxHistory: number;
  /** Most candidates per /v1/score request. */
  maxCandidates: number;
  /** Largest top_k / retrieve_k. */
  maxTopK: number;
}

export interface ParsedEvent {
  itemId: string;
  timestamp: number;
  action: number;
}

export interface ParsedScore {
  userId: string;
  history: ParsedEvent[];
  candidates: string[];
  topK: number;
  requestTime: number;
  skipUnknown: boolean;
}

export interface ParsedRecommend {
  userId: string;
  history: ParsedEvent[];
  topK: number;
  retrieveK: number;
  requestTime: number;
  skipUnknown: boolean;
}

const SCORE_FIELDS = ['user_id', 'history', 'candidates', 'top_k', 'request_time', 'skip_unknown_items'];
const RECOMMEND_FIELDS = ['user_id', 'history', 'top_k', 'retrieve_k', 'request_time', 'skip_unknown_items'];
const EVENT_FIELDS = ['item_id', 'timestamp', 'action'];

function checkFields(o: Record<string, unknown>, allowed: string[], what: string): void {
  for (const k of Object.keys(o)) {
    if (!allowed.includes(k)) throw badRequest('unknown_field', `unknown field '${k}' in ${what}.`, `allowed fields: ${allowed.join(', ')} (snake_case, as in serving/proto/serving.proto).`);
  }
}

function u32(v: unknown, name: string, dflt?: number): number {
  if (v === undefined || v === null) {
    if (dflt !== undefined) return dflt;
    throw badRequest('missing_field', `${name} is missing.`, `send ${name} as an integer.`);
  }
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v >= 2 ** 32) throw badRequest('bad_field', `${name} must be an integer in [0, 2^32), got ${JSON.stringify(v)}.`, `send ${name} as a non-negative integer.`);
  return v;
}

function itemId(v: unknown, name: string): string {
  if (typeof v === 'number' && Number.isFinite(v)) return String(v);
  if (typeof v === 'string' && v.length > 0 && v.length <= 256) return v;
  throw badRequest('bad_item_id', `${name} must be a non-empty string (or number) item id, got ${JSON.stringify(v)?.slice(0, 80)}.`, 'send the raw item ids of the training data (MovieLens: "242").');
}

function userId(v: unknown): string {
  if (v === undefined || v === null || v === '') return 'anonymous';
  if (typeof v !== 'string' || v.length > 256) throw badRequest('bad_field', `user_id must be a string of at most 256 characters, got ${JSON.stringify(v)?.slice(0, 80)}.`, 'send the user id as a string.');
  return v;
}

function bool(v: unknown, name: string): boolean {
  if (v === undefined || v === null) return false;
  if (typeof v !== 'boolean') throw badRequest('bad_field', `${name} must be true or false, got ${JSON.stringify(v)}.`, `send ${name} as a boolean.`);
  return v;
}

function history(v: unknown, limits: Limits, needActions: boolean): ParsedEvent[] {
  if (v === undefined || v === null || (Array.isArray(v) && v.length === 0)) throw badRequest('empty_history', 'history is empty.', 'send at least one event {item_id, timestamp, action}, oldest first.');
  if (!Array.isArray(v)) throw badRequest('bad_field', `history must be an array of events, got ${typeof v}.`, 'send [{"item_id": "242", "timestamp": 881250949, "action": 3}, ...].');
  if (v.length > limits.maxHistory) throw badRequest('history_too_long', `history has ${v.length} events, at most ${limits.maxHistory} are allowed.`, `send the most recent ${limits.maxHistory} events.`);
  return v.map((e: unknown, i) => {
    if (typeof e !== 'object' || e === null || Array.isArray(e)) throw badRequest('bad_field', `history[${i}] must be an object, got ${JSON.stringify(e)?.slice(0, 80)}.`, 'send {"item_id", "timestamp", "action"}.');
    const ev = e as Record<string, unknown>;
    checkFields(ev, EVENT_FIELDS, `history[${i}]`);
    const action = u32(ev.action, `history[${i}].action`, needActions ? undefined : 1);
    if (needActions && action === 0) throw badRequest('bad_field', `history[${i}].action is 0.`, 'send the action id (1..numActions; MovieLens: the rating 1–5).');
    return { itemId: itemId(ev.item_id, `history[${i}].item_id`), timestamp: u32(ev.timestamp, `history[${i}].timestamp`), action };
  });
}

function topK(v: unknown, name: string, limits: Limits, dflt: number): number {
  const k = u32(v, name, dflt);
  if (k > limits.maxTopK) throw badRequest('bad_field', `${name} = ${k} is over the limit ${limits.maxTopK}.`, `ask for at most ${limits.maxTopK}.`);
  return k;
}

export function parseScoreRequest(o: Record<string, unknown>, limits: Limits): ParsedScore {
  checkFields(o, SCORE_FIELDS, 'the score request');
  const c = o.candidates;
  if (c === undefined || c === null || (Array.isArray(c) && c.length === 0)) throw badRequest('no_candidates', 'candidates is empty.', 'send at least one candidate item id.');
  if (!Array.isArray(c)) throw badRequest('bad_field', `candidates must be an array of item ids, got ${typeof c}.`, 'send ["242", "302", ...].');
  if (c.length > limits.maxCandidates) throw badRequest('too_many_candidates', `${c.length} candidates, at most ${limits.maxCandidates} per request.`, `split them into requests of ≤ ${limits.maxCandidates}.`);
  return {
    userId: userId(o.user_id),
    history: history(o.history, limits, true),
    candidates: c.map((x, i) => itemId(x, `candidates[${i}]`)),
    topK: topK(o.top_k, 'top_k', limits, 0),
    requestTime: u32(o.request_time, 'request_time', 0),
    skipUnknown: bool(o.skip_unknown_items, 'skip_unknown_items'),
  };
}

export function parseRecommendRequest(o: Record<string, unknown>, limits: Limits, needActions: boolean): ParsedRecommend {
  checkFields(o, RECOMMEND_FIELDS, 'the recommend request');
  const k = topK(o.top_k, 'top_k', limits, 10) || 10;
  const retrieveK = topK(o.retrieve_k, 'retrieve_k', limits, Math.min(limits.maxTopK, Math.max(10 * k, 100))) || Math.min(limits.maxTopK, Math.max(10 * k, 100));
  if (retrieveK < k) throw badRequest('bad_field', `retrieve_k = ${retrieveK} is below top_k = ${k}.`, 'ask retrieval for at least top_k candidates.');
  return {
    userId: userId(o.user_id),
    history: history(o.history, limits, needActions),
    topK: k,
    retrieveK,
    requestTime: u32(o.request_time, 'request_time', 0),
    skipUnknown: bool(o.skip_unknown_items, 'skip_unknown_items'),
  };
}
