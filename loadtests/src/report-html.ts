/**
 * The go-live report as one self-contained HTML file: inline CSS and inline SVG charts, no script, no CDN,
 * no external font; readable on a laptop and printable. Everything shown comes from report.json.
 */
import type { LoadtestReport } from './summary.ts';

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

interface Line {
  label: string;
  color: string;
  values: readonly number[];
}

const fmt = (x: number): string =>
  Math.abs(x) >= 100
    ? String(Math.round(x))
    : Math.abs(x) >= 1
      ? String(Math.round(x * 10) / 10)
      : String(Math.round(x * 100) / 100);

/** A line chart as inline SVG: x = seconds, lines share a y axis from 0. */
export function svgLineChart(title: string, unit: string, lines: readonly Line[], xs: readonly number[]): string {
  const width = 640;
  const height = 220;
  const left = 56;
  const right = 12;
  const top = 28;
  const bottom = 30;
  const max = Math.max(1e-9, ...lines.flatMap((l) => l.values));
  const xMax = Math.max(1, xs.length - 1);
  const x = (i: number): number => left + (i / xMax) * (width - left - right);
  const y = (v: number): number => top + (1 - v / max) * (height - top - bottom);
  const parts: string[] = [
    `<svg class="chart" viewBox="0 0 ${width} ${height}" role="img" aria-label="${escapeHtml(title)}" xmlns="http://www.w3.org/2000/svg">`,
    `<text x="${left}" y="16" class="ct">${escapeHtml(title)}</text>`,
  ];
  for (let k = 0; k <= 4; k++) {
    const v = (max * k) / 4;
    parts.push(
      `<line x1="${left}" x2="${width - right}" y1="${y(v).toFixed(1)}" y2="${y(v).toFixed(1)}" class="grid"/>`,
      `<text x="${left - 6}" y="${(y(v) + 4).toFixed(1)}" class="ax" text-anchor="end">${fmt(v)}</text>`,
    );
  }
  const ticks = Math.min(6, xs.length);
  for (let k = 0; k < ticks; k++) {
    const i = Math.round((k / Math.max(1, ticks - 1)) * xMax);
    parts.push(`<text x="${x(i).toFixed(1)}" y="${height - 10}" class="ax" text-anchor="middle">${xs[i] ?? i}s</text>`);
  }
  parts.push(`<text x="${width - right}" y="16" class="ax" text-anchor="end">${escapeHtml(unit)}</text>`);
  const legendX = left + Math.round(title.length * 7.2) + 24;
  lines.forEach((line, n) => {
    if (line.values.length === 0) return;
    const points = line.values.map((v, i) => `${x(i).toFixed(1)},${y(v).toFixed(1)}`).join(' ');
    parts.push(`<polyline fill="none" stroke="${line.color}" stroke-width="1.8" points="${points}"/>`);
    parts.push(
      `<rect x="${legendX + n * 90}" y="8" width="10" height="10" fill="${line.color}"/>`,
      `<text x="${legendX + 14 + n * 90}" y="17" class="ax">${escapeHtml(line.label)}</text>`,
    );
  });
  parts.push('</svg>');
  return parts.join('');
}

function table(headers: readonly string[], rows: readonly (readonly (string | number)[])[], cls = ''): string {
  const head = headers.map((h) => `<th>${escapeHtml(h)}</th>`).join('');
  const body = rows
    .map((r) => `<tr>${r.map((c) => `<td>${typeof c === 'number' ? fmtNum(c) : c}</td>`).join('')}</tr>`)
    .join('');
  return `<table class="${cls}"><thead><tr>${head}</tr></thead><tbody>${body}</tbody></table>`;
}

const fmtNum = (n: number): string => (Number.isInteger(n) ? String(n) : n.toFixed(2));

const verdict = (passed: boolean): string =>
  passed ? '<span class="pass">PASS</span>' : '<span class="fail">FAIL</span>';

