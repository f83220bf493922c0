// The ai-proxy dashboard. Reads the gateway's own JSON APIs (same origin) with the master key
// as a Bearer header; builds every element with textContent (log text is never parsed as HTML).
'use strict';

(function () {
  const KEY_ITEM = 'ai-proxy-master-key';
  const SVG = 'http://www.w3.org/2000/svg';
  // Colours of the chart's models, in the order of their sorted names.
  const PALETTE = ['#3b6fd8', '#e8833a', '#3aa876', '#c94c4c', '#8a63c9', '#8c6d4f',
    '#d46fb3', '#6f7b8a', '#b5b83a', '#33a9bd'];
  const DAYS_BACK = { day: 0, week: 6, month: 29 };

  function $(id) { return document.getElementById(id); }

  class AuthError extends Error {}

  // The key: from the URL fragment (#key=…, taken out of the address bar at once), else
  // from this tab's sessionStorage.
  function takeKey() {
    const fragment = new URLSearchParams(location.hash.slice(1));
    const fromUrl = fragment.get('key');
    if (fromUrl) {
      sessionStorage.setItem(KEY_ITEM, fromUrl);
      history.replaceState(null, '', location.pathname + location.search);
    }
    return sessionStorage.getItem(KEY_ITEM);
  }

  async function api(path, key) {
    const headers = { Accept: 'application/json' };
    if (key) headers.Authorization = 'Bearer ' + key;
    const resp = await fetch(path, { headers, cache: 'no-store', credentials: 'omit' });
    let body = null;
    try { body = await resp.json(); } catch (_) { body = null; }
    if (resp.status === 401) throw new AuthError(message(body) || 'the key was refused');
    if (!resp.ok) throw new Error(path.split('?')[0] + ': ' + (message(body) || 'HTTP ' + resp.status));
    return body;
  }

  function message(body) {
    return body && body.error && typeof body.error.message === 'string' ? body.error.message : '';
  }

  function el(tag, text, cls) {
    const e = document.createElement(tag);
    if (text !== undefined && text !== null) e.textContent = String(text);
    if (cls) e.className = cls;
    return e;
  }

  function svg(tag, attrs) {
    const e = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, String(v));
    return e;
  }

  function row(cells) {
    const tr = document.createElement('tr');
    for (const c of cells) {
      const td = c instanceof Node ? c : el('td', c);
      if (!(c instanceof Node) && typeof c === 'number') td.className = 'num';
      tr.appendChild(td);
    }
    return tr;
  }

  function num(n) { return Number(n || 0).toLocaleString('en-US'); }
  function cost(c) {
    if (c === null || c === undefined) return 'unknown';
    if (c === 0) return '$0';
    return '$' + Number(c).toFixed(c < 0.01 ? 6 : 4);
  }
  function numCell(text) { return el('td', text, 'num'); }

  function localDate(daysBack) {
    const d = new Date();
    d.setDate(d.getDate() - daysBack);
    const pad = (n) => String(n).padStart(2, '0');
    return d.getFullYear() + '-' + pad(d.getMonth() + 1) + '-' + pad(d.getDate());
  }

  function clear(node) { while (node.firstChild) node.removeChild(node.firstChild); }

  function setState(state, text) {
    document.body.dataset.state = state;
    $('status').textContent = text;
  }

  // ---- rendering -------------------------------------------------------------------------

  function renderModels(usage) {
    const body = $('models-body');
    clear(body);
    for (const m of usage.models) {
      const err = el('td', m.last_error || '', m.last_error ? 'error-text' : '');
      const tr = row([m.model, numCell(num(m.requests)), numCell(num(m.failed_requests)),
        numCell(num(m.prompt_tokens)), numCell(num(m.completion_tokens)), numCell(cost(m.cost_usd)), err]);
      tr.dataset.model = m.model;
      if (m.failed_requests > 0) tr.classList.add('has-failures');
      body.appendChild(tr);
    }
    if (usage.models.length === 0) body.appendChild(row([el('td', 'No calls in this window.', 'muted')]));
    const t = usage.total;
    let text = num(t.requests) + ' requests · ' + num(t.failed_requests) + ' failed · ' +
      num(t.total_tokens) + ' tokens · ' + (t.cost_usd === null ? 'cost unknown' : '≈ ' + cost(t.cost_usd));
    if (t.unpriced_requests > 0) text += ' (' + num(t.unpriced_requests) + ' calls with no known price)';
    if (usage.not_logged > 0) text += ' · ' + num(usage.not_logged) + ' calls not logged (queue full)';
    $('totals').textContent = text;
  }

  function fillModelFilter(models, selected) {
    const select = $('f-model');
    const names = Array.from(new Set(models.concat(selected ? [selected] : []))).sort();
    while (select.options.length > 1) select.remove(1);
    for (const name of names) {
      const o = el('option', name);
      o.value = name;
      select.appendChild(o);
    }
    select.value = selected || '';
  }

  function metricOf(entry, metric) {
    if (metric === 'tokens') return entry.total_tokens || 0;
    if (metric === 'cost') return entry.spend || 0;
    return entry.requests || 0;
  }

  // Stacked bars: one per day of the window (at least a week), one colour per model.
  function renderChart(report, windowName, metric) {
    const days = Math.max(DAYS_BACK[windowName] + 1, 7);
    const labels = [];
    for (let i = days - 1; i >= 0; i--) labels.push(localDate(i));
    const byDay = new Map();
    const models = new Set();
    for (const d of report) {
      const entries = (d.teams && d.teams[0] && d.teams[0].metadata) || [];
      byDay.set(d.group_by_day, entries);
      for (const e of entries) models.add(e.model);
    }
    const names = Array.from(models).sort();
    const colour = (m) => PALETTE[names.indexOf(m) % PALETTE.length];
    let max = 0;
    for (const day of labels) {
      const total = (byDay.get(day) || []).reduce((s, e) => s + metricOf(e, metric), 0);
      max = Math.max(max, total);
    }
    const W = 760, H = 240, left = 56, bottom = 28, top = 12;
    const plotH = H - bottom - top;
    const slot = (W - left - 8) / labels.length;
    const barW = Math.max(4, Math.min(48, slot * 0.7));
    const root = svg('svg', { viewBox: '0 0 ' + W + ' ' + H, width: W, height: H, role: 'img',
      'aria-label': 'Usage per day and model (' + metric + ')', id: 'chart-svg' });
    root.appendChild(svg('line', { x1: left, y1: top + plotH, x2: W - 4, y2: top + plotH, class: 'axis' }));
    const yMax = svg('text', { x: left - 6, y: top + 10, 'text-anchor': 'end', class: 'tick' });
    yMax.textContent = metric === 'cost' ? cost(max) : num(max);
    root.appendChild(yMax);
    const yZero = svg('text', { x: left - 6, y: top + plotH, 'text-anchor': 'end', class: 'tick' });
    yZero.textContent = '0';
    root.appendChild(yZero);
    labels.forEach((day, i) => {
      const x = left + i * slot + (slot - barW) / 2;
      let y = top + plotH;
      for (const e of (byDay.get(day) || []).slice().sort((a, b) => a.model.localeCompare(b.model))) {
        const v = metricOf(e, metric);
        if (!(v > 0) || !(max > 0)) continue;
        const h = Math.max(1, (v / max) * plotH);
        y -= h;
        const rect = svg('rect', { x: x.toFixed(1), y: y.toFixed(1), width: barW.toFixed(1),
          height: h.toFixed(1), fill: colour(e.model), class: 'bar', 'data-model': e.model, 'data-day': day });
        const title = svg('title');
        title.textContent = day + ' · ' + e.model + ': ' + (metric === 'cost' ? cost(v) : num(v));
        rect.appendChild(title);
        root.appendChild(rect);
      }
      if (labels.length <= 10 || i % Math.ceil(labels.length / 10) === 0) {
        const t = svg('text', { x: (x + barW / 2).toFixed(1), y: H - 8, 'text-anchor': 'middle', class: 'tick' });
        t.textContent = day.slice(5);
        root.appendChild(t);
      }
    });
    const chart = $('chart');
    clear(chart);
    chart.appendChild(root);
    const legend = $('legend');
    clear(legend);
    for (const m of names) {
      const li = el('li');
      const swatch = svg('svg', { width: 12, height: 12, class: 'swatch' });
      swatch.appendChild(svg('rect', { width: 12, height: 12, fill: colour(m) }));
      li.appendChild(swatch);
      li.appendChild(document.createTextNode(' ' + m));
      legend.appendChild(li);
    }
    if (names.length === 0) legend.appendChild(el('li', 'No calls in this window.', 'muted'));
  }

  function renderLog(rows, limit) {
    const body = $('log-body');
    clear(body);
    for (const r of rows) {
      const md = r.metadata || {};
      const failed = r.status === 'failure';
      const time = new Date(r.startTime);
      const tr = row([
        el('td', isNaN(time) ? r.startTime : time.toLocaleString()),
        r.model_group,
        el('td', md.deployment || '—', md.deployment ? '' : 'muted'),
        numCell(md.status_code),
        numCell(num(Math.round(md.latency_ms || 0))),
        numCell(num(r.prompt_tokens) + ' / ' + num(r.completion_tokens)),
        numCell(cost(r.spend)),
        el('td', md.error || '', 'error-text'),
      ]);
      tr.dataset.requestId = r.request_id;
      tr.title = r.request_id;
      if (failed) tr.classList.add('failed');
      body.appendChild(tr);
    }
    if (rows.length === 0) body.appendChild(row([el('td', 'No calls match these filters.', 'muted')]));
    $('log-note').textContent = rows.length >= limit
      ? 'The newest ' + limit + ' calls that match.' : rows.length + ' calls.';
  }

  function renderDeployments(ready) {
    $('version').textContent = 'v' + ready.version;
    const body = $('deployments-body');
    clear(body);
    for (const d of ready.deployments) {
      let state = d.state;
      if (d.state === 'cooling_down') state = 'cooling down until ' + new Date(d.cooling_down_until).toLocaleTimeString();
      if (d.state === 'unavailable') state = 'unavailable: ' + d.reason;
      let last = '';
      if (d.last_error) {
        last = (d.last_error.status ? d.last_error.status + ' ' : '') + d.last_error.message +
          ' (' + new Date(d.last_error.at).toLocaleString() + ')';
      }
      const tr = row([d.model, d.deployment, el('td', state, 'state-' + d.state), el('td', last, 'error-text')]);
      tr.dataset.state = d.state;
      body.appendChild(tr);
    }
  }

  // ---- loading ---------------------------------------------------------------------------

  const LOG_LIMIT = 200;

  async function load() {
    const key = takeKey();
    const windowName = $('f-window').value;
    const model = $('f-model').value;
    const since = localDate(DAYS_BACK[windowName]);
    const chartSince = localDate(Math.max(DAYS_BACK[windowName], 6));
    const logQuery = new URLSearchParams({ limit: String(LOG_LIMIT), start_date: since });
    if (model) logQuery.set('model', model);
    if ($('f-failed').checked) logQuery.set('status', 'failure');
    setState('loading', 'Loading…');
    $('error').hidden = true;
    try {
      const [usage, report, logs, ready] = await Promise.all([
        api('/usage?window=' + windowName, key),
        api('/global/spend/report?start_date=' + chartSince, key),
        api('/spend/logs?' + logQuery.toString(), key),
        api('/health/readiness', null),
      ]);
      $('login').hidden = true;
      $('dash').hidden = false;
      $('forget').hidden = !key;
      fillModelFilter(usage.models.map((m) => m.model), model);
      renderModels(usage);
      renderChart(report, windowName, $('f-metric').value);
      renderLog(logs, LOG_LIMIT);
      renderDeployments(ready);
      setState('ready', 'Updated ' + new Date().toLocaleTimeString());
    } catch (e) {
      if (e instanceof AuthError) {
        sessionStorage.removeItem(KEY_ITEM);
        $('dash').hidden = true;
        $('login').hidden = false;
        const err = $('login-error');
        err.hidden = !key;
        err.textContent = key ? 'That key was refused: ' + e.message : '';
        setState('login', 'Master key needed');
        $('login-key').focus();
      } else {
        $('error').textContent = 'Could not load: ' + e.message;
        $('error').hidden = false;
        setState('error', 'Error');
      }
    }
  }

  // The filters live in the query string too (/ui?window=day&model=m&failed=1&metric=tokens),
  // so a view can be bookmarked or opened directly.
  function filtersFromUrl() {
    const q = new URLSearchParams(location.search);
    if (Object.prototype.hasOwnProperty.call(DAYS_BACK, q.get('window'))) $('f-window').value = q.get('window');
    if (q.get('model')) fillModelFilter([], q.get('model'));
    $('f-failed').checked = q.get('failed') === '1';
    if (['requests', 'tokens', 'cost'].includes(q.get('metric'))) $('f-metric').value = q.get('metric');
  }

  function filtersToUrl() {
    const q = new URLSearchParams();
    q.set('window', $('f-window').value);
    if ($('f-model').value) q.set('model', $('f-model').value);
    if ($('f-failed').checked) q.set('failed', '1');
    q.set('metric', $('f-metric').value);
    history.replaceState(null, '', location.pathname + '?' + q.toString());
  }

  function start() {
    filtersFromUrl();
    $('login-form').addEventListener('submit', (ev) => {
      ev.preventDefault();
      const value = $('login-key').value.trim();
      if (!value) return;
      sessionStorage.setItem(KEY_ITEM, value);
      $('login-key').value = '';
      load();
    });
    $('forget').addEventListener('click', () => {
      sessionStorage.removeItem(KEY_ITEM);
      load();
    });
    for (const id of ['f-window', 'f-model', 'f-failed', 'f-metric']) {
      $(id).addEventListener('change', () => { filtersToUrl(); load(); });
    }
    $('refresh').addEventListener('click', load);
    window.addEventListener('hashchange', load);
    load();
  }

  start();
}());
