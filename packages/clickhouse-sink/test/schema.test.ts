import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ClickHouseClient } from '@clickhouse/client';
import { AUDIT_RECORD_FIELDS } from '@fhirwatch/contract';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrate, openStore } from '../src/index.ts';
import { AUDIT_DEDUP_CLAUSE, AUDIT_DEDUP_VIEW, MIGRATIONS, MIGRATIONS_TABLE, OTEL_TABLES } from '../src/store/index.ts';
import { AUDIT_PATIENT_INDEX_TABLE, REQUEST_USER_PROJECTION } from '../src/store/schema/index.ts';
import { AUDIT_QUERY_LOG_COMMENTS, AUDIT_QUERY_LOG_TABLE } from '../src/store/schema/query-log.ts';

let dir: string;
let client: ClickHouseClient;

async function rows<T>(query: string): Promise<T[]> {
  return (await client.query({ query, format: 'JSONEachRow' })).json<T>();
}
async function text(query: string): Promise<string> {
  return (await client.query({ query, format: 'TabSeparatedRaw' })).text();
}

/** Granules selected / total by the primary key of the last ReadFromMergeTree in an EXPLAIN indexes = 1. */
function primaryKeyGranules(explain: string): { read: number; total: number; source: string } {
  const source = /ReadFromMergeTree \(([^)]+)\)/.exec(explain)?.[1] ?? '';
  const pk = explain.slice(explain.indexOf('PrimaryKey'));
  const match = /Granules: (\d+)\/(\d+)/.exec(pk);
  if (match === null) throw new Error(`no primary key granules in:\n${explain}`);
  return { read: Number(match[1]), total: Number(match[2]), source };
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'fw-sink-schema-'));
  client = openStore({ path: dir });
});
afterAll(async () => {
  await client.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('migrations', () => {
  it('apply every version once, record it, and do nothing the second time', async () => {
    const first = await migrate(client);
    expect(first.applied).toEqual(MIGRATIONS.map((m) => m.version));
    const second = await migrate(client);
    expect(second.applied).toEqual([]);
    expect(second.skipped).toEqual(MIGRATIONS.map((m) => m.version));
    const recorded = await rows<{ version: number; name: string; checksum: string }>(
      `SELECT version, name, checksum FROM ${MIGRATIONS_TABLE} ORDER BY version`,
    );
    expect(recorded.map((r) => [Number(r.version), r.name])).toEqual(MIGRATIONS.map((m) => [m.version, m.name]));
    expect(recorded.every((r) => /^[0-9a-f]{16}$/.test(r.checksum))).toBe(true);
  });

  it('audit_query_log says what its columns hold today (migration 13: in-process readers, surfaces cli and demo)', async () => {
    const comments = await rows<{ name: string; comment: string }>(
      `SELECT name, comment FROM system.columns WHERE database = currentDatabase() AND table = '${AUDIT_QUERY_LOG_TABLE}'`,
    );
    const comment = new Map(comments.map((c) => [c.name, c.comment]));
    for (const column of ['principal', 'actor', 'auth', 'surface'] as const) {
      expect(comment.get(column), column).toBe(AUDIT_QUERY_LOG_COMMENTS[column]);
    }
    expect(comment.get('surface')).toBe('api | console | cli | demo');
    expect(comment.get('auth')).toContain('process');
    expect(
      await text(
        `SELECT comment FROM system.tables WHERE database = currentDatabase() AND name = '${AUDIT_QUERY_LOG_TABLE}'`,
      ),
    ).toBe(`${AUDIT_QUERY_LOG_COMMENTS.table}\n`);
  });

  it('creates audit_events (the expansion view) with exactly the AuditRecord columns, in order, and event_time DateTime64(3, UTC)', async () => {
    const columns = await rows<{ name: string; type: string }>(
      `SELECT name, type FROM system.columns WHERE database = currentDatabase() AND table = 'audit_events' ORDER BY position`,
    );
    expect(columns.map((c) => c.name)).toEqual([...AUDIT_RECORD_FIELDS]);
    expect(columns.find((c) => c.name === 'event_time')?.type).toBe("DateTime64(3, 'UTC')");
    expect(
      await text(`SELECT engine FROM system.tables WHERE database = currentDatabase() AND name = 'audit_events'`),
    ).toBe('View\n');
    const create = await text(`SELECT create_table_query FROM system.tables WHERE name = 'audit_requests'`);
    expect(create).toContain('PARTITION BY toYYYYMM(event_time)');
    expect(create).toContain('toIntervalDay(2557)');
  });

  it('creates every Collector-compatible telemetry table with a tenant-led sort key and TTL drop-parts', async () => {
    for (const table of Object.values(OTEL_TABLES)) {
      const [info] = await rows<{ sorting_key: string; create_table_query: string }>(
        `SELECT sorting_key, create_table_query FROM system.tables WHERE database = currentDatabase() AND name = '${table}'`,
      );
      expect(info?.sorting_key.startsWith('TenantId')).toBe(true);
      expect(info?.create_table_query).toContain('ttl_only_drop_parts = 1');
      expect(info?.create_table_query).toMatch(/PARTITION BY toDate\(/);
    }
  });

  it('changes retention with ALTER … MODIFY TTL when the option changes', async () => {
    const result = await migrate(client, { auditRetentionDays: 3000, telemetryRetentionDays: 7 });
    expect(result.applied).toEqual([]);
    expect(result.retentionChanged).toContain('audit_requests');
    expect(result.retentionChanged).toContain('audit_patient_index');
    expect(result.retentionChanged).toContain('otel_traces');
    for (const table of ['audit_requests', 'audit_patient_index']) {
      expect(await text(`SELECT create_table_query FROM system.tables WHERE name = '${table}'`)).toContain(
        'toIntervalDay(3000)',
      );
    }
    expect((await migrate(client, { auditRetentionDays: 3000, telemetryRetentionDays: 7 })).retentionChanged).toEqual(
      [],
    );
  });
});

describe('audit access paths (EXPLAIN indexes = 1)', () => {
  beforeAll(async () => {
    // one-patient requests: the index gets one row per request (its materialized view)
    await client.command({
      query: `INSERT INTO audit_requests (request_id, event_time, recorded_by, seq, v, tenant_id, user_id, e_event_type,
          e_fhir_interaction, e_resource_type, e_query, e_entry_index, e_http_status, e_outcome, e_result_count, x_entry, x_patient_id)
        SELECT generateUUIDv7(), toDateTime64('2026-11-01 00:00:00', 3, 'UTC') + number, 'gw-1', number + 1, 2,
               'tenant-' || toString(number % 3), 'u' || toString(intHash32(number) % 500), ['PatientView'], ['read'],
               ['Patient'], [''], [-1], [200], [0], [1], [1], ['p' || toString(number % 5000)]
        FROM numbers(600000)`,
    });
  });

  it('"everything about patient X" reads a small fraction of the per-patient index through its sort key', async () => {
    const plan = primaryKeyGranules(
      await text(
        `EXPLAIN indexes = 1 SELECT recorded_by, seq FROM ${AUDIT_PATIENT_INDEX_TABLE} WHERE tenant_id = 'tenant-1' AND patient_id = 'p7'`,
      ),
    );
    expect(plan.source).toBe(`default.${AUDIT_PATIENT_INDEX_TABLE}`);
    expect(plan.total).toBeGreaterThan(50);
    expect(plan.read / plan.total).toBeLessThan(0.05);
  });

  it('"everything user Y touched" reads a small fraction of the requests through the by_user projection', async () => {
    const plan = primaryKeyGranules(
      await text(
        `EXPLAIN indexes = 1 SELECT recorded_by, seq FROM audit_requests WHERE tenant_id = 'tenant-1' AND user_id = 'u7'`,
      ),
    );
    expect(plan.source).toBe(REQUEST_USER_PROJECTION);
    expect(plan.total).toBeGreaterThan(50);
    expect(plan.read / plan.total).toBeLessThan(0.05);
  });

  it('the requests the index names are read by their sort key', async () => {
    const plan = primaryKeyGranules(
      await text(
        `EXPLAIN indexes = 1 SELECT * FROM audit_requests WHERE (recorded_by, seq) IN (('gw-1', 7), ('gw-1', 500007))`,
      ),
    );
    expect(plan.source).toBe('default.audit_requests');
    expect(plan.total).toBeGreaterThan(50);
    expect(plan.read).toBeLessThanOrEqual(2);
  });

  it('the dedup view and the dedup clause return one row per event_id when a request is stored twice', async () => {
    // two separate inserts (two parts): what an at-least-once redelivery that slipped past the writer looks like
    for (let i = 0; i < 2; i++) {
      await client.command({
        query: `INSERT INTO audit_requests (request_id, event_time, recorded_by, seq, v, tenant_id, user_id, e_event_type,
            e_fhir_interaction, e_resource_type, e_query, e_entry_index, e_http_status, e_outcome, e_result_count, x_entry, x_patient_id)
          VALUES ('0192f000-0000-7000-8000-000000000001', '2026-11-02 00:00:00', 'gw-9', 1, 2, 'tenant-9', 'dup-user',
            ['PatientView'], ['read'], ['Patient'], [''], [-1], [200], [0], [1], [1], ['dup'])`,
      });
    }
    expect(await text(`SELECT count() FROM audit_events WHERE tenant_id = 'tenant-9'`)).toBe('2\n');
    expect(await text(`SELECT count() FROM ${AUDIT_DEDUP_VIEW} WHERE tenant_id = 'tenant-9'`)).toBe('1\n');
    expect(
      await text(
        `SELECT count() FROM (SELECT event_id FROM audit_events WHERE tenant_id = 'tenant-9' AND user_id = 'dup-user' ${AUDIT_DEDUP_CLAUSE})`,
      ),
    ).toBe('1\n');
  });
});

describe('latency rollup', () => {
  it('aggregates server spans into per-tenant, per-route, per-minute t-digest states', async () => {
    await client.insert({
      table: 'otel_traces',
      format: 'JSONEachRow',
      values: [10, 20, 30, 40, 1000].map((ms, i) => ({
        // within the 7-day retention the test above set (a fixed date falls out of it as the calendar moves)
        Timestamp: `${new Date(Date.now() - 3_600_000).toISOString().slice(0, 17)}0${i}`.replace('T', ' '),
        TraceId: 't',
        SpanId: String(i),
        SpanName: 'GET /Patient/:id',
        SpanKind: 'SPAN_KIND_SERVER',
        ServiceName: 'gateway',
        ResourceAttributes: { 'service.name': 'gateway' },
        SpanAttributes: { 'tenant.id': 'tenant-a', 'http.route': '/Patient/:id' },
        Duration: ms * 1_000_000,
        StatusCode: i === 4 ? 'STATUS_CODE_ERROR' : 'STATUS_CODE_UNSET',
      })),
    });
    const [row] = await rows<{ TenantId: string; Route: string; requests: string; errors: string; p50: number }>(
      `SELECT TenantId, Route, sum(Requests) AS requests, sum(Errors) AS errors,
              quantilesTDigestMerge(0.5, 0.9, 0.95, 0.99)(LatencyMs)[1] AS p50
       FROM otel_latency_rollup GROUP BY TenantId, Route`,
    );
    expect(row).toMatchObject({ TenantId: 'tenant-a', Route: '/Patient/:id' });
    expect(Number(row?.requests)).toBe(5);
    expect(Number(row?.errors)).toBe(1);
    expect(row?.p50).toBeGreaterThanOrEqual(20);
    expect(row?.p50).toBeLessThanOrEqual(40);
  });
});
