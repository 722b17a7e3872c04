/**
 * report.html of a real run (gateway → mock EHR) renders in headless Chromium (@fhirwatch/testkit/browser:
 * Debian's `chromium`, else the one the npm package ships; playwright-core, no browser download) without console
 * errors or failed requests; a screenshot is kept in test/artifacts/ (gitignored).
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { launchChromium } from '@fhirwatch/testkit/browser';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { defaultSlo, resolveScenario, runLoadtest } from '../src/index.ts';
import { type LoadStack, startLoadStack } from './stack.ts';

const dir = mkdtempSync(join(tmpdir(), 'fw-loadtest-html-'));
const artifacts = new URL('./artifacts/', import.meta.url);
let stack: LoadStack;

beforeAll(async () => {
  stack = await startLoadStack({ errorRate: 0.05 }, 30);
});
afterAll(async () => {
  await stack?.close();
  rmSync(dir, { recursive: true, force: true });
});

it('renders the go-live report in Chromium without console errors', async () => {
  const scenario = resolveScenario('smoke', { rate: 10, durationS: 3 });
  // Injected errors: the report shows failed SLOs, failed checks and failed batch entries too.
  const report = await runLoadtest({ target: stack.target('STU3'), scenario, slo: defaultSlo(5), reportDir: dir });
  const html = readFileSync(join(dir, 'report.html'), 'utf8');
  // Self-contained: no script, stylesheet or image fetched from anywhere.
  expect(html).not.toMatch(/<script|<link|<img|<iframe|\ssrc=|\shref=|@import|url\(/i);
  const browser = await launchChromium();
  try {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    const problems: string[] = [];
    page.on('console', (m) => {
      if (m.type() === 'error' || m.type() === 'warning') problems.push(`${m.type()}: ${m.text()}`);
    });
    page.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));
    page.on('requestfailed', (r) => problems.push(`requestfailed: ${r.url()}`));
    await page.goto(pathToFileURL(join(dir, 'report.html')).href, { waitUntil: 'load' });
    expect(await page.title()).toBe('fhirwatch go-live report: smoke');
    expect(await page.locator('svg.chart').count()).toBe(3);
    expect(await page.locator('table.slo tbody tr').count()).toBe(report.slo.length);
    const banner = (await page.locator('.banner').textContent()) ?? '';
    expect(banner).toMatch(report.passed ? /objectives met/ : /objectives failed/);
    const lines = await page.locator('svg.chart polyline').count();
    expect(lines).toBe(7);
    mkdirSync(artifacts, { recursive: true });
    await page.screenshot({ path: new URL('report.png', artifacts).pathname, fullPage: true });
    expect(problems).toEqual([]);
  } finally {
    await browser.close();
  }
}, 240_000);
