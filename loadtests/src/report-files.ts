/** Write a load test's report directory: report.html, report.json, junit.xml. */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { renderJunit } from './junit.ts';
import { renderReportHtml } from './report-html.ts';
import type { LoadtestReport } from './summary.ts';

export interface ReportFiles {
  html: string;
  json: string;
  junit: string;
}

export function loadtestJunit(report: LoadtestReport): string {
  const classname = `loadtest.${report.scenario.name}`;
  return renderJunit([
    {
      name: `${classname}.slo`,
      cases: report.slo.map((v) => ({
        classname,
        name: `${v.name} ${v.threshold}`,
        ...(v.passed ? {} : { failure: `observed ${v.observed}, threshold ${v.threshold}` }),
      })),
    },
    {
      name: `${classname}.checks`,
      cases: report.checks.map((c) => ({
        classname,
        name: c.name,
        ...(c.fails === 0 ? {} : { failure: `${c.fails} of ${c.passes + c.fails} failed` }),
      })),
    },
  ]);
}

export function writeLoadtestReport(dir: string, report: LoadtestReport): ReportFiles {
  mkdirSync(dir, { recursive: true });
  const files = { html: join(dir, 'report.html'), json: join(dir, 'report.json'), junit: join(dir, 'junit.xml') };
  writeFileSync(files.json, `${JSON.stringify(report, null, 2)}\n`);
  writeFileSync(files.html, renderReportHtml(report));
  writeFileSync(files.junit, loadtestJunit(report));
  return files;
}
