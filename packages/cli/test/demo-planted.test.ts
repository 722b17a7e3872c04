/**
 * Smoke test of `npm run demo` with its planted suspicious patterns: start the demo (through the real bin,
 * `--stay`), wait until it has shipped its audit records and printed which report flags each planted
 * pattern, read the console's report hits from its query API while it stays up, stop it with SIGINT, then open
 * the store it released and run every monitoring report of the registry over `--since 1d`: each flags only
 * planted actors (0 false alarms per report), the compliance and SRE panels have data, and every read of audit
 * records the demo printed is in audit_query_log (surface `demo`: the one read path).
 * Bounded: 3 s of traffic, 200 s in all.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { openStore } from '@fhirwatch/clickhouse-sink';
import { REPORT_REGISTRY, runReport } from '@fhirwatch/clickhouse-sink/compliance';
import { AUDIT_QUERY_LOG_TABLE } from '@fhirwatch/clickhouse-sink/store';
import { expandMacros, PANELS } from '@fhirwatch/dashboards';
import { PLANTED_ACTORS } from '@fhirwatch/loadtests';
import { afterAll, describe, expect, it } from 'vitest';

const bin = fileURLToPath(new URL('../bin/fhirwatch.js', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'fhirwatch-demo-planted-'));
let child: ChildProcess | undefined;

afterAll(() => {
  if (child !== undefined && child.exitCode === null) child.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

/** Resolve with the output once `marker` appears; reject on exit or after `ms`. */
function waitForOutput(proc: ChildProcess, marker: string, ms: number): Promise<string> {
  return new Promise((resolve, reject) => {
    let out = '';
    let err = '';
    const timer = setTimeout(() => reject(new Error(`no '${marker}' within ${ms} ms:\n${out}\n${err}`)), ms);
    proc.stdout?.on('data', (chunk: Buffer) => {
      out += chunk.toString('utf8');
      if (out.includes(marker)) {
        clearTimeout(timer);
        resolve(out);
      }
    });
    proc.stderr?.on('data', (chunk: Buffer) => {
      err += chunk.toString('utf8');
    });
    proc.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`demo exited (${code}) before '${marker}':\n${out}\n${err}`));
    });
  });
}

