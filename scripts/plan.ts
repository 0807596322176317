// The planner's command line: project a configuration to any scale (model/plan/), calibrate the
// local device, or validate the model against measured runs here.
//
//   npm run plan -- --preset NAME | --config FILE [--items N] [--users U] [--events E] [--epochs K]
//                   [--workers W] [--device NAME] [--store device|host|redis|auto] [--sl-alpha A]
//                   [--dtype bf16|fp32] [--replicas R] [--price USD] [--json] [--key=value ...]
//   npm run plan -- --calibrate [--profile FILE] [--redis ADDR]   measure this device (writes FILE)
//   npm run plan -- --validate [--json] [--profile FILE] [--redis ADDR]   calibrate + run small configs, interleaved
//   npm run plan -- --list                             presets and devices
import { existsSync, readFileSync } from 'node:fs';
import { applyOverrides, defaultConfig, loadConfigFile, parseOverrides, validateConfig, type Config } from '../model/config.js';
import { deviceNames, deviceProfile, FALLBACK_CALIBRATION, PUBLISHED_DEVICES, type CalibrationFile } from '../model/plan/devices.js';
import { formatPlan, planJson } from '../model/plan/format.js';
import { plan, type PlanInput, type StoreKind } from '../model/plan/plan.js';
import { preset, PRESETS, presetNames } from '../model/plan/presets.js';

export const DEFAULT_PROFILE = '.bench/device-profile.json';
export const DEFAULT_REDIS = '127.0.0.1:7100';

export const USAGE = `usage: npm run plan -- --preset NAME | --config FILE [options] [--key=value ...]
       npm run plan -- --calibrate [--profile FILE] [--redis ADDR]
       npm run plan -- --validate [--json] [--profile FILE] [--redis ADDR] [--rows A,B]
       npm run plan -- --list
  --preset NAME     one of: ${presetNames().join(', ')}
  --config FILE     a model config (trainer/configs/...); needs --items
  --items N         real items in the catalogue        --users U   users (one example each per epoch)
  --events E        events per epoch                   --epochs K  epochs of the run
  --workers W       devices (one worker each; default: the preset's, else 1)
  --device NAME     one of: ${deviceNames().join(', ')} (default h100; 'local' = the calibrated device)
  --store S         device | host | redis | auto (default: the first tier the table fits)
  --sl-alpha A      Stochastic Length α in (0, 2] (0 = off; presets set their own)
  --dtype D         bf16 | fp32 compute (default: the preset's, fp32 for 'local')
  --replicas R      Redis replicas per primary (default 1)     --price USD  per device-hour
  --redis-node-gib G  memory per Redis node (default 256)
  --json            the plan as JSON
  --profile FILE    calibration file (default ${DEFAULT_PROFILE}; without it, --device local
                    uses a committed snapshot of the CI machine, with a note)
  --redis ADDR      --calibrate/--validate: the local Redis Cluster (default ${DEFAULT_REDIS}) whose
                    rows/s are measured and on which the 2-worker row trains
  --rows A,B        --validate: only these rows (the whole calibration still runs first)
  --key=value       any model config key (model/config.ts), e.g. --batchSize=64`;

export interface PlanArgs {
  mode: 'plan' | 'calibrate' | 'validate' | 'list' | 'help';
  preset?: string;
  config?: string;
  items?: number;
  users?: number;
  events?: number;
  epochs?: number;
  workers?: number;
  device: string;
  store: StoreKind | 'auto';
  slAlpha?: number;
  dtype?: 'bf16' | 'fp32';
  replicas?: number;
  price?: number;
  redisNodeGiB?: number;
  json: boolean;
  profile: string;
  redis: string;
  /** --validate: the rows to run (all when absent). */
  rows?: string[];
  overrides: string[];
}

