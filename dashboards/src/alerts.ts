/**
 * Alert rules on the audit pipeline, defined once like the panels: each rule is SQL over the same tables (the
 * otel_metrics_* rows the sink stores from the gateway's pipeline metrics) returning one number per series
 * (`value`) with string label columns, and a threshold. scripts/generate-grafana.ts turns them into a Grafana
 * alert-rule provisioning file (provisioning/alerting/fhirwatch-alerts.json, JSON as Grafana reads it: query A = the SQL on the
 * provisioned ClickHouse data source over the rule's window, B = a threshold expression on A; Grafana alerting
 * treats a table with one number column and string columns as one series per row), and `alertSql` gives the
 * SQL with its macros expanded for any other evaluator.
 *
 * Why these three: each is a way audit records stop reaching the store or are lost, and none makes the gateway
 * unready by design (an unready gateway would take the Patients app down over an audit credential or a sink
 * restart), so an operator must be told another way:
 * - the sink refuses the gateway's shipments (wrong or revoked ingest credential: 401/403), is down, or its
 *   disk is full: records wait in the spool and the spool's oldest segment ages;
 * - the spool itself failed: records refused (503 answered) or dropped (PHI served without its record);
 * - the sink refused records as invalid: quarantined in the spool's rejected/ directory.
 *
 * PHI: the rules read metrics only (service names, instance ids, outcome labels), never audit rows.
 */
import { expandMacros } from './macros.ts';
import { PIPELINE_ATTR_OUTCOME, PIPELINE_METRICS } from './panels.ts';

export interface AlertDef {
  /** Stable Grafana rule uid. */
  uid: string;
  title: string;
  /** One line for the notification. */
  summary: string;
  /** What it means and what to do (the runbook). */
  description: string;
  /** ClickHouse SQL over `$__timeFilter(col)` (the rule's window): string label columns, then `value`. */
  sql: string;
  labels: readonly string[];
  /** Fires for a series whose value is above this. */
  above: number;
  /** The window the SQL reads (Grafana relativeTimeRange). */
  windowSeconds: number;
  /** How long the condition must hold before the rule fires (Grafana `for`). */
  forSeconds: number;
  severity: 'page' | 'ticket';
}

/** Increase of a counter over the window, per series: delta points summed; cumulative points differenced
 * (a series that started inside the window counts from 0; a restart is a new series by its start time). */
const counterIncrease = (metric: string, labels: string): string => `SELECT ${labels}, sum(delta) AS value
FROM (
  SELECT ServiceName AS service, ResourceAttributes['service.instance.id'] AS instance,
    Attributes['${PIPELINE_ATTR_OUTCOME}'] AS outcome,
    if(AggregationTemporality = 1, Value,
      if(isNull(previous), if(StartTimeUnix >= $__fromTime, Value, 0), greatest(0, Value - assumeNotNull(previous)))) AS delta
  FROM (
    SELECT *, lagInFrame(toNullable(Value), 1, NULL) OVER (
        PARTITION BY ServiceName, ResourceAttributes['service.instance.id'], MetricName,
          Attributes['${PIPELINE_ATTR_OUTCOME}'], StartTimeUnix
        ORDER BY TimeUnix ROWS BETWEEN 1 PRECEDING AND CURRENT ROW) AS previous
    FROM otel_metrics_sum
    WHERE $__timeFilter(TimeUnix) AND MetricName = '${metric}'
  )
)
GROUP BY ${labels}
ORDER BY ${labels}`;

