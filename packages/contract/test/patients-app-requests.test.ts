import { describe, expect, it } from 'vitest';
import {
  classifyRequest,
  FHIR_VERSIONS,
  LIST_REFRESH_ENTRIES_PER_PATIENT,
  listRefreshBundle,
  parseSearchParams,
  validateSearch,
} from '../src/index.ts';

describe.each(FHIR_VERSIONS)('listRefreshBundle (%s)', (version) => {
  const bundle = listRefreshBundle(version, ['p1', 'p-2.x']);

  it('has 7 GET entries per patient, each a supported interaction of the contract', () => {
    expect(bundle.entry).toHaveLength(2 * LIST_REFRESH_ENTRIES_PER_PATIENT);
    for (const { request } of bundle.entry) {
      const [type, query = ''] = request.url.split('?') as [string, string?];
      if (query === '') continue;
      expect(validateSearch(version, type, parseSearchParams(query)).unsupported, request.url).toEqual([]);
    }
  });

  it('classifies as a batch of the 7 per-patient event types, naming each patient', () => {
    const classification = classifyRequest({
      method: 'POST',
      path: '/',
      body: JSON.stringify(bundle),
      fhirVersion: version,
    });
    expect(classification.kind).toBe('clinical');
    expect(classification.batch).toBe(true);
    expect(classification.interactions.map((i) => i.eventType).slice(0, 7)).toEqual([
      'PatientView',
      'VitalSignsView',
      'ConditionsView',
      'EncountersView',
      'AllergiesView',
      'MedicationsView',
      'CoverageView',
    ]);
    expect(classification.interactions.slice(7).every((i) => i.patientRefs.includes('p-2.x'))).toBe(true);
  });
});
