// Panel rendering: timeseries with uPlot (window.uPlot, served from this package), bars, stats and tables as
// plain DOM. Every value from the store is set as text (never as HTML): audit rows hold user-typed strings.

/** el('div', { class: 'x' }, child, 'text') */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith('on') && typeof value === 'function') node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, value === true ? '' : String(value));
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

const PALETTE = [
  '#2456c8',
  '#d9480f',
  '#2b8a3e',
  '#9c36b5',
  '#e67700',
  '#0b7285',
  '#c2255c',
  '#5c940d',
  '#364fc7',
  '#862e9c',
  '#a61e4d',
  '#087f5b',
];

/** A ClickHouse time value (`2026-11-30 16:00:00[.000]`, ISO, or epoch s/ms) → epoch seconds. */
export function toEpochSeconds(value) {
  if (typeof value === 'number') return value > 1e12 ? value / 1000 : value;
  const text = String(value);
  if (/^\d+(\.\d+)?$/.test(text)) return toEpochSeconds(Number(text));
  const iso = text.includes('T') ? text : text.replace(' ', 'T');
  return Date.parse(/[zZ]|[+-]\d\d:?\d\d$/.test(iso) ? iso : `${iso}Z`) / 1000;
}

export function formatNumber(value) {
  const n = Number(value);
  if (!Number.isFinite(n)) return String(value ?? '');
  return n.toLocaleString('en-US', { maximumFractionDigits: Math.abs(n) < 10 ? 2 : 1 });
}

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/** Tenant GUIDs in legends: first 8 and last 4 characters (the full id is in the tables and selectors). */
export function shortLabel(text) {
  return GUID.test(text) ? `${text.slice(0, 8)}…${text.slice(-4)}` : text;
}

/**
 * Long rows (time, label…, value…) → uPlot's aligned columns: x = the distinct times, one series per
 * (labels, value column). At most `maxSeries` series (the largest totals), the rest dropped and counted.
 */
export function pivot(columns, rows, maxSeries = 10) {
  const timeIndex = columns.findIndex((c) => c.type === 'time');
  const labelIdx = columns.map((c, i) => (c.type === 'string' ? i : -1)).filter((i) => i >= 0);
  const valueIdx = columns.map((c, i) => (c.type === 'number' ? i : -1)).filter((i) => i >= 0);
  const times = [...new Set(rows.map((r) => toEpochSeconds(r[timeIndex])))].sort((a, b) => a - b);
  const at = new Map(times.map((t, i) => [t, i]));
  const series = new Map();
  for (const row of rows) {
    const labels = labelIdx.map((i) => shortLabel(String(row[i] ?? '') || '(none)'));
    for (const v of valueIdx) {
      const name = [...labels, valueIdx.length > 1 || labels.length === 0 ? columns[v].name : null]
        .filter(Boolean)
        .join(' · ');
      let s = series.get(name);
      if (!s) {
        s = { name, values: new Array(times.length).fill(null), total: 0 };
        series.set(name, s);
      }
      const n = Number(row[v]);
      if (Number.isFinite(n)) {
        s.values[at.get(toEpochSeconds(row[timeIndex]))] = n;
        s.total += Math.abs(n);
      }
    }
  }
  const all = [...series.values()].sort((a, b) => b.total - a.total);
  return { times, series: all.slice(0, maxSeries), dropped: Math.max(0, all.length - maxSeries) };
}

function timeseries(body, def, data, asBars = false) {
  const { times, series, dropped } = pivot(def.columns, data.rows);
  const box = el('div', { class: 'chart' });
  body.append(box);
  const width = Math.max(280, Math.floor(body.getBoundingClientRect().width || 520));
  const opts = {
    width,
    height: 210,
    legend: { show: true, live: false },
    cursor: { points: { show: false } },
    scales: { x: { time: true } },
    axes: [
      { stroke: '#5b6472', grid: { stroke: '#eef0f3' } },
      { stroke: '#5b6472', grid: { stroke: '#eef0f3' }, size: 56 },
    ],
    series: [
      {},
      ...series.map((s, i) => {
        const color = PALETTE[i % PALETTE.length];
        if (!asBars) {
          return { label: s.name, stroke: color, width: 1.5, spanGaps: false, points: { show: times.length < 40 } };
        }
        return {
          label: s.name,
          stroke: color,
          fill: `${color}99`,
          width: 1,
          points: { show: false },
          paths: window.uPlot.paths.bars({ size: [0.8, 40] }),
        };
      }),
    ],
  };
  const plot = new window.uPlot(opts, [times, ...series.map((s) => s.values)], box);
  box.dataset.series = String(series.length);
  if (dropped > 0) body.append(el('p', { class: 'hint' }, `${dropped} more series not drawn`));
  return plot;
}

