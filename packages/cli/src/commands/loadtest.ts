/**
 * `fhirwatch loadtest`: load-test a FHIR service with a Patients-app scenario (open model by default),
 * print a live progress line, write the go-live report (report.html, report.json, junit.xml), store the run
 * in `loadtest_runs` when a store is given, and exit 1 when any SLO failed. Thin: flags (or FHIRWATCH_* env
 * variables) → @fhirwatch/loadtests options.
 */
import { parseArgs } from 'node:util';
import type { ClickHouseClient } from '@clickhouse/client';
import { migrate } from '@fhirwatch/clickhouse-sink';
import { insertLoadtestRun } from '@fhirwatch/clickhouse-sink/ingest';
import { parseFhirVersion } from '@fhirwatch/contract';
import {
  applySloOverrides,
  defaultSlo,
  detectFhirVersion,
  formatProgress,
  isLoopbackUrl,
  isScenarioName,
  type LoadTarget,
  type LoadtestReport,
  parseMix,
  resolveScenario,
  runLoadtest,
  SCENARIO_NAMES,
  type ScenarioKnobs,
  serverSideSplit,
  writeLoadtestReport,
} from '@fhirwatch/loadtests';
import { UsageError } from '../command.ts';
import { durationFlag, openStoreFrom, positiveFlag, STORE_OPTIONS, type StoreSource, storeSource } from '../flags.ts';

export const description = 'Load-test a FHIR service with a Patients-app scenario and write the go-live report';

const USAGE = `Usage: fhirwatch loadtest --target <fhir-base> [options]

Every option can also come from the environment: --client-secret from FHIRWATCH_CLIENT_SECRET, and so on
(FHIRWATCH_ + the option name in upper case with '_' for '-').

Target
  --target <url>             FHIR base URL of the service under test
  --client-id <id>           OAuth client (client credentials grant)
  --client-secret <secret>   its secret (prefer FHIRWATCH_CLIENT_SECRET)
  --tenant <guid>            tenant id, sent as the token scope
  --scope <scope>            token scope instead of the tenant id
  --token-url <url>          token endpoint (default: discovered from /metadata's OAuth URIs extension)
  --fhir-version <v>         dstu2 | stu3 (default: what /metadata declares)
  --allow-remote             allow a target that is not on this machine (loopback only by default)

Scenario (${SCENARIO_NAMES.join(', ')})
  --scenario <name>          default smoke
  --engine <open|autocannon> open model (SLO verdicts; default) or autocannon (closed model, peak throughput)
  --rate <n>                 iterations/s (open model; a ramping scenario is scaled to this peak)
  --duration <t>             seconds, or 30s / 5m (a ramping scenario's stages are scaled to fit)
  --patients-per-batch <n>   patients per list refresh (7 entries each; default 5)
  --max-in-flight <n>        iterations in flight at most; more are dropped (open model)
  --mix <op=w,...>           operation weights: metadata, token, search, list-refresh, read, export
  --workers <n>              worker threads generating load (open model; default: one per core less one)
  --checks <full|throughput> full: every check on every answer (default); throughput: every status,
                             resource identity and batch entry checked, required-field checks on 1 answer in 16
  --connections <n>          connections (autocannon: default 10; open model: default max-in-flight)
  --timeout-ms <n>           per-request timeout (default 30000)
  --seed <n>                 seed of the random choices (default 1)
  --slo <name=value>         override an SLO, repeatable: list-refresh.p95=1500, search.errors=0.01,
                             availability=0.99, batch-entries=0.999, dropped=0

Output
  --report <dir>             write report.html, report.json and junit.xml there
  --store <dir>              also store the run in loadtest_runs of this embedded store, and add the
                             server-side split per hop (gateway, token, provider) from its otel_traces
                             when the target is fhirwatch-instrumented (the store must not be held by a
                             running sink: chDB lets one process own it; use --clickhouse-url then)
  --clickhouse-url <url>     ... or of this ClickHouse server (FHIRWATCH_CLICKHOUSE_USER / _PASSWORD, or the
                             older CLICKHOUSE_USER / CLICKHOUSE_PASSWORD)
  --json                     print report.json to stdout instead of the summary
  --quiet                    no progress line

Exit status: 0 when every SLO passed, 1 when one failed, 2 on a usage error.
`;

