/**
 * The real sink (embedded chDB) refuses a batch because one record is invalid (400 naming the line):
 * the shipper stores every other record of the segment and quarantines only the bad one.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startSink } from '@fhirwatch/clickhouse-sink';
import { AUDIT_DEDUP_VIEW } from '@fhirwatch/clickhouse-sink/store';
import type { AuditRequestRecord, UnchainedAuditRequest } from '@fhirwatch/contract';
import { AuditShipper, AuditSpool, uuidv7 } from '@fhirwatch/otel-middleware';
import { afterAll, describe, expect, it } from 'vitest';

const root = mkdtempSync(join(tmpdir(), 'fw-e2e-reject-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

function record(i: number): UnchainedAuditRequest {
  return {
    v: 2,
    event_id: uuidv7(),
    event_time: new Date(1_790_000_000_000 + i).toISOString(),
    recorded_by: 'e2e-reject',
    seq: 0,
    prev_hash: '',
    hash: '',
    tenant_id: '',
    tenant_claimed: false,
    routed_tenant_id: '',
    client_id: 'c',
    user_id: '',
    user_name: '',
    source_ip: '127.0.0.1',
    user_agent: 'reject-test',
    fhir_version: 'STU3',
    batch_id: '',
    trace_id: '',
    http_status: 200,
    duration_ms: 1.5,
    entries: [
      {
        event_type: 'PatientSearch',
        fhir_interaction: 'search-type',
        resource_type: 'Patient',
        query: `family=X${i}`,
        entry_index: -1,
        http_status: 200,
        outcome: 0,
        result_count: 1,
        patient_ids: [`p${i}`],
      },
    ],
  };
}

describe('real sink rejects one record of a segment', () => {
  it('stores the 199 valid records and quarantines the invalid one', async () => {
    const sink = await startSink({ store: join(root, 'store') });
    const spool = await AuditSpool.open({ dir: join(root, 'spool'), recordedBy: 'e2e-reject', hmacKey: 'k' });
    try {
      const records = Array.from({ length: 200 }, (_, i) => record(i));
      // An event type the sink does not know: invalid, whatever else the record says.
      (records[120]?.entries[0] as { event_type: string }).event_type = 'NotAnEvent';
      await spool.append(records, true);
      await spool.seal();
      const shipper = new AuditShipper(spool, { sinkUrl: sink.url, shipIntervalMs: 20, onError: () => {} });
      shipper.start();
      await shipper.drained();
      await shipper.stop();
      expect(shipper.stats.rejectedRecords).toBe(1);
      const rows = await (
        await sink.client.query({
          query: `SELECT patient_id FROM ${AUDIT_DEDUP_VIEW} WHERE recorded_by = 'e2e-reject'`,
          format: 'JSONEachRow',
        })
      ).json<{ patient_id: string }>();
      expect(rows).toHaveLength(199);
      expect(rows.some((r) => r.patient_id === 'p120')).toBe(false);
      const files = readdirSync(join(root, 'spool', 'rejected'));
      expect(files).toHaveLength(1);
      const quarantined = readFileSync(join(root, 'spool', 'rejected', files[0] as string), 'utf8')
        .split('\n')
        .filter((l) => l !== '')
        .map((l) => JSON.parse(l) as { error: { code: string }; record: AuditRequestRecord });
      expect(quarantined.map((q) => q.record.entries[0]?.patient_ids)).toEqual([['p120']]);
      expect(quarantined[0]?.error.code).toMatch(/^FW_SINK_/);
    } finally {
      await spool.close();
      await sink.close();
    }
  });
});

describe('real sink refuses the writer credential', () => {
  it('401/403: the records stay spooled and the error names the sink code and what to check', async () => {
    const token = 'e2e-right-writer-token-01';
    const sink = await startSink({
      store: join(root, 'store-credential'),
      ingestTokens: [{ name: 'e2e-right', token }],
    });
    // recorded_by e2e-reject with e2e-right's token (403), then no token at all (401)
    const cases: { headers: Record<string, string>; code: string }[] = [
      { headers: { authorization: `Bearer ${token}` }, code: 'FW_SINK_FORBIDDEN' },
      { headers: {}, code: 'FW_SINK_UNAUTHORIZED' },
    ];
    for (const [n, { headers, code }] of cases.entries()) {
      const spool = await AuditSpool.open({
        dir: join(root, `spool-credential-${n}`),
        recordedBy: 'e2e-reject',
        hmacKey: 'k',
      });
      const messages: string[] = [];
      try {
        await spool.append([record(0), record(1)], true);
        await spool.seal();
        const shipper = new AuditShipper(spool, {
          sinkUrl: sink.url,
          shipIntervalMs: 20,
          headers,
          onError: (error) => messages.push(error.message),
        });
        shipper.start();
        for (let i = 0; i < 200 && messages.length === 0; i++) await new Promise((r) => setTimeout(r, 50));
        await shipper.stop();
        expect(messages[0]).toContain(code);
        expect(messages[0]).toMatch(/credential|recordedBy/);
        expect(shipper.stats.rejectedRecords).toBe(0);
        expect(spool.stats().unshipped).toBe(2);
      } finally {
        await spool.close();
      }
    }
    await sink.close();
  }, 120_000);
});
