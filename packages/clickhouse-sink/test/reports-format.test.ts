/** Output formats: CSV (RFC 4180, Excel), JSON, table and the BALP AuditEvent Bundle, on generated records. */
import type { AuditRecord } from '@fhirwatch/contract';
import { describe, expect, it } from 'vitest';
import { auditEventBundle, auditEventFromRecord, BALP_PROFILES } from '../src/compliance/fhir/audit-event.ts';
import { CSV_BOM, formatCsv, parseCsv } from '../src/compliance/format/csv.ts';
import { formatReport } from '../src/compliance/format/index.ts';
import type { Report } from '../src/compliance/types.ts';
import { generateAuditDataset } from '../src/testing/dataset.ts';

const dataset = generateAuditDataset({ days: 5, users: 2, patients: 30 });
const find = (predicate: (r: AuditRecord) => boolean): AuditRecord => {
  const record = dataset.records.find(predicate);
  if (record === undefined) throw new Error('no such record in the dataset');
  return record;
};
const searchRecord = find(
  (r) => r.event_type === 'PatientSearch' && r.patient_id !== '' && r.user_id !== '' && r.outcome === 0,
);
const readRecord = find((r) => r.fhir_interaction === 'read' && r.resource_type === 'Patient' && r.outcome === 0);
const failed = find((r) => r.outcome === 8);
const exportAll = find((r) => r.patient_id === '*');

const columns = ['event_time', 'user_id', 'query', 'patient_id', 'outcome'].map((key) => ({ key, header: key }));
const report = (rows: AuditRecord[]): Report<AuditRecord> => ({
  name: 'access',
  title: 'Patient access report',
  parameters: {},
  columns,
  rows,
  records: rows,
});

// biome-ignore lint/suspicious/noExplicitAny: assertions walk untyped FHIR JSON
type Json = Record<string, any>;

describe('CSV', () => {
  it('is RFC 4180 with a BOM and CRLF, and parses back to the same cells', () => {
    const tricky: AuditRecord[] = [
      { ...searchRecord, user_id: 'o’brien, "jr"', query: 'family=müller&given=a\nb' },
      { ...readRecord, user_id: '=HYPERLINK("http://x")', query: '' },
      ...dataset.records.slice(0, 20),
    ];
    const text = formatCsv(report(tricky));
    expect(text.startsWith(CSV_BOM)).toBe(true);
    expect(text.endsWith('\r\n')).toBe(true);
    expect(text.replaceAll('\r\n', '').includes('\r')).toBe(false);
    const rows = parseCsv(text);
    expect(rows[0]).toEqual(columns.map((c) => c.header));
    expect(rows).toHaveLength(tricky.length + 1);
    tricky.forEach((record, i) => {
      const expected = columns.map((c) => String(record[c.key as keyof AuditRecord]));
      // formula injection guard: text starting with = + - @ gets a leading apostrophe
      if (expected[1]?.startsWith('=')) expected[1] = `'${expected[1]}`;
      expect(rows[i + 1]).toEqual(expected);
    });
  });
});

describe('JSON and table', () => {
  it('JSON carries every row with every record field', () => {
    const rows = dataset.records.slice(0, 5);
    const parsed = JSON.parse(formatReport(report(rows), 'json')) as Json;
    expect(parsed.report).toBe('access');
    expect(parsed.count).toBe(5);
    expect(parsed.rows).toEqual(rows);
  });

  it('the table has a title line, a header and one line per row', () => {
    const rows = dataset.records.slice(0, 3);
    const lines = formatReport(report(rows), 'table').trimEnd().split('\n');
    expect(lines[0]).toContain('3 rows');
    expect(lines[1]?.split(/\s+/)).toEqual(columns.map((c) => c.header));
    expect(lines).toHaveLength(3 + 3);
  });

  it('refuses FHIR output for an aggregate report', () => {
    const aggregate: Report = { name: 'summary', title: 's', parameters: {}, columns: [], rows: [] };
    expect(() => formatReport(aggregate, 'fhir')).toThrow(
      expect.objectContaining({ code: 'FW_AUDIT_FORMAT_UNSUPPORTED' }),
    );
  });
});

