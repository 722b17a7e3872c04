/**
 * Bench (c): `audit verify` over BENCH_VERIFY_EVENTS (default 10,000,000) per-patient events stored as
 * request records (one writer; 3 of 4 requests are 5-patient list refreshes of 40 rows, 1 of 4 a 3-patient
 * search: ~30.75 events per request), both levels (request chain + per-patient rows = expansion). Target:
 * 10 M events verified in <= 10 s.
 *
 * Baseline in the same run, same data: the verify of main 4c7b820 (bench/m14-verify.ts, a frozen copy: the wide
 * index of migration 14 with every index field hashed per row on both sides), both levels and chain only, sides
 * alternated (new first, then the baseline, then the other order): ratio = baseline / new, wall and process CPU.
 * The verdict is the wall time of the new full verify, scaled to 10 M events when the run holds fewer (it says so).
 * Also the verify of commit 5fd10a7 (bench/old-verify.ts: per-record chain walked over
 * audit_events, two HMACs per record, a full scan per page) over BENCH_OLD_EVENTS (default 200,000) legacy
 * single records (each its own chain link, stored as v1 requests as the sink stores old lines) — the old
 * verify is far too slow for 10 M here, so the comparison is events/s: ratio = new / old.
 */

import * as crypto from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  auditRecordCanonical,
  chainHasher,
  expandRequestRecord,
  requestFromAuditRecord,
  signChain,
} from '@fhirwatch/contract';
import { verifyAuditChain } from '../src/compliance/index.ts';
import { migrate, openStore } from '../src/index.ts';
import { AUDIT_REQUEST_INSERT_COLUMNS, encodeAuditRequestRows } from '../src/store/audit-encode.ts';
import { rawInsertOf } from '../src/store/open.ts';
import { generateRequests } from '../test/records.ts';
import { verifyAuditChain as m14Verify } from './m14-verify.ts';
import { verifyAuditChain as oldVerify } from './old-verify.ts';

const targetEvents = Number(process.env.BENCH_VERIFY_EVENTS ?? 10_000_000);
const oldEvents = Number(process.env.BENCH_OLD_EVENTS ?? 200_000);
const KEY = 'bench-verify-key';
const fmt = (n: number): string => Math.round(n).toLocaleString('en-US');

