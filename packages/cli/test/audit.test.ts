/**
 * `fhirwatch audit …` through the real bin on a small generated chDB store: every output format, the
 * VIP list, verify (exit 3 when broken), usage errors, and a store owned by another process.
 */
import { execFile } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { migrate, openStore } from '@fhirwatch/clickhouse-sink';
import { isWithinWorkHours, parseCsv, resolveWorkHours } from '@fhirwatch/clickhouse-sink/compliance';
import {
  AUDIT_REQUEST_INSERT_COLUMNS,
  AUDIT_REQUESTS_TABLE,
  auditRequestRowValues,
} from '@fhirwatch/clickhouse-sink/store';
import { type AuditDataset, generateAuditDataset, signAuditChain } from '@fhirwatch/clickhouse-sink/testing';
import { type AuditRecord, requestFromAuditRecord } from '@fhirwatch/contract';
import { type MockEhrServer, MRN_SYSTEM, startMockEhr } from '@fhirwatch/mock-ehr';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const bin = fileURLToPath(new URL('../bin/fhirwatch.js', import.meta.url));
let dir: string;
let store: string;
let dataset: AuditDataset;
let range: string[];
let ehr: MockEhrServer;
/** A patient of the mock EHR (id and MRN as the EHR has them) and the audit records planted for it. */
let ehrPatient: { id: string; mrn: string; records: AuditRecord[] };

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function fhirwatch(args: string[], env: Record<string, string> = {}): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [bin, 'audit', ...args],
      { env: { ...process.env, ...env }, maxBuffer: 64 * 1024 * 1024 },
      (error, stdout, stderr) => {
        resolve({ code: error ? Number((error as { code?: number }).code ?? 1) : 0, stdout, stderr });
      },
    );
  });
}

const inRange = (r: AuditRecord): boolean =>
  r.event_time >= dataset.plants.reportFrom.toISOString() && r.event_time < dataset.plants.reportTo.toISOString();
const sorted = (values: string[]): string[] => [...values].sort();

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'fw-cli-audit-'));
  store = join(dir, 'store');
  dataset = generateAuditDataset({ days: 20, users: 3, patients: 60 });
  ehr = await startMockEhr({ patients: 20, seed: 7 });
  const patient = (await (await fetch(`${ehr.url}/Patient?_count=5`)).json()) as {
    entry: { resource: { id: string; identifier: { system: string; value: string }[] } }[];
  };
  const resource = patient.entry[3]!.resource;
  const mrn = resource.identifier.find((i) => i.system === MRN_SYSTEM)!.value;
  // two reads of that patient, recorded under its FHIR id (the store never sees the MRN)
  const template = dataset.records.find((r) => r.event_type === 'PatientView' && inRange(r))!;
  const records = [0, 1].map((i) => ({
    ...template,
    event_id: `019a0000-0000-7000-8000-00000000000${i}`,
    recorded_by: 'gw-ehr',
    seq: i + 1,
    patient_id: resource.id,
  }));
  signAuditChain(records, dataset.key);
  ehrPatient = { id: resource.id, mrn, records };
  const client = openStore({ path: store });
  await migrate(client);
  // stored as the sink stores them: each (legacy single) record a v1 request, expanded by the view
  const asRequests = (list: readonly AuditRecord[]) => ({
    table: AUDIT_REQUESTS_TABLE,
    columns: AUDIT_REQUEST_INSERT_COLUMNS as [string, ...string[]],
    values: list.map((r) => auditRequestRowValues(requestFromAuditRecord(r))),
    format: 'JSONCompactEachRow' as const,
  });
  await client.insert(asRequests([...dataset.records, ...records]));
  await client.insert(asRequests(dataset.duplicates));
  await client.close();
  range = ['--from', dataset.plants.reportFrom.toISOString(), '--to', dataset.plants.reportTo.toISOString()];
}, 120_000);

