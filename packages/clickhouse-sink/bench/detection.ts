/**
 * Detection scorecard (not a timing bench): the seeded test dataset (`generateAuditDataset`, 45 days, three
 * tenants, planted incidents) in a fresh chDB store, each tenant's working time stored as tenant settings (as an
 * officer would), then every detection report run through the registry at its defaults. Prints, per report,
 * the rows that are planted incidents (hits), planted incidents not found (misses) and everything else
 * (false alarms).
 *
 *   cd packages/clickhouse-sink && npx node --conditions=fhirwatch-source bench/detection.ts
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AuditRecord } from '@fhirwatch/contract';
import { addVipPatient, putTenantSettings, removeVipPatient, runReport } from '../src/compliance/index.ts';
import { migrate, openStore } from '../src/index.ts';
import { insertAuditRecords } from '../src/store/index.ts';
import { generateAuditDataset } from '../src/testing/index.ts';

const dir = mkdtempSync(join(tmpdir(), 'fw-detection-'));
const client = openStore({ path: join(dir, 'store') });
try {
  await migrate(client);
  const dataset = generateAuditDataset();
  await insertAuditRecords(client, dataset.records);
  await insertAuditRecords(client, dataset.duplicates);
  for (const entry of dataset.plants.vipAdd) await addVipPatient(client, entry);
  for (const entry of dataset.plants.vipRemove) await removeVipPatient(client, entry);
  for (const [tenantId, hours] of Object.entries(dataset.workHours.tenants ?? {})) {
    await putTenantSettings(client, { tenantId, settings: hours as object });
  }
  const { plants } = dataset;
  const range = { from: plants.reportFrom, to: plants.reportTo };
  const lines: string[] = [];
  const score = (report: string, planted: number, hits: number, falseAlarms: number, note = ''): void => {
    lines.push(
      `${report.padEnd(28)} planted ${String(planted).padStart(3)}  hits ${String(hits).padStart(3)}  misses ${String(planted - hits).padStart(3)}  false alarms ${String(falseAlarms).padStart(4)}${note ? `  (${note})` : ''}`,
    );
  };

  // after-hours: planted events + the Sunday 03:00 export's records
  const offHoursTraces = new Set(plants.exports.filter((e) => e.off_hours).map((e) => e.trace_id));
  const afterHours = (await runReport(client, 'after-hours', range)).rows as AuditRecord[];
  const plantedAfter = new Set(plants.afterHoursEventIds);
  const isPlantedAfter = (r: AuditRecord): boolean => plantedAfter.has(r.event_id) || offHoursTraces.has(r.trace_id);
  const offHoursRecords = dataset.records.filter((r) => offHoursTraces.has(r.trace_id)).length;
  score(
    'after-hours',
    plantedAfter.size + offHoursRecords,
    afterHours.filter(isPlantedAfter).length,
    afterHours.filter((r) => !isPlantedAfter(r)).length,
    'events',
  );

  for (const granularity of ['hour', 'day'] as const) {
    const planted = granularity === 'hour' ? plants.volumeHour : plants.volumeDay;
    const rows = (await runReport(client, 'volume', { ...range, options: { granularity } })).rows as {
      user_id: string;
      bucket: string;
      local_start: string;
    }[];
    // a day is the tenant's local day (its bucket starts at local midnight); the plant names the local date
    const key = (r: { user_id: string; bucket: string; local_start?: string }): string =>
      `${r.user_id}@${granularity === 'day' && r.local_start ? r.local_start.slice(0, 10) : r.bucket.slice(0, granularity === 'day' ? 10 : 16)}`;
    const plantedKeys = new Set(planted.map(key));
    score(
      `volume (${granularity})`,
      planted.length,
      rows.filter((r) => plantedKeys.has(key(r))).length,
      rows.filter((r) => !plantedKeys.has(key(r))).length,
      'episodes',
    );
  }

  const vip = (await runReport(client, 'vip', range)).rows as AuditRecord[];
  const plantedVip = new Set(plants.vipEventIds);
  score(
    'vip',
    plantedVip.size,
    vip.filter((r) => plantedVip.has(r.event_id)).length,
    vip.filter((r) => !plantedVip.has(r.event_id)).length,
    'events',
  );

  const probing = (await runReport(client, 'name-probing', range)).rows as { principal: string }[];
  const probers = new Set(plants.nameProbing.map((p) => p.principal));
  score(
    'name-probing',
    probers.size,
    probing.filter((r) => probers.has(r.principal)).length,
    probing.filter((r) => !probers.has(r.principal)).length,
    'episodes',
  );

  const exportsRows = (await runReport(client, 'exports', range)).rows as {
    flagged: boolean;
    tenant_id: string;
    patients: number;
    all_patients: boolean;
  }[];
  const flaggedPlants = plants.exports.filter((e) => e.large || e.off_hours);
  const isPlantedFlag = (r: { tenant_id: string; patients: number; all_patients: boolean }): boolean =>
    flaggedPlants.some(
      (e) => e.tenant_id === r.tenant_id && e.patients === r.patients && e.all_patients === r.all_patients,
    );
  score(
    'exports (flagged)',
    flaggedPlants.length,
    exportsRows.filter((r) => r.flagged && isPlantedFlag(r)).length,
    exportsRows.filter((r) => r.flagged && !isPlantedFlag(r)).length,
    'requests',
  );

  const failures = (await runReport(client, 'failures', { ...range, options: { minEvents: 10 } })).rows as {
    client_id: string;
    category: string;
  }[];
  score(
    'failures (≥ 10 events)',
    1,
    failures.filter((r) => r.client_id === plants.rogueClient.client_id && r.category === 'denied').length,
    failures.filter((r) => r.client_id !== plants.rogueClient.client_id).length,
    'groups; ordinary 3 % failures group by client too',
  );

  const isolation = (await runReport(client, 'tenant-isolation', range)).rows as AuditRecord[];
  const plantedIso = new Set(plants.isolationEventIds);
  score(
    'tenant-isolation',
    plantedIso.size,
    isolation.filter((r) => plantedIso.has(r.event_id)).length,
    isolation.filter((r) => !plantedIso.has(r.event_id)).length,
    'events',
  );

  // unexplained: the ranking of users (rank, user, the report's score columns), the planted users' ranks, and the
  // busiest ordinary users (most accesses) with theirs
  const unexplained = await runReport(client, 'unexplained', range);
  const rows = unexplained.rows as ({ rank: number; tenant_id: string; user_id: string; event_id: string } & Record<
    string,
    unknown
  >)[];
  const ranked = [...new Map(rows.map((r) => [`${r.tenant_id}/${r.user_id}`, r])).values()];
  // the score columns of either ranking: rows (user_unexplained …) before issue 19, distinct patients after
  const scoreKeys = unexplained.columns
    .map((c) => c.key)
    .filter((k) =>
      [
        'user_unexplained',
        'user_accesses',
        'user_explained_pct',
        'baseline',
        'patients',
        'unexplained_accesses',
      ].includes(k),
    );
  const scoreOf = (r: Record<string, unknown>): string => scoreKeys.map((k) => `${k}=${String(r[k])}`).join(' ');
  const plantedAccessIds = new Set([...plants.afterHoursEventIds, ...plants.vipEventIds, ...plants.isolationEventIds]);
  const snoopUser = plants.volumeHour[0]!.user_id;
  const plantedUsers = new Set([
    snoopUser,
    ...plants.volumeDay.map((v) => v.user_id),
    ...dataset.records.filter((r) => plantedAccessIds.has(r.event_id)).map((r) => r.user_id),
  ]);
  const accesses = new Map<string, number>();
  for (const r of dataset.records) {
    if (r.user_id === '' || r.outcome !== 0 || r.patient_id === '' || r.patient_id === '*') continue;
    if (r.event_type === 'PatientSearch' || r.event_type === 'ExportInitiation') continue;
    if (Date.parse(r.event_time) < range.from.getTime() || Date.parse(r.event_time) >= range.to.getTime()) continue;
    accesses.set(r.user_id, (accesses.get(r.user_id) ?? 0) + 1);
  }
  const busiest = [...accesses]
    .filter(([user]) => !plantedUsers.has(user))
    .sort((a, b) => b[1] - a[1])
    .slice(0, 3);
  const rankLine = (user: string): string => {
    const r = ranked.find((x) => x.user_id === user);
    return r === undefined ? `${user}: not ranked` : `${user}: rank ${r.rank} of ${ranked.length}, ${scoreOf(r)}`;
  };
  lines.push(
    `unexplained                  ${rows.length} rows; top 6: ${ranked
      .slice(0, 6)
      .map((u) => `${u.rank}. ${u.user_id} (${scoreOf(u)})`)
      .join(', ')}`,
    `                             planted after-hours/VIP/isolation accesses unexplained: ${rows.filter((r) => plantedAccessIds.has(r.event_id)).length} of ${plantedAccessIds.size}`,
    `                             planted users: ${[...plantedUsers].sort().map(rankLine).join('; ')}`,
    `                             busiest ordinary users (accesses in range): ${busiest.map(([user, n]) => `${rankLine(user)} [${n} accesses]`).join('; ')}`,
    ...(unexplained.notes ?? []).map((note) => `                             ${note}`),
  );
  const summary = await runReport(client, 'summary', range);
  lines.push(...(summary.notes ?? []).map((note) => `summary                      ${note}`));
  process.stdout.write(
    `Detection scorecard: seeded dataset (${dataset.records.length} records, 45 days, 3 tenants), report range ${range.from.toISOString()} – ${range.to.toISOString()}, defaults + stored tenant settings\n${lines.join('\n')}\n`,
  );
} finally {
  await client.close();
  rmSync(dir, { recursive: true, force: true });
}