const dir = mkdtempSync(join(tmpdir(), 'fw-verify-bench-'));
const client = openStore({ path: dir });
try {
  await migrate(client);
  const raw = rawInsertOf(client);
  if (raw === undefined) throw new Error('a chDB store has a raw insert');
  const load0 = performance.now();
  // the new design's data: request records of writer gw-new, chained, inserted in chunks (the view expands)
  let events = 0;
  let requests = 0;
  let chain = { seq: 0, hash: '' };
  const chunk = 20_000;
  while (events < targetEvents) {
    const batch = generateRequests({
      count: chunk,
      offset: requests,
      recordedBy: 'gw-new',
      key: KEY,
      chainFrom: chain,
      patients: 200_000,
      users: 500,
    });
    chain = batch.end;
    requests += chunk;
    events += batch.rows;
    await raw(
      'audit_requests',
      AUDIT_REQUEST_INSERT_COLUMNS,
      'JSONCompactEachRow',
      encodeAuditRequestRows(batch.requests),
      {
        optimize_on_insert: 0,
      },
    );
  }
  // the old design's data: per-patient legacy records of writer gw-old, one chain link each
  const legacy = generateRequests({ count: Math.ceil(oldEvents / 30), offset: requests, recordedBy: 'gw-old' })
    .requests.flatMap(expandRequestRecord)
    .slice(0, oldEvents);
  signChain(chainHasher(crypto, KEY), legacy, auditRecordCanonical);
  for (let i = 0; i < legacy.length; i += chunk) {
    const body = encodeAuditRequestRows(legacy.slice(i, i + chunk).map(requestFromAuditRecord));
    await raw('audit_requests', AUDIT_REQUEST_INSERT_COLUMNS, 'JSONCompactEachRow', body, { optimize_on_insert: 0 });
  }
  await client.command({ query: 'OPTIMIZE TABLE audit_requests FINAL' });
  await client.command({ query: 'OPTIMIZE TABLE audit_patient_index FINAL' });
  const loadS = (performance.now() - load0) / 1000;

  const run = async (name: string, fn: () => Promise<{ ok: boolean }>, n: number) => {
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    const result = await fn();
    const s = (performance.now() - t0) / 1000;
    const cpu = process.cpuUsage(cpu0);
    return { name, s, ok: result.ok, rate: n / s, cpuS: (cpu.user + cpu.system) / 1e6 };
  };
  // alternated: new, baseline (both levels), then baseline, new (chain only), so a load swing hits both sides
  const fresh = await run(
    'new verify (both levels)',
    () => verifyAuditChain(client, { key: KEY, recordedBy: ['gw-new'] }),
    events,
  );
  const m14 = await run(
    'baseline 4c7b820 (both)  ',
    () => m14Verify(client, { key: KEY, recordedBy: ['gw-new'] }),
    events,
  );
  const m14Chain = await run(
    'baseline 4c7b820, chain  ',
    () => m14Verify(client, { key: KEY, recordedBy: ['gw-new'], rows: false }),
    events,
  );
  const chainOnly = await run(
    'new verify, chain only   ',
    () => verifyAuditChain(client, { key: KEY, recordedBy: ['gw-new'], rows: false }),
    events,
  );
  // --since-checkpoint: the full verify above stored a checkpoint; a "day" of new requests (1 % of the store) arrives
  let dayEvents = 0;
  {
    const day = generateRequests({
      count: Math.max(1, Math.round(requests / 100)),
      offset: requests + oldEvents,
      recordedBy: 'gw-new',
      key: KEY,
      chainFrom: chain,
      patients: 200_000,
      users: 500,
    });
    dayEvents = day.rows;
    await raw(
      'audit_requests',
      AUDIT_REQUEST_INSERT_COLUMNS,
      'JSONCompactEachRow',
      encodeAuditRequestRows(day.requests),
    );
  }
  const since = await run(
    'since checkpoint (1 % new)',
    () => verifyAuditChain(client, { key: KEY, recordedBy: ['gw-new'], sinceCheckpoint: true }),
    dayEvents,
  );
  const old = await run(
    'old verify (5fd10a7)     ',
    () => oldVerify(client, { key: KEY, recordedBy: ['gw-old'] }),
    legacy.length,
  );
  const newOnLegacy = await run(
    'new verify, legacy rows  ',
    () => verifyAuditChain(client, { key: KEY, recordedBy: ['gw-old'] }),
    legacy.length,
  );

  console.log(
    `bench (c) audit verify: ${fmt(events)} per-patient events in ${fmt(requests)} request records (load ${loadS.toFixed(0)} s, untimed)`,
  );
  console.log(
    `node ${process.version}, cpu ${cpus()[0]?.model ?? 'unknown'} x${cpus().length}, load average ${loadavg()
      .map((l) => l.toFixed(1))
      .join(' ')}`,
  );
  for (const r of [fresh, m14, chainOnly, m14Chain, since, old, newOnLegacy]) {
    console.log(
      `${r.name}: ${r.ok ? 'ok' : 'BROKEN'}, ${r.s.toFixed(2)} s, ${fmt(r.rate)} events/s, process CPU ${r.cpuS.toFixed(1)} s (${((r.cpuS * 1e6) / (r === since ? dayEvents : r === old || r === newOnLegacy ? legacy.length : events)).toFixed(2)} µs/event)`,
    );
  }
  const perEvent = (r: { cpuS: number }): string => ((r.cpuS * 1e6) / events).toFixed(2);
  console.log(
    `ratio = baseline 4c7b820 / new (same data, same run): both levels wall ${(m14.s / fresh.s).toFixed(2)}x, CPU ${(m14.cpuS / fresh.cpuS).toFixed(2)}x (${perEvent(m14)} -> ${perEvent(fresh)} µs/event); chain only wall ${(m14Chain.s / chainOnly.s).toFixed(2)}x, CPU ${(m14Chain.cpuS / chainOnly.cpuS).toFixed(2)}x (${perEvent(m14Chain)} -> ${perEvent(chainOnly)} µs/event)`,
  );
  // what the same CPU would take with both cores to itself (information only: the verdict is the wall time)
  console.log(
    `CPU-bound floor on ${cpus().length} idle cores, scaled to 10 M: ${((fresh.cpuS * 10_000_000) / events / cpus().length).toFixed(1)} s new, ${((m14.cpuS * 10_000_000) / events / cpus().length).toFixed(1)} s baseline (not a measurement of wall time)`,
  );
  console.log(`ratio = new / old 5fd10a7 = ${(fresh.rate / old.rate).toFixed(1)} (events/s, same run)`);
  const scaled = (fresh.s * 10_000_000) / events;
  const measured =
    events >= 10_000_000
      ? `${fmt(events)} events measured: ${fresh.s.toFixed(1)} s`
      : `${fmt(events)} events measured in ${fresh.s.toFixed(2)} s, SCALED to 10 M (linear): ${scaled.toFixed(1)} s`;
  console.log(
    `target: full verify (both levels) of 10 M events <= 10 s wall: ${measured} -> ${scaled <= 10 ? 'MET' : 'NOT MET'}; since checkpoint: ${fmt(dayEvents)} new events in ${since.s.toFixed(2)} s (${since.ok ? 'ok' : 'BROKEN'}); load average ${loadavg()
      .map((l) => l.toFixed(1))
      .join(' ')}`,
  );
} finally {
  await client.close();
  rmSync(dir, { recursive: true, force: true });
}
