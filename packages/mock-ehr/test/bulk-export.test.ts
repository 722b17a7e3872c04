/**
 * Bulk Data kick-off (https://hl7.org/fhir/uv/bulkdata/export.html): `$export`, `Patient/$export` and
 * `Group/{id}/$export` are accepted with 202 and a Content-Location to poll; other methods and paths are refused.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type MockEhrServer, startMockEhr } from '../src/index.ts';

let ehr: MockEhrServer;
beforeAll(async () => {
  ehr = await startMockEhr({ fhirVersion: 'STU3', patients: 10, seed: 1 });
});
afterAll(async () => {
  await ehr?.close();
});

describe('bulk export kick-off', () => {
  it('accepts the three kick-off paths with 202 and a status location', async () => {
    const locations: string[] = [];
    for (const path of ['$export', 'Patient/$export', 'Group/cohort-1/$export']) {
      const response = await fetch(`${ehr.url}/${path}`, { headers: { prefer: 'respond-async' } });
      expect(response.status, path).toBe(202);
      expect(await response.text()).toBe('');
      const location = response.headers.get('content-location') ?? '';
      expect(location.startsWith(`${ehr.url}/$export-status/`)).toBe(true);
      locations.push(location);
    }
    expect(new Set(locations).size).toBe(3);
  });

  it('refuses other methods and other resource types', async () => {
    const post = await fetch(`${ehr.url}/Patient/$export`, { method: 'POST' });
    expect(post.status).toBe(405);
    await post.body?.cancel();
    const observation = await fetch(`${ehr.url}/Observation/$export`);
    expect(observation.status).toBe(404);
    expect(((await observation.json()) as { resourceType: string }).resourceType).toBe('OperationOutcome');
  });
});
