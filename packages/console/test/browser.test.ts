/**
 * The console in a real browser: Chromium from @fhirwatch/testkit/browser (Debian's, else the npm package's) driven
 * by playwright-core, against a sink with the console mounted on a store loaded with generated data and planted
 * cases (fixture.ts). A compliance officer's path: search a planted patient's accesses, open the related records
 * of one, download the CSV and check its rows; every SRE chart has data; the audit-of-audit table recorded
 * those reads. Screenshots go to test/artifacts/. Any console error fails the test.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

import {
  groupRequests,
  parseCsv,
  REQUEST_ACTIONS,
  type RequestRow,
  requestKeyOf,
} from '@fhirwatch/clickhouse-sink/compliance';

import { AUDIT_EVENT_TYPES } from '@fhirwatch/contract';
import { PANELS } from '@fhirwatch/dashboards';
import { launchChromium } from '@fhirwatch/testkit/browser';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ConsoleFixture, startConsoleFixture } from './fixture.ts';

const artifact = (name: string): string => fileURLToPath(new URL(`./artifacts/${name}`, import.meta.url));
/** Requests newest first, as the search lists them (ties: the higher first row id first). */
const newestFirst = (requests: RequestRow[]): RequestRow[] =>
  [...requests].sort((a, b) =>
    a.event_time === b.event_time
      ? a.first_event_id < b.first_event_id
        ? 1
        : -1
      : a.event_time < b.event_time
        ? 1
        : -1,
  );

let fixture: ConsoleFixture;
let browser: Browser;
let page: Page;
const consoleErrors: string[] = [];

beforeAll(async () => {
  fixture = await startConsoleFixture('console-browser');
  browser = await launchChromium();
  const context = await browser.newContext({ viewport: { width: 1366, height: 768 }, acceptDownloads: true });
  await context.addInitScript(() => localStorage.setItem('fhirwatch.actor', 'browser-test-officer'));
  page = await context.newPage();
  page.on('console', (message) => {
    if (message.type() === 'error') consoleErrors.push(message.text());
  });
  page.on('pageerror', (error) => consoleErrors.push(String(error)));
}, 240_000);

afterAll(async () => {
  await browser?.close();
  await fixture?.close();
});

const settled = async (selector: string): Promise<void> => {
  await page.waitForFunction(
    (sel) => {
      const cards = [...document.querySelectorAll(sel)];
      return cards.length > 0 && cards.every((c) => (c as HTMLElement).dataset.state !== 'loading');
    },
    selector,
    { timeout: 60_000 },
  );
};

