/**
 * The k6 scripts, bundled by esbuild exactly as CI does: self-contained (only `k6` / `k6/*` imports left) and
 * their exported `options` equal to the scenario definitions (executor and SLO thresholds). k6 itself is
 * AGPL and never installed: the bundles are loaded in Node with three tiny stand-ins for k6's modules that
 * only record calls, which is enough to evaluate `options` and `handleSummary`.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bundleK6Scripts } from '../k6/build.ts';
import { defaultSlo, k6Options, resolveScenario, SCENARIO_NAMES } from '../src/index.ts';

const dir = mkdtempSync(join(tmpdir(), 'fw-k6-'));
const g = globalThis as { __ENV?: Record<string, string> };

beforeAll(async () => {
  await bundleK6Scripts(dir);
  const k6 = join(dir, 'node_modules', 'k6');
  mkdirSync(k6, { recursive: true });
  writeFileSync(
    join(k6, 'package.json'),
    JSON.stringify({
      name: 'k6',
      type: 'module',
      exports: { '.': './index.js', './http': './http.js', './metrics': './metrics.js' },
    }),
  );
  writeFileSync(join(k6, 'index.js'), 'export function check() { return true; }\n');
  writeFileSync(
    join(k6, 'http.js'),
    'export default { setResponseCallback() {}, expectedStatuses(...r) { return r; }, get() { throw new Error("no HTTP here"); }, post() { throw new Error("no HTTP here"); } };\n',
  );
  writeFileSync(join(k6, 'metrics.js'), 'export class Rate { constructor(name) { this.name = name; } add() {} }\n');
}, 60_000);
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
  delete g.__ENV;
});

async function load(name: string, env: Record<string, string>, fresh: string): Promise<Record<string, unknown>> {
  g.__ENV = env;
  return (await import(`${pathToFileURL(join(dir, `${name}.js`)).href}?${fresh}`)) as Record<string, unknown>;
}

describe.each(SCENARIO_NAMES)('%s bundle', (name) => {
  it('imports only k6 modules and exports options equal to the scenario definition', async () => {
    const code = readFileSync(join(dir, `${name}.js`), 'utf8');
    const imports = [...code.matchAll(/^\s*import\s[^;]*?from\s*["']([^"']+)["']/gm)].map((m) => m[1]);
    expect(new Set(imports)).toEqual(new Set(['k6', 'k6/http', 'k6/metrics']));
    expect(code).not.toMatch(/\brequire\(|TextDecoder|from ["']node:/);
    const script = await load(name, {}, 'default');
    const scenario = resolveScenario(name);
    expect(script.options).toEqual(k6Options(scenario, defaultSlo(scenario.listSize)));
    for (const key of ['setup', 'default', 'handleSummary']) expect(typeof script[key]).toBe('function');
  });
});

describe('k6 knobs and summary', () => {
  it('takes rate, duration, batch size and SLO overrides from the environment', async () => {
    const script = await load(
      'list-refresh',
      { RATE: '42', DURATION: '20', PATIENTS_PER_BATCH: '10', SLO: 'list-refresh.p95=1500' },
      'env',
    );
    const options = script.options as ReturnType<typeof k6Options>;
    expect(options.scenarios['list-refresh']).toMatchObject({
      executor: 'constant-arrival-rate',
      rate: 42,
      duration: '20s',
    });
    // N = 10 → slo.md's 3 s p95 bound, overridden to 1.5 s; p99 stays twice the default p95.
    expect(options.thresholds['http_req_duration{op:list-refresh}']).toEqual(['p(95)<=1500', 'p(99)<=6000']);
    expect(options.thresholds.dropped_iterations).toEqual(['count<=0']);
  });

  it('handleSummary writes the summary JSON and a JUnit case per threshold', async () => {
    const script = await load('smoke', { JUNIT: 'out/junit.xml', SUMMARY_JSON: 'out/summary.json' }, 'summary');
    const out = (script.handleSummary as (d: unknown) => Record<string, string>)({
      metrics: {
        'http_req_duration{op:search}': { thresholds: { 'p(95)<=800': { ok: true } } },
        dropped_iterations: { thresholds: { 'count<=0': { ok: false } } },
        http_reqs: {},
      },
    });
    expect(Object.keys(out).sort()).toEqual(['out/junit.xml', 'out/summary.json', 'stdout']);
    expect(out['out/junit.xml']).toContain('tests="2" failures="1"');
    expect(out['out/junit.xml']).toContain('name="dropped_iterations count&#60;=0"');
    expect(out.stdout).toBe('smoke: 1 of 2 thresholds met (1 crossed)\n');
  });
});
