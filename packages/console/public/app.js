// The fhirwatch console: SRE overview, compliance, load tests and the audit of audit reads, over the query API
// (/api/…) of the process that owns the store. Panels come from /api/panels (the @fhirwatch/dashboards
// definitions that also generate the Grafana dashboards).
import { el, formatNumber, panelCard, renderPanel, renderPanelError, table } from './charts.js';
import { EVENT_TYPES } from './event-types.js';

const RECORD_COLUMNS = [
  'event_time',
  'tenant_id',
  'user_id',
  'user_name',
  'event_type',
  'resource_type',
  'patient_id',
  'http_status',
  'source_ip',
].map((key) => ({ key, header: key }));
/** The search lists one row per request (what was done); "Expand" shows the per-patient rows it disclosed. */
const REQUEST_COLUMNS = [
  'event_time',
  'tenant_id',
  'tenant_name',
  'user_id',
  'user_name',
  'action',
  'patients',
  'categories',
  'http_status',
  'records',
].map((key) => ({ key, header: key === 'records' ? 'rows' : key }));
const RANGE_MS = {
  '15m': 9e5,
  '1h': 3.6e6,
  '6h': 2.16e7,
  '24h': 8.64e7,
  '7d': 6.048e8,
  '30d': 2.592e9,
  '90d': 7.776e9,
};

const $ = (id) => document.getElementById(id);
const state = {
  tab: 'sre',
  panels: [],
  loaded: new Set(),
  search: { offset: 0, limit: 50, query: null },
  tenantNames: {},
};

/** A tenant id with its display name next to it (stored tenant settings), for selectors, tables and legends. */
function tenantLabel(id) {
  const name = state.tenantNames[id];
  return name ? `${name} (${id.slice(0, 8)})` : id;
}

/** Panel rows with every tenant id cell shown with its name. */
function withTenantNames(data) {
  const relabel = (v) => (typeof v === 'string' && state.tenantNames[v] ? tenantLabel(v) : v);
  return {
    ...data,
    rows: data.rows.map((row) =>
      Array.isArray(row) ? row.map(relabel) : Object.fromEntries(Object.entries(row).map(([k, v]) => [k, relabel(v)])),
    ),
  };
}

function setStatus(text) {
  $('status').textContent = text;
}

class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

