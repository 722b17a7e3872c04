/**
 * Time from command to first data in the console: spawns what `npm run demo -- --stay` runs (fresh store in a
 * temp dir), reads the console URL it prints, opens it in Chromium (@fhirwatch/testkit/browser: Debian's or the npm one) and polls until the
 * first SRE panel shows data; prints the time to the URL line, to the first panel with data, and to every SRE
 * panel with data. A measurement, not a ratio: run it by hand.
 *
 *   cd packages/console && npx node --conditions=fhirwatch-source bench/first-data.ts
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { launchChromium } from '@fhirwatch/testkit/browser';

const main = fileURLToPath(new URL('../../cli/src/main.ts', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'fw-first-data-'));
const t0 = performance.now();
const child = spawn(
  process.execPath,
  ['--conditions=fhirwatch-source', main, 'demo', '--dir', dir, '--fresh', '--stay'],
  {
    stdio: ['ignore', 'pipe', 'inherit'],
  },
);
const seconds = (): string => `${((performance.now() - t0) / 1000).toFixed(1)} s`;
const browser = await launchChromium();
try {
  const url = await new Promise<string>((resolve, reject) => {
    createInterface({ input: child.stdout }).on('line', (line) => {
      const match = /^\s+console\s+(http:\/\/\S+)/.exec(line);
      if (match) resolve(match[1] as string);
    });
    child.once('exit', (code) => reject(new Error(`demo exited with ${code}`)));
  });
  console.log(`console URL printed after ${seconds()}: ${url}`);
  const page = await browser.newPage({ viewport: { width: 1366, height: 768 } });
  let first: string | undefined;
  let states: { id: string; state: string }[] = [];
  for (let attempt = 0; attempt < 45; attempt++) {
    await page.goto(url);
    await page.waitForFunction(() => {
      const cards = [...document.querySelectorAll('#sre [data-panel-id]')];
      return cards.length > 0 && cards.every((c) => (c as HTMLElement).dataset.state !== 'loading');
    });
    states = await page.$$eval('#sre [data-panel-id]', (cards) =>
      cards.map((c) => ({
        id: (c as HTMLElement).dataset.panelId ?? '',
        state: (c as HTMLElement).dataset.state ?? '',
      })),
    );
    const withData = states.filter((s) => s.state === 'data').length;
    if (withData > 0 && first === undefined) {
      first = seconds();
      console.log(
        `first SRE panel with data after ${first} (page load + ${withData}/${states.length} panels with data)`,
      );
    }
    if (withData === states.length) {
      console.log(`every SRE panel with data after ${seconds()}`);
      break;
    }
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }
  const empty = states.filter((s) => s.state !== 'data').map((s) => s.id);
  if (empty.length > 0) console.log(`SRE panels still without data at the end: ${empty.join(', ')}`);
  console.log(`Node ${process.version}, ${cpus()[0]?.model ?? 'unknown CPU'} x${cpus().length}`);
} finally {
  await browser.close();
  child.kill('SIGINT');
  await new Promise((resolve) => child.once('exit', resolve));
  rmSync(dir, { recursive: true, force: true });
}
