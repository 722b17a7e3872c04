/**
 * `fhirwatch demo` (`npm run demo`): the whole pipeline on the embedded store, on 127.0.0.1.
 *
 *   Patients-app traffic ──▶ gateway (+ otel middleware) ──▶ mock EHRs (DSTU2 tenant, STU3 tenant)
 *                                  │ audit records (durable spool) ──▶ sink ──▶ chDB: audit_requests
 *                                  │                                            + audit_patient_index (one row per patient;
 *                                  │                                              the audit_events view reads both)
 *                                  └ spans + metrics (OTLP/HTTP) ───▶ sink ──▶ chDB: otel_*
 *
 * Bounded traffic (duration and iterations), then the compliance officer's and the SRE's first
 * answers from the store, then everything closes so `fhirwatch audit … --store <dir>` can open it.
 * This file wires the packages together and holds what only the demo prints: its own two queries (the
 * most-viewed patient of the run, server latency per tenant and route with a sparkline) and the text around
 * the packages' reports; every other behaviour lives in a package.
 */
import { existsSync, rmSync } from 'node:fs';
import { userInfo } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import type { ClickHouseClient } from '@clickhouse/client';

import { startSink } from '@fhirwatch/clickhouse-sink';
import { importCareRelationships, updateTenantSettings } from '@fhirwatch/clickhouse-sink/compliance';
import { inProcessQuery, recordAuditRead } from '@fhirwatch/clickhouse-sink/query-api';

import { consoleHandler, consolePanels } from '@fhirwatch/console';
import { type FhirVersion, HMAC_KEY_FILE } from '@fhirwatch/contract';
import { parseGatewayConfig, startInstrumentedGateway } from '@fhirwatch/gateway';
import {
  CLINICIAN_HOUR,
  type Clinician,
  clinicianShifts,
  type PatientsAppTarget,
  runClinicianTraffic,
} from '@fhirwatch/loadtests';
import { generatePopulation, startMockEhr } from '@fhirwatch/mock-ehr';
import { checkMonitoringReports, plantedLines, plantSuspiciousPatterns, unexplainedLines } from '../demo-planted.ts';
import { durationFlag, numberFlag, readHmacKeyFile } from '../flags.ts';
import { stopSignal } from '../stop.ts';

export const description =
  'Run the whole pipeline on the embedded store: mock EHRs, gateway + audit middleware, sink, Patients-app traffic, reports';

const USAGE = `Usage: fhirwatch demo [--duration 20s] [--clinicians 32] [--patients 500] [--dir .fhirwatch/demo] [--fresh] [--stay]

  --duration <t>      how long the Patients-app traffic runs (default 20s; at most 10m): each simulated
                      clinician's working hour is played over it
  --clinicians <n>    simulated clinicians, half per tenant (default 32; --concurrency is the same flag)
  --patients <n>      patients per synthetic EHR (default 500)
  --dir <dir>         where the store, audit spool and gateway registry live (default .fhirwatch/demo)
  --fresh             delete <dir> first
  --stay              keep everything running after the traffic, until Ctrl-C
`;

/**
 * Two tenants, one per FHIR version, as an interop partner would onboard them. Both are hospitals whose wards are
 * staffed round the clock: their stored settings say so (every day, 00–24 h), so the after-hours report holds
 * what a hospital's officer would look at, not every night-shift read.
 */
const TENANTS: readonly {
  id: string;
  name: string;
  fhirVersion: FhirVersion;
  seed: number;
  timeZone: string;
}[] = [
  {
    id: '3f2c8a6e-1b7d-4c59-9e0a-5d4b7c2e1f90',
    name: 'Contoso Health (DSTU2)',
    fhirVersion: 'DSTU2',
    seed: 7,
    timeZone: 'America/Chicago',
  },
  {
    id: '9a1e4b2c-6d3f-4e8a-b7c5-0f2d1e3c4b5a',
    name: 'Fabrikam Medical (STU3)',
    fhirVersion: 'STU3',
    seed: 42,
    timeZone: 'Europe/Berlin',
  },
];