/** fetch /api/… with the console's headers; JSON by default; 401 opens the token form. */
async function api(path, { method = 'GET', body, raw = false } = {}) {
  const headers = { 'x-fhirwatch-surface': 'console' };
  const actor = $('actor').value.trim();
  // percent-encoded: fetch refuses a header value beyond Latin-1, and officers' names are often not
  if (actor) headers['x-fhirwatch-actor'] = encodeURIComponent(actor);
  const token = sessionStorage.getItem('fhirwatch.token');
  if (token) headers.authorization = `Bearer ${token}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  const response = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  if (response.status === 401) {
    $('auth').hidden = false;
    throw new ApiError(401, 'FW_SINK_UNAUTHORIZED', 'a bearer token is required');
  }
  if (!response.ok) {
    let code = `HTTP_${response.status}`;
    let message = `request failed (${response.status})`;
    try {
      const error = (await response.json()).error;
      if (error) ({ code, message } = error);
    } catch {}
    throw new ApiError(response.status, code, message);
  }
  return raw ? response : response.json();
}

function timeRange() {
  const to = new Date();
  return { from: new Date(to.getTime() - RANGE_MS[$('range').value]), to };
}

function panelQuery(range = timeRange()) {
  const q = new URLSearchParams({ from: range.from.toISOString(), to: range.to.toISOString() });
  if ($('tenant').value !== 'all') q.set('tenant', $('tenant').value);
  if ($('interaction').value !== 'all') q.set('interaction', $('interaction').value);
  return q;
}

async function loadPanels(container, board) {
  const defs = state.panels.filter((p) => p.board === board);
  container.replaceChildren();
  if (defs.length === 0) {
    container.append(el('div', { class: 'card wide empty' }, 'No panel definitions for this board.'));
    return;
  }
  const q = panelQuery();
  const cards = defs.map((def) => ({ def, ...panelCard(def) }));
  for (const { card } of cards) container.append(card);
  // a few at a time: the store shares two cores with ingest
  const queue = [...cards];
  const worker = async () => {
    for (let item = queue.shift(); item; item = queue.shift()) {
      try {
        const data = await api(`/api/panels/${encodeURIComponent(item.def.id)}?${q}`);
        renderPanel(item.card, item.body, item.def, withTenantNames(data));
      } catch (error) {
        renderPanelError(item.card, item.body, `${error.code ?? ''} ${error.message}`);
      }
    }
  };
  await Promise.all([worker(), worker(), worker()]);
  if (board === 'loadtests' && cards.every(({ card }) => card.dataset.state !== 'data')) {
    container.prepend(
      el(
        'div',
        { class: 'card wide empty', id: 'loadtests-empty' },
        'No load-test runs in this store yet. `fhirwatch loadtest` records each run (scenario, SLO verdicts, throughput, latency) in table loadtest_runs; the panels below fill in once it has.',
      ),
    );
  }
}

// ---- compliance ---------------------------------------------------------------------------------------------

function localInput(date) {
  const d = new Date(date.getTime() - date.getTimezoneOffset() * 60000);
  return d.toISOString().slice(0, 16);
}

function searchParams() {
  const form = $('search-form');
  const q = new URLSearchParams();
  for (const name of ['patient', 'patient-mrn', 'user']) {
    const value = form.elements[name].value.trim();
    if (value) q.set(name, value);
  }
  const from = form.elements.from.value;
  const to = form.elements.to.value;
  const range = timeRange();
  q.set('from', from ? new Date(from).toISOString() : range.from.toISOString());
  q.set('to', to ? new Date(to).toISOString() : range.to.toISOString());
  for (const box of form.querySelectorAll('#event-types input:checked')) q.append('event-type', box.value);
  if ($('tenant').value !== 'all') q.set('tenant', $('tenant').value);
  return q;
}

async function runSearch(offset = 0) {
  const q = state.search.query ?? searchParams();
  state.search.query = q;
  state.search.offset = offset;
  const page = new URLSearchParams(q);
  page.set('view', 'requests');
  page.set('limit', String(state.search.limit));
  page.set('offset', String(offset));
  const out = $('search-result');
  out.replaceChildren(el('p', { class: 'hint' }, 'Searching…'));
  try {
    const result = await api(`/api/audit/search?${page}`);
    const last = Math.min(result.total, offset + result.rows.length);
    out.replaceChildren(
      el(
        'div',
        { class: 'pager' },
        el(
          'span',
          { id: 'search-total', 'data-total': result.total },
          `${formatNumber(result.total)} requests; ${result.total === 0 ? 0 : offset + 1}–${last}`,
        ),
        el(
          'button',
          {
            type: 'button',
            disabled: offset === 0,
            onclick: () => runSearch(Math.max(0, offset - state.search.limit)),
          },
          '‹ Newer',
        ),
        el(
          'button',
          { type: 'button', disabled: last >= result.total, onclick: () => runSearch(offset + state.search.limit) },
          'Older ›',
        ),
      ),
      table(
        REQUEST_COLUMNS,
        result.rows.map((row) => ({
          ...row,
          patients: row.patients.join(', '),
          categories: row.categories.join(', '),
        })),
        {
          rowClass: (row) => (row.outcome !== 0 ? 'failed' : undefined),
          action: (row) =>
            el(
              'button',
              {
                type: 'button',
                class: 'related-btn',
                'data-event-id': row.first_event_id,
                'data-records': row.records,
                onclick: () => showRelated(row.first_event_id),
              },
              `Expand (${row.records})`,
            ),
        },
      ),
    );
    out.querySelector('table')?.setAttribute('id', 'search-table');
  } catch (error) {
    out.replaceChildren(el('div', { class: 'empty bad' }, `${error.code ?? ''}: ${error.message}`));
  }
}

async function showRelated(eventId) {
  const box = $('related');
  box.hidden = false;
  box.replaceChildren(el('p', { class: 'hint' }, 'Loading related records…'));
  try {
    const r = await api(`/api/audit/related?event-id=${encodeURIComponent(eventId)}`);
    box.replaceChildren(
      el('h3', {}, `Related to ${r.event.event_type} by ${r.event.user_id || '(no user)'} at ${r.event.event_time}`),
      el('h3', {}, `The request's per-patient rows (trace ${r.event.trace_id || 'none'}): ${r.request.length}`),
      el('div', { id: 'related-request' }, table(RECORD_COLUMNS, r.request)),
      el(
        'h3',
        {},
        `Same user session (same user, client and address within ±${r.sessionMinutes} min): ${r.session.length}`,
      ),
      el('div', { id: 'related-session' }, table(RECORD_COLUMNS, r.session)),
      el(
        'button',
        {
          type: 'button',
          onclick: () => {
            box.hidden = true;
          },
        },
        'Close',
      ),
    );
    box.scrollIntoView({ block: 'nearest' });
  } catch (error) {
    box.replaceChildren(el('div', { class: 'empty bad' }, `${error.code ?? ''}: ${error.message}`));
  }
}

