/**
 * FHIR AuditEvent export (IHE BALP) of every event type and outcome: each event is a valid R4 AuditEvent (the
 * `fhir` package's validator), carries no empty string, meets the BALP fixed values of the profile it claims
 * (balp-rules.ts), claims a profile only when successful (BALP's profiles fix outcome 0), and the STU3 shape
 * claims no R4 profile. The query entity always carries the request as recorded.
 */
import { createRequire } from 'node:module';
import { AUDIT_EVENT_TYPES, type AuditEventType, type AuditRecord, type FhirInteraction } from '@fhirwatch/contract';
import { describe, expect, it } from 'vitest';
import {
  auditEventBundle,
  auditEventFromRecord,
  BALP_PROFILES,
  requestOf,
} from '../src/compliance/fhir/audit-event.ts';
import { record } from './audit-builder.ts';
import { balpProblems, emptyStrings } from './balp-rules.ts';

const require = createRequire(import.meta.url);
const { Fhir } = require('fhir') as {
  Fhir: new () => {
    validate(
      resource: unknown,
      options?: object,
    ): { valid: boolean; messages: { message: string; location: string; severity?: string }[] };
  };
};
const fhir = new Fhir();
/**
 * Errors, and warnings other than the one expected: fhirwatch's own event type is an extra subtype coding
 * (urn:fhirwatch:audit-event-type) that R4's extensible audit-event-sub-type value set does not list.
 */
const errors = (messages: { message: string; location: string; severity?: string }[]): string[] =>
  messages
    .filter(
      (m) =>
        !(m.severity === 'warning' && m.message.includes('(urn:fhirwatch:audit-event-type) not found in value set')),
    )
    .map((m) => `${m.severity ?? ''} ${m.location}: ${m.message}`);

// biome-ignore lint/suspicious/noExplicitAny: walks untyped FHIR JSON
type Json = any;

const INTERACTION: Record<AuditEventType, { interaction: FhirInteraction; resource: string; query: string }> = {
  PatientSearch: { interaction: 'search-type', resource: 'Patient', query: 'family=smith&_count=10' },
  PatientView: { interaction: 'read', resource: 'Patient', query: '' },
  PatientListView: { interaction: 'batch', resource: 'Patient', query: '' },
  VitalSignsView: { interaction: 'search-type', resource: 'Observation', query: 'patient=p1&category=vital-signs' },
  ConditionsView: { interaction: 'search-type', resource: 'Condition', query: 'patient=p1' },
  EncountersView: { interaction: 'search-type', resource: 'Encounter', query: 'patient=p1' },
  LocationView: { interaction: 'read', resource: 'Location', query: '' },
  AllergiesView: { interaction: 'search-type', resource: 'AllergyIntolerance', query: 'patient=p1' },
  MedicationsView: { interaction: 'search-type', resource: 'MedicationStatement', query: 'patient=p1' },
  CoverageView: { interaction: 'search-type', resource: 'Coverage', query: 'beneficiary=p1' },
  ExportInitiation: { interaction: 'operation', resource: 'Group', query: '_group=g%201' },
};
// 12 (major failure): no HTTP response at all (status 0: connection lost, timeout)
const STATUS_FOR_OUTCOME = { 0: 200, 4: 404, 8: 503, 12: 0 } as const;

const cases: AuditRecord[] = [];
for (const eventType of AUDIT_EVENT_TYPES) {
  const spec = INTERACTION[eventType];
  for (const status of Object.values(STATUS_FOR_OUTCOME)) {
    for (const patient of ['p1', '', '*']) {
      for (const user of ['u1', '']) {
        cases.push(
          record({
            at: Date.UTC(2026, 10, 17, 9),
            user,
            eventType,
            interaction: spec.interaction,
            resourceType: spec.resource,
            query: spec.query,
            patient,
            status,
          }),
        );
      }
    }
  }
}
// parameterless requests: a list refresh entry and a system-level $export
cases.push(
  record({
    at: 1,
    user: 'u1',
    eventType: 'ExportInitiation',
    interaction: 'operation',
    resourceType: '',
    patient: '*',
  }),
);
cases.push(
  record({
    at: 1,
    user: 'u1',
    eventType: 'ExportInitiation',
    interaction: 'operation',
    resourceType: 'Patient',
    patient: '*',
    query: '_type=Observation',
  }),
);

