/**
 * The audit-pipeline alert rules (src/alerts.ts): the generated Grafana provisioning file points each rule at the
 * provisioned data source with a threshold on the rule's SQL, and each rule's SQL, run on real chDB over pipeline
 * metrics stored by the sink's own OTLP mapping, fires for the gateway that is failing and for no other: a sink
 * refusing shipments (spool age rising), records dropped or refused by a spool, records quarantined; never for
 * a healthy gateway, nor for losses older than the window, nor for a counter that merely exists.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ClickHouseClient } from '@clickhouse/client';
import { migrate, openStore } from '@fhirwatch/clickhouse-sink';
import { mapMetrics } from '@fhirwatch/clickhouse-sink/ingest';
import { ATTRIBUTES, METRIC_UNITS, METRICS } from '@fhirwatch/contract';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ALERTS, alertSql } from '../src/alerts.ts';
import { GRAFANA_DATASOURCE_UID } from '../src/grafana.ts';

const root = join(import.meta.dirname, '..');

interface RuleJson {
  uid: string;
  condition: string;
  for: string;
  noDataState: string;
  data: {
    refId: string;
    datasourceUid: string;
    relativeTimeRange: { from: number; to: number };
    model: {
      rawSql?: string;
      format?: number;
      type?: string;
      expression?: string;
      conditions?: { evaluator: { type: string; params: number[] } }[];
    };
  }[];
}
const provisioned = JSON.parse(readFileSync(join(root, 'provisioning/alerting/fhirwatch-alerts.json'), 'utf8')) as {
  apiVersion: number;
  groups: { folder: string; interval: string; rules: RuleJson[] }[];
};
const rules = provisioned.groups.flatMap((g) => g.rules);

/** What Grafana evaluates: query A's SQL over its window, then B's threshold, read from the provisioned file. */
function thresholdOf(uid: string): { type: string; value: number } {
  const rule = rules.find((r) => r.uid === uid);
  const b = rule?.data.find((d) => d.refId === rule.condition);
  const evaluator = b?.model.conditions?.[0]?.evaluator;
  if (evaluator === undefined) throw new Error(`rule ${uid}: no threshold`);
  return { type: evaluator.type, value: evaluator.params[0] as number };
}

const NOW = Math.floor(Date.now() / 1000) * 1000;
const MIN = 60_000;
const nanos = (ms: number): string => (BigInt(ms) * 1_000_000n).toString();
type Attr = { key: string; value: { stringValue: string } };
const attr = (key: string, value: string): Attr => ({ key, value: { stringValue: value } });

/** One gateway's OTLP metrics export (as the middleware sends it), service + instance as resource attributes. */
function exportOf(service: string, instance: string, metrics: unknown[]): unknown {
  return {
    resourceMetrics: [
      {
        resource: { attributes: [attr('service.name', service), attr('service.instance.id', instance)] },
        scopeMetrics: [{ scope: { name: '@fhirwatch/otel-middleware' }, metrics }],
      },
    ],
  };
}
const spoolAge = (...points: [minutesAgo: number, seconds: number][]): unknown => ({
  name: METRICS.auditSpoolAge,
  unit: METRIC_UNITS.auditSpoolAge,
  gauge: {
    dataPoints: points.map(([ago, value]) => ({
      startTimeUnixNano: nanos(NOW - 60 * MIN),
      timeUnixNano: nanos(NOW - ago * MIN),
      asDouble: value,
      attributes: [],
    })),
  },
});
/** A counter series: temporality 2 (cumulative since startMinutesAgo) or 1 (delta per point). */
const counter = (
  name: string,
  temporality: 1 | 2,
  startMinutesAgo: number,
  points: [minutesAgo: number, value: number][],
  attributes: Attr[] = [],
): unknown => ({
  name,
  unit: '{record}',
  sum: {
    aggregationTemporality: temporality,
    isMonotonic: true,
    dataPoints: points.map(([ago, value]) => ({
      startTimeUnixNano: nanos(NOW - startMinutesAgo * MIN),
      timeUnixNano: nanos(NOW - ago * MIN),
      asInt: String(value),
      attributes,
    })),
  },
});
const outcome = (value: string): Attr[] => [attr(ATTRIBUTES.auditOutcome, value)];

