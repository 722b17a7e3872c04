/**
 * Pipeline-health metrics of the audit exporter (names agreed across fhirwatch; attributes never PHI), so
 * dashboards can alert before records are lost:
 *
 * - `fhirwatch.audit.spool.depth` (gauge, {record}): request records written to the spool or queued for it
 *   and not yet acknowledged by the sink (nor quarantined);
 * - `fhirwatch.audit.spool.age` (gauge, s): age of the oldest unshipped segment (0 when nothing waits);
 * - `fhirwatch.audit.ship.lag` (histogram, s): per shipped segment, from its first write to the sink's 200;
 * - `fhirwatch.audit.records.rejected` (counter, {record}): records that never reached the spool (spool full
 *   or unwritable), by `fhirwatch.audit.outcome`: `refused` (the access was answered 503, no PHI left;
 *   `onSpoolFailure: refuse`) or `dropped` (the PHI was served without its record: `onSpoolFailure: serve`,
 *   or records still unwritten when the process ended);
 * - `fhirwatch.audit.records.quarantined` (counter, {record}): records the sink refused as invalid, kept in
 *   the spool's `rejected/` directory.
 *
 * The gauges and counters are observed from the spool's and shipper's own counters at export time (no
 * work on the request path).
 */
import { ATTRIBUTES, METRIC_UNITS, METRICS, SHIP_LAG_BUCKETS_S } from '@fhirwatch/contract';
import type { Histogram, Meter } from '@opentelemetry/api';
import type { ShipperStats } from './shipper.ts';
import type { SpoolStats } from './spool.ts';

// Names, units and buckets: @fhirwatch/contract telemetry-names.ts (the dashboards read the same constants).
export const METRIC_AUDIT_SPOOL_DEPTH = METRICS.auditSpoolDepth;
export const METRIC_AUDIT_SPOOL_AGE = METRICS.auditSpoolAge;
export const METRIC_AUDIT_SHIP_LAG = METRICS.auditShipLag;
export const METRIC_AUDIT_RECORDS_REJECTED = METRICS.auditRecordsRejected;
export const METRIC_AUDIT_RECORDS_QUARANTINED = METRICS.auditRecordsQuarantined;
/** Attribute of METRIC_AUDIT_RECORDS_REJECTED: `refused` | `dropped`. */
export const ATTR_AUDIT_OUTCOME = ATTRIBUTES.auditOutcome;

export interface PipelineSources {
  spool(): SpoolStats | undefined;
  shipper(): ShipperStats | undefined;
  /** Requests answered 503 because their record could not be spooled, cumulative. */
  refused(): number;
  /** Records lost (served unaudited, or unwritten at exit), cumulative. */
  dropped(): number;
}

/** Register the pipeline-health instruments; returns the ship-lag histogram the shipper records into. */
export function registerPipelineMetrics(meter: Meter, sources: PipelineSources): Histogram {
  meter
    .createObservableGauge(METRIC_AUDIT_SPOOL_DEPTH, {
      unit: METRIC_UNITS.auditSpoolDepth,
      description: 'Audit records spooled or queued and not yet acknowledged by the sink.',
    })
    .addCallback((result) => {
      const stats = sources.spool();
      if (stats !== undefined) result.observe(stats.unshipped + stats.queued);
    });
  meter
    .createObservableGauge(METRIC_AUDIT_SPOOL_AGE, {
      unit: METRIC_UNITS.auditSpoolAge,
      description: 'Age of the oldest audit spool segment not yet shipped (0 when nothing waits).',
    })
    .addCallback((result) => {
      const stats = sources.spool();
      if (stats === undefined) return;
      const oldest = stats.oldestUnshippedMs;
      result.observe(oldest === undefined ? 0 : Math.max(0, (Date.now() - oldest) / 1000));
    });
  meter
    .createObservableCounter(METRIC_AUDIT_RECORDS_REJECTED, {
      unit: METRIC_UNITS.auditRecordsRejected,
      description: 'Audit records that could not be spooled, by outcome: refused (503, no PHI left) or dropped.',
    })
    .addCallback((result) => {
      result.observe(sources.refused(), { [ATTR_AUDIT_OUTCOME]: 'refused' });
      result.observe(sources.dropped(), { [ATTR_AUDIT_OUTCOME]: 'dropped' });
    });
  meter
    .createObservableCounter(METRIC_AUDIT_RECORDS_QUARANTINED, {
      unit: METRIC_UNITS.auditRecordsQuarantined,
      description: 'Audit records the sink refused as invalid, kept in the spool rejected/ directory.',
    })
    .addCallback((result) => {
      const stats = sources.shipper();
      if (stats !== undefined) result.observe(stats.rejectedRecords);
    });
  return meter.createHistogram(METRIC_AUDIT_SHIP_LAG, {
    unit: METRIC_UNITS.auditShipLag,
    description: 'Time from the first write of an audit spool segment to the sink acknowledging it.',
    advice: { explicitBucketBoundaries: [...SHIP_LAG_BUCKETS_S] },
  });
}