describe('FHIR AuditEvent (IHE BALP)', () => {
  const coding = (concept: Json | undefined): Json | undefined => concept?.coding?.[0];

  it('maps a search to PatientQuery: rest / search-type / E, client Source, server Destination, user IRCP, query and patient entities', () => {
    const event = auditEventFromRecord(searchRecord) as Json;
    expect(event.resourceType).toBe('AuditEvent');
    expect(event.id).toBe(searchRecord.event_id);
    expect(event.meta.profile).toEqual([BALP_PROFILES.patientQuery]);
    expect(event.type).toMatchObject({
      system: 'http://terminology.hl7.org/CodeSystem/audit-event-type',
      code: 'rest',
    });
    expect(event.subtype).toContainEqual({ system: 'http://hl7.org/fhir/restful-interaction', code: 'search-type' });
    expect(event.action).toBe('E');
    expect(event.recorded).toBe(searchRecord.event_time);
    expect(event.outcome).toBe('0');
    const [client, server, user] = event.agent as Json[];
    expect(coding(client?.type)).toMatchObject({
      system: 'http://dicom.nema.org/resources/ontology/DCM',
      code: '110153',
    });
    expect(client?.who.identifier.value).toBe(searchRecord.client_id);
    expect(client?.network).toEqual({ address: searchRecord.source_ip, type: '2' });
    expect(client?.requestor).toBe(false);
    expect(coding(server?.type)).toMatchObject({ code: '110152' });
    expect(coding(user?.type)).toMatchObject({
      system: 'http://terminology.hl7.org/CodeSystem/v3-ParticipationType',
      code: 'IRCP',
    });
    expect(user?.requestor).toBe(true);
    expect(user?.who.identifier.value).toBe(searchRecord.user_id);
    const [query, patient] = event.entity as Json[];
    expect(query?.type).toMatchObject({ system: 'http://terminology.hl7.org/CodeSystem/audit-entity-type', code: '2' });
    expect(query?.role).toMatchObject({ system: 'http://terminology.hl7.org/CodeSystem/object-role', code: '24' });
    // the request as recorded: resource path and the search parameters
    expect(Buffer.from(query?.query, 'base64').toString('utf8')).toBe(`Patient?${searchRecord.query}`);
    expect(patient?.type).toMatchObject({ code: '1' });
    expect(patient?.role).toMatchObject({ code: '1' });
    expect(patient?.what).toEqual({ reference: `Patient/${searchRecord.patient_id}` });
  });

  it('maps a read to PatientRead: read / R, client Destination, server Source, data entity', () => {
    const event = auditEventFromRecord(readRecord) as Json;
    expect(event.meta.profile).toEqual([BALP_PROFILES.patientRead]);
    expect(event.subtype).toContainEqual({ system: 'http://hl7.org/fhir/restful-interaction', code: 'read' });
    expect(event.action).toBe('R');
    const [client, server] = event.agent as Json[];
    expect(coding(client?.type)?.code).toBe('110152');
    expect(coding(server?.type)?.code).toBe('110153');
    const roles = (event.entity as Json[]).map((e) => e.role.code);
    expect(roles).toEqual(['4', '1']);
  });

  it('carries failures, anonymous callers and all-patient exports', () => {
    const failure = auditEventFromRecord(failed) as Json;
    expect(failure.outcome).toBe('8');
    expect(failure.outcomeDesc).toBe(`HTTP ${failed.http_status}`);
    const anonymous = auditEventFromRecord({ ...searchRecord, user_id: '', user_name: '' }) as Json;
    expect(anonymous.agent).toHaveLength(2);
    expect(anonymous.agent[0].requestor).toBe(true);
    const all = auditEventFromRecord(exportAll) as Json;
    // an export kick-off is an operation, not a search: mapped like a query, claiming no BALP profile
    expect(all.meta).toBeUndefined();
    expect((all.entity as Json[]).some((e) => e.role.code === '1')).toBe(false);
  });

  it('STU3 shape uses role/reference/userId, entity.reference and source.identifier', () => {
    const event = auditEventFromRecord(searchRecord, { shape: 'STU3' }) as Json;
    expect(event.type.system).toBe('http://hl7.org/fhir/audit-event-type');
    expect(event.agent[0].role[0].coding[0].code).toBe('110153');
    expect(event.agent[0].who).toBeUndefined();
    expect(event.agent[0].userId.value).toBe(searchRecord.client_id);
    expect(event.entity[1].reference).toEqual({ reference: `Patient/${searchRecord.patient_id}` });
    expect(event.source.identifier.value).toBe(searchRecord.recorded_by);
  });

  it('a Bundle has one AuditEvent per record', () => {
    const records = dataset.records.slice(0, 10);
    const bundle = auditEventBundle(records) as Json;
    expect(bundle).toMatchObject({ resourceType: 'Bundle', type: 'collection' });
    expect(bundle.entry.map((e: Json) => e.resource.id)).toEqual(records.map((r) => r.event_id));
    expect(bundle.entry.every((e: Json) => e.fullUrl === `urn:uuid:${e.resource.id}`)).toBe(true);
  });
});