function bars(body, def, data) {
  const labelIdx = def.columns.map((c, i) => (c.type !== 'number' ? i : -1)).filter((i) => i >= 0);
  const valueIdx = def.columns.findIndex((c) => c.type === 'number');
  const items = data.rows
    .slice(0, 15)
    .map((r) => ({ label: labelIdx.map((i) => String(r[i] ?? '')).join(' · '), value: Number(r[valueIdx]) }));
  const max = Math.max(1, ...items.map((i) => i.value));
  body.append(
    el(
      'div',
      { class: 'bars' },
      items.map((i) =>
        el(
          'div',
          { class: 'bar' },
          el('span', { title: i.label }, i.label),
          el('div', { class: 'fill', style: `width:${(100 * i.value) / max}%` }),
          el('span', {}, formatNumber(i.value)),
        ),
      ),
    ),
  );
}

function stat(body, def, data) {
  // every number column of the first row, each with its column name
  const row = data.rows[0] ?? [];
  const values = def.columns
    .map((c, i) => ({ c, v: row[i] }))
    .filter(({ c }) => c.type === 'number')
    .map(({ c, v }) =>
      el(
        'div',
        { class: 'stat-item' },
        el('div', { class: 'stat' }, formatNumber(v)),
        el('div', { class: 'hint' }, c.name),
      ),
    );
  body.append(el('div', { class: 'stats' }, values));
}

export function table(columns, rows, options = {}) {
  const head = el(
    'tr',
    {},
    columns.map((c) => el('th', {}, c.header ?? c.name ?? c.key)),
  );
  const bodyRows = rows.slice(0, options.limit ?? 500).map((row, index) => {
    const cells = columns.map((c, i) => {
      const value = Array.isArray(row) ? row[i] : row[c.key ?? c.name];
      const text = c.type === 'number' ? formatNumber(value) : String(value ?? '');
      return el('td', { title: text }, text);
    });
    if (options.action) cells.push(el('td', {}, options.action(row, index)));
    return el('tr', { class: options.rowClass ? options.rowClass(row) : undefined }, cells);
  });
  if (options.action) head.append(el('th', {}, ''));
  return el('div', { class: 'table-wrap' }, el('table', {}, el('thead', {}, head), el('tbody', {}, bodyRows)));
}

/** A panel card: title, description, then the chart, or why there is nothing to show. */
export function panelCard(def) {
  const body = el('div', { class: 'panel-body' });
  const card = el(
    'div',
    { class: 'card panel', 'data-panel-id': def.id, 'data-chart': def.chart, 'data-state': 'loading' },
    el('h3', {}, def.title),
    el('p', { class: 'desc' }, def.description),
    body,
  );
  return { card, body };
}

export function renderPanel(card, body, def, data) {
  body.replaceChildren();
  card.dataset.rows = String(data.rows.length);
  if (data.missing) {
    card.dataset.state = 'missing';
    body.append(
      el(
        'div',
        { class: 'empty' },
        `No data: this store has no table ${data.missing} yet. `,
        def.board === 'loadtests'
          ? 'Load-test runs appear once `fhirwatch loadtest` writes them to the store (table loadtest_runs).'
          : 'It appears once the component that writes it has run against this store.',
      ),
    );
    return;
  }
  if (data.rows.length === 0) {
    card.dataset.state = 'empty';
    body.append(el('div', { class: 'empty' }, 'No data in this range. ', def.description));
    return;
  }
  card.dataset.state = 'data';
  if (def.chart === 'timeseries') timeseries(body, def, data);
  else if (def.chart === 'bar' && def.columns.some((c) => c.type === 'time')) timeseries(body, def, data, true);
  else if (def.chart === 'bar') bars(body, def, data);
  else if (def.chart === 'stat') stat(body, def, data);
  else body.append(table(def.columns, data.rows, { limit: 200 }));
}

export function renderPanelError(card, body, message) {
  card.dataset.state = 'error';
  body.replaceChildren(el('div', { class: 'empty bad' }, message));
}