async function download(format) {
  const q = searchParams();
  q.set('format', format);
  try {
    const response = await api(`/api/audit/search?${q}`, { raw: true });
    const disposition = response.headers.get('content-disposition') ?? '';
    const name = /filename="([^"]+)"/.exec(disposition)?.[1] ?? `fhirwatch-audit.${format}`;
    const url = URL.createObjectURL(await response.blob());
    const a = el('a', { href: url, download: name });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10_000);
  } catch (error) {
    setStatus(`Download failed: ${error.message}`);
  }
}

async function loadReports() {
  const box = $('reports');
  box.replaceChildren(el('p', { class: 'hint' }, 'Running the monitoring reports…'));
  const { reports } = await api('/api/reports');
  const monitoring = reports.filter((r) => r.kind === 'monitoring');
  const range = timeRange();
  const q = new URLSearchParams({ from: range.from.toISOString(), to: range.to.toISOString() });
  if ($('tenant').value !== 'all') q.set('tenant', $('tenant').value);
  const rows = monitoring.map((report) => {
    const hits = el('span', { class: 'hits' }, '…');
    const detail = el('div', { hidden: true });
    const row = el(
      'div',
      { class: 'report-row', 'data-report': report.name },
      el('strong', {}, report.name),
      el('span', {}, report.title),
      hits,
      el(
        'button',
        {
          type: 'button',
          onclick: () => {
            detail.hidden = !detail.hidden;
          },
        },
        'Show',
      ),
    );
    return { report, hits, detail, row };
  });
  box.replaceChildren(...rows.flatMap((r) => [r.row, r.detail]));
  for (const item of rows) {
    try {
      const result = await api(`${item.report.path}?${q}`);
      // whom the report flags (the registry's rule for the report, tallied by the sink): users, not raw rows
      const flagged = result.flagged ?? [];
      item.hits.textContent =
        flagged.length === 0
          ? `${result.count} row${result.count === 1 ? '' : 's'}, no one flagged`
          : `${flagged.length} flagged: ${flagged.map((f) => `${f.principal} (${f.rows})`).join(', ')}`;
      item.hits.classList.toggle('some', flagged.length > 0);
      item.row.dataset.hits = String(flagged.length);
      item.row.dataset.flagged = flagged.map((f) => f.principal).join(' ');
      const columns =
        result.rows.length > 0
          ? Object.keys(result.rows[0])
              .slice(0, 12)
              .map((key) => ({ key, header: key }))
          : [];
      item.detail.replaceChildren(
        result.rows.length > 0
          ? table(columns, result.rows, { limit: 200 })
          : el('p', { class: 'hint' }, 'No hits in this range.'),
      );
    } catch (error) {
      item.hits.textContent = error.code ?? 'error';
    }
  }
}

async function loadChain() {
  const box = $('chain');
  try {
    const report = await api('/api/audit/verify');
    box.replaceChildren(
      el(
        'p',
        { class: report.parameters.ok ? 'ok' : 'bad', id: 'chain-status' },
        report.parameters.ok ? 'HMAC chain intact' : 'HMAC chain BROKEN',
      ),
      table(
        ['recorded_by', 'status', 'records', 'first_seq', 'last_seq', 'reason'].map((key) => ({ key, header: key })),
        report.rows,
      ),
    );
  } catch (error) {
    box.replaceChildren(
      el(
        'p',
        { class: 'hint', id: 'chain-status' },
        error.code === 'FW_SINK_NOT_CONFIGURED'
          ? 'Not checked: the server has no HMAC key (start it with --hmac-key-file <the middleware spool’s hmac.key>).'
          : `${error.code}: ${error.message}`,
      ),
    );
  }
}

async function loadVip() {
  const box = $('vip');
  const { rows } = await api('/api/audit/vip');
  box.replaceChildren(
    rows.length === 0
      ? el('p', { class: 'hint' }, 'The VIP watch list is empty.')
      : table(
          ['tenant_id', 'patient_id', 'reason', 'changed_by', 'since'].map((key) => ({ key, header: key })),
          rows,
          {
            action: (row) =>
              el(
                'button',
                {
                  type: 'button',
                  onclick: async () => {
                    await api(
                      `/api/audit/vip?${new URLSearchParams({ patient: row.patient_id, tenant: row.tenant_id })}`,
                      { method: 'DELETE' },
                    );
                    await loadVip();
                  },
                },
                'Remove',
              ),
          },
        ),
  );
}

