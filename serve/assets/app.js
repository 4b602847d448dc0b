// The illunare dashboard: the catalog with status and throughput, any materialized view as a
// live table fed by its change stream (and a uPlot chart when it has a time column), and an SQL
// box. Plain JavaScript, no build step; it talks only to the public API under /api/v1.
'use strict';

(() => {
  const $ = (id) => document.getElementById(id);

  const CATALOG_EVERY_MS = 2000;
  const TABLE_EVERY_MS = 250;
  const CHART_EVERY_MS = 500;
  const MAX_TABLE_ROWS = 500;
  const MAX_RESULT_ROWS = 1000;
  const COLORS = ['#2563eb', '#db2777', '#059669', '#d97706', '#7c3aed', '#0891b2', '#dc2626', '#4b5563'];

  // ---------------------------------------------------------------- token and API calls

  const TOKEN_KEY = 'illunare.token';
  const token = (() => {
    const params = new URLSearchParams(location.search);
    const given = params.get('token');
    if (given) {
      sessionStorage.setItem(TOKEN_KEY, given);
      // Keep it out of the address bar (and of screenshots and history); the session remembers it.
      params.delete('token');
      const rest = params.toString();
      history.replaceState(null, '', location.pathname + (rest ? '?' + rest : '') + location.hash);
    }
    return sessionStorage.getItem(TOKEN_KEY);
  })();

  class ApiError extends Error {
    constructor(status, error) {
      super(error.message || `HTTP ${status}`);
      this.status = status;
      this.code = error.code || 'http_error';
      this.line = error.line;
      this.column = error.column;
      this.hint = error.hint;
    }
  }

  async function api(path, options = {}) {
    const headers = Object.assign({}, options.headers || {});
    if (token) headers.Authorization = 'Bearer ' + token;
    let response;
    try {
      response = await fetch(path, Object.assign({}, options, { headers }));
    } catch (e) {
      throw new ApiError(0, { code: 'unreachable', message: `cannot reach the server (${e.message})` });
    }
    const text = await response.text();
    let body = null;
    try {
      body = text ? JSON.parse(text) : null;
    } catch (_) {
      body = null;
    }
    if (!response.ok) {
      const error = body && body.error ? body.error : { code: 'http_' + response.status, message: text || response.statusText };
      throw new ApiError(response.status, error);
    }
    return body;
  }

  const postSql = (path, sql) =>
    api(path, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ sql }) });

  function streamUrl(path) {
    return token ? `${path}${path.includes('?') ? '&' : '?'}token=${encodeURIComponent(token)}` : path;
  }

  // ---------------------------------------------------------------- small helpers

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k === 'class') node.className = v;
      else if (k === 'text') node.textContent = v;
      else if (k === 'dataset') Object.assign(node.dataset, v);
      else node.setAttribute(k, v === true ? '' : v);
    }
    for (const c of children) {
      if (c === undefined || c === null || c === false) continue;
      node.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return node;
  }

  const isNumericType = (t) => /^(U?Int|Float|Decimal)/.test(t || '');
  const isTimeType = (t) => /^(Timestamp|Date)/.test(t || '');
  const isIntegerType = (t) => /^U?Int/.test(t || '');

  const intFmt = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 });
  const floatFmt = new Intl.NumberFormat('en-US', { maximumFractionDigits: 3 });
  const moneyFmt = new Intl.NumberFormat('en-US', { minimumFractionDigits: 2, maximumFractionDigits: 2 });
  const smallFmt = new Intl.NumberFormat('en-US', { maximumSignificantDigits: 6 });
  const formatFloat = (v) => (Math.abs(v) >= 1 ? moneyFmt.format(v) : smallFmt.format(v));
  const rateFmt = new Intl.NumberFormat('en-US', { maximumFractionDigits: 1 });

  const plural = (n, word) => `${intFmt.format(n)} ${word}${n === 1 ? '' : 's'}`;

  function formatCount(n) {
    return typeof n === 'number' ? intFmt.format(n) : '–';
  }

  function formatValue(v, type) {
    if (v === null || v === undefined) return null;
    if (typeof v === 'number') return isIntegerType(type) || (Number.isInteger(v) && !/^Float/.test(type || '')) ? intFmt.format(v) : formatFloat(v);
    if (typeof v === 'boolean') return v ? 'true' : 'false';
    if (typeof v === 'object') return JSON.stringify(v);
    if (isTimeType(type)) return String(v).replace('T', ' ').replace(/Z$/, '');
    return String(v);
  }

  function formatTime(ms) {
    if (ms === null || ms === undefined) return null;
    const d = new Date(ms);
    if (Number.isNaN(d.getTime())) return String(ms);
    return d.toISOString().replace('T', ' ').replace(/\.000Z$/, 'Z').replace(/Z$/, ' UTC');
  }

  function cell(value, type) {
    const text = formatValue(value, type);
    if (text === null) return el('td', { class: 'null' }, 'NULL');
    return el('td', { class: isNumericType(type) && typeof value !== 'string' ? 'num' : undefined }, text);
  }

  // ---------------------------------------------------------------- errors shown on the page

  const errors = new Map();

  function showError(key, message) {
    const existing = errors.get(key);
    if (existing) {
      existing.querySelector('.msg').textContent = message;
      return;
    }
    const close = el('button', { class: 'close', type: 'button', 'aria-label': 'Dismiss' }, '×');
    const node = el('div', { class: 'error', dataset: { error: key } }, el('span', { class: 'msg' }, message), close);
    close.addEventListener('click', () => clearError(key));
    errors.set(key, node);
    $('errors').append(node);
  }

  function clearError(key) {
    const node = errors.get(key);
    if (node) {
      node.remove();
      errors.delete(key);
    }
  }

  function describe(e) {
    if (e instanceof ApiError) return `${e.code}: ${e.message}`;
    return e && e.message ? e.message : String(e);
  }

  window.addEventListener('error', (e) => showError('script', `dashboard script error: ${e.message}`));
  window.addEventListener('unhandledrejection', (e) => showError('script', `dashboard script error: ${describe(e.reason)}`));

  // ---------------------------------------------------------------- catalog

  let catalog = { sources: [], tables: [], views: [], sinks: [] };
  const lastSourceRows = new Map(); // name -> {rows, at}
  const sourceRates = new Map(); // name -> rows/s

  function setConnection(state, text) {
    $('conn').dataset.state = state;
    $('conn-text').textContent = text;
  }

  function badge(state) {
    return el('span', { class: `badge state-${state || 'unknown'}` }, state || 'unknown');
  }

  function updateRates(sources) {
    const now = performance.now();
    for (const s of sources) {
      const rows = s.status && typeof s.status.rows === 'number' ? s.status.rows : null;
      if (rows === null) {
        sourceRates.delete(s.name);
        lastSourceRows.delete(s.name);
        continue;
      }
      const last = lastSourceRows.get(s.name);
      if (last && now > last.at) {
        const rate = Math.max(0, ((rows - last.rows) * 1000) / (now - last.at));
        const previous = sourceRates.get(s.name);
        // Light smoothing so the figure does not jitter with the poll's timing.
        sourceRates.set(s.name, previous === undefined ? rate : previous * 0.3 + rate * 0.7);
      }
      lastSourceRows.set(s.name, { rows, at: now });
    }
  }

  function renderCatalog() {
    const { sources = [], tables = [], views = [], sinks = [] } = catalog;
    const current = view && view.name;
    // The lists are rebuilt on every poll: keep keyboard focus on the same item.
    const active = document.activeElement;
    const focused = active && active.closest && active.closest('#catalog li') ? Object.assign({}, active.dataset) : null;

    $('sources').replaceChildren(
      ...sources.map((s) => {
        const st = s.status || {};
        const rate = sourceRates.get(s.name);
        const item = el(
          'li',
          { class: 'item', dataset: { source: s.name, state: st.state || 'unknown' } },
          el('div', { class: 'line' }, el('span', { class: 'name' }, s.name), badge(st.state)),
          el(
            'div',
            { class: 'sub' },
            el('span', { class: 'connector' }, s.connector || 'source'),
            el('span', { class: 'rate', dataset: { rate: rate === undefined ? '' : String(rate) } }, rate === undefined ? '– rows/s' : `${rateFmt.format(rate)} rows/s`),
            el('span', { class: 'rows' }, `${formatCount(st.rows)} rows`),
          ),
          st.errors || st.retries || st.late
            ? el('div', { class: 'sub warn' }, [st.errors ? `${formatCount(st.errors)} errors` : '', st.retries ? `${formatCount(st.retries)} retries` : '', st.late ? `${formatCount(st.late)} late` : ''].filter(Boolean).join(' · '))
            : null,
          st.error ? el('div', { class: 'sub fail' }, st.error) : null,
        );
        item.title = (s.columns || []).map((c) => `${c.name} ${c.type}`).join('\n');
        return item;
      }),
    );
    for (const s of sources) {
      if (s.status && s.status.state === 'failed') showError('source:' + s.name, `source ${s.name} failed: ${s.status.error || 'unknown error'}`);
      else clearError('source:' + s.name);
    }

    $('views').replaceChildren(
      ...views.map((v) => {
        const st = v.status || {};
        const live = v.materialized && (st.state === 'running' || st.state === 'complete');
        const parts = [v.materialized ? 'materialized' : 'view'];
        if (typeof st.rows === 'number') parts.push(`${formatCount(st.rows)} rows`);
        if (st.subscribers) parts.push(`${st.subscribers} watching`);
        return el(
          'li',
          {
            class: 'item clickable' + (v.name === current ? ' selected' : ''),
            role: 'button',
            tabindex: '0',
            title: live ? 'Watch this view change live' : 'Query this view in the SQL box',
            dataset: { view: v.name, state: st.state || 'unknown', open: live ? 'stream' : 'query' },
          },
          el('div', { class: 'line' }, el('span', { class: 'name' }, v.name), badge(st.state)),
          el('div', { class: 'sub' }, el('span', {}, parts.join(' · ')), st.frontier !== undefined && st.frontier !== null ? el('span', { class: 'frontier' }, formatTime(st.frontier)) : null),
        );
      }),
    );

    $('tables').replaceChildren(
      ...tables.map((t) =>
        el(
          'li',
          { class: 'item clickable', role: 'button', tabindex: '0', title: 'Query this table in the SQL box', dataset: { table: t.name, open: 'query' } },
          el('div', { class: 'line' }, el('span', { class: 'name' }, t.name)),
          el('div', { class: 'sub' }, `${formatCount(t.rows)} rows · ${(t.columns || []).length} columns`),
        ),
      ),
    );

    $('sinks').replaceChildren(
      ...sinks.map((k) =>
        el(
          'li',
          { class: 'item', dataset: { sink: k.name, state: (k.status && k.status.state) || 'unknown' } },
          el('div', { class: 'line' }, el('span', { class: 'name' }, k.name), badge(k.status && k.status.state)),
          el('div', { class: 'sub' }, `${k.from} → ${k.connector || 'sink'}`),
        ),
      ),
    );

    for (const [id, list] of [['sources', sources], ['views', views], ['tables', tables], ['sinks', sinks]]) {
      $('count-' + id).textContent = String(list.length);
      if (!list.length) $(id).replaceChildren(el('li', { class: 'empty' }, 'none'));
    }

    if (focused) {
      const key = ['view', 'table'].find((k) => focused[k] !== undefined);
      const again = key && document.querySelector(`#catalog li[data-${key}="${CSS.escape(focused[key])}"]`);
      if (again) again.focus();
    }

    const total = [...sourceRates.values()].reduce((a, b) => a + b, 0);
    const failed = sources.filter((s) => s.status && s.status.state === 'failed').length;
    $('summary').replaceChildren(
      ...[
        el('span', {}, [plural(sources.length, 'source'), plural(views.length, 'view'), plural(tables.length, 'table'), plural(sinks.length, 'sink')].join(' · ')),
        el('span', { class: 'ingest' }, `${rateFmt.format(total)} rows/s in`),
        failed ? el('span', { class: 'bad' }, `${plural(failed, 'source')} failed`) : null,
      ].filter(Boolean),
    );

    if (view) {
      const entry = views.find((v) => v.name === view.name);
      if (!entry) {
        view.note = `view ${view.name} no longer exists`;
        closeStream('dropped');
        renderViewHead();
      } else {
        view.subscribers = entry.status && entry.status.subscribers;
      }
    }
  }

  async function pollCatalog() {
    try {
      const body = await api('/api/v1/catalog');
      catalog = body || catalog;
      updateRates(catalog.sources || []);
      renderCatalog();
      clearError('catalog');
      setConnection('live', 'live');
    } catch (e) {
      const hint = e.status === 401 ? ' — open the dashboard as /?token=YOUR_TOKEN' : '';
      showError('catalog', `catalog: ${describe(e)}${hint}`);
      setConnection('offline', e.status === 401 || e.status === 403 ? 'not authorized' : 'offline');
    } finally {
      setTimeout(pollCatalog, CATALOG_EVERY_MS);
    }
  }

  $('catalog').addEventListener('click', (e) => activate(e.target.closest('li.clickable')));
  $('catalog').addEventListener('keydown', (e) => {
    if (e.key === 'Enter' || e.key === ' ') {
      const item = e.target.closest('li.clickable');
      if (item) {
        e.preventDefault();
        activate(item);
      }
    }
  });

  function activate(item) {
    if (!item) return;
    const name = item.dataset.view || item.dataset.table;
    if (item.dataset.open === 'stream') openView(name);
    else {
      $('sql').value = `SELECT * FROM ${quoteIdent(name)} LIMIT 100`;
      runQuery();
    }
  }

  function quoteIdent(name) {
    return /^[a-z_][a-z0-9_]*$/.test(name) ? name : '"' + name.replace(/"/g, '""') + '"';
  }

  // ---------------------------------------------------------------- a view, live

  // The open view: its columns, its rows as key -> {row, count}, and its change stream.
  let view = null;

  function rowKey(row, columns) {
    return JSON.stringify(columns.map((c) => (row[c.name] === undefined ? null : row[c.name])));
  }

  function applyDiff(row, diff) {
    const key = rowKey(row, view.columns);
    const entry = view.rows.get(key);
    if (entry) {
      entry.count += diff;
      entry.row = row;
      if (entry.count === 0) view.rows.delete(key);
    } else if (diff !== 0) {
      view.rows.set(key, { row, count: diff });
    }
    view.total += diff;
    if (diff > 0) view.recent.add(key);
  }

  function openView(name) {
    const entry = (catalog.views || []).find((v) => v.name === name);
    if (!entry) return;
    closeStream();
    const columns = entry.columns || [];
    const timeColumn = columns.find((c) => isTimeType(c.type));
    view = {
      name,
      columns,
      rows: new Map(),
      total: 0,
      frontier: entry.status ? entry.status.frontier : null,
      recent: new Set(),
      timeColumn,
      numeric: timeColumn ? columns.filter((c) => isNumericType(c.type)) : [],
      sort: null,
      es: null,
      stream: 'connecting',
      note: '',
      events: 0,
      subscribers: entry.status && entry.status.subscribers,
    };
    document.querySelectorAll('#views li.selected').forEach((li) => li.classList.remove('selected'));
    const li = document.querySelector(`#views li[data-view="${CSS.escape(name)}"]`);
    if (li) li.classList.add('selected');
    destroyChart();
    buildTableHead();
    renderViewHead();
    renderTable();
    startStream();
  }

  function startStream() {
    const v = view;
    const es = new EventSource(streamUrl(`/api/v1/views/${encodeURIComponent(v.name)}/changes`));
    v.es = es;
    const guard = (handler) => (event) => {
      if (view !== v) return;
      let data;
      try {
        data = JSON.parse(event.data);
      } catch (e) {
        showError('stream', `change stream of ${v.name}: unreadable event (${e.message})`);
        return;
      }
      v.events += 1;
      handler(data);
      if ('frontier' in data) v.frontier = data.frontier;
      if (data.frontier === null) {
        // The view is complete: the server ends the stream after this event.
        closeStream('complete');
      }
      clearError('stream');
      scheduleRender();
    };
    es.addEventListener('open', () => {
      if (view !== v) return;
      v.stream = 'live';
      clearError('stream');
      renderViewHead();
    });
    es.addEventListener('snapshot', guard((data) => {
      v.rows.clear();
      v.total = 0;
      v.recent.clear();
      for (const row of data.rows || []) applyDiff(row, 1);
      v.recent.clear();
      v.stream = 'live';
    }));
    es.addEventListener('change', guard((data) => {
      for (const c of data.changes || []) applyDiff(c.row, c.diff);
    }));
    es.addEventListener('progress', guard(() => {}));
    es.addEventListener('error', () => {
      if (view !== v || v.es !== es) return;
      if (es.readyState === EventSource.CLOSED) {
        v.stream = 'failed';
        renderViewHead();
        // EventSource hides the reason: ask the same URL with fetch to show the API's error.
        api(`/api/v1/views/${encodeURIComponent(v.name)}/changes`, { headers: { Accept: 'application/json' } })
          .then(() => showError('stream', `change stream of ${v.name} closed`))
          .catch((e) => showError('stream', `change stream of ${v.name}: ${describe(e)}`));
      } else {
        v.stream = 'reconnecting';
        renderViewHead();
      }
    });
  }

  function closeStream(state) {
    if (view && view.es) {
      view.es.close();
      view.es = null;
      if (state) view.stream = state;
    }
  }

  function renderViewHead() {
    if (!view) return;
    $('view-title').textContent = view.name;
    const what = view.timeColumn && view.numeric.length
      ? `Materialized view, live from its change stream · ${view.numeric.map((c) => c.name).join(', ')} charted over ${view.timeColumn.name}`
      : 'Materialized view, live from its change stream';
    $('view-meta').textContent = view.note || what;
    $('view-stats').hidden = false;
    $('view-rows').textContent = formatCount(view.total);
    $('view-frontier').textContent = view.frontier === null ? 'complete' : formatTime(view.frontier) || '–';
    $('view-stream').textContent = view.stream;
    $('view-stream').dataset.state = view.stream;
    $('view-panel').dataset.view = view.name;
  }

  let tableTimer = null;
  let chartTimer = null;
  let lastTable = 0;
  let lastChart = 0;

  function scheduleRender() {
    const now = performance.now();
    if (!tableTimer) {
      tableTimer = setTimeout(() => {
        tableTimer = null;
        lastTable = performance.now();
        renderViewHead();
        renderTable();
      }, Math.max(0, lastTable + TABLE_EVERY_MS - now));
    }
    if (view && view.timeColumn && view.numeric.length && !chartTimer) {
      chartTimer = setTimeout(() => {
        chartTimer = null;
        lastChart = performance.now();
        renderChart();
      }, Math.max(0, lastChart + CHART_EVERY_MS - now));
    }
  }

  function compareValues(a, b) {
    if (a === b) return 0;
    if (a === null || a === undefined) return -1;
    if (b === null || b === undefined) return 1;
    if (typeof a === 'number' && typeof b === 'number') return a - b;
    const x = typeof a === 'object' ? JSON.stringify(a) : String(a);
    const y = typeof b === 'object' ? JSON.stringify(b) : String(b);
    return x < y ? -1 : x > y ? 1 : 0;
  }

  function sortedEntries() {
    const entries = [...view.rows.entries()].filter(([, e]) => e.count > 0);
    const cols = view.columns;
    const sort = view.sort;
    entries.sort(([, x], [, y]) => {
      if (sort) {
        const c = compareValues(x.row[sort.column], y.row[sort.column]);
        if (c !== 0) return sort.desc ? -c : c;
      }
      for (const col of cols) {
        const c = compareValues(x.row[col.name], y.row[col.name]);
        if (c !== 0) return c;
      }
      return 0;
    });
    return entries;
  }

  function buildTableHead() {
    const thead = $('view-table').tHead;
    const tr = el('tr');
    for (const c of view.columns) {
      const arrow = view.sort && view.sort.column === c.name ? (view.sort.desc ? ' ▾' : ' ▴') : '';
      const th = el('th', { class: isNumericType(c.type) ? 'num sortable' : 'sortable', dataset: { column: c.name }, title: `${c.type} — click to sort` }, c.name + arrow, el('span', { class: 'type' }, shortType(c.type)));
      tr.append(th);
    }
    thead.replaceChildren(tr);
  }

  function shortType(type) {
    // Arrow's names: Timestamp(µs), Timestamp(ns, "UTC") (older: Timestamp(Microsecond, None)).
    return String(type || '')
      .replace(/^Timestamp\([^,)]+(, None)?\)$/, 'timestamp')
      .replace(/^Timestamp\(.*/, 'timestamptz')
      .toLowerCase();
  }

  $('view-table').tHead.addEventListener('click', (e) => {
    const th = e.target.closest('th[data-column]');
    if (!th || !view) return;
    const column = th.dataset.column;
    if (view.sort && view.sort.column === column) {
      view.sort = view.sort.desc ? null : { column, desc: true };
    } else {
      view.sort = { column, desc: false };
    }
    buildTableHead();
    renderTable();
  });

  function renderTable() {
    if (!view) return;
    $('view-table-wrap').hidden = false;
    const tbody = $('view-table').tBodies[0];
    const frag = document.createDocumentFragment();
    let shown = 0;
    outer: for (const [key, entry] of sortedEntries()) {
      for (let copy = 0; copy < entry.count; copy++) {
        if (shown >= MAX_TABLE_ROWS) break outer;
        const tr = el('tr', { class: view.recent.has(key) ? 'flash' : undefined });
        for (const c of view.columns) tr.append(cell(entry.row[c.name], c.type));
        frag.append(tr);
        shown++;
      }
    }
    view.recent.clear();
    if (!shown) {
      frag.append(el('tr', { class: 'placeholder' }, el('td', { colspan: String(Math.max(1, view.columns.length)) }, view.stream === 'connecting' ? 'waiting for the snapshot…' : 'no rows yet')));
    }
    tbody.replaceChildren(frag);
    const distinct = view.rows.size;
    $('view-note').textContent = view.total > shown && shown ? `Showing ${formatCount(shown)} of ${formatCount(view.total)} rows (${formatCount(distinct)} distinct).` : '';
  }

  // ---------------------------------------------------------------- chart (uPlot)

  let chart = null;
  let chartKey = '';

  function destroyChart() {
    if (chart) chart.destroy();
    chart = null;
    chartKey = '';
    $('chart').replaceChildren();
    $('chart').hidden = !(view && view.timeColumn && view.numeric.length);
  }

  function chartData() {
    const t = view.timeColumn.name;
    const points = [];
    for (const entry of view.rows.values()) {
      if (entry.count <= 0) continue;
      const raw = entry.row[t];
      if (raw === null || raw === undefined) continue;
      const ms = typeof raw === 'number' ? raw : Date.parse(raw);
      if (Number.isNaN(ms)) continue;
      points.push([ms / 1000, entry.row]);
    }
    points.sort((a, b) => a[0] - b[0]);
    const xs = points.map((p) => p[0]);
    const series = view.numeric.map((c) =>
      points.map((p) => {
        const v = p[1][c.name];
        if (v === null || v === undefined) return null;
        const n = typeof v === 'number' ? v : Number(v);
        return Number.isFinite(n) ? n : null;
      }),
    );
    return [xs, ...series];
  }

  function chartOptions(width) {
    const numeric = view.numeric;
    const axisFont = '11px system-ui, sans-serif';
    const axes = [
      {
        stroke: '#64748b',
        font: axisFont,
        values: timeTicks,
        size: 46,
        grid: { stroke: '#eef1f5', width: 1 },
        ticks: { stroke: '#e2e8f0', width: 1 },
      },
    ];
    numeric.forEach((c, i) => {
      if (i > 1) return;
      axes.push({
        scale: c.name,
        side: i === 0 ? 3 : 1,
        stroke: COLORS[i % COLORS.length],
        font: axisFont,
        size: 64,
        grid: { show: i === 0, stroke: '#eef1f5', width: 1 },
        ticks: { stroke: '#e2e8f0', width: 1 },
        values: (u, splits) => splits.map((v) => (v === null ? '' : compact(v))),
      });
    });
    const scales = { x: { time: true } };
    for (const c of numeric) scales[c.name] = { auto: true };
    return {
      width,
      height: 260,
      tzDate: (ts) => uPlot.tzDate(new Date(ts * 1000), 'Etc/UTC'),
      cursor: { drag: { x: true, y: false } },
      legend: { live: true },
      scales,
      axes,
      series: [
        {
          label: `${view.timeColumn.name} (UTC)`,
          value: (u, v) => (v === null || v === undefined ? '–' : new Date(v * 1000).toISOString().replace('T', ' ').replace(/(\.000)?Z$/, '')),
        },
        ...numeric.map((c, i) =>
          Object.assign(
            {
              label: c.name,
              scale: c.name,
              stroke: COLORS[i % COLORS.length],
              width: 1.5,
              points: { show: false },
              spanGaps: false,
              value: (u, v) => (v === null || v === undefined ? '–' : formatValue(v, c.type)),
            },
            // Shade under the first series only: overlapping fills muddy each other.
            i === 0 ? { fill: COLORS[0] + '14' } : {},
          ),
        ),
      ],
    };
  }

  // Time ticks in UTC, 24-hour, as precise as the ticks' spacing needs.
  function timeTicks(u, splits, axisIdx, foundSpace, foundIncr) {
    const pad = (n) => String(n).padStart(2, '0');
    return splits.map((s, i) => {
      const d = new Date(s * 1000);
      const day = `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())}`;
      const hm = `${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}`;
      if (foundIncr >= 86400) return day;
      const time = foundIncr >= 60 ? hm : `${hm}:${pad(d.getUTCSeconds())}`;
      const prev = i > 0 ? new Date(splits[i - 1] * 1000) : null;
      return !prev || prev.getUTCDate() !== d.getUTCDate() ? `${time}\n${day}` : time;
    });
  }

  function compact(v) {
    const a = Math.abs(v);
    if (a >= 1e9) return floatFmt.format(v / 1e9) + 'G';
    if (a >= 1e6) return floatFmt.format(v / 1e6) + 'M';
    if (a >= 1e4) return floatFmt.format(v / 1e3) + 'k';
    return floatFmt.format(v);
  }

  function chartWidth() {
    return Math.max(320, $('chart').clientWidth - 2);
  }

  function renderChart() {
    if (!view || !view.timeColumn || !view.numeric.length) return;
    const box = $('chart');
    box.hidden = false;
    if (typeof uPlot === 'undefined') {
      showError('chart', 'the charting library did not load (/assets/uPlot.iife.min.js)');
      return;
    }
    const data = chartData();
    const key = view.name;
    try {
      if (!chart || chartKey !== key) {
        if (chart) chart.destroy();
        box.replaceChildren();
        chart = new uPlot(chartOptions(chartWidth()), data, box);
        chartKey = key;
      } else {
        chart.setData(data);
      }
      clearError('chart');
    } catch (e) {
      showError('chart', `chart: ${describe(e)}`);
    }
  }

  let resizeTimer = null;
  window.addEventListener('resize', () => {
    clearTimeout(resizeTimer);
    resizeTimer = setTimeout(() => {
      if (chart) chart.setSize({ width: chartWidth(), height: 260 });
    }, 100);
  });

  // ---------------------------------------------------------------- SQL box

  function sqlBusy(busy, text) {
    $('run').disabled = busy;
    $('execute').disabled = busy;
    $('sql-status').textContent = text || '';
  }

  function showSqlError(e) {
    const box = $('sql-error');
    const where = e.line ? ` at line ${e.line}, column ${e.column}` : '';
    box.replaceChildren(
      ...[
        el('div', { class: 'code' }, e.code || 'error'),
        el('div', { class: 'message' }, e.message + where),
        e.hint ? el('div', { class: 'hint' }, 'Hint: ' + e.hint) : null,
      ].filter(Boolean),
    );
    box.hidden = false;
    if (e.line) selectPosition(e.line, e.column);
  }

  function selectPosition(line, column) {
    const text = $('sql').value;
    let offset = 0;
    for (let l = 1; l < line; l++) {
      const nl = text.indexOf('\n', offset);
      if (nl < 0) break;
      offset = nl + 1;
    }
    offset = Math.min(text.length, offset + Math.max(0, (column || 1) - 1));
    let end = offset;
    while (end < text.length && /[\w".]/.test(text[end])) end++;
    $('sql').setSelectionRange(offset, Math.max(end, offset + 1));
  }

  function resetSqlOutput() {
    $('sql-error').hidden = true;
    $('sql-error').replaceChildren();
    $('sql-result-wrap').hidden = true;
  }

  function renderRows(table, rows, columns) {
    const names = columns || (rows.length ? Object.keys(rows[0]) : []);
    const types = {};
    for (const name of names) {
      const sample = rows.find((r) => r[name] !== null && r[name] !== undefined);
      types[name] = sample && typeof sample[name] === 'number' ? (Number.isInteger(sample[name]) ? 'Int64' : 'Float64') : '';
    }
    table.tHead.replaceChildren(el('tr', {}, ...names.map((n) => el('th', { class: types[n] ? 'num' : undefined }, n))));
    const frag = document.createDocumentFragment();
    for (const row of rows.slice(0, MAX_RESULT_ROWS)) {
      frag.append(el('tr', {}, ...names.map((n) => cell(row[n], types[n]))));
    }
    if (!rows.length) frag.append(el('tr', { class: 'placeholder' }, el('td', { colspan: String(Math.max(1, names.length)) }, 'no rows')));
    table.tBodies[0].replaceChildren(frag);
  }

  async function runQuery() {
    const sql = $('sql').value.trim();
    if (!sql) return;
    resetSqlOutput();
    sqlBusy(true, 'running…');
    const started = performance.now();
    try {
      const body = await postSql('/api/v1/query', sql);
      const rows = body.rows || [];
      const columns = Array.isArray(body.columns) ? body.columns.map((c) => (typeof c === 'string' ? c : c.name)) : null;
      renderRows($('sql-result'), rows, columns);
      $('sql-result-wrap').hidden = false;
      const parts = [`${formatCount(rows.length)} row${rows.length === 1 ? '' : 's'}`, `${Math.round(performance.now() - started)} ms`];
      if (body.frontier !== null && body.frontier !== undefined) parts.push(`as of ${formatTime(body.frontier)}`);
      if (rows.length > MAX_RESULT_ROWS) parts.push(`first ${formatCount(MAX_RESULT_ROWS)} shown`);
      if (body.truncated) parts.push('truncated by the server');
      sqlBusy(false, parts.join(' · '));
    } catch (e) {
      sqlBusy(false, '');
      showSqlError(e);
    }
  }

  async function executeStatement() {
    const sql = $('sql').value.trim();
    if (!sql) return;
    resetSqlOutput();
    sqlBusy(true, 'executing…');
    try {
      const body = await postSql('/api/v1/sql', sql);
      const results = (body && body.results) || [];
      const rows = results.map((r) => {
        if (r.created) return { result: 'created', kind: r.created.kind, name: r.created.name };
        if (r.dropped) return { result: 'dropped', kind: r.dropped.map((d) => d.kind).join(', '), name: r.dropped.map((d) => d.name).join(', ') };
        if (r.changed) return { result: 'changed', kind: 'table', name: `${r.changed.table} (${r.changed.rows} rows)` };
        return { result: JSON.stringify(r), kind: '', name: '' };
      });
      renderRows($('sql-result'), rows, ['result', 'kind', 'name']);
      $('sql-result-wrap').hidden = false;
      sqlBusy(false, `${results.length} statement${results.length === 1 ? '' : 's'} applied`);
    } catch (e) {
      sqlBusy(false, '');
      showSqlError(e);
    }
  }

  $('run').addEventListener('click', runQuery);
  $('execute').addEventListener('click', executeStatement);
  $('sql').addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) {
      e.preventDefault();
      runQuery();
    }
  });

  pollCatalog();
})();
