/**
 * Upgrade path and unknown result counts, end to end into the real sink (embedded chDB):
 * - a spool written by the previous middleware (one legacy per-patient line per (request, patient), its
 *   own HMAC chain) is opened by the current one, which continues the SAME chain with request records;
 *   the mixed segment ships as it is, the sink stores both kinds, and `audit verify` proves the one chain
 *   and the per-patient rows;
 * - a response over the middleware's capture cap is recorded with result_count null (unknown), stored by
 *   the sink (it refused the old -1) and reported by the access report.
 */
import * as crypto from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startSink } from '@fhirwatch/clickhouse-sink';
import { accessReport, verifyAuditChain } from '@fhirwatch/clickhouse-sink/compliance';
import { AUDIT_DEDUP_VIEW } from '@fhirwatch/clickhouse-sink/store';
import {
  type AuditRecord,
  auditRecordCanonical,
  chainHasher,
  signChain,
  type UnchainedAuditRequest,
} from '@fhirwatch/contract';
import { AuditShipper, AuditSpool, frameLine, uuidv7 } from '@fhirwatch/otel-middleware';
import { afterAll, describe, expect, it } from 'vitest';
import { startStack } from './stack.ts';

const root = mkdtempSync(join(tmpdir(), 'fw-e2e-mixed-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
const KEY = 'mixed-spool-key';
const WRITER = 'gw-upgraded';

function legacyRecord(i: number): AuditRecord {
  return {
    event_id: uuidv7(),
    event_time: new Date(1_790_000_000_000 + i).toISOString(),
    recorded_by: WRITER,
    seq: 0,
    prev_hash: '',
    hash: '',
    tenant_id: 't',
    routed_tenant_id: 't',
    client_id: 'c',
    user_id: '',
    user_name: '',
    source_ip: '127.0.0.1',
    user_agent: 'old-middleware',
    event_type: 'PatientSearch',
    fhir_interaction: 'search-type',
    resource_type: 'Patient',
    fhir_version: 'STU3',
    query: 'family=x',
    patient_id: `old-${i}`,
    batch_id: '',
    entry_index: -1,
    trace_id: '',
    outcome: 0,
    http_status: 200,
    duration_ms: 1.25,
    // the old middleware's "unknown" for an over-cap body (the sink used to refuse it)
    result_count: i === 2 ? -1 : 1,
  };
}

function request(i: number): UnchainedAuditRequest {
  return {
    v: 2,
    event_id: uuidv7(),
    event_time: new Date(1_790_000_100_000 + i).toISOString(),
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
    user_agent: 'new-middleware',
    fhir_version: 'STU3',
    batch_id: '',
    trace_id: '',
    http_status: 200,
    duration_ms: 2.5,
    entries: [
      {
        event_type: 'PatientSearch',
        fhir_interaction: 'search-type',
        resource_type: 'Patient',
        query: 'family=y',
        entry_index: -1,
        http_status: 200,
        outcome: 0,
        result_count: 2,
        patient_ids: [`new-${i}-a`, `new-${i}-b`],
      },
    ],
  };
}

describe('mixed spool and unknown result counts, into the real sink', () => {
  it('ships a spool of old per-patient lines followed by request records as one chain; verify proves both levels', async () => {
    const spoolDir = join(root, 'spool');
    mkdirSync(spoolDir, { recursive: true });
    // what the previous version left behind: 5 legacy lines in a sealed segment, chained record by record
    const legacy = Array.from({ length: 5 }, (_, i) => legacyRecord(i));
    signChain(chainHasher(crypto, KEY), legacy, auditRecordCanonical);
    writeFileSync(join(spoolDir, 'seg-000000000001.log'), legacy.map((r) => frameLine(JSON.stringify(r))).join(''));
    const spool = await AuditSpool.open({ dir: spoolDir, recordedBy: WRITER, hmacKey: KEY });
    const sink = await startSink({ store: join(root, 'store') });
    try {
      expect(spool.chainState().seq).toBe(5); // continues the old chain
      await spool.append([request(0), request(1), request(2)], true);
      await spool.seal();
      const shipper = new AuditShipper(spool, { sinkUrl: sink.url, shipIntervalMs: 20, onError: () => {} });
      shipper.start();
      await shipper.drained();
      await shipper.stop();
      expect(shipper.stats.rejectedRecords).toBe(0);
      expect(shipper.stats.shippedRecords).toBe(8); // 5 legacy lines + 3 request lines
      const rows = await (
        await sink.client.query({
          query: `SELECT patient_id, seq, result_count FROM ${AUDIT_DEDUP_VIEW} WHERE recorded_by = {w:String} ORDER BY seq, patient_id`,
          query_params: { w: WRITER },
          format: 'JSONEachRow',
        })
      ).json<{ patient_id: string; seq: string; result_count: number | null }>();
      expect(rows.map((r) => [r.patient_id, Number(r.seq)])).toEqual([
        ['old-0', 1],
        ['old-1', 2],
        ['old-2', 3],
        ['old-3', 4],
        ['old-4', 5],
        ['new-0-a', 6],
        ['new-0-b', 6],
        ['new-1-a', 7],
        ['new-1-b', 7],
        ['new-2-a', 8],
        ['new-2-b', 8],
      ]);
      expect(rows.find((r) => r.patient_id === 'old-2')?.result_count).toBeNull(); // legacy -1 = unknown
      const verified = await verifyAuditChain(sink.client, { key: KEY, recordedBy: [WRITER] });
      expect(verified.ok).toBe(true);
      expect(verified.writers[0]).toMatchObject({ records: 8, first_seq: 1, last_seq: 8, stored_rows: 11 });
    } finally {
      await spool.close();
      await sink.close();
    }
  });

  it('records a response over the capture cap with result_count null, stores it and reports it', async () => {
    const sink = await startSink({ store: join(root, 'store-cap') });
    const stack = await startStack({ sinkUrl: sink.url, shipIntervalMs: 20, maxResponseBodyBytes: 64 });
    try {
      const patient = (stack.ehr.STU3.population.patients[0] as { id: string }).id;
      const res = await fetch(`${stack.base('STU3')}/Condition?patient=${patient}`, {
        headers: { authorization: `Bearer ${stack.token.STU3}`, 'user-agent': 'over-cap' },
      });
      expect(res.status).toBe(200);
      expect((await res.arrayBuffer()).byteLength).toBeGreaterThan(64);
      await stack.audit.drain();
      expect(stack.audit.stats().truncatedBodies).toBe(1);
      const report = await accessReport(sink.client, {
        patientIds: [patient],
        from: new Date(Date.now() - 3_600_000),
        to: new Date(Date.now() + 60_000),
      });
      const row = report.rows.find((r) => r.user_agent === 'over-cap');
      expect(row).toMatchObject({ event_type: 'ConditionsView', patient_id: patient, result_count: null });
    } finally {
      await stack.close();
      await sink.close();
    }
  });
});