const CSS = `
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;color:#1d2430;background:#f6f7f9}
main{max-width:1100px;margin:0 auto;padding:24px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid #d8dde5;padding-bottom:4px}
.meta{color:#586174}.banner{padding:12px 16px;border-radius:6px;font-weight:600;margin:16px 0}
.banner.ok{background:#e3f5e8;color:#145c2a}.banner.bad{background:#fde6e6;color:#8a1616}
table{border-collapse:collapse;width:100%;background:#fff;margin:6px 0}th,td{border:1px solid #dde2ea;padding:5px 8px;text-align:left;vertical-align:top}
th{background:#eef1f5;font-weight:600}td{font-variant-numeric:tabular-nums}
.pass{color:#145c2a;font-weight:700}.fail{color:#b01c1c;font-weight:700}
.charts{display:grid;grid-template-columns:repeat(auto-fit,minmax(460px,1fr));gap:12px}
.chart{background:#fff;border:1px solid #dde2ea;border-radius:4px;width:100%;height:auto}
.chart .ct{font-size:13px;font-weight:600;fill:#1d2430}.chart .ax{font-size:11px;fill:#586174}.chart .grid{stroke:#edf0f4}
.note{background:#fff7e0;border:1px solid #f0d58a;padding:8px 12px;border-radius:4px}
code{background:#eef1f5;padding:1px 4px;border-radius:3px}
`;

/** Render report.json as report.html. */
export function renderReportHtml(report: LoadtestReport): string {
  const xs = report.series.map((p) => p.t);
  const passedCount = report.slo.filter((v) => v.passed).length;
  const banner = report.passed
    ? `<div class="banner ok">All ${report.slo.length} service-level objectives met</div>`
    : `<div class="banner bad">${report.slo.length - passedCount} of ${report.slo.length} service-level objectives failed</div>`;
  const notes = report.notes.map((n) => `<p class="note">${escapeHtml(n)}</p>`).join('');
  const sloRows = report.slo.map((v) => [escapeHtml(v.name), escapeHtml(v.threshold), v.observed, verdict(v.passed)]);
  const opRows = report.ops.map((o) => [
    o.tag,
    o.requests,
    o.failures,
    `${fmtNum(o.errorRate * 100)} %`,
    o.throughputRps,
    o.p50Ms,
    o.p90Ms,
    o.p95Ms,
    o.p99Ms,
    o.maxMs,
    escapeHtml(
      Object.entries(o.statuses)
        .map(([s, n]) => `${s === '0' ? 'no response' : s}: ${n}`)
        .join(', '),
    ),
  ]);
  const entryStatuses = Object.entries(report.batchEntries.statuses)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([s, n]) => [escapeHtml(s), n]);
  const fieldRows = report.fields.map((f) => [
    escapeHtml(f.resourceType),
    f.checked,
    f.ok,
    f.checked === 0 ? '–' : `${fmtNum((f.ok / f.checked) * 100)} %`,
    escapeHtml(
      Object.entries(f.missing)
        .map(([p, n]) => `${p} (${n})`)
        .join(', ') || 'none',
    ),
  ]);
  const checkRows = report.checks.map((c) => [escapeHtml(c.name), c.passes, c.fails, verdict(c.fails === 0)]);
  const capacity =
    report.capacity === undefined
      ? ''
      : `<h2>Capacity</h2><p>Highest throughput of a ${report.capacity.windowS}-second window that met the SLO: <strong>${fmtNum(report.capacity.throughputAtSloRps)} iterations/s</strong>.</p>` +
        table(
          ['window', 'throughput (/s)', 'p95 (ms)', 'errors', 'dropped', 'within SLO'],
          report.capacity.windows.map((w) => [
            `${w.fromS}–${w.toS}s`,
            w.throughputRps,
            w.p95Ms,
            `${fmtNum(w.errorRate * 100)} %`,
            w.dropped,
            verdict(w.withinSlo),
          ]),
        );
  const serverSide =
    report.serverSide === undefined || report.serverSide.length === 0
      ? ''
      : `<h2>Server-side time per hop</h2>${table(
          ['hop', 'spans', 'p50 (ms)', 'p95 (ms)', 'p99 (ms)'],
          report.serverSide.map((h) => [escapeHtml(h.hop), h.spans, h.p50Ms, h.p95Ms, h.p99Ms]),
        )}`;
  const exec = report.scenario.executor;
  const executor =
    exec.kind === 'constant-arrival-rate'
      ? `constant arrival rate ${exec.rate}/s for ${exec.durationS}s`
      : `ramping arrival rate from ${fmtNum(exec.startRate)}/s: ${exec.stages.map((s) => `${fmtNum(s.target)}/s over ${fmtNum(s.durationS)}s`).join(', ')}`;
  const versions = Object.entries(report.versions).map(([k, v]) => [escapeHtml(k), escapeHtml(v)]);
  const m = report.machine;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>fhirwatch go-live report: ${escapeHtml(report.scenario.name)}</title><style>${CSS}</style></head>