const GIVEN = ['Amara', 'Ben', 'Chloe', 'Diego', 'Emma', 'Farah', 'Gus', 'Hana', 'Ivan', 'Jada', 'Kenji', 'Lina'];
const FAMILY = [
  'Okafor',
  'Carter',
  'Nguyen',
  'Alvarez',
  'Schulz',
  'Haddad',
  'Lee',
  'Sato',
  'Petrov',
  'Moreau',
  'Silva',
];
const ROLES = ['Dr.', 'Nurse', 'Dr.', 'Nurse', 'Pharmacist'];

/** The demo's ordinary clinicians: clinician-01 … (the planted actors are clinician-21 … clinician-25: skipped). */
export function demoClinicians(count: number): Clinician[] {
  const out: Clinician[] = [];
  for (let n = 1; out.length < count; n += 1) {
    if (n >= 21 && n <= 25) continue;
    const i = out.length;
    out.push({
      userId: `clinician-${String(n).padStart(2, '0')}`,
      userName: `${ROLES[i % ROLES.length]} ${GIVEN[i % GIVEN.length]} ${FAMILY[(i * 7 + Math.floor(i / GIVEN.length)) % FAMILY.length]}`,
    });
  }
  return out;
}

const say = (line = ''): void => {
  process.stdout.write(`${line}\n`);
};

const BARS = '▁▂▃▄▅▆▇█';
/** A one-line chart of a series (min → ▁, max → █). */
export function sparkline(values: readonly number[]): string {
  if (values.length === 0) return '';
  const min = Math.min(...values);
  const max = Math.max(...values);
  return values
    .map((v) => BARS[max === min ? 3 : Math.min(7, Math.floor(((v - min) / (max - min)) * 8))] as string)
    .join('');
}

interface LatencySeries {
  tenant: string;
  route: string;
  requests: number;
  p50: number;
  p95: number;
  p99: number;
  timeline: number[];
}

/** Per tenant and hop: request count and latency quantiles of the server spans, and p95 per 2-second bucket. */
async function latencyByTenant(client: ClickHouseClient, since: Date): Promise<LatencySeries[]> {
  const result = await client.query({
    query: `SELECT tenant, route, sum(n) AS requests,
              quantilesMerge(0.5, 0.95, 0.99)(state) AS q,
              arrayMap(x -> x.2, arraySort(groupArray((bucket, p95)))) AS timeline
            FROM (
              SELECT TenantId AS tenant, SpanAttributes['http.route'] AS route,
                     toStartOfInterval(Timestamp, INTERVAL 2 SECOND) AS bucket, count() AS n,
                     quantilesState(0.5, 0.95, 0.99)(Duration / 1e6) AS state,
                     quantile(0.95)(Duration / 1e6) AS p95
              FROM otel_traces
              WHERE SpanKind = 'SPAN_KIND_SERVER' AND Timestamp >= {since:DateTime64(3)}
              GROUP BY tenant, route, bucket
            )
            GROUP BY tenant, route ORDER BY tenant, requests DESC`,
    query_params: { since: since.toISOString().replace('T', ' ').replace('Z', '') },
    format: 'JSONEachRow',
  });
  const rows = (await result.json()) as {
    tenant: string;
    route: string;
    requests: string;
    q: number[];
    timeline: number[];
  }[];
  return rows.map((row) => ({
    tenant: row.tenant,
    route: row.route,
    requests: Number(row.requests),
    p50: row.q[0] ?? 0,
    p95: row.q[1] ?? 0,
    p99: row.q[2] ?? 0,
    timeline: row.timeline,
  }));
}