async function loadQueryLog() {
  const { rows } = await api('/api/audit/query-log?limit=200');
  $('querylog').replaceChildren(
    table(
      ['at', 'actor', 'principal', 'surface', 'endpoint', 'parameters', 'rows', 'status', 'duration_ms'].map((key) => ({
        key,
        header: key,
        type: key === 'duration_ms' ? 'number' : undefined,
      })),
      rows,
      {},
    ),
  );
  $('querylog').querySelector('table')?.setAttribute('id', 'querylog-table');
}

// ---- incidents ----------------------------------------------------------------------------------------------

const INCIDENT_COLUMNS = [
  'detected_at',
  'state',
  'report',
  'tenant',
  'principal',
  'rows',
  'patients',
  'period_from',
].map((key) => ({ key, header: key }));

async function loadIncidents() {
  const q = new URLSearchParams({ limit: '500' });
  const wanted = $('incident-filter').elements.state.value;
  if (wanted) q.set('state', wanted);
  if ($('tenant').value !== 'all') q.set('tenant', $('tenant').value);
  const { rows } = await api(`/api/audit/incidents?${q}`);
  $('incident-list').replaceChildren(
    rows.length === 0
      ? el('p', { class: 'hint', id: 'incident-empty' }, 'No incidents in this state.')
      : table(
          INCIDENT_COLUMNS,
          rows.map((row) => ({
            ...row,
            tenant: row.tenant_name ? `${row.tenant_name} (${row.tenant_id.slice(0, 8)})` : row.tenant_id,
          })),
          {
            rowClass: (row) => `incident-row state-${row.state}`,
            action: (row) =>
              el(
                'button',
                { type: 'button', class: 'incident-open', onclick: () => openIncident(row.incident_id) },
                'Open',
              ),
          },
        ),
  );
  $('incident-list').querySelector('table')?.setAttribute('id', 'incident-table');
  const linked = /^#incident=([0-9a-f]{32})$/.exec(location.hash)?.[1];
  if (linked) await showIncident(linked);
}

/** Open an incident through its link (#incident=<id>), so the address bar holds what a payload would link to. */
function openIncident(id) {
  if (location.hash === `#incident=${id}`) showIncident(id).catch((e) => setStatus(`${e.code ?? ''}: ${e.message}`));
  else location.hash = `incident=${id}`;
}

async function showIncident(id) {
  const box = $('incident-detail');
  const { incident, events, deliveries } = await api(`/api/audit/incidents?${new URLSearchParams({ id })}`);
  const note = el('input', { id: 'incident-note', size: 50, maxlength: 4000, placeholder: 'note (required to close)' });
  const change = (action) => async () => {
    try {
      await api('/api/audit/incidents', { method: 'POST', body: { id, action, note: note.value.trim() } });
      setStatus('');
      await loadIncidents();
      await showIncident(id);
    } catch (error) {
      setStatus(`${error.code ?? ''}: ${error.message}`);
    }
  };
  const tenant = incident.tenant_name ? `${incident.tenant_name} (${incident.tenant_id})` : incident.tenant_id;
  box.hidden = false;
  box.dataset.incident = id;
  box.dataset.state = incident.state;
  box.replaceChildren(
    el(
      'h2',
      {},
      `Incident ${id.slice(0, 12)}… `,
      el('span', { class: `badge state-${incident.state}`, id: 'incident-state' }, incident.state),
    ),
    el(
      'dl',
      { class: 'facts' },
      ...[
        ['Report', incident.report],
        ['User', incident.principal],
        ['Tenant', tenant],
        ['Rows', incident.rows],
        ['Patients', incident.patients],
        ['Period', `${incident.period_from} – ${incident.period_to}`],
        ['Detected', incident.detected_at],
      ].flatMap(([k, v]) => [el('dt', {}, k), el('dd', {}, String(v))]),
    ),
    incident.state === 'closed'
      ? el('p', { class: 'hint' }, 'Closed.')
      : el(
          'div',
          { class: 'incident-actions' },
          note,
          incident.state === 'open'
            ? el('button', { type: 'button', id: 'incident-ack', onclick: change('ack') }, 'Acknowledge')
            : null,
          el('button', { type: 'button', id: 'incident-close', onclick: change('close') }, 'Close'),
        ),
    el('h3', {}, 'State changes'),
    table(
      ['at', 'actor', 'from_state', 'to_state', 'note'].map((key) => ({ key, header: key })),
      events,
      {},
    ),
    el('h3', {}, 'Deliveries'),
    table(
      ['destination', 'status', 'attempts', 'last_error', 'updated_at'].map((key) => ({ key, header: key })),
      deliveries,
      {},
    ),
  );
  box.querySelectorAll('table')[0]?.setAttribute('id', 'incident-events');
}