export function parsePlanArgs(argv: readonly string[]): PlanArgs {
  const a: PlanArgs = { mode: 'plan', device: 'h100', store: 'auto', json: false, profile: DEFAULT_PROFILE, redis: DEFAULT_REDIS, overrides: [] };
  const value = (i: number, flag: string) => {
    const v = argv[i];
    if (v === undefined || v.startsWith('--')) throw new Error(`${flag} needs a value. HINT:\n${USAGE}`);
    return v;
  };
  const num = (s: string, flag: string, { int = true, min = 1 } = {}) => {
    const x = Number(s.replace(/_/g, ''));
    if (!Number.isFinite(x) || x < min || (int && !Number.isInteger(x))) throw new Error(`${flag}: expected ${int ? 'an integer' : 'a number'} ≥ ${min}, got '${s}'. HINT: e.g. ${flag} 1e9`);
    return x;
  };
  for (let i = 0; i < argv.length; i++) {
    const f = argv[i]!;
    if (f === '--help' || f === '-h') a.mode = 'help';
    else if (f === '--calibrate') a.mode = 'calibrate';
    else if (f === '--validate') a.mode = 'validate';
    else if (f === '--list') a.mode = 'list';
    else if (f === '--preset') a.preset = value(++i, f);
    else if (f === '--config') a.config = value(++i, f);
    else if (f === '--items') a.items = num(value(++i, f), f);
    else if (f === '--users') a.users = num(value(++i, f), f);
    else if (f === '--events') a.events = num(value(++i, f), f);
    else if (f === '--epochs') a.epochs = num(value(++i, f), f, { int: false, min: 1e-9 });
    else if (f === '--workers') a.workers = num(value(++i, f), f);
    else if (f === '--device') a.device = value(++i, f);
    else if (f === '--store') {
      const s = value(++i, f);
      if (!['device', 'host', 'redis', 'auto'].includes(s)) throw new Error(`--store: expected device | host | redis | auto, got '${s}'`);
      a.store = s as PlanArgs['store'];
    } else if (f === '--sl-alpha') a.slAlpha = num(value(++i, f), f, { int: false, min: 0 });
    else if (f === '--dtype') {
      const s = value(++i, f);
      if (s !== 'bf16' && s !== 'fp32') throw new Error(`--dtype: expected bf16 | fp32, got '${s}'`);
      a.dtype = s;
    } else if (f === '--replicas') a.replicas = num(value(++i, f), f, { min: 0 });
    else if (f === '--redis-node-gib') a.redisNodeGiB = num(value(++i, f), f, { int: false, min: 1e-3 });
    else if (f === '--price') a.price = num(value(++i, f), f, { int: false, min: 0 });
    else if (f === '--json') a.json = true;
    else if (f === '--profile') a.profile = value(++i, f);
    else if (f === '--redis') {
      a.redis = value(++i, f);
      if (!/^[^:\s]+:\d+$/.test(a.redis)) throw new Error(`--redis: expected host:port, got '${a.redis}'. HINT: --redis 127.0.0.1:7100 (npm run cluster -- start)`);
    }
    else if (f === '--rows') a.rows = value(++i, f).split(',').map((x) => x.trim()).filter(Boolean);
    else if (/^--[A-Za-z0-9_]+=/.test(f)) a.overrides.push(f);
    else throw new Error(`unknown argument '${f}'. HINT:\n${USAGE}`);
  }
  if (a.mode === 'plan' && !a.preset && !a.config) throw new Error(`plan: give --preset NAME or --config FILE. HINT: presets: ${presetNames().join(', ')}`);
  if (a.preset && a.config) throw new Error('plan: give either --preset or --config, not both. HINT: a preset plus --key=value overrides covers most cases.');
  return a;
}

export function readCalibration(path: string): CalibrationFile | undefined {
  if (!existsSync(path)) return undefined;
  const cal = JSON.parse(readFileSync(path, 'utf8')) as CalibrationFile;
  if (cal.version !== 1) throw new Error(`${path}: calibration version ${String(cal.version)}, expected 1. HINT: rerun npm run plan -- --calibrate`);
  return cal;
}