let dir: string;
let client: ClickHouseClient;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'fw-dash-alerts-'));
  client = openStore({ path: join(dir, 'store') });
  await migrate(client);
  const exports = [
    // healthy: spool age around a second, losses only long before the windows, a counter that never moves
    exportOf('gateway', 'healthy', [
      spoolAge([9, 1], [6, 2], [3, 1], [0.5, 1]),
      counter(
        METRICS.auditRecordsRejected,
        2,
        180,
        [
          [170, 0],
          [100, 7],
          [9, 7],
          [5, 7],
          [1, 7],
        ],
        outcome('dropped'),
      ),
      counter(
        METRICS.auditRecordsRejected,
        2,
        30,
        [
          [9, 0],
          [1, 0],
        ],
        outcome('refused'),
      ),
      counter(METRICS.auditRecordsQuarantined, 2, 180, [
        [120, 2],
        [30, 2],
        [1, 2],
      ]),
    ]),
    // the sink refuses this gateway's shipments: its oldest record ages past 5 minutes
    exportOf('gateway', 'refused-by-sink', [spoolAge([9, 30], [6, 210], [3, 390], [0.5, 540])]),
    // recovered: it was old 8 minutes ago, now it ships (the latest value counts, not the window's maximum)
    exportOf('gateway', 'recovered', [spoolAge([8, 480], [4, 2], [0.5, 1])]),
    // this spool dropped 3 records since its process started 6 minutes ago (first point already 2), refused 4
    // (delta temporality), and 1 record was quarantined 20 minutes ago
    exportOf('gateway', 'failing-spool', [
      counter(
        METRICS.auditRecordsRejected,
        2,
        6,
        [
          [5, 2],
          [3, 2],
          [1, 3],
        ],
        outcome('dropped'),
      ),
      counter(METRICS.auditRecordsRejected, 1, 2, [[1, 4]], outcome('refused')),
      counter(METRICS.auditRecordsQuarantined, 2, 90, [
        [40, 5],
        [20, 6],
        [1, 6],
      ]),
    ]),
  ];
  for (const body of exports) {
    for (const [table, values] of mapMetrics(body as Parameters<typeof mapMetrics>[0])) {
      await client.insert({ table, values, format: 'JSONEachRow' });
    }
  }
}, 180_000);

afterAll(async () => {
  await client?.close();
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
});

/** Fired series of a rule: its SQL over the window ending now, then the provisioned threshold. */
async function fired(uid: string): Promise<Record<string, unknown>[]> {
  const alert = ALERTS.find((a) => a.uid === uid);
  if (alert === undefined) throw new Error(`no alert ${uid}`);
  const result = await client.query({ query: alertSql(alert, new Date(NOW + 1000)), format: 'JSONEachRow' });
  const rows = (await result.json()) as Record<string, unknown>[];
  for (const row of rows) expect(Object.keys(row)).toEqual([...alert.labels, 'value']);
  const { type, value } = thresholdOf(uid);
  expect(type).toBe('gt');
  return rows.filter((row) => Number(row.value) > value);
}

describe('audit pipeline alert rules', () => {
  it('the provisioning file: one rule group, query A on the provisioned data source, threshold B as the condition', () => {
    expect(provisioned.apiVersion).toBe(1);
    expect(rules.map((r) => r.uid)).toEqual(ALERTS.map((a) => a.uid));
    for (const alert of ALERTS) {
      const rule = rules.find((r) => r.uid === alert.uid) as RuleJson;
      const a = rule.data.find((d) => d.refId === 'A');
      const b = rule.data.find((d) => d.refId === rule.condition);
      expect(a?.datasourceUid).toBe(GRAFANA_DATASOURCE_UID);
      expect(a?.model.rawSql).toBe(alert.sql);
      expect(a?.model.format).toBe(1);
      expect(a?.relativeTimeRange).toEqual({ from: alert.windowSeconds, to: 0 });
      expect(b).toMatchObject({ datasourceUid: '__expr__', model: { type: 'threshold', expression: 'A' } });
      expect(thresholdOf(alert.uid).value).toBe(alert.above);
      expect(rule.noDataState).toBe('OK');
      // PHI: the rules read pipeline metrics only
      expect(alert.sql).not.toMatch(/audit_(events|requests|patient_index)/);
    }
  });

  it('a sink refusing shipments: the gateway whose oldest spooled record is past 5 minutes, and only it', async () => {
    const rows = await fired('fhirwatch-audit-not-stored');
    expect(rows.map((r) => [r.instance, r.value])).toEqual([['refused-by-sink', 540]]);
  });

  it('records refused or dropped in the window, per gateway and outcome; older losses and idle counters stay quiet', async () => {
    const rows = await fired('fhirwatch-audit-records-lost');
    expect(rows.map((r) => [r.instance, r.outcome, r.value])).toEqual([
      ['failing-spool', 'dropped', 3],
      ['failing-spool', 'refused', 4],
    ]);
  });

  it('records quarantined in the last hour', async () => {
    const rows = await fired('fhirwatch-audit-records-quarantined');
    expect(rows.map((r) => [r.instance, r.value])).toEqual([['failing-spool', 1]]);
  });
});
