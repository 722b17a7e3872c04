/**
 * The demo's planted suspicious patterns (loadtests' runPlantedPatterns) and the check that each one is flagged
 * by its compliance report on the demo's store, so a newcomer sees every report with hits.
 */
import type { ClickHouseClient } from '@clickhouse/client';
import { addVipPatient, REPORT_REGISTRY } from '@fhirwatch/clickhouse-sink/compliance';
import type { QueryTransport } from '@fhirwatch/clickhouse-sink/query-client';
import { type PatientsAppTarget, PLANTED_ACTORS, type PlantedResult, runPlantedPatterns } from '@fhirwatch/loadtests';

/**
 * Plant the patterns through the gateway; the VIP patient goes on the store's VIP watch list first. The targets
 * come from `patientIds` (the first tenant's seeded population), never from a lookup through the gateway.
 */
export function plantSuspiciousPatterns(
  client: ClickHouseClient,
  targets: readonly PatientsAppTarget[],
  patientIds: readonly string[],
) {
  return runPlantedPatterns({
    targets,
    patientIds,
    onVipPatient: (tenantId, patientId) =>
      addVipPatient(client, { tenantId, patientId, reason: 'demo: planted VIP', changedBy: 'fhirwatch demo' }),
  });
}

/** What the demo reads of a report's JSON answer (the query API's `format=json`). */
interface ReportAnswer {
  count: number;
  rows: readonly Record<string, unknown>[];
  notes?: readonly string[];
  flagged?: readonly { principal: string; rows: number }[];
}

/** `GET /api/audit/report/<name>?from&to&format=json`, on whatever path `ask` takes. */
async function askReport(ask: QueryTransport, name: string, range: { from: Date; to: Date }): Promise<ReportAnswer> {
  const answer = await ask(`report/${name}`, {
    from: range.from.toISOString(),
    to: range.to.toISOString(),
    format: 'json',
  });
  return JSON.parse(answer.text) as ReportAnswer;
}

/** One monitoring report of the registry over the demo's range: whom it flags. */
export interface MonitoringCheck {
  report: string;
  title: string;
  rows: number;
  /** Principal (user id, or `client:<id>`) → rows, most rows first. */
  flagged: readonly { principal: string; rows: number }[];
  /** Flagged principals that are not planted actors: false alarms (expected none). */
  falseAlarms: readonly string[];
}

const PLANTED_IDS = new Set(Object.values(PLANTED_ACTORS).map((actor) => actor.userId));

/**
 * Run every monitoring report of the registry (each report that says whom its rows flag) over the range, with the
 * tenants' stored settings, through the query API's one read path (`ask`: recorded in audit_query_log), exactly
 * as `fhirwatch audit report <name>` and the console run it.
 */
export async function checkMonitoringReports(
  ask: QueryTransport,
  range: { from: Date; to: Date },
): Promise<MonitoringCheck[]> {
  const checks: MonitoringCheck[] = [];
  for (const def of REPORT_REGISTRY) {
    if (def.flags === undefined) continue;
    const report = await askReport(ask, def.name, range);
    const flagged = report.flagged ?? [];
    checks.push({
      report: def.name,
      title: def.title,
      rows: report.count,
      flagged,
      falseAlarms: flagged.map((f) => f.principal).filter((principal) => !PLANTED_IDS.has(principal)),
    });
  }
  return checks;
}

/** Lines for the demo's output: each planted pattern and its report's verdict, then every report's rows by user. */
export function plantedLines(
  planted: PlantedResult,
  checks: readonly MonitoringCheck[],
  storeDir: string,
  names: ReadonlyMap<string, string>,
): string[] {
  const named = (principal: string): string =>
    names.has(principal) ? `${principal} (${names.get(principal)})` : principal;
  const lines = ['== Compliance: planted suspicious patterns and the report that flags each'];
  for (const pattern of planted.patterns) {
    const check = checks.find((c) => c.report === pattern.report);
    const flagged = check?.flagged.some((f) => f.principal === pattern.actor.userId) ?? false;
    const others = check?.flagged.filter((f) => f.principal !== pattern.actor.userId) ?? [];
    const otherPlanted = others.filter((f) => PLANTED_IDS.has(f.principal)).length;
    const verdict =
      check === undefined
        ? '?'
        : `${flagged ? 'flagged' : 'NOT flagged'}; other users flagged: ${check.falseAlarms.length}${
            otherPlanted > 0 ? ` (besides ${otherPlanted} other planted actor${otherPlanted === 1 ? '' : 's'})` : ''
          }`;
    lines.push(
      `  ${pattern.name.padEnd(14)} ${`${pattern.actor.userName} (${pattern.actor.userId})`.padEnd(34)} ${pattern.detail}`,
    );
    lines.push(`  ${''.padEnd(14)} → audit report ${pattern.report}: ${verdict}`);
  }
  lines.push(
    '  after-hours    not planted: the demo tenants are hospitals staffed round the clock (stored settings: every day,',
    '                 00–24 h); a clinic set to its hours (audit settings set --tenant <id> --hours 7-19 --days 1-5) gets hits',
  );
  lines.push('');
  lines.push('== Compliance: every monitoring report over this run, rows by user (false alarm = not a planted actor)');
  for (const check of checks) {
    const who =
      check.flagged.length === 0
        ? 'no one'
        : check.flagged.map((f) => `${named(f.principal)} ${f.rows} row${f.rows === 1 ? '' : 's'}`).join(', ');
    lines.push(`  ${check.report.padEnd(17)} false alarms ${check.falseAlarms.length}  ${who}`);
  }
  lines.push('  Reports (after the demo exits):');
  for (const report of [...new Set(planted.patterns.map((p) => p.report))]) {
    lines.push(`    npx fhirwatch audit report ${report} --store ${storeDir} --since 1d`);
  }
  return lines;
}

/**
 * Explanation-based auditing on the demo's store: the share of accesses the trail explains, and the users with
 * the most distinct unexplained patients against their peers (the planted actors open charts that no search of
 * their own returned, and that no care relationship explains).
 */
export async function unexplainedLines(ask: QueryTransport, since: Date): Promise<string[]> {
  const report = await askReport(ask, 'unexplained', { from: since, to: new Date(Date.now() + 1000) });
  const byUser = new Map<string, string>();
  for (const row of report.rows as readonly { user_id: string; baseline: string }[]) {
    if (!byUser.has(row.user_id)) byUser.set(row.user_id, row.baseline);
  }
  const top = [...byUser].slice(0, 4).map(([user, baseline]) => `${user === '' ? '(no user)' : user} (${baseline})`);
  return [
    `  unexplained    ${report.notes?.[0] ?? 'no accesses'}`,
    `  ${''.padEnd(14)} → audit report unexplained: ${top.length === 0 ? 'none' : `most unexplained: ${top.join('; ')}`}`,
  ];
}