/** The planner input the arguments describe. */
export function planInputOf(a: PlanArgs, calibration?: CalibrationFile): PlanInput {
  const device = deviceProfile(a.device, calibration);
  const local = device.efficiencySource === 'measured';
  let config: Config, name: string, items: number, users: number, events: number, epochs: number, workers = 1, extraRows = 0, slAlpha = 0, dtype: 'bf16' | 'fp32';
  if (a.preset) {
    const p = preset(a.preset);
    config = applyOverrides(defaultConfig, p.config, ` in preset ${p.name}`);
    ({ name, items, users, events, epochs, workers } = p);
    extraRows = p.extraRows ?? 0;
    slAlpha = p.stochasticLengthAlpha ?? 0;
    dtype = p.computeDtype;
    items = a.items ?? items;
    users = a.users ?? users;
    events = a.events ?? events;
  } else {
    config = loadConfigFile(a.config!);
    name = a.config!;
    if (a.items === undefined) throw new Error(`plan: --config needs --items N (the catalogue size). HINT: e.g. npm run plan -- --config ${a.config} --items 1e6 --users 1e6 --events 1e8`);
    items = a.items;
    users = a.users ?? 1e6;
    events = a.events ?? users * config.maxLen;
    epochs = config.epochs;
    dtype = 'bf16';
  }
  if (a.overrides.length) config = applyOverrides(config, parseOverrides(a.overrides) as Record<string, unknown>);
  validateConfig(config);
  return {
    name,
    config,
    items,
    extraRows,
    users,
    events,
    epochs: a.epochs ?? epochs,
    workers: a.workers ?? workers,
    device,
    store: a.store,
    stochasticLengthAlpha: a.slAlpha ?? slAlpha,
    computeDtype: a.dtype ?? (local ? 'fp32' : dtype),
    lossAsImplemented: local,
    redisReplicas: a.replicas,
    devicePriceUsd: a.price,
    redisNodeBytes: a.redisNodeGiB === undefined ? undefined : a.redisNodeGiB * 1024 ** 3,
  };
}

function list(): string {
  const p = Object.values(PRESETS).map((x) => `  ${x.name.padEnd(22)} ${x.description}  [${x.source}]`);
  const d = Object.values(PUBLISHED_DEVICES).map((x) => `  ${x.name.padEnd(10)} ${x.description}: fp32 ${(x.fp32Flops / 1e12).toFixed(1)} / bf16 ${(x.bf16Flops / 1e12).toFixed(1)} TFLOP/s, ${(x.memoryBytes / 1e9).toFixed(0)} GB at ${(x.bandwidth / 1e12).toFixed(2)} TB/s  [${x.source}]`);
  return ['presets:', ...p, '', 'devices:', ...d, `  local      this machine, from ${DEFAULT_PROFILE} (npm run plan -- --calibrate)`].join('\n');
}

async function main(argv: string[]): Promise<void> {
  const a = parsePlanArgs(argv);
  if (a.mode === 'help') return void console.log(USAGE);
  if (a.mode === 'list') return void console.log(list());
  if (a.mode === 'calibrate' || a.mode === 'validate') {
    const { runCalibrateAndValidate } = await import('./plan-validate.js');
    return runCalibrateAndValidate({ profile: a.profile, validate: a.mode === 'validate', json: a.json, redis: a.redis, rows: a.rows });
  }
  let cal = readCalibration(a.profile);
  if (!cal && a.device.toLowerCase() === 'local') {
    console.error(`note: no ${a.profile}; --device local uses the committed CI-machine snapshot (model/plan/devices.ts FALLBACK_CALIBRATION). Run npm run plan -- --calibrate for this machine.`);
    cal = FALLBACK_CALIBRATION;
  }
  const p = plan(planInputOf(a, cal));
  console.log(a.json ? JSON.stringify(planJson(p), null, 2) : formatPlan(p));
}

if (import.meta.url === `file://${process.argv[1]}`) {
  main(process.argv.slice(2)).catch((e: Error) => {
    console.error(e.message);
    process.exit(1);
  });
}