<body><main>
<h1>Go-live load test: ${escapeHtml(report.scenario.name)}</h1>
<div class="meta">Target <code>${escapeHtml(report.target.baseUrl)}</code> · FHIR ${escapeHtml(report.target.fhirVersion)} · tenant <code>${escapeHtml(report.target.tenantId || '–')}</code> · engine ${escapeHtml(report.engine)} · ${escapeHtml(report.startedAt)} → ${escapeHtml(report.finishedAt)} (${fmtNum(report.durationS)} s) · run <code>${escapeHtml(report.runId)}</code></div>
${banner}${notes}
<p>${escapeHtml(report.scenario.description)}. Executor: ${escapeHtml(executor)}; at most ${report.scenario.maxInFlight} iterations in flight; list refresh of ${report.scenario.listSize} patients × 7 entries. Latency is measured from each iteration's scheduled start${report.engine === 'open' ? ' (queueing included)' : ''}.</p>
<h2>Service-level objectives</h2>
${table(['objective', 'threshold', 'observed', 'verdict'], sloRows, 'slo')}
<h2>Totals</h2>
${table(
  ['iterations', 'requests', 'failed', 'unavailable', 'dropped', 'throughput (/s)', 'p50 (ms)', 'p95 (ms)', 'p99 (ms)'],
  [
    [
      report.totals.iterations,
      report.totals.requests,
      report.totals.failures,
      report.totals.unavailable,
      report.totals.dropped,
      report.totals.throughputRps,
      report.totals.p50Ms,
      report.totals.p95Ms,
      report.totals.p99Ms,
    ],
  ],
)}
<h2>Latency per operation</h2>
${table(['operation', 'requests', 'failed', 'error rate', '/s', 'p50', 'p90', 'p95', 'p99', 'max (ms)', 'statuses'], opRows)}
<h2>Over time</h2>
<div class="charts">
${svgLineChart(
  'Throughput',
  'per second',
  [
    { label: 'completed', color: '#2a6fdb', values: report.series.map((p) => p.completed) },
    { label: 'started', color: '#8aa9d6', values: report.series.map((p) => p.started) },
  ],
  xs,
)}
${svgLineChart(
  'Latency',
  'ms',
  [
    { label: 'p50', color: '#2f9e44', values: report.series.map((p) => p.p50Ms) },
    { label: 'p95', color: '#e8590c', values: report.series.map((p) => p.p95Ms) },
    { label: 'p99', color: '#c92a2a', values: report.series.map((p) => p.p99Ms) },
  ],
  xs,
)}
${svgLineChart(
  'Errors and dropped iterations',
  'per second',
  [
    { label: 'failed', color: '#c92a2a', values: report.series.map((p) => p.failures) },
    { label: 'dropped', color: '#7048e8', values: report.series.map((p) => p.dropped) },
  ],
  xs,
)}
</div>
${capacity}
<h2>Batch entries</h2>
<p>${report.batchEntries.total} entries in list-refresh responses, ${report.batchEntries.failed} not 2xx (${fmtNum(report.batchEntries.successRate * 100)} % 2xx). A batch answered 200 whose entries failed counts as a failed call.</p>
${entryStatuses.length === 0 ? '' : table(['entry status', 'count'], entryStatuses)}
<h2>Required-field conformance</h2>
${fieldRows.length === 0 ? '<p>No resources checked.</p>' : table(['resource', 'checked', 'complete', 'share', 'missing required fields (count)'], fieldRows)}
<h2>Checks</h2>
${table(['check', 'passed', 'failed', 'verdict'], checkRows)}
${serverSide}
<h2>Machine and versions</h2>
${table(['CPUs', 'CPU model', 'memory (GB)', 'OS', 'Node.js', 'load workers'], [[m.cpus, escapeHtml(m.cpuModel), m.memoryGb, escapeHtml(m.os), escapeHtml(m.node), report.workers]])}
${table(['package', 'version'], versions)}
</main></body></html>
`;
}