afterAll(async () => {
  await ehr?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('fhirwatch audit', () => {
  it('access --patient as JSON lists each access once', async () => {
    const { patient_id, tenant_id } = dataset.plants.accessPatient;
    const run = await fhirwatch(['access', '--patient', patient_id, '--store', store, ...range, '--format', 'json']);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    const json = JSON.parse(run.stdout) as { report: string; rows: AuditRecord[] };
    const expected = dataset.records.filter(
      (r) => inRange(r) && (r.patient_id === patient_id || (r.patient_id === '*' && r.tenant_id === tenant_id)),
    );
    expect(json.report).toBe('access');
    expect(sorted(json.rows.map((r) => r.event_id))).toEqual(sorted(expected.map((r) => r.event_id)));
  });

  it('access --patient-mrn resolves through the store and writes Excel CSV to --out', async () => {
    const { patient_id, mrn } = dataset.plants.accessPatient;
    const out = join(dir, 'access.csv');
    const run = await fhirwatch([
      'access',
      '--patient-mrn',
      mrn,
      '--store',
      store,
      ...range,
      '--format',
      'csv',
      '--out',
      out,
    ]);
    expect(run.code).toBe(0);
    const text = readFileSync(out, 'utf8');
    expect(text.charCodeAt(0)).toBe(0xfeff);
    const rows = parseCsv(text);
    const patientColumn = rows[0]?.indexOf('patient_id') ?? -1;
    expect(patientColumn).toBeGreaterThanOrEqual(0);
    const patients = new Set(rows.slice(1).map((row) => row[patientColumn]));
    expect(patients).toEqual(new Set([patient_id, '*']));
  });

  it('access --patient-mrn --fhir-url resolves the MRN on a live FHIR server (the mock EHR)', async () => {
    const run = await fhirwatch([
      'access',
      '--patient-mrn',
      ehrPatient.mrn,
      '--fhir-url',
      ehr.url,
      '--mrn-system',
      MRN_SYSTEM,
      '--store',
      store,
      ...range,
      '--format',
      'json',
    ]);
    expect(run.stderr).toBe('');
    const rows = (JSON.parse(run.stdout) as { rows: AuditRecord[] }).rows;
    // its reads, plus the all-patient exports of its tenant
    const exportsOfTenant = dataset.records.filter(
      (r) => inRange(r) && r.patient_id === '*' && r.tenant_id === ehrPatient.records[0]!.tenant_id,
    );
    expect(sorted(rows.map((r) => r.event_id))).toEqual(
      sorted([...ehrPatient.records, ...exportsOfTenant].map((r) => r.event_id)),
    );
    const unknown = await fhirwatch([
      'access',
      '--patient-mrn',
      'NO-SUCH-MRN',
      '--fhir-url',
      ehr.url,
      '--store',
      store,
    ]);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain('FW_AUDIT_PATIENT_UNRESOLVED');
    expect(unknown.stderr).not.toContain('NO-SUCH-MRN');
  });

  it('activity --user as a FHIR Bundle of BALP AuditEvents', async () => {
    const { user_id } = dataset.plants.activityUser;
    const run = await fhirwatch(['activity', '--user', user_id, '--store', store, ...range, '--format', 'fhir']);
    expect(run.code).toBe(0);
    const bundle = JSON.parse(run.stdout) as {
      resourceType: string;
      entry: { resource: { id: string; meta: { profile: string[] } } }[];
    };
    expect(bundle.resourceType).toBe('Bundle');
    const expected = dataset.records.filter((r) => inRange(r) && r.user_id === user_id);
    expect(sorted(bundle.entry.map((e) => e.resource.id))).toEqual(sorted(expected.map((r) => r.event_id)));
    for (const entry of bundle.entry)
      expect(entry.resource.meta.profile[0]).toMatch(/^https:\/\/profiles\.ihe\.net\/ITI\/BALP\//);
  });

  it('vip add / list / report / remove', async () => {
    const { tenantId, patientId } = dataset.plants.vipAdd[0]!;
    const add = await fhirwatch([
      'vip',
      'add',
      '--patient',
      patientId,
      '--tenant',
      tenantId ?? '',
      '--reason',
      'board',
      '--store',
      store,
    ]);
    expect(add.code).toBe(0);
    const list = await fhirwatch(['vip', 'list', '--store', store, '--format', 'json']);
    expect((JSON.parse(list.stdout) as { rows: { patient_id: string }[] }).rows.map((r) => r.patient_id)).toEqual([
      patientId,
    ]);
    const report = await fhirwatch(['report', 'vip', '--store', store, ...range, '--format', 'json']);
    const expected = dataset.records.filter(
      (r) => inRange(r) && r.patient_id === patientId && r.tenant_id === tenantId,
    );
    expect(expected.length).toBeGreaterThan(0);
    expect(sorted((JSON.parse(report.stdout) as { rows: AuditRecord[] }).rows.map((r) => r.event_id))).toEqual(
      sorted(expected.map((r) => r.event_id)),
    );
    expect(
      (await fhirwatch(['vip', 'remove', '--patient', patientId, '--tenant', tenantId ?? '', '--store', store])).code,
    ).toBe(0);
    const after = await fhirwatch(['vip', 'list', '--store', store, '--format', 'json']);
    expect((JSON.parse(after.stdout) as { rows: unknown[] }).rows).toEqual([]);
  });

  it('report after-hours with a per-tenant work-hours file', async () => {
    const config = join(dir, 'hours.json');
    writeFileSync(config, JSON.stringify(dataset.workHours));
    const run = await fhirwatch([
      'report',
      'after-hours',
      '--work-hours',
      config,
      '--store',
      store,
      ...range,
      '--format',
      'json',
    ]);
    expect(run.code).toBe(0);
    const hours = resolveWorkHours(dataset.workHours);
    const expected = dataset.records.filter(
      (r) => inRange(r) && !isWithinWorkHours(new Date(r.event_time), hours.tenants.get(r.tenant_id) ?? hours.fallback),
    );
    expect(sorted((JSON.parse(run.stdout) as { rows: AuditRecord[] }).rows.map((r) => r.event_id))).toEqual(
      sorted(expected.map((r) => r.event_id)),
    );
  });

  it('report volume and summary as tables', async () => {
    const volume = await fhirwatch([
      'report',
      'volume',
      '--granularity',
      'hour',
      '--store',
      store,
      ...range,
      '--format',
      'json',
    ]);
    expect(volume.code).toBe(0);
    const rows = (JSON.parse(volume.stdout) as { rows: { user_id: string; bucket: string }[] }).rows;
    expect(rows.map((r) => `${r.user_id}@${r.bucket}`)).toEqual(
      dataset.plants.volumeHour.map((p) => `${p.user_id}@${p.bucket}`),
    );
    const summary = await fhirwatch(['summary', '--store', store, ...range]);
    expect(summary.code).toBe(0);
    expect(summary.stdout).toMatch(/^Events per type per day per tenant \(.*\): \d+ rows\n/);
    expect(summary.stdout).toContain('PatientSearch');
  });

  it('verify: exit 0 with the right key, 3 with a wrong one', async () => {
    const keyFile = join(dir, 'hmac.key');
    writeFileSync(keyFile, `${dataset.key}\n`, { mode: 0o644 });
    chmodSync(keyFile, 0o644);
    // a key file others can read is refused, naming the fix
    const open = await fhirwatch(['verify', '--hmac-key-file', keyFile, '--store', store, '--format', 'json']);
    expect(open.code).not.toBe(0);
    expect(open.stderr).toContain(`chmod 600 ${keyFile}`);
    chmodSync(keyFile, 0o600);
    const ok = await fhirwatch(['verify', '--hmac-key-file', keyFile, '--store', store, '--format', 'json']);
    expect(ok.code).toBe(0);
    expect((JSON.parse(ok.stdout) as { rows: { status: string }[] }).rows.every((r) => r.status === 'ok')).toBe(true);
    // that verify stored a signed checkpoint per writer: --since-checkpoint starts after it
    const since = await fhirwatch([
      'verify',
      '--since-checkpoint',
      '--hmac-key-file',
      keyFile,
      '--store',
      store,
      '--format',
      'json',
    ]);
    expect(since.code).toBe(0);
    const sinceRows = (
      JSON.parse(since.stdout) as { rows: { status: string; since_seq: number | ''; last_seq: number }[] }
    ).rows;
    expect(sinceRows.every((r) => r.status === 'ok' && r.since_seq === r.last_seq)).toBe(true);
    const bad = await fhirwatch(['verify', '--store', store], { FHIRWATCH_AUDIT_HMAC_KEY: 'wrong-key' });
    expect(bad.code).toBe(3);
    expect(bad.stdout).toContain('hash-mismatch');
  });

  it('usage errors exit 2; FHIR output of an aggregate report exits 1 with a code', async () => {
    expect((await fhirwatch(['report', 'no-such-report', '--store', store])).code).toBe(2);
    expect((await fhirwatch(['access', '--store', store])).code).toBe(2);
    expect((await fhirwatch(['summary', '--store', store, '--since', 'ninety days'])).code).toBe(2);
    expect((await fhirwatch(['summary'])).code).toBe(2);
    const fhir = await fhirwatch(['summary', '--store', store, '--format', 'fhir']);
    expect(fhir.code).toBe(1);
    expect(fhir.stderr).toContain('FW_AUDIT_FORMAT_UNSUPPORTED');
  });

  it('settings set / show are used by every report by default; flags override; others are named in the header', async () => {
    const eastId = Object.keys(dataset.workHours.tenants ?? {})[0]!;
    const set = await fhirwatch([
      'settings',
      'set',
      '--tenant',
      eastId,
      '--time-zone',
      'America/New_York',
      '--hours',
      '7-19',
      '--days',
      '1-5',
      '--threshold',
      'name-probing.minSearches=30',
      '--store',
      store,
    ]);
    expect(set.stderr).toContain('audit settings set');
    expect(set.code).toBe(0);
    const show = await fhirwatch(['settings', 'show', '--store', store, '--format', 'json']);
    expect((JSON.parse(show.stdout) as { rows: unknown[] }).rows).toEqual([
      expect.objectContaining({
        tenant_id: eastId,
        time_zone: 'America/New_York',
        work_hours: '7-19',
        work_days: '1,2,3,4,5',
        thresholds: { 'name-probing': { minSearches: 30 } },
      }),
    ]);
    // a threshold that does not exist is a usage error
    expect(
      (await fhirwatch(['settings', 'set', '--tenant', eastId, '--threshold', 'volume.nope=1', '--store', store])).code,
    ).toBe(2);

    const run = await fhirwatch([
      'report',
      'after-hours',
      '--tenant',
      eastId,
      '--store',
      store,
      ...range,
      '--format',
      'json',
    ]);
    expect(run.code).toBe(0);
    const json = JSON.parse(run.stdout) as { rows: AuditRecord[]; notes: string[] };
    const ny = resolveWorkHours({ default: { timeZone: 'America/New_York' } }).fallback;
    const all = [...dataset.records, ...ehrPatient.records];
    const expected = all.filter(
      (r) => inRange(r) && r.tenant_id === eastId && !isWithinWorkHours(new Date(r.event_time), ny),
    );
    expect(sorted(json.rows.map((r) => r.event_id))).toEqual(sorted(expected.map((r) => r.event_id)));
    expect(json.notes).toEqual([]);
    // a flag overrides the stored time zone
    const utc = await fhirwatch([
      'report',
      'after-hours',
      '--tenant',
      eastId,
      '--time-zone',
      'UTC',
      '--store',
      store,
      ...range,
      '--format',
      'json',
    ]);
    const utcHours = resolveWorkHours({}).fallback;
    expect(sorted((JSON.parse(utc.stdout) as { rows: AuditRecord[] }).rows.map((r) => r.event_id))).toEqual(
      sorted(
        all
          .filter((r) => inRange(r) && r.tenant_id === eastId && !isWithinWorkHours(new Date(r.event_time), utcHours))
          .map((r) => r.event_id),
      ),
    );
    // all tenants: the table header names the tenants that ran on defaults
    const table = await fhirwatch(['report', 'after-hours', '--store', store, ...range]);
    expect(table.stdout.split('\n')[1]).toMatch(
      /^Note: No stored settings for tenants .*: defaults used \(UTC, 7–19 h/,
    );
    expect(table.stdout.split('\n')[1]).not.toContain(eastId);
    expect((await fhirwatch(['settings', 'clear', '--tenant', eastId, '--store', store])).code).toBe(0);
    const cleared = await fhirwatch([
      'report',
      'after-hours',
      '--tenant',
      eastId,
      '--store',
      store,
      ...range,
      '--format',
      'json',
    ]);
    expect((JSON.parse(cleared.stdout) as { notes: string[] }).notes).toEqual([
      expect.stringContaining(`No stored settings for tenant ${eastId}`),
    ]);
  });

  it('relationships import explains access; report unexplained ranks users; a bad file is refused whole', async () => {
    const { tenant_id } = dataset.plants.accessPatient;
    const before = await fhirwatch([
      'report',
      'unexplained',
      '--tenant',
      tenant_id,
      '--store',
      store,
      ...range,
      '--format',
      'json',
    ]);
    expect(before.code).toBe(0);
    const rows = (
      JSON.parse(before.stdout) as { rows: { rank: number; user_id: string; patient_id: string; event_time: string }[] }
    ).rows;
    expect(rows.length).toBeGreaterThan(0);
    expect(rows[0]!.rank).toBe(1);
    expect(rows.map((r) => r.rank)).toEqual([...rows.map((r) => r.rank)].sort((a, b) => a - b));
    // explain the first user's unexplained accesses with an imported relationship
    const top = rows.filter((r) => r.user_id === rows[0]!.user_id);
    const csv = join(dir, 'care.csv');
    writeFileSync(
      csv,
      `patient,user,from,to\r\n${[...new Set(top.map((r) => r.patient_id))].map((p) => `${p},${rows[0]!.user_id},2020-01-01,`).join('\r\n')}\r\n`,
    );
    const imported = await fhirwatch(['relationships', 'import', csv, '--tenant', tenant_id, '--store', store]);
    expect(imported.code).toBe(0);
    expect(imported.stderr).toContain('rows stored');
    const after = await fhirwatch([
      'report',
      'unexplained',
      '--tenant',
      tenant_id,
      '--store',
      store,
      ...range,
      '--format',
      'json',
    ]);
    const afterRows = (JSON.parse(after.stdout) as { rows: { user_id: string }[] }).rows;
    expect(afterRows.some((r) => r.user_id === rows[0]!.user_id)).toBe(false);
    expect(afterRows).toHaveLength(rows.length - top.length);
    const bad = join(dir, 'bad.csv');
    writeFileSync(bad, 'p-secret,doc,2026-01-01,\np-secret-2,doc,yesterday,\n');
    const refused = await fhirwatch(['relationships', 'import', bad, '--tenant', tenant_id, '--store', store]);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain('line 2');
    expect(refused.stderr).not.toContain('p-secret');
  });

  it('record-level CSV carries user agent, query and trace id, with BOM and CRLF', async () => {
    const user_id = 'u-east-1';
    const run = await fhirwatch(['activity', '--user', user_id, '--store', store, ...range, '--format', 'csv']);
    expect(run.code).toBe(0);
    expect(run.stdout.charCodeAt(0)).toBe(0xfeff);
    expect(run.stdout.replaceAll('\r\n', '').includes('\n')).toBe(false);
    const [header, ...lines] = parseCsv(run.stdout);
    for (const column of ['user_agent', 'query', 'trace_id', 'source_ip', 'batch_id', 'entry_index', 'event_id']) {
      expect(header).toContain(column);
    }
    const byId = new Map([...dataset.records, ...ehrPatient.records].map((r) => [r.event_id, r]));
    const at = (name: string): number => header!.indexOf(name);
    expect(lines.length).toBeGreaterThan(10);
    for (const line of lines) {
      const record = byId.get(line[at('event_id')]!)!;
      expect(line[at('query')]).toBe(record.query);
      expect(line[at('user_agent')]).toBe(record.user_agent);
      expect(line[at('trace_id')]).toBe(record.trace_id);
    }
  });

  it('refuses a store that another process owns, saying so', async () => {
    const owner = openStore({ path: store });
    try {
      await owner.query({ query: 'SELECT 1', format: 'JSONEachRow' });
      const run = await fhirwatch(['summary', '--store', store]);
      expect(run.code).toBe(1);
      expect(run.stderr).toContain('in use by another process');
      expect(run.stderr).toContain('FW_AUDIT_STORE_BUSY');
    } finally {
      await owner.close();
    }
  });
});