describe('console in Chromium', () => {
  it('SRE overview: every panel has data, time series drawn with uPlot', async () => {
    await page.goto(`${fixture.sink.url}/`);
    await settled('#sre [data-panel-id]');
    const states = await page.$$eval('#sre [data-panel-id]', (cards) =>
      cards.map((c) => ({
        id: (c as HTMLElement).dataset.panelId,
        state: (c as HTMLElement).dataset.state,
        rows: Number((c as HTMLElement).dataset.rows),
      })),
    );
    const sre = PANELS.filter((p) => p.board === 'sre');
    expect(states.map((s) => s.id)).toEqual(sre.map((p) => p.id));
    for (const state of states) expect({ id: state.id, state: state.state }).toEqual({ id: state.id, state: 'data' });
    const timeseries = sre.filter((p) => p.chart === 'timeseries').length;
    expect(await page.locator('#sre .uplot canvas').count()).toBeGreaterThanOrEqual(timeseries);
    await page.screenshot({ path: artifact('sre-overview.png') });
  });

  it('compliance: finds the planted patient’s accesses one row per request, expands one, CSV download', async () => {
    const { patient_id } = fixture.dataset.plants.accessPatient;
    await page.click('#tabs button[data-tab="compliance"]');
    await page.selectOption('#range', '30d');
    await settled('#compliance [data-panel-id]');
    const from = new Date(Date.now() - 30 * 86_400_000);
    const expected = fixture.dataset.records
      .filter((r) => r.patient_id === patient_id && Date.parse(r.event_time) >= from.getTime() - 120_000)
      .sort((a, b) => (a.event_time < b.event_time ? 1 : -1));
    expect(expected.length).toBeGreaterThan(2);
    // search by patient id over an explicit range that holds every generated record
    await page.fill('#search-form input[name="patient"]', patient_id);
    await page.fill('#search-form input[name="from"]', '2000-01-01T00:00');
    await page.click('#search-form button[type="submit"]');
    await page.waitForSelector('#search-table tbody tr');
    const all = fixture.dataset.records
      .filter((r) => r.patient_id === patient_id)
      .sort((a, b) => (a.event_time < b.event_time ? 1 : -1));
    // one row per request: every row of each request with a matching row, grouped as compliance/requests.ts does
    const keys = new Set(all.map((r) => `${r.tenant_id}/${requestKeyOf(r)}`));
    const requests = newestFirst(
      groupRequests(fixture.dataset.records.filter((r) => keys.has(`${r.tenant_id}/${requestKeyOf(r)}`))),
    );
    expect(requests.length).toBeGreaterThan(1);
    expect(requests.length).toBeLessThanOrEqual(all.length);
    // each request row is exactly what its per-patient rows add up to
    for (const request of requests) {
      const rows = fixture.dataset.records.filter(
        (r) => r.tenant_id === request.tenant_id && requestKeyOf(r) === request.request_key,
      );
      expect(request.records).toBe(rows.length);
      expect(request.patients).toEqual([...new Set(rows.map((r) => r.patient_id).filter((p) => p !== ''))].sort());
    }
    expect(Number(await page.getAttribute('#search-total', 'data-total'))).toBe(requests.length);
    const shown = await page.$$eval('#search-table tbody tr', (rows) =>
      rows.map((row) => ({
        id: (row.querySelector('.related-btn') as HTMLElement).dataset.eventId,
        records: Number((row.querySelector('.related-btn') as HTMLElement).dataset.records),
        tenantName: (row as HTMLTableRowElement).cells[2]?.textContent,
        action: (row as HTMLTableRowElement).cells[5]?.textContent,
        patients: (row as HTMLTableRowElement).cells[6]?.textContent,
      })),
    );
    expect(shown.map((r) => r.id)).toEqual(requests.slice(0, 50).map((r) => r.first_event_id));
    expect(shown.map((r) => r.records)).toEqual(requests.slice(0, 50).map((r) => r.records));
    for (const row of shown) {
      expect(row.tenantName).toMatch(/^Dataset hospital /);
      expect(REQUEST_ACTIONS).toContain(row.action);
      expect(row.patients?.split(', ')).toContain(patient_id);
    }
    await page.screenshot({ path: artifact('compliance-search.png') });
    await page.locator('#search-result').screenshot({ path: artifact('compliance-search-requests.png') });

    // expand the first (newest) request: its per-patient rows
    const first = requests[0]!;
    await page.click(`#search-table .related-btn[data-event-id="${first.first_event_id}"]`);
    await page.waitForSelector('#related-request table');
    const requestRows = await page.$$eval('#related-request tbody tr', (rows) => rows.length);
    const firstRecord = fixture.dataset.records.find((r) => r.event_id === first.first_event_id)!;
    const sameTrace = fixture.dataset.records.filter(
      (r) => r.trace_id === firstRecord.trace_id && r.tenant_id === firstRecord.tenant_id,
    );
    expect(requestRows).toBe(firstRecord.trace_id === '' ? 1 : sameTrace.length);
    expect(requestRows).toBe(first.records);
    expect(await page.locator('#related-session tbody tr').count()).toBeGreaterThanOrEqual(1);
    await page.locator('#related').screenshot({ path: artifact('compliance-related.png') });

    // CSV of every match
    const [download] = await Promise.all([page.waitForEvent('download'), page.click('#download-csv')]);
    expect(download.suggestedFilename()).toBe('fhirwatch-audit-search.csv');
    const rows = parseCsv(readFileSync((await download.path()) as string, 'utf8'));
    const header = rows[0] as string[];
    const id = header.indexOf('event_id');
    const patient = header.indexOf('patient_id');
    expect(rows.length - 1).toBe(all.length);
    expect(
      rows
        .slice(1)
        .map((r) => r[id])
        .sort(),
    ).toEqual(all.map((r) => r.event_id).sort());
    expect(rows.slice(1).every((r) => r[patient] === patient_id)).toBe(true);
  });

  it('compliance: the event-type filter offers the contract’s 11 types and filters by them', async () => {
    const offered = await page.$$eval('#event-types input[type="checkbox"]', (boxes) =>
      boxes.map((b) => (b as HTMLInputElement).value),
    );
    expect(offered).toEqual([...AUDIT_EVENT_TYPES]);
    const { patient_id } = fixture.dataset.plants.accessPatient;
    const searches = fixture.dataset.records.filter(
      (r) => r.patient_id === patient_id && r.event_type === 'PatientSearch',
    );
    expect(searches.length).toBeGreaterThan(0);
    await page.check('#event-types input[value="PatientSearch"]');
    await page.click('#search-form button[type="submit"]');
    await page.waitForFunction(
      (n) => document.querySelector('#search-total')?.getAttribute('data-total') === String(n),
      groupRequests(searches).length,
    );
    const shownActions = await page.$$eval('#search-table tbody tr', (rows) =>
      rows.map((row) => (row as HTMLTableRowElement).cells[5]?.textContent),
    );
    expect(new Set(shownActions)).toEqual(new Set(['search']));
    // the tenant selector shows each tenant's display name next to its id
    const tenantOptions = await page.$$eval('#tenant option', (options) => options.map((o) => o.textContent ?? ''));
    expect(tenantOptions.filter((text) => /^Dataset hospital .+ \([0-9a-f]{8}\)$/.test(text)).length).toBeGreaterThan(
      0,
    );
    await page.uncheck('#event-types input[value="PatientSearch"]');
  });

  it('compliance: monitoring reports show hits for the planted cases, chain intact, VIP list shown', async () => {
    await page.waitForFunction(
      () => [...document.querySelectorAll('.report-row')].every((r) => (r as HTMLElement).dataset.hits !== undefined),
      undefined,
      { timeout: 60_000 },
    );
    const hits = Object.fromEntries(
      await page.$$eval('.report-row', (rows) =>
        rows.map((r) => [(r as HTMLElement).dataset.report, Number((r as HTMLElement).dataset.hits)]),
      ),
    );
    expect(hits.vip).toBeGreaterThan(0);
    expect(hits.failures).toBeGreaterThan(0);
    await expect.poll(() => page.textContent('#chain-status')).toBe('HMAC chain intact');
    const vipCount = await page.locator('#vip tbody tr').count();
    expect(vipCount).toBe(new Set(fixture.dataset.plants.vipAdd.map((v) => `${v.tenantId ?? ''}|${v.patientId}`)).size);
    await page.screenshot({ path: artifact('compliance-reports.png'), fullPage: true });
  });

  it('audit of audit: the reads above are recorded and shown', async () => {
    await page.click('#tabs button[data-tab="auditlog"]');
    await page.waitForSelector('#querylog-table tbody tr');
    const shown = await page.$$eval('#querylog-table tbody tr', (rows) =>
      rows.map((r) => [...r.querySelectorAll('td')].map((td) => td.textContent ?? '')),
    );
    const endpoints = shown.map((cells) => cells[4]);
    expect(endpoints).toEqual(
      expect.arrayContaining(['search', 'related', 'report:vip', 'verify', 'panel:compliance-top-users']),
    );
    const result = await fixture.sink.client.query({
      query: "SELECT endpoint, actor, surface, format, rows FROM audit_query_log WHERE endpoint = 'search' ORDER BY at",
      format: 'JSONEachRow',
    });
    const searches = (await result.json()) as { actor: string; surface: string; format: string; rows: string }[];
    const { patient_id } = fixture.dataset.plants.accessPatient;
    const mine = fixture.dataset.records.filter((r) => r.patient_id === patient_id);
    const all = mine.length;
    expect(searches.every((s) => s.actor === 'browser-test-officer' && s.surface === 'console')).toBe(true);
    expect(Number(searches.find((s) => s.format === 'csv')?.rows)).toBe(all);
    // the request-level page discloses every per-patient row of the requests it lists (their patients)
    const keys = new Set(mine.map((r) => `${r.tenant_id}/${requestKeyOf(r)}`));
    const firstPage = newestFirst(
      groupRequests(fixture.dataset.records.filter((r) => keys.has(`${r.tenant_id}/${requestKeyOf(r)}`))),
    ).slice(0, 50);
    expect(Number(searches.find((s) => s.format === 'json')?.rows)).toBe(
      firstPage.reduce((sum, r) => sum + r.records, 0),
    );
    await page.screenshot({ path: artifact('audit-of-audit.png') });
  });

  it('load tests: panels present, empty with an explanation when no run is stored', async () => {
    await page.click('#tabs button[data-tab="loadtests"]');
    await settled('#loadtests [data-panel-id]');
    const states = await page.$$eval('#loadtests [data-panel-id]', (cards) =>
      cards.map((c) => (c as HTMLElement).dataset.state),
    );
    expect(states.length).toBe(PANELS.filter((p) => p.board === 'loadtests').length);
    if (states.every((s) => s !== 'data')) await expect.poll(() => page.locator('#loadtests-empty').count()).toBe(1);
  });

  it('panel reads leave the store session as it was (no result-size setting sticks to chDB’s one session)', async () => {
    const result = await fixture.sink.client.query({
      query: 'SELECT number FROM numbers(30000)',
      format: 'JSONCompactEachRow',
    });
    expect(((await result.json()) as unknown[]).length).toBe(30000);
  });

  it('logged no console errors', () => {
    expect(consoleErrors).toEqual([]);
  });
});