describe('BALP AuditEvent export', () => {
  it('covers every event type and outcome', () => {
    expect(new Set(cases.map((r) => r.event_type))).toEqual(new Set(AUDIT_EVENT_TYPES));
    expect(new Set(cases.map((r) => r.outcome))).toEqual(new Set([0, 4, 8, 12]));
  });

  it('R4: valid per the fhir package, no empty string, BALP fixed values met, profiles only on success', () => {
    for (const r of cases) {
      const event = auditEventFromRecord(r) as Json;
      const label = `${r.event_type}/${r.outcome}/${r.patient_id || '-'}/${r.user_id || '-'}`;
      const result = fhir.validate(event, { errorOnUnexpected: true });
      expect(errors(result.messages), label).toEqual([]);
      expect(emptyStrings(event), label).toEqual([]);
      expect(balpProblems(event), label).toEqual([]);
      const profiles: string[] = event.meta?.profile ?? [];
      if (r.outcome !== 0) expect(profiles, label).toEqual([]);
      if (r.outcome === 0 && (r.fhir_interaction === 'read' || r.fhir_interaction === 'search-type')) {
        expect(profiles.length, label).toBe(1);
      }
      const query = (event.entity as Json[]).find((e) => e.role.code === '24');
      if (query !== undefined) {
        const text = Buffer.from(query.query, 'base64').toString('utf8');
        expect(text, label).toBe(requestOf(r));
        expect(text.length, label).toBeGreaterThan(0);
      }
    }
  });

  it('records the request for parameterless queries and group exports', () => {
    const list = cases.find((r) => r.event_type === 'PatientListView' && r.query === '')!;
    expect(requestOf(list)).toBe('Patient');
    const group = cases.find((r) => r.event_type === 'ExportInitiation' && r.resource_type === 'Group')!;
    expect(requestOf(group)).toBe('Group/g%201/$export');
    expect(requestOf(cases.at(-2)!)).toBe('$export');
    expect(requestOf(cases.at(-1)!)).toBe('Patient/$export?_type=Observation');
  });

  it('STU3 shape claims no R4 profile and uses no R4 code system', () => {
    for (const r of cases) {
      const event = auditEventFromRecord(r, { shape: 'STU3' }) as Json;
      expect(event.meta).toBeUndefined();
      const text = JSON.stringify(event);
      expect(text).not.toContain('profiles.ihe.net');
      expect(text).not.toContain('terminology.hl7.org');
      expect(emptyStrings(event)).toEqual([]);
    }
  });

  it('the rule check itself catches what the export must never do', () => {
    const good = auditEventFromRecord(cases[0]!) as Json;
    expect(good.meta.profile).toEqual([BALP_PROFILES.patientQuery]);
    const failed = { ...good, outcome: '8' };
    expect(balpProblems(failed)).toContain('PatientQuery: outcome is fixed to 0 (success)');
    const empty = structuredClone(good);
    empty.entity[0].query = '';
    expect(balpProblems(empty)).toContain('PatientQuery: entity[query].query must be non-empty base64');
    expect(emptyStrings(empty)).toEqual(['$.entity[0].query']);
    const swapped = structuredClone(good);
    swapped.action = 'R';
    expect(balpProblems(swapped)).toContain('PatientQuery: action must be E');
  });

  it('a Bundle of them is a valid R4 collection', () => {
    const bundle = auditEventBundle(cases.slice(0, 30), { timestamp: new Date('2026-11-18T00:00:00Z') });
    expect(errors(fhir.validate(bundle, { errorOnUnexpected: true }).messages)).toEqual([]);
    expect(Object.values(BALP_PROFILES).every((url) => url.startsWith('https://profiles.ihe.net/ITI/BALP/'))).toBe(
      true,
    );
  });
});
