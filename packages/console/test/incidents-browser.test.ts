/**
 * The console's incident view in Chromium (@fhirwatch/testkit/browser, playwright-core): a sink with the console
 * mounted and its incident monitor running over the seeded dataset (fixture.ts) finds the planted hits; an officer
 * opens the Incidents tab, opens an incident from the console link a payload carries (`#incident=<id>`),
 * acknowledges it, tries to close it without a note (refused, shown), closes it with one, and sees each change in
 * the incident's history, recorded under the name in the console's "You" field. Screenshot:
 * <os tmp>/fhirwatch-console-incident.png (printed). Any console error other than the refused close fails the test.
 */
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { launchChromium } from '@fhirwatch/testkit/browser';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ConsoleFixture, startConsoleFixture } from './fixture.ts';

let fixture: ConsoleFixture;
let browser: Browser;
let page: Page;
const consoleErrors: string[] = [];

beforeAll(async () => {
  fixture = await startConsoleFixture('console-incidents', {
    incidents: { periodHours: 720, intervalMinutes: 0.05, tickMs: 500 },
  });
  const deadline = Date.now() + 150_000;
  while ((fixture.sink.incidents?.stats.created ?? 0) === 0) {
    if (Date.now() > deadline) throw new Error('the monitor found no incident in the seeded dataset');
    await new Promise((r) => setTimeout(r, 200));
  }
  browser = await launchChromium();
  const context = await browser.newContext({ viewport: { width: 1366, height: 900 } });
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

describe('console incident view in Chromium', () => {
  it('lists incidents, opens one from its console link, acknowledges and closes it with a note', async () => {
    await page.goto(`${fixture.sink.url}/`);
    // the start page (SRE) first: clicking a tab before the console has started would be undone by its start
    await page.waitForFunction(() => (document.body.dataset.loaded ?? '').includes('sre'));
    await page.click('#tabs button[data-tab="incidents"]');
    await page.waitForSelector('#incident-table tbody tr');
    const listed = await page.$$eval('#incident-table tbody tr', (rows) => rows.length);
    const api = (await (await fetch(`${fixture.sink.url}/api/audit/incidents?state=open&limit=500`)).json()) as {
      rows: { incident_id: string; report: string; principal: string }[];
    };
    expect(listed).toBe(api.rows.length);
    const target = api.rows[0]!;

    // the link a Teams card or webhook payload carries
    await page.goto(`${fixture.sink.url}/#incident=${target.incident_id}`);
    await page.waitForSelector(`#incident-detail[data-incident="${target.incident_id}"]`);
    expect(await page.textContent('#incident-state')).toBe('open');
    expect(await page.textContent('#incident-detail')).toContain(target.principal);

    await page.fill('#incident-note', 'looking into it');
    await page.click('#incident-ack');
    await page.waitForSelector('#incident-detail[data-state="acknowledged"]');
    // closing needs a note: refused by the API, said in the status line, nothing changed
    await page.fill('#incident-note', '');
    await page.click('#incident-close');
    await page.waitForFunction(() => document.getElementById('status')?.textContent?.includes('needs a note'));
    expect(await page.getAttribute('#incident-detail', 'data-state')).toBe('acknowledged');
    await page.fill('#incident-note', 'reviewed with the department lead: covering a colleague on call');
    await page.click('#incident-close');
    await page.waitForSelector('#incident-detail[data-state="closed"]');

    const history = await page.$$eval('#incident-events tbody tr', (rows) =>
      rows.map((row) => [...row.querySelectorAll('td')].map((td) => td.textContent ?? '')),
    );
    expect(history.map((cells) => cells.slice(1, 4))).toEqual([
      ['fhirwatch-sink', '', 'open'],
      ['browser-test-officer', 'open', 'acknowledged'],
      ['browser-test-officer', 'acknowledged', 'closed'],
    ]);
    expect(history[2]?.[4]).toBe('reviewed with the department lead: covering a colleague on call');
    const file = join(tmpdir(), 'fhirwatch-console-incident.png');
    await page.screenshot({ path: file, fullPage: true });
    process.stdout.write(`console incident view screenshot: ${file}\n`);
    // the refused close is the one expected error (its 400 response)
    expect(consoleErrors.filter((e) => !e.includes('400'))).toEqual([]);
  });
});