const OPTIONS = {
  target: { type: 'string' },
  'client-id': { type: 'string' },
  'client-secret': { type: 'string' },
  tenant: { type: 'string' },
  scope: { type: 'string' },
  'token-url': { type: 'string' },
  'fhir-version': { type: 'string' },
  'allow-remote': { type: 'boolean' },
  scenario: { type: 'string' },
  engine: { type: 'string' },
  rate: { type: 'string' },
  duration: { type: 'string' },
  'patients-per-batch': { type: 'string' },
  'max-in-flight': { type: 'string' },
  mix: { type: 'string' },
  workers: { type: 'string' },
  checks: { type: 'string' },
  connections: { type: 'string' },
  'timeout-ms': { type: 'string' },
  seed: { type: 'string' },
  slo: { type: 'string', multiple: true },
  report: { type: 'string' },
  ...STORE_OPTIONS,
  json: { type: 'boolean' },
  quiet: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

type Values = ReturnType<typeof parseArgs<{ options: typeof OPTIONS; strict: true }>>['values'];

/** The flag, or FHIRWATCH_<FLAG> from the environment. */
export function fromEnv(values: Record<string, unknown>, name: string, env = process.env): string | undefined {
  const flag = values[name];
  if (typeof flag === 'string') return flag;
  return env[`FHIRWATCH_${name.toUpperCase().replaceAll('-', '_')}`];
}

function num(name: string, text: string | undefined, integer: boolean): number | undefined {
  return positiveFlag(name, text, integer);
}

/** `30`, `30s`, `5m`, `1h` → seconds. */
export function parseDuration(text: string | undefined): number | undefined {
  const ms = durationFlag('duration', text, { units: ['s', 'm', 'h'], bareUnit: 's' });
  return ms === undefined ? undefined : ms / 1000;
}

export interface LoadtestCliOptions {
  target: LoadTarget;
  fhirVersionGiven: boolean;
  scenarioName: string;
  knobs: ScenarioKnobs;
  engine: 'open' | 'autocannon';
  workers: number | undefined;
  checks: 'full' | 'throughput' | undefined;
  connections: number | undefined;
  timeoutMs: number | undefined;
  seed: number | undefined;
  slo: string[];
  report: string | undefined;
  /** Where to store the run (`--store` / `--clickhouse-url`), if anywhere. */
  store: StoreSource | undefined;
  json: boolean;
  quiet: boolean;
}

/** Parse flags (and env) into options; 'help' for --help. */
export function loadtestOptions(args: string[], env = process.env): LoadtestCliOptions | 'help' {
  const { values } = parseArgs({ args, options: OPTIONS, strict: true });
  if (values.help === true) return 'help';
  const get = (name: keyof Values): string | undefined => fromEnv(values, name, env);
  const target = get('target');
  if (target === undefined) throw new UsageError('--target <fhir-base> is required');
  try {
    new URL(target);
  } catch {
    throw new UsageError('--target must be a URL');
  }
  if (!isLoopbackUrl(target) && values['allow-remote'] !== true && env.FHIRWATCH_ALLOW_REMOTE !== '1') {
    throw new UsageError('the target is not on this machine: add --allow-remote to load-test a remote service');
  }
  const versionText = get('fhir-version');
  const fhirVersion = versionText === undefined ? undefined : parseFhirVersion(versionText);
  if (versionText !== undefined && fhirVersion === undefined)
    throw new UsageError('--fhir-version must be dstu2 or stu3');
  const engine = get('engine') ?? 'open';
  if (engine !== 'open' && engine !== 'autocannon') throw new UsageError('--engine must be open or autocannon');
  const loadTarget: LoadTarget = { baseUrl: target, fhirVersion: fhirVersion ?? 'STU3' };
  const set = (
    key: 'tenantId' | 'clientId' | 'clientSecret' | 'tokenUrl' | 'scope',
    value: string | undefined,
  ): void => {
    if (value !== undefined) loadTarget[key] = value;
  };
  set('tenantId', get('tenant'));
  set('clientId', get('client-id'));
  set('clientSecret', get('client-secret'));
  set('tokenUrl', get('token-url'));
  set('scope', get('scope'));
  const knobs: ScenarioKnobs = {};
  const rate = num('rate', get('rate'), false);
  const durationS = parseDuration(get('duration'));
  const listSize = num('patients-per-batch', get('patients-per-batch'), true);
  const maxInFlight = num('max-in-flight', get('max-in-flight'), true);
  if (rate !== undefined) knobs.rate = rate;
  if (durationS !== undefined) knobs.durationS = durationS;
  if (listSize !== undefined) knobs.listSize = listSize;
  if (maxInFlight !== undefined) knobs.maxInFlight = maxInFlight;
  const mix = get('mix');
  if (mix !== undefined) knobs.mix = parseMix(mix);
  const store = storeSource({ store: get('store'), 'clickhouse-url': get('clickhouse-url') }, { required: false, env });
  const envSlo = env.FHIRWATCH_SLO === undefined ? [] : env.FHIRWATCH_SLO.split(/[\s;]+/).filter((s) => s !== '');
  // checked here, before anything touches the network: a typo is a usage error, not a failed /metadata read
  const scenarioName = get('scenario') ?? 'smoke';
  if (!isScenarioName(scenarioName))
    throw new UsageError(`unknown scenario '${scenarioName}' (one of ${SCENARIO_NAMES.join(', ')})`);
  const checks = get('checks');
  if (checks !== undefined && checks !== 'full' && checks !== 'throughput')
    throw new UsageError(`--checks must be full or throughput, not '${checks}'`);
  return {
    target: loadTarget,
    fhirVersionGiven: fhirVersion !== undefined,
    scenarioName,
    knobs,
    engine,
    workers: num('workers', get('workers'), true),
    checks,
    connections: num('connections', get('connections'), true),
    timeoutMs: num('timeout-ms', get('timeout-ms'), true),
    seed: num('seed', get('seed'), true),
    slo: [...envSlo, ...(values.slo ?? [])],
    report: get('report'),
    store,
    json: values.json === true,
    quiet: values.quiet === true,
  };
}

/** Store the run in loadtest_runs (the store must be migrated). */
export async function storeRun(client: ClickHouseClient, report: LoadtestReport): Promise<void> {
  await insertLoadtestRun(client, {
    runId: report.runId,
    startedAt: new Date(report.startedAt),
    finishedAt: new Date(report.finishedAt),
    scenario: report.scenario.name,
    engine: report.engine,
    target: report.target.baseUrl,
    tenantId: report.target.tenantId,
    fhirVersion: report.target.fhirVersion,
    passed: report.passed,
    sloVerdicts: report.slo,
    requests: report.totals.requests,
    errors: report.totals.failures,
    droppedIterations: report.totals.dropped,
    throughputRps: report.totals.throughputRps,
    p50Ms: report.totals.p50Ms,
    p95Ms: report.totals.p95Ms,
    p99Ms: report.totals.p99Ms,
    report,
  });
}

/** The summary printed at the end: verdicts and where the report went. */
export function summaryText(report: LoadtestReport, reportDir: string | undefined): string {
  const lines = [
    `${report.passed ? 'PASS' : 'FAIL'} ${report.scenario.name} (${report.engine}) against ${report.target.baseUrl}: ` +
      `${report.totals.requests} requests, ${report.totals.throughputRps}/s, p95 ${report.totals.p95Ms} ms, ` +
      `${report.totals.failures} failed, ${report.totals.dropped} dropped`,
  ];
  for (const v of report.slo) lines.push(`  ${v.passed ? 'pass' : 'FAIL'}  ${v.name} ${v.threshold}: ${v.observed}`);
  if (report.capacity !== undefined) lines.push(`  throughput at SLO: ${report.capacity.throughputAtSloRps}/s`);
  for (const note of report.notes) lines.push(`  note: ${note}`);
  if (reportDir !== undefined) lines.push(`report: ${reportDir}/report.html`);
  return `${lines.join('\n')}\n`;
}

/** Bad knobs are usage errors (exit 2); a target that cannot be set up is a plain message (exit 1), no stack. */
export async function withLoadErrors(body: () => Promise<number>): Promise<number> {
  try {
    return await body();
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    if (typeof code !== 'string' || !code.startsWith('FW_LOAD_')) throw error;
    if (code === 'FW_LOAD_SCENARIO' || code === 'FW_LOAD_KNOB' || code === 'FW_LOAD_SLO') {
      throw new UsageError((error as Error).message);
    }
    process.stderr.write(`fhirwatch: ${code}: ${(error as Error).message}\n`);
    return 1;
  }
}

export function run(args: string[]): Promise<number> {
  return withLoadErrors(() => runLoadtestCommand(args));
}

async function runLoadtestCommand(args: string[]): Promise<number> {
  const options = loadtestOptions(args);
  if (options === 'help') {
    process.stdout.write(USAGE);
    return 0;
  }
  if (!options.fhirVersionGiven) {
    const detected = await detectFhirVersion(options.target.baseUrl);
    if (detected === undefined) throw new UsageError('could not read fhirVersion from /metadata: give --fhir-version');
    options.target.fhirVersion = detected;
  }
  const scenario = resolveScenario(options.scenarioName, options.knobs);
  const slo = applySloOverrides(defaultSlo(scenario.listSize), options.slo);
  let client: ClickHouseClient | undefined;
  if (options.store !== undefined) client = await openStoreFrom(options.store);
  const controller = new AbortController();
  const onSignal = (): void => controller.abort();
  process.once('SIGINT', onSignal);
  const tty = process.stderr.isTTY === true;
  let lastPrinted = 0;
  try {
    const report = await runLoadtest({
      target: options.target,
      scenario,
      slo,
      engine: options.engine,
      signal: controller.signal,
      ...(options.workers === undefined ? {} : { workers: options.workers }),
      ...(options.checks === undefined ? {} : { checks: options.checks }),
      ...(options.connections === undefined ? {} : { connections: options.connections }),
      ...(options.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs }),
      ...(options.seed === undefined ? {} : { seed: options.seed }),
      onProgress: (line) => {
        if (options.quiet) return;
        if (tty) process.stderr.write(`\r${formatProgress(line)}   `);
        else if (line.elapsedS - lastPrinted >= 5) {
          lastPrinted = line.elapsedS;
          process.stderr.write(`${formatProgress(line)}\n`);
        }
      },
    });
    if (tty && !options.quiet) process.stderr.write('\n');
    if (client !== undefined) {
      await migrate(client); // idempotent: creates loadtest_runs (and the otel_* tables) when missing
      // A fhirwatch-instrumented target exporting to this store: its time per hop during the run.
      try {
        const hops = await serverSideSplit(
          client,
          new Date(report.startedAt),
          new Date(Date.parse(report.finishedAt) + 1000),
          report.target.tenantId,
        );
        if (hops.length > 0) report.serverSide = hops;
      } catch (error) {
        report.notes.push(`no server-side split: ${(error as Error).message.split('\n')[0]}`);
      }
    }
    if (options.report !== undefined) writeLoadtestReport(options.report, report);
    if (client !== undefined) await storeRun(client, report);
    process.stdout.write(options.json ? `${JSON.stringify(report, null, 2)}\n` : summaryText(report, options.report));
    return report.passed ? 0 : 1;
  } finally {
    process.off('SIGINT', onSignal);
    await client?.close();
  }
}
