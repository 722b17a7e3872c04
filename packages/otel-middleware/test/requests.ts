/** Request records for the spool/shipper tests, and reading them back out of spool segments. */
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { AuditRequestRecord, UnchainedAuditRequest } from '@fhirwatch/contract';
import { parseSegment, segmentLine } from '../src/spool.ts';
import { uuidv7 } from '../src/uuidv7.ts';

/** A PatientView request of one patient (chain fields left for the spool). */
export function testRequest(patient: string, over: Partial<AuditRequestRecord> = {}): UnchainedAuditRequest {
  return {
    v: 2,
    event_id: uuidv7(),
    event_time: new Date().toISOString(),
    recorded_by: '',
    seq: 0,
    prev_hash: '',
    hash: '',
    tenant_id: 't',
    tenant_claimed: false,
    routed_tenant_id: 't',
    client_id: 'c',
    user_id: '',
    user_name: '',
    source_ip: '127.0.0.1',
    user_agent: '',
    fhir_version: 'STU3',
    batch_id: '',
    trace_id: '',
    http_status: 200,
    duration_ms: 1.2345,
    entries: [
      {
        event_type: 'PatientView',
        fhir_interaction: 'read',
        resource_type: 'Patient',
        query: '',
        entry_index: -1,
        http_status: 200,
        outcome: 0,
        result_count: 1,
        patient_ids: [patient],
      },
    ],
    ...over,
  };
}

/** The first patient of a request's first entry. */
export function patientOf(request: AuditRequestRecord): string {
  return request.entries[0]?.patient_ids[0] ?? '';
}

/** Every request record in a spool directory's segments, in order, and the count of corrupt lines. */
export async function segmentRequests(dir: string): Promise<{ records: AuditRequestRecord[]; corrupt: number }> {
  const names = (await readdir(dir)).filter((n) => n.startsWith('seg-')).sort();
  const records: AuditRequestRecord[] = [];
  let corrupt = 0;
  for (const n of names) {
    const c = parseSegment(await readFile(join(dir, n)));
    corrupt += c.corrupt;
    for (let i = 0; i < c.ranges.length; i++) records.push(JSON.parse(segmentLine(c, i)) as AuditRequestRecord);
  }
  return { records, corrupt };
}
