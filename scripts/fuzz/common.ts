// Shared vocabulary of the fuzz suite (scripts/fuzz.ts): every case ends in one outcome, and only
// 'refused' (a clean 4xx / a clear error) and 'ok' (a valid input answered correctly) pass.
//   refused   malformed input turned away cleanly (HTTP 4xx; an Error with a message naming the cause)
//   ok        an input that is valid by the contract was accepted with the right answer
//   accepted  malformed / damaged input was accepted ("silently wrong": the worst outcome)
//   wrong     a valid input got a different answer than it should (e.g. drift after fuzzing)
//   server-error  HTTP 5xx
//   hang      no answer within the case's time limit
//   crash     an unexpected exception (TypeError, RangeError, …) or the server stopped answering
export type Outcome = 'refused' | 'ok' | 'accepted' | 'wrong' | 'server-error' | 'hang' | 'crash';
export const PASSING: readonly Outcome[] = ['refused', 'ok'];

export interface CaseResult {
  target: 'http' | 'data' | 'checkpoint';
  /** Generator name and its parameters, enough to reproduce with the same seed. */
  name: string;
  outcome: Outcome;
  detail: string;
}

export interface TargetReport {
  target: CaseResult['target'];
  seed: number;
  cases: number;
  counts: Record<Outcome, number>;
  failures: CaseResult[];
}

export function report(target: CaseResult['target'], seed: number, results: readonly CaseResult[]): TargetReport {
  const counts: Record<Outcome, number> = { refused: 0, ok: 0, accepted: 0, wrong: 0, 'server-error': 0, hang: 0, crash: 0 };
  for (const r of results) counts[r.outcome]++;
  return { target, seed, cases: results.length, counts, failures: results.filter((r) => !PASSING.includes(r.outcome)) };
}

export function formatReport(r: TargetReport, maxFailures = 15): string {
  const c = r.counts;
  const lines = [
    `${r.target.padEnd(10)} seed ${r.seed}: ${r.cases} cases — refused ${c.refused}, ok ${c.ok} | accepted ${c.accepted}, wrong ${c.wrong}, 5xx ${c['server-error']}, hang ${c.hang}, crash ${c.crash}`,
  ];
  for (const f of r.failures.slice(0, maxFailures)) lines.push(`  FAIL ${f.outcome}: ${f.name}: ${f.detail.slice(0, 300)}`);
  if (r.failures.length > maxFailures) lines.push(`  … ${r.failures.length - maxFailures} more failures`);
  return lines.join('\n');
}

/** Errors that mean "the code broke", not "the input was refused". */
export function isCrash(e: unknown): boolean {
  return e instanceof TypeError || e instanceof RangeError || e instanceof ReferenceError || e instanceof SyntaxError || !(e instanceof Error);
}

/** Resolves with `p`, or rejects with a 'hang' marker after `ms`. */
export function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new HangError(ms)), ms);
    p.then(
      (v) => (clearTimeout(t), resolve(v)),
      (e) => (clearTimeout(t), reject(e)),
    );
  });
}

export class HangError extends Error {
  constructor(ms: number) {
    super(`no answer within ${ms} ms`);
  }
}