export async function run(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      duration: { type: 'string', default: '20s' },
      clinicians: { type: 'string' },
      concurrency: { type: 'string' },
      patients: { type: 'string' },
      dir: { type: 'string', default: '.fhirwatch/demo' },
      fresh: { type: 'boolean', default: false },
      stay: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
  });
  if (values.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  const durationMs = durationFlag('duration', values.duration, {
    units: ['ms', 's', 'm'],
    bareUnit: 's',
    minMs: 1,
    maxMs: 600_000,
  }) as number;
  const clinicianCount = numberFlag('clinicians', values.clinicians ?? values.concurrency, { min: 1, max: 200 }) ?? 32;
  const patients = numberFlag('patients', values.patients, { min: 1, max: 100_000 }) ?? 500;
  const dir = resolve(values.dir);
  if (values.fresh) rmSync(dir, { recursive: true, force: true });
  const storeDir = join(dir, 'store');
  const spoolDir = join(dir, 'audit-spool');
  const started = new Date(Date.now() - 1000);

  say('fhirwatch demo: everything on 127.0.0.1, embedded store (chDB)');
  say(`  store        ${storeDir}`);
  // the sink owns the store, so it serves the console (and its query API) too
  const hmacKeyFile = join(spoolDir, HMAC_KEY_FILE);
  const sink = await startSink({
    store: storeDir,
    flushIntervalMs: 500,
    queryApi: {
      panels: consolePanels(),
      hmacKey: () => (existsSync(hmacKeyFile) ? readHmacKeyFile(hmacKeyFile, 'hex') : undefined),
    },
    mount: consoleHandler(),
  });
  say(`  sink         ${sink.url}  (POST /v1/audit, OTLP /v1/traces /v1/metrics /v1/logs)`);
  say(`  console      ${sink.url}/  (SRE overview, compliance, load tests; --stay keeps it up)`);
  const ehrs = await Promise.all(
    TENANTS.map((tenant) =>
      startMockEhr({
        fhirVersion: tenant.fhirVersion,
        patients,
        seed: tenant.seed,
        latency: { p50Ms: 8, p99Ms: 80 },
        // no injected upstream errors: an ordinary clinician's failed read would be a (false) failures hit
      }),
    ),
  );
  TENANTS.forEach((tenant, i) => {
    say(`  mock EHR     ${ehrs[i]!.url}  ${tenant.name}, ${patients} patients, seed ${tenant.seed}`);
  });
  // The gateway as partners run it (audit middleware + telemetry). The demo's traffic plays the
  // authenticated upstream that sets the clinician headers.
  const instrumented = await startInstrumentedGateway(
    parseGatewayConfig({
      dataDir: join(dir, 'gateway'),
      defaultFhirVersion: 'STU3',
      tenants: Object.fromEntries(
        TENANTS.map((tenant, i) => [tenant.id, { baseUrl: ehrs[i]!.url, fhirVersion: tenant.fhirVersion }]),
      ),
      rateLimit: { capacity: 2000, refillPerSecond: 2000 },
      audit: { mode: 'batched', spoolDir, sinkUrl: sink.url, recordedBy: 'demo-gateway', userIdentity: 'header' },
      telemetry: {
        otlpEndpoint: sink.url,
        serviceName: 'fhirwatch-gateway',
        metricExportIntervalMs: 2000,
        spanExportDelayMs: 500,
      },
    }),
  );
  const { gateway } = instrumented;
  const audit = instrumented.audit!;
  const telemetry = instrumented.telemetry!;
  say(`  gateway      ${gateway.url}  (GET /{tenant}/metadata, POST /token, FHIR routes; audit middleware on)`);
  for (const client of gateway.registry.listClients()) {
    if (client.name === 'teams-patients-app-demo') gateway.registry.deleteClient(client.clientId);
  }
  const app = await gateway.registry.createClient({
    tenants: TENANTS.map((t) => t.id),
    name: 'teams-patients-app-demo',
  });
  const targets: PatientsAppTarget[] = TENANTS.map((tenant) => ({
    baseUrl: `${gateway.url}/${tenant.id}`,
    tenantId: tenant.id,
    clientId: app.clientId,
    clientSecret: app.clientSecret,
    fhirVersion: tenant.fhirVersion,
  }));

  const shutdown = async (): Promise<void> => {
    await instrumented.close();
    await Promise.all(ehrs.map((ehr) => ehr.close()));
    await sink.close();
  };

  // Ctrl-C / SIGTERM (stop.ts): ends the traffic early, skips the reports, closes everything, exits 0.
  const stop = stopSignal();
  try {
    // Set-up, straight into the store and from the seeded populations (never through the audited gateway): the
    // tenants' names and working time, and each clinician's own patients as care relationships (the roster an
    // EHR's treatment teams would give), so the trail explains a ward clinician's list.
    const populations = TENANTS.map((tenant) =>
      generatePopulation({ fhirVersion: tenant.fhirVersion, patients, seed: tenant.seed }).patients.map(
        (p) => p as Parameters<typeof clinicianShifts>[0]['patients'][number][number],
      ),
    );
    const vipPatientIds = populations.map((population) => [String(population.at(-1)?.id ?? '')]);
    const shifts = clinicianShifts({
      clinicians: demoClinicians(clinicianCount),
      patients: populations,
      exclude: vipPatientIds,
    });
    for (const tenant of TENANTS) {
      await updateTenantSettings(sink.client, {
        tenantId: tenant.id,
        changedBy: 'fhirwatch demo',
        settings: {
          displayName: tenant.name,
          timeZone: tenant.timeZone,
          workHours: [0, 24],
          workDays: [1, 2, 3, 4, 5, 6, 7],
        },
      });
    }
    const rosterFrom = new Date(Date.now() - 30 * 86_400_000).toISOString().slice(0, 10);
    await importCareRelationships(
      sink.client,
      `patient,user,from,to,tenant\n${shifts
        .flatMap((shift) =>
          shift.list.map(
            (patient) => `${patient},${shift.clinician.userId},${rosterFrom},,${TENANTS[shift.target]!.id}`,
          ),
        )
        .join('\n')}\n`,
      { source: 'fhirwatch demo roster', importedBy: 'fhirwatch demo' },
    );

    say();
    say(
      `Patients-app traffic: ${shifts.length} clinicians, each one working hour (${CLINICIAN_HOUR.listRefreshes} list refreshes, ${CLINICIAN_HOUR.chartOpens} chart opens, ${CLINICIAN_HOUR.searches} searches) played over ${Math.round(durationMs / 1000)} s …`,
    );
    const interactive = process.stdout.isTTY === true;
    const traffic = await runClinicianTraffic({
      targets,
      shifts,
      durationMs,
      signal: stop.abort,
      onProgress: (p) => {
        const statuses = Object.entries(p.byStatus)
          .map(([status, n]) => `${status === '0' ? 'net-err' : status}: ${n}`)
          .join('  ');
        const line = `  ${(p.elapsedMs / 1000).toFixed(0).padStart(3)} s  ${String(p.requests).padStart(6)} requests  ${String(p.listRefreshes).padStart(4)} list refreshes  ${String(p.chartOpens).padStart(4)} chart opens  ${String(p.searches).padStart(4)} searches  ${statuses}`;
        if (interactive) process.stdout.write(`\r${line}`);
        else say(line);
      },
    });
    if (interactive) say();
    if (stop.received !== undefined) {
      say(`${stop.received}: stopping before the reports; closing the services and the store`);
      return 0;
    }
    say('Planted suspicious patterns: a VIP access, name probing, a volume spike, failed accesses, an export …');
    const planted = await plantSuspiciousPatterns(
      sink.client,
      targets,
      populations[0]!.map((p) => String(p.id)),
    );

    say('Shipping audit records and telemetry to the store …');
    await audit.flush();
    await audit.drain();
    await telemetry.forceFlush();
    await sink.telemetry.flush();
    await sink.audit.flush();
    const stats = audit.stats();

    const client = sink.client;
    // Every read of audit records the demo prints goes through the query API's one read path (the query core in
    // this process, as `fhirwatch audit --store` runs it): each is in audit_query_log before its answer, as
    // surface `demo`, actor `fhirwatch demo`, principal the OS user.
    const ask = inProcessQuery({
      client,
      actor: 'fhirwatch demo',
      principal: `os:${userInfo().username}`,
      surface: 'demo',
    });
    say();
    say('== Compliance: audit events per type (this run and earlier runs in the same store, last 24 h)');
    say((await ask('summary', { since: '1d', format: 'table' })).text);

    // picking the patient reads audit records too (no query API route serves it): logged before it runs, like every read
    await recordAuditRead(client, {
      at: new Date(),
      principal: `os:${userInfo().username}`,
      actor: 'fhirwatch demo',
      auth: 'process',
      remoteAddr: '',
      userAgent: 'fhirwatch demo',
      surface: 'demo',
      endpoint: 'demo:most-viewed-patient',
      parameters: { since: started.toISOString() },
      format: 'json',
      rows: 1,
      status: 200,
      errorCode: '',
      durationMs: 0,
    });
    const top = await client.query({
      query: `SELECT patient_id, tenant_id, uniqExact(event_id) AS n FROM audit_events
              WHERE event_time >= {since:DateTime64(3)} AND patient_id NOT IN ('', '*')
              GROUP BY patient_id, tenant_id ORDER BY n DESC LIMIT 1`,
      query_params: { since: started.toISOString().replace('T', ' ').replace('Z', '') },
      format: 'JSONEachRow',
    });
    const [busiest] = (await top.json()) as { patient_id: string; tenant_id: string }[];
    if (busiest !== undefined) {
      say(`== Compliance: who looked at the most-viewed patient of this run (HIPAA access report)`);
      const access = await ask('access', {
        patient: busiest.patient_id,
        tenant: busiest.tenant_id,
        since: '1d',
        format: 'table',
      });
      say(access.text);
    }

    const key = readHmacKeyFile(hmacKeyFile, 'hex');
    const verification = await ask(
      'verify',
      { writer: 'demo-gateway', format: 'json' },
      { body: { key: key.toString('hex'), encoding: 'hex' } },
    );
    const writer = (
      JSON.parse(verification.text) as {
        rows: { first_seq: number; last_seq: number; records: number; first_broken_seq: number | '' }[];
      }
    ).rows[0];
    say(
      verification.verifyOk === true
        ? `== Tamper evidence: HMAC chain of writer demo-gateway intact (seq ${writer?.first_seq ?? 0}..${writer?.last_seq ?? 0}, ${writer?.records ?? 0} records)`
        : `== Tamper evidence: HMAC chain of writer demo-gateway BROKEN at seq ${writer?.first_broken_seq || '?'}: run fhirwatch audit verify`,
    );
    say();
    const names = new Map(
      [...shifts.map((shift) => shift.clinician), ...planted.patterns.map((pattern) => pattern.actor)].map((c) => [
        c.userId,
        c.userName,
      ]),
    );
    const checks = await checkMonitoringReports(ask, { from: started, to: new Date(Date.now() + 1000) });
    for (const line of plantedLines(planted, checks, storeDir, names)) say(line);
    for (const line of await unexplainedLines(ask, started)) say(line);
    say();
    say('== SRE: server latency per tenant and route (ms), p95 over time in 2 s buckets');
    for (const series of await latencyByTenant(client, started)) {
      const tenant = TENANTS.find((t) => t.id === series.tenant)?.name ?? (series.tenant || '(before auth)');
      say(
        `  ${tenant.padEnd(24)} ${series.route.padEnd(20)} ${String(series.requests).padStart(6)} req  p50 ${series.p50.toFixed(1).padStart(6)}  p95 ${series.p95.toFixed(1).padStart(6)}  p99 ${series.p99.toFixed(1).padStart(6)}  ${sparkline(series.timeline)}`,
      );
    }

    say();
    say(
      `Traffic: ${traffic.requests} requests in ${(traffic.elapsedMs / 1000).toFixed(1)} s (${traffic.listRefreshes} list refreshes, ${traffic.chartOpens} chart opens, ${traffic.searches} searches), ${traffic.batchEntries} batch entries (${traffic.batchEntryFailures} not 2xx).`,
    );
    const spoolHealth = audit.health();
    say(
      `Audit: ${stats.shipper?.shippedRecords ?? '?'} records shipped, ${spoolHealth.dropped} lost to spool errors, ${spoolHealth.refused} requests refused (spool full or unwritable).`,
    );
    say();
    say('Next (after the demo exits, the store is free to open):');
    say(`  npx fhirwatch audit summary --store ${storeDir} --since 1d`);
    if (busiest !== undefined) {
      say(
        `  npx fhirwatch audit access --store ${storeDir} --patient ${busiest.patient_id} --since 1d --format csv --out access.csv`,
      );
    }
    say(`  npx fhirwatch audit activity --store ${storeDir} --user clinician-01 --since 1d`);
    say(`  npx fhirwatch audit report after-hours --store ${storeDir} --since 1d`);
    say(`  npx fhirwatch audit verify --store ${storeDir} --hmac-key-file ${hmacKeyFile}`);
    if (values.stay) {
      say();
      say(`Still running (gateway ${gateway.url}, client id ${app.clientId}). Ctrl-C to stop.`);
      const signal = await stop.requested;
      say(`${signal}: closing the services and the store`);
    }
  } finally {
    await shutdown();
  }
  return 0;
}
