/**
 * `npm run bench` in packages/cli: how fast the `fhirwatch` command answers (issue 12: an officer runs many
 * short commands). Each scenario is a fresh process; rounds are interleaved with the baseline, `node -e 0`,
 * measured in the same run on the same machine, so load on the box hits both alike.
 *
 *   help        fhirwatch --help                      target: within 0.2 s of Node's own start
 *   usage       fhirwatch no-such-command (exit 2)    target: within 0.2 s
 *   audit-help  fhirwatch audit --help
 *   audit-usage fhirwatch audit report no-such-report (exit 2)             target: within 0.2 s
 *   report      fhirwatch audit report after-hours --store <small store>   target: within 0.5 s
 *   summary     fhirwatch audit summary --store <small store> (runs the explanation query too)
 *
 * Prints per scenario p50 / p95 wall time, `ratio = candidate / baseline` (p50) and the excess over the
 * baseline (p50), plus Node version and CPU. Options: BENCH_ROUNDS (default 15).
 * The first round of each scenario is a warm-up (fills Node's compile cache) and is not counted.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { migrate, openStore } from '@fhirwatch/clickhouse-sink';
import { insertAuditRecords } from '@fhirwatch/clickhouse-sink/store';
import { generateAuditDataset } from '@fhirwatch/clickhouse-sink/testing';

const rounds = Number(process.env.BENCH_ROUNDS ?? 15);
const bin = fileURLToPath(new URL('../bin/fhirwatch.js', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'fw-cli-bench-'));
const store = join(dir, 'store');

const dataset = generateAuditDataset({ days: 20, users: 3, patients: 60 });
{
  const client = openStore({ path: store });
  await migrate(client);
  await insertAuditRecords(client, dataset.records);
  await client.close();
}
const range = ['--from', dataset.plants.reportFrom.toISOString(), '--to', dataset.plants.reportTo.toISOString()];

const scenarios: Record<string, { args: string[]; status: number; target?: number }> = {
  baseline: { args: ['-e', '0'], status: 0 },
  help: { args: [bin, '--help'], status: 0, target: 0.2 },
  usage: { args: [bin, 'no-such-command'], status: 2, target: 0.2 },
  'audit-help': { args: [bin, 'audit', '--help'], status: 0 },
  'audit-usage': { args: [bin, 'audit', 'report', 'no-such-report', '--store', store], status: 2, target: 0.2 },
  report: { args: [bin, 'audit', 'report', 'after-hours', '--store', store, ...range], status: 0, target: 0.5 },
  summary: { args: [bin, 'audit', 'summary', '--store', store, ...range], status: 0 },
};

const times = new Map<string, number[]>(Object.keys(scenarios).map((name) => [name, []]));
for (let round = 0; round <= rounds; round += 1) {
  for (const [name, scenario] of Object.entries(scenarios)) {
    const start = process.hrtime.bigint();
    const result = spawnSync(process.execPath, scenario.args, { stdio: ['ignore', 'ignore', 'pipe'] });
    const seconds = Number(process.hrtime.bigint() - start) / 1e9;
    if (result.status !== scenario.status) {
      throw new Error(
        `${name}: exit ${result.status} (expected ${scenario.status}): ${result.stderr.toString().slice(0, 500)}`,
      );
    }
    if (round > 0) times.get(name)!.push(seconds);
  }
}
rmSync(dir, { recursive: true, force: true });

const quantile = (values: number[], q: number): number => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
};
const base = quantile(times.get('baseline')!, 0.5);
const ms = (s: number): string => `${(s * 1000).toFixed(0)} ms`;
process.stdout.write(
  `fhirwatch CLI startup, ${rounds} interleaved rounds, Node ${process.version}, ${cpus()[0]?.model ?? 'unknown CPU'} × ${cpus().length}\n`,
);
for (const [name, values] of times) {
  const p50 = quantile(values, 0.5);
  const p95 = quantile(values, 0.95);
  const target = scenarios[name]!.target;
  const excess = p50 - base;
  process.stdout.write(
    `${name.padEnd(12)} p50 ${ms(p50).padStart(7)}  p95 ${ms(p95).padStart(7)}  ratio = ${(p50 / base).toFixed(2)}  excess over node -e 0: ${ms(excess)}${
      target === undefined ? '' : `  (target ≤ ${ms(target)}: ${excess <= target ? 'met' : 'NOT met'})`
    }\n`,
  );
}