describe('fhirwatch demo with planted patterns', () => {
  it('plants patterns every report flags, and the panels have data', { timeout: 240_000 }, async () => {
    const started = new Date();
    child = spawn(
      process.execPath,
      [bin, 'demo', '--duration', '3s', '--clinicians', '6', '--patients', '80', '--dir', dir, '--fresh', '--stay'],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    const stdout = await waitForOutput(child, 'Ctrl-C to stop', 200_000);
    expect(stdout).toMatch(/Audit: \d+ records shipped, 0 lost to spool errors/);
    const consoleUrl = /^\s+console\s+(http:\/\/127\.0\.0\.1:\d+)\//m.exec(stdout)?.[1];
    expect(consoleUrl).toBeDefined();
    for (const [pattern, report] of [
      ['vip-access', 'vip'],
      ['name-probing', 'name-probing'],
      ['volume-spike', 'volume'],
      ['failed-access', 'failures'],
      ['export', 'exports'],
    ]) {
      expect(stdout, pattern).toMatch(
        new RegExp(`${pattern} .*\\n\\s+→ audit report ${report}: flagged; other users flagged: 0\\b`),
      );
    }
    // every monitoring report's rows by user: no false alarm in any
    const byUser = stdout.slice(stdout.indexOf('every monitoring report over this run'));
    const reportLines = byUser.split('\n').filter((line) => /^\s+\S+\s+false alarms \d+/.test(line));
    expect(reportLines.map((line) => line.trim().split(/\s+/)[0])).toEqual(
      REPORT_REGISTRY.filter((def) => def.flags !== undefined).map((def) => def.name),
    );
    for (const line of reportLines) expect(line, line).toMatch(/false alarms 0 /);

    // the console's report hits (its query API, the registry's reports): the planted actors and no one else
    const planted = new Set(Object.values(PLANTED_ACTORS).map((actor) => actor.userId));
    const consoleHits = new Map<string, string[]>();
    for (const def of REPORT_REGISTRY.filter((d) => d.flags !== undefined)) {
      const response = await fetch(`${consoleUrl}/api/audit/report/${def.name}?since=1d`, {
        headers: { 'x-fhirwatch-surface': 'console' },
      });
      expect(response.status, def.name).toBe(200);
      const body = (await response.json()) as { flagged: { principal: string }[] };
      consoleHits.set(
        def.name,
        body.flagged.map((f) => f.principal),
      );
    }
    for (const [report, principals] of consoleHits) {
      expect(
        principals.filter((p) => !planted.has(p)),
        report,
      ).toEqual([]);
    }
    for (const [pattern, report] of [
      ['vip-access', 'vip'],
      ['name-probing', 'name-probing'],
      ['volume-spike', 'volume'],
      ['failed-access', 'failures'],
      ['export', 'exports'],
    ] as const) {
      expect(consoleHits.get(report), pattern).toEqual([PLANTED_ACTORS[pattern].userId]);
    }

    // the planted actors open charts that no search of their own returned: the two (and only they) are ranked, in
    // distinct unexplained patients against their peers' median
    const unexplained = /→ audit report unexplained: most unexplained: (.*)/.exec(stdout)?.[1] ?? '';
    const ranked = unexplained.split('; ');
    expect(ranked.map((entry) => entry.split(' ')[0]).sort()).toEqual(['clinician-21', 'clinician-23']);
    for (const entry of ranked) expect(entry).toMatch(/\(\d+ patients?, peers' median [\d.]+, [\d.]+×\)$/);

    const exited = new Promise<number | null>((resolve) => child?.once('exit', (code) => resolve(code)));
    child.kill('SIGINT');
    expect(await exited).toBe(0);

    // the demo released the store: read it with the panels' own SQL
    const client = openStore({ path: join(dir, 'store') });
    try {
      const ctx = {
        from: new Date(started.getTime() - 3_600_000),
        to: new Date(Date.now() + 60_000),
        intervalSeconds: 10,
        vars: {},
      };
      const query = async (id: string): Promise<unknown[][]> => {
        const panel = PANELS.find((p) => p.id === id);
        if (panel === undefined) throw new Error(`no panel ${id}`);
        const result = await client.query({ query: expandMacros(panel.sql, ctx), format: 'JSONCompact' });
        return ((await result.json()) as unknown as { data: unknown[][] }).data;
      };
      const events = await query('compliance-events-by-type');
      expect(events.reduce((sum, row) => sum + Number(row[2]), 0)).toBeGreaterThan(0);
      // every monitoring report over --since 1d, as `fhirwatch audit report <name>` runs it: only planted actors
      for (const def of REPORT_REGISTRY.filter((d) => d.flags !== undefined)) {
        const report = await runReport(client, def.name, { since: '1d' });
        const falseAlarms = (report.flagged ?? []).map((f) => f.principal).filter((p) => !planted.has(p));
        expect(falseAlarms, def.name).toEqual([]);
      }
      expect((await query('sre-requests-per-tenant')).length).toBeGreaterThan(0);

      // every read of audit records the demo printed went through the one read path: a row each in audit_query_log
      const logged = await client.query({
        query: `SELECT endpoint, actor, principal, auth, status, rows FROM ${AUDIT_QUERY_LOG_TABLE}
                WHERE surface = 'demo' AND at >= {started:DateTime64(3)} ORDER BY at`,
        query_params: { started: started.toISOString().replace('T', ' ').replace('Z', '') },
        format: 'JSONEachRow',
      });
      const reads = (await logged.json()) as {
        endpoint: string;
        actor: string;
        principal: string;
        auth: string;
        status: number;
        rows: string | number;
      }[];
      const endpoints = new Set(reads.map((r) => r.endpoint));
      for (const endpoint of [
        'summary',
        'access',
        'verify',
        'demo:most-viewed-patient',
        'report:unexplained',
        ...REPORT_REGISTRY.filter((d) => d.flags !== undefined).map((d) => `report:${d.name}`),
      ]) {
        expect(endpoints, endpoint).toContain(endpoint);
      }
      for (const read of reads) {
        expect(read).toMatchObject({
          actor: 'fhirwatch demo',
          principal: `os:${userInfo().username}`,
          auth: 'process',
        });
        expect(read.status, read.endpoint).toBe(200);
      }
      expect(Number(reads.find((r) => r.endpoint === 'access')?.rows)).toBeGreaterThan(0);
    } finally {
      await client.close();
    }
  });
});
