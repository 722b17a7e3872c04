/**
 * The demo's planted suspicious patterns (loadtests' runPlantedPatterns) and the check that each one is flagged
 * by its compliance report on the demo's store, so a newcomer sees every report with hits.
 */
import type { ClickHouseClient } from '@clickhouse/client';
import {
  addVipPatient,
  exportsReport,
  failuresReport,
  nameProbingReport,
  unexplainedReport,
  vipReport,
  volumeReport,
} from '@fhirwatch/clickhouse-sink/compliance';
import { type PatientsAppTarget, type PlantedResult, runPlantedPatterns } from '@fhirwatch/loadtests';

/** Plant the patterns through the gateway; the VIP patient goes on the store's VIP watch list first. */
export function plantSuspiciousPatterns(client: ClickHouseClient, targets: readonly PatientsAppTarget[]) {
  return runPlantedPatterns({
    targets,
    onVipPatient: (tenantId, patientId) =>
      addVipPatient(client, { tenantId, patientId, reason: 'demo: planted VIP', changedBy: 'fhirwatch demo' }),
  });
}

export interface PlantedCheck {
  pattern: string;
  report: string;
  actor: string;
  /** The report flags the planted actor (or, for failures, the planted statuses). */
  flagged: boolean;
  /** Rows of the report in all (ordinary traffic may add rows). */
  rows: number;
}

/** Run each pattern's report over [since, now] and say whether it flags the planted traffic. */
export async function checkPlantedPatterns(
  client: ClickHouseClient,
  planted: PlantedResult,
  since: Date,
): Promise<PlantedCheck[]> {
  // from the start of the hour: the volume report only counts hour buckets that start inside the range
  const range = {
    from: new Date(Math.floor(since.getTime() / 3_600_000) * 3_600_000),
    to: new Date(Date.now() + 1000),
  };
  const checks: PlantedCheck[] = [];
  for (const pattern of planted.patterns) {
    const user = pattern.actor.userId;
    let rows = 0;
    let flagged = false;
    switch (pattern.report) {
      case 'vip': {
        const report = await vipReport(client, range);
        rows = report.rows.length;
        flagged = report.rows.some((row) => row.user_id === user);
        break;
      }
      case 'name-probing': {
        const report = await nameProbingReport(client, range);
        rows = report.rows.length;
        flagged = report.rows.some((row) => row.principal === user);
        break;
      }
      case 'volume': {
        const report = await volumeReport(client, range);
        rows = report.rows.length;
        flagged = report.rows.some((row) => row.user_id === user);
        break;
      }
      case 'failures': {
        // grouped by tenant, client and status (no user): the planted 404s are the only ones in the demo
        const report = await failuresReport(client, range);
        rows = report.rows.length;
        flagged = report.rows.some((row) => row.http_status === 404 && row.tenant_id === pattern.tenantId);
        break;
      }
      case 'exports': {
        const report = await exportsReport(client, range);
        rows = report.rows.length;
        flagged = report.rows.some((row) => row.user_id === user && row.all_patients);
        break;
      }
    }
    checks.push({ pattern: pattern.name, report: pattern.report, actor: user, flagged, rows });
  }
  return checks;
}

/** Lines for the demo's output: what was planted, and which report flags it. */
export function plantedLines(planted: PlantedResult, checks: readonly PlantedCheck[], storeDir: string): string[] {
  const lines = ['== Compliance: planted suspicious patterns and the report that flags each'];
  for (const pattern of planted.patterns) {
    const check = checks.find((c) => c.pattern === pattern.name);
    const verdict = check === undefined ? '?' : check.flagged ? `flagged (${check.rows} rows in all)` : 'NOT flagged';
    lines.push(
      `  ${pattern.name.padEnd(14)} ${`${pattern.actor.userName} (${pattern.actor.userId})`.padEnd(34)} ${pattern.detail}`,
    );
    lines.push(`  ${''.padEnd(14)} → audit report ${pattern.report}: ${verdict}`);
  }
  lines.push(
    planted.afterHoursNow
      ? '  after-hours    all of this run: it is outside 07:00–19:00 UTC Mon–Fri → audit report after-hours has hits'
      : '  after-hours    not planted: event times are the real clock, and now is within 07:00–19:00 UTC Mon–Fri',
  );
  lines.push('  Reports (after the demo exits):');
  for (const report of [...new Set(planted.patterns.map((p) => p.report))]) {
    lines.push(`    npx fhirwatch audit report ${report} --store ${storeDir} --since 1d`);
  }
  return lines;
}

/**
 * Explanation-based auditing on the demo's store: the share of accesses the trail explains, and the users with
 * the most unexplained ones (the planted actors open charts no search of their own returned).
 */
export async function unexplainedLines(client: ClickHouseClient, since: Date): Promise<string[]> {
  const report = await unexplainedReport(client, { from: since, to: new Date(Date.now() + 1000) });
  const byUser = new Map<string, number>();
  for (const row of report.rows as readonly { user_id: string; user_unexplained: number }[])
    byUser.set(row.user_id, Number(row.user_unexplained));
  const top = [...byUser].slice(0, 4).map(([user, count]) => `${user === '' ? '(no user)' : user} ${count}`);
  return [
    `  unexplained    ${report.notes?.[0] ?? 'no accesses'}`,
    `  ${''.padEnd(14)} → audit report unexplained: ${top.length === 0 ? 'none' : `most unexplained: ${top.join(', ')}`}`,
  ];
}