// ---- tabs and controls --------------------------------------------------------------------------------------

async function show(tab, force = false) {
  state.tab = tab;
  for (const button of document.querySelectorAll('#tabs button'))
    button.setAttribute('aria-current', button.dataset.tab === tab ? 'page' : 'false');
  for (const section of document.querySelectorAll('main > section')) section.hidden = section.id !== tab;
  for (const node of document.querySelectorAll('.sre-only')) node.hidden = tab !== 'sre';
  if (state.loaded.has(tab) && !force) return;
  state.loaded.add(tab);
  setStatus('');
  try {
    if (tab === 'sre') await loadPanels($('sre'), 'sre');
    else if (tab === 'loadtests') await loadPanels($('loadtests'), 'loadtests');
    else if (tab === 'auditlog') await loadQueryLog();
    else if (tab === 'incidents') await loadIncidents();
    else if (tab === 'compliance')
      await Promise.all([
        loadPanels(document.querySelector('.board-panels[data-board="compliance"]'), 'compliance'),
        loadReports(),
        loadChain(),
        loadVip(),
      ]);
  } catch (error) {
    setStatus(`${error.code ?? ''}: ${error.message}`);
  }
  document.body.dataset.loaded = [...state.loaded].join(' ');
}

async function init() {
  $('actor').value = localStorage.getItem('fhirwatch.actor') ?? '';
  $('actor').addEventListener('change', () => localStorage.setItem('fhirwatch.actor', $('actor').value.trim()));
  const types = $('event-types');
  for (const type of EVENT_TYPES) types.append(el('label', {}, el('input', { type: 'checkbox', value: type }), type));
  const range = timeRange();
  $('search-form').elements.from.value = localInput(range.from);
  $('search-form').elements.to.value = localInput(range.to);
  $('search-form').addEventListener('submit', (event) => {
    event.preventDefault();
    state.search.query = null;
    runSearch(0);
  });
  $('download-csv').addEventListener('click', () => download('csv'));
  $('download-fhir').addEventListener('click', () => download('fhir'));
  $('vip-form').addEventListener('submit', async (event) => {
    event.preventDefault();
    const form = event.target;
    await api('/api/audit/vip', {
      method: 'POST',
      body: {
        patient: form.elements.patient.value.trim(),
        tenant: form.elements.tenant.value.trim(),
        reason: form.elements.reason.value.trim(),
      },
    });
    form.reset();
    await loadVip();
  });
  // a console link from an incident payload, followed while the console is open
  window.addEventListener('hashchange', () => {
    if (location.hash.startsWith('#incident=')) show('incidents', true);
  });
  $('incident-filter').addEventListener('change', () =>
    loadIncidents().catch((e) => setStatus(`${e.code ?? ''}: ${e.message}`)),
  );
  $('auth-form').addEventListener('submit', (event) => {
    event.preventDefault();
    sessionStorage.setItem('fhirwatch.token', $('token').value);
    $('auth').hidden = true;
    start();
  });
  for (const button of document.querySelectorAll('#tabs button'))
    button.addEventListener('click', () => show(button.dataset.tab));
  const reload = () => {
    state.loaded.clear();
    show(state.tab, true);
  };
  for (const id of ['range', 'tenant', 'interaction']) $(id).addEventListener('change', reload);
  $('refresh').addEventListener('click', reload);
  let resizeTimer;
  window.addEventListener('resize', () => {
    clearTimeout(resizeTimer);
    resizeTimer = setTimeout(reload, 400);
  });
  await start();
}

async function start() {
  try {
    const [{ panels }, variables] = await Promise.all([api('/api/panels'), api('/api/variables')]);
    state.panels = panels;
    state.tenantNames = variables.tenantNames ?? {};
    for (const [id, values] of [
      ['tenant', variables.tenant ?? []],
      ['interaction', variables.interaction ?? []],
    ]) {
      const select = $(id);
      select.replaceChildren(
        el('option', { value: 'all' }, 'all'),
        ...values.map((v) => el('option', { value: v }, id === 'tenant' ? tenantLabel(v) : v)),
      );
    }
    // a console link from an incident payload: #incident=<id>
    const tab = location.hash.startsWith('#incident=') ? 'incidents' : location.hash.replace('#', '');
    await show(['sre', 'compliance', 'incidents', 'loadtests', 'auditlog'].includes(tab) ? tab : 'sre', true);
  } catch (error) {
    setStatus(`${error.code ?? ''}: ${error.message}`);
  }
}

init();
