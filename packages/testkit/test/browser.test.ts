/**
 * The browser helper against the real thing: the npm package's Chromium is unpacked into a cache (a fresh
 * temporary one here, so the first-use path runs every time), launches headless and renders text and canvas;
 * a second call reuses the unpacked copy; a missing package is an error that names `npm ci`.
 */
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FIX_COMMAND, findChromium, launchChromium, npmChromiumPackage, unpackNpmChromium } from '../src/browser.ts';
import { buildOnce } from '../src/cache.ts';

const cache = mkdtempSync(join(tmpdir(), 'fw-testkit-cache-'));
let previousCache: string | undefined;

beforeAll(() => {
  previousCache = process.env.FHIRWATCH_CACHE;
  process.env.FHIRWATCH_CACHE = cache;
});
afterAll(() => {
  if (previousCache === undefined) delete process.env.FHIRWATCH_CACHE;
  else process.env.FHIRWATCH_CACHE = previousCache;
  rmSync(cache, { recursive: true, force: true });
});

describe('npm Chromium (@sparticuz/chromium)', () => {
  it('is installed by npm ci', () => {
    expect(npmChromiumPackage()?.version).toMatch(/^\d+\.\d+\.\d+$/);
  });

  it('unpacks into the cache on first use, launches headless and renders text and a canvas', async () => {
    const found = await findChromium({ npmOnly: true });
    expect(found.source).toBe('npm');
    expect(found.path.startsWith(cache)).toBe(true);
    const browser = await launchChromium({ npmOnly: true });
    try {
      const page = await browser.newPage();
      await page.setContent(
        '<p id="t" style="font-family:sans-serif">fhirwatch</p><canvas id="c" width="20" height="20"></canvas>' +
          '<script>const g = document.getElementById("c").getContext("2d"); g.fillStyle = "#f00"; g.fillRect(0, 0, 20, 20);</script>',
      );
      const { width, pixel, language } = await page.evaluate(() => ({
        language: navigator.language,
        width: (document.getElementById('t') as HTMLElement).getBoundingClientRect().width,
        pixel: [...(document.getElementById('c') as HTMLCanvasElement).getContext('2d')!.getImageData(5, 5, 1, 1).data],
      }));
      expect(await page.locator('#t').textContent()).toBe('fhirwatch');
      // Laid-out glyphs have a width only when a font was found.
      expect(width).toBeGreaterThan(0);
      expect(pixel).toEqual([255, 0, 0, 255]);
      // A tag Intl accepts (the machine's C locale would give `en-US@posix`, which uPlot's NumberFormat refuses).
      expect(new Intl.NumberFormat(language).resolvedOptions().locale).toBe('en-US');
      expect((await page.screenshot()).length).toBeGreaterThan(1000);
    } finally {
      await browser.close();
    }
  }, 240_000);

  it('reuses the unpacked copy afterwards', async () => {
    const first = await findChromium({ npmOnly: true });
    const before = statSync(first.path).mtimeMs;
    const again = await findChromium({ npmOnly: true });
    expect(again.path).toBe(first.path);
    expect(statSync(again.path).mtimeMs).toBe(before);
  }, 240_000);

  it('names the fixing command when the package is missing', async () => {
    await expect(unpackNpmChromium(join(cache, 'no-such-package', 'bin'), '0.0.0')).rejects.toThrow(
      `Fix: \`${FIX_COMMAND}\``,
    );
  });
});

describe('buildOnce', () => {
  it('builds an entry once when two callers race, and leaves nothing behind on failure', async () => {
    let builds = 0;
    const final = join(cache, 'race');
    const build = async (dir: string): Promise<void> => {
      builds++;
      await new Promise((resolve) => setTimeout(resolve, 20));
      statSync(dir);
    };
    const [a, b] = await Promise.all([buildOnce(final, build), buildOnce(final, build)]);
    expect(a).toBe(final);
    expect(b).toBe(final);
    expect(builds).toBe(2);
    expect(statSync(final).isDirectory()).toBe(true);
    await expect(
      buildOnce(join(cache, 'broken'), async () => {
        throw new Error('boom');
      }),
    ).rejects.toThrow('boom');
    expect(() => statSync(join(cache, 'broken'))).toThrow();
    expect(await buildOnce(final, build)).toBe(final);
    expect(builds).toBe(2);
  });
});
