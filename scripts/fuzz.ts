// The fuzz suite (issue 16): seeded, bounded, loopback only. One command:
//   npm run fuzz -- [--seed=1] [--http=3000] [--data=1000] [--checkpoint=300] [--targets=http,data,checkpoint] [--json=out.json]
// Prints per target the cases and outcomes (refused / ok pass; accepted, wrong, 5xx, hang, crash
// fail) and the failing cases with their generator and parameters; exits 1 on any failure.
import { writeFileSync } from 'node:fs';
import { formatReport, type TargetReport } from './fuzz/common.js';

const arg = (k: string, d: string) => process.argv.find((a) => a.startsWith(`--${k}=`))?.slice(k.length + 3) ?? d;
const seed = Number(arg('seed', '1'));
const targets = arg('targets', 'http,data,checkpoint').split(',');
const reports: TargetReport[] = [];
const t0 = Date.now();
for (const t of targets) {
  const t1 = Date.now();
  let r: TargetReport;
  if (t === 'http') r = await (await import('./fuzz/http.js')).fuzzHttp({ seed, cases: Number(arg('http', '3000')) });
  else if (t === 'data') r = await (await import('./fuzz/data.js')).fuzzData({ seed, cases: Number(arg('data', '1000')) });
  else if (t === 'checkpoint') r = await (await import('./fuzz/checkpoint.js')).fuzzCheckpoints({ seed, cases: Number(arg('checkpoint', '300')) });
  else throw new Error(`--targets: unknown target '${t}'. HINT: use http, data, checkpoint.`);
  reports.push(r);
  console.log(formatReport(r) + `  (${((Date.now() - t1) / 1000).toFixed(1)} s)`);
}
const failed = reports.reduce((a, r) => a + r.failures.length, 0);
console.log(`fuzz: ${reports.reduce((a, r) => a + r.cases, 0)} cases in ${((Date.now() - t0) / 1000).toFixed(1)} s, ${failed} failing`);
const out = arg('json', '');
if (out) writeFileSync(out, JSON.stringify(reports, null, 2));
process.exit(failed > 0 ? 1 : 0);