export const ALERTS: readonly AlertDef[] = [
  {
    uid: 'fhirwatch-audit-not-stored',
    title: 'Audit records are not reaching the store',
    summary: 'The oldest audit record waiting in a gateway spool is {{ $values.A.Value }} s old.',
    description:
      'A gateway keeps audit records in its durable spool until the sink acknowledges them; the oldest unshipped one has waited more than 5 minutes. Causes: the sink refuses the gateway’s ingest credential (401/403: check the sink log and the gateway’s sink token), the sink is down or unreachable, or the sink’s store cannot write (full disk). Nothing is lost while the spool has room, but audit reports miss these records until they ship. The gateway stays ready on purpose. See the SRE board’s audit pipeline panels and the gateway’s /readyz detail (spool depth, last shipment).',
    sql: `SELECT ServiceName AS service, ResourceAttributes['service.instance.id'] AS instance,
  argMax(Value, TimeUnix) AS value
FROM otel_metrics_gauge
WHERE $__timeFilter(TimeUnix) AND MetricName = '${PIPELINE_METRICS.spoolAge}'
GROUP BY service, instance
ORDER BY service, instance`,
    labels: ['service', 'instance'],
    above: 300,
    windowSeconds: 600,
    forSeconds: 300,
    severity: 'page',
  },
  {
    uid: 'fhirwatch-audit-records-lost',
    title: 'Audit records refused or dropped by a gateway spool',
    summary: '{{ $values.A.Value }} audit records {{ $labels.outcome }} in the last 10 minutes.',
    description:
      'The gateway could not write audit records to its spool (spool full or unwritable). outcome=refused: the requests were answered 503 and no PHI left (onSpoolFailure: refuse). outcome=dropped: PHI was served without its audit record (onSpoolFailure: serve, or records unwritten when the process ended): a HIPAA access-audit gap to record. See the gateway log line fhirwatch.audit.spool.failed and its /readyz.',
    sql: counterIncrease(PIPELINE_METRICS.rejected, 'service, instance, outcome'),
    labels: ['service', 'instance', 'outcome'],
    above: 0,
    windowSeconds: 600,
    forSeconds: 0,
    severity: 'page',
  },
  {
    uid: 'fhirwatch-audit-records-quarantined',
    title: 'Audit records quarantined as invalid',
    summary: '{{ $values.A.Value }} audit records quarantined in the last hour.',
    description:
      'The sink refused audit records as invalid (400/413/415) and the gateway kept them in its spool’s rejected/ directory instead of retrying for ever. They are not in the store: read the sink’s error for each (the shipper logs the code), fix the cause, and re-send the files.',
    sql: counterIncrease(PIPELINE_METRICS.quarantined, 'service, instance'),
    labels: ['service', 'instance'],
    above: 0,
    windowSeconds: 3600,
    forSeconds: 0,
    severity: 'ticket',
  },
];

/** A rule's SQL with its macros expanded for the window ending at `now`. */
export function alertSql(alert: AlertDef, now: Date = new Date()): string {
  return expandMacros(alert.sql, {
    from: new Date(now.getTime() - alert.windowSeconds * 1000),
    to: now,
    intervalSeconds: alert.windowSeconds,
    vars: {},
  });
}

/** Grafana duration text for seconds (`5m`, `90s`). */
const duration = (seconds: number): string => (seconds % 60 === 0 ? `${seconds / 60}m` : `${seconds}s`);

/**
 * The Grafana alert-rule provisioning document (apiVersion 1, one rule group evaluated every minute in the
 * "fhirwatch" folder): per rule, A = the SQL on the ClickHouse data source (table format) over the rule's window,
 * B = threshold `A > above`, the condition.
 */
export function grafanaAlertRules(datasource: { type: string; uid: string }, pluginVersion: string): unknown {
  return {
    apiVersion: 1,
    groups: [
      {
        orgId: 1,
        name: 'fhirwatch audit pipeline',
        folder: 'fhirwatch',
        interval: '1m',
        rules: ALERTS.map((alert) => ({
          uid: alert.uid,
          title: alert.title,
          condition: 'B',
          data: [
            {
              refId: 'A',
              relativeTimeRange: { from: alert.windowSeconds, to: 0 },
              datasourceUid: datasource.uid,
              model: {
                refId: 'A',
                datasource,
                editorType: 'sql',
                format: 1,
                queryType: 'table',
                pluginVersion,
                rawSql: alert.sql,
              },
            },
            {
              refId: 'B',
              relativeTimeRange: { from: 0, to: 0 },
              datasourceUid: '__expr__',
              model: {
                refId: 'B',
                datasource: { type: '__expr__', uid: '__expr__' },
                type: 'threshold',
                expression: 'A',
                conditions: [{ evaluator: { type: 'gt', params: [alert.above] } }],
              },
            },
          ],
          // no rows = nothing waiting and nothing lost: healthy
          noDataState: 'OK',
          execErrState: 'Error',
          for: duration(alert.forSeconds),
          annotations: { summary: alert.summary, description: alert.description },
          labels: { severity: alert.severity, component: 'fhirwatch-audit-pipeline' },
        })),
      },
    ],
  };
}
