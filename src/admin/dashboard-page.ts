import { createHash } from 'node:crypto';

// The page is served by the gateway as one document: no build step, no CDN, nothing fetched but
// its own data, so that it works where the gateway runs (an offline network, a locked-down pod).
const STYLE = `
:root { color-scheme: light dark; --bg: #f7f7f8; --fg: #1d1d1f; --muted: #6e6e73; --line: #dcdce0; --card: #fff;
  --up: #1f883d; --down: #cf222e; --ejected: #bf8700; }
@media (prefers-color-scheme: dark) { :root { --bg: #111214; --fg: #e8e8ea; --muted: #9a9aa0; --line: #2c2d31; --card: #1a1b1e; } }
* { box-sizing: border-box; }
body { margin: 0; padding: 24px; background: var(--bg); color: var(--fg); font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; }
header { display: flex; flex-wrap: wrap; align-items: baseline; gap: 8px 24px; margin-bottom: 16px; }
h1 { font-size: 18px; margin: 0 16px 0 0; }
dl { display: flex; flex-wrap: wrap; gap: 4px 20px; margin: 0; }
dt { color: var(--muted); display: inline; } dd { display: inline; margin: 0 0 0 6px; font-variant-numeric: tabular-nums; }
#live { margin-left: auto; color: var(--muted); } #live.on::before { content: "\\25CF "; color: var(--up); } #live.off::before { content: "\\25CF "; color: var(--down); }
table { width: 100%; border-collapse: collapse; background: var(--card); border: 1px solid var(--line); border-radius: 6px; }
th, td { padding: 8px 10px; border-bottom: 1px solid var(--line); text-align: right; vertical-align: top; font-variant-numeric: tabular-nums; }
th { color: var(--muted); font-weight: 500; font-size: 12px; text-transform: uppercase; letter-spacing: .03em; }
th:first-child, td:first-child, th:nth-child(2), td:nth-child(2) { text-align: left; }
tr:last-child td { border-bottom: 0; }
.prefix { font-weight: 600; font-family: ui-monospace, SFMono-Regular, Menlo, monospace; }
.target { display: block; font-family: ui-monospace, SFMono-Regular, Menlo, monospace; font-size: 12px; white-space: nowrap; }
.target::before { content: "\\25CF "; }
.target[data-state="up"]::before { color: var(--up); } .target[data-state="down"]::before { color: var(--down); }
.target[data-state="ejected"]::before { color: var(--ejected); }
.target[data-state="down"], .target[data-state="ejected"] { font-weight: 600; }
.bad { color: var(--down); } .empty { color: var(--muted); text-align: center; }
footer { margin-top: 12px; color: var(--muted); font-size: 12px; }
`;

const SCRIPT = `
(() => {
  'use strict';
  const rows = new Map();
  const body = document.getElementById('routes');
  const live = document.getElementById('live');
  const field = (name) => document.querySelector('header [data-field="' + name + '"]');
  const cell = (row, name) => row.querySelector('[data-field="' + name + '"]');
  const ms = (value) => value === null ? '\\u2013' : value < 10 ? value.toFixed(1) + ' ms' : Math.round(value).toLocaleString() + ' ms';
  const count = (value) => String(Math.round(value));
  const duration = (seconds) => {
    const d = Math.floor(seconds / 86400), h = Math.floor(seconds % 86400 / 3600), m = Math.floor(seconds % 3600 / 60), s = seconds % 60;
    return (d ? d + 'd ' : '') + (d || h ? h + 'h ' : '') + (d || h || m ? m + 'm ' : '') + s + 's';
  };
  const FIELDS = ['rate', 'requests', 'status4xx', 'status5xx', 'p50', 'p95', 'p99', 'cache'];
  function rowFor(prefix) {
    let row = rows.get(prefix);
    if (row) return row;
    row = document.createElement('tr');
    row.setAttribute('data-route', prefix);
    const name = document.createElement('td');
    name.className = 'prefix';
    name.textContent = prefix;
    const targets = document.createElement('td');
    targets.setAttribute('data-field', 'targets');
    row.append(name, targets);
    for (const key of FIELDS) {
      const td = document.createElement('td');
      td.setAttribute('data-field', key);
      row.append(td);
    }
    rows.set(prefix, row);
    return row;
  }
  function render(state) {
    field('version').textContent = state.version;
    field('loaded').textContent = new Date(state.loadedAt).toLocaleString();
    field('workers').textContent = String(state.workers);
    field('uptime').textContent = duration(state.uptimeSeconds);
    field('at').textContent = new Date(state.at).toLocaleTimeString();
    const kept = new Set();
    state.routes.forEach((route, index) => {
      const row = rowFor(route.prefix);
      kept.add(route.prefix);
      if (body.children[index] !== row) body.insertBefore(row, body.children[index] || null);
      const targets = cell(row, 'targets');
      targets.replaceChildren(...route.targets.map((target) => {
        const span = document.createElement('span');
        span.className = 'target';
        span.setAttribute('data-target', target.url);
        span.setAttribute('data-state', target.state);
        span.textContent = target.url + ' ' + target.state;
        return span;
      }));
      cell(row, 'rate').textContent = route.rate.toFixed(route.rate < 10 ? 1 : 0);
      cell(row, 'requests').textContent = count(route.requests);
      cell(row, 'status4xx').textContent = count(route.status4xx);
      cell(row, 'status5xx').textContent = count(route.status5xx);
      cell(row, 'status5xx').classList.toggle('bad', route.status5xx > 0);
      cell(row, 'p50').textContent = ms(route.latency.p50);
      cell(row, 'p95').textContent = ms(route.latency.p95);
      cell(row, 'p99').textContent = ms(route.latency.p99);
      const cache = route.cache;
      cell(row, 'cache').textContent = !cache ? 'off' : cache.hitRatio === null ? '\\u2013' : Math.round(cache.hitRatio * 100) + ' % of ' + cache.requests;
    });
    for (const [prefix, row] of rows) if (!kept.has(prefix)) { row.remove(); rows.delete(prefix); }
    document.getElementById('none').hidden = state.routes.length > 0;
  }
  fetch('api/state', { cache: 'no-store', credentials: 'same-origin' }).then((res) => res.ok ? res.json() : null).then((state) => state && render(state), () => undefined);
  const events = new EventSource('api/events');
  events.onopen = () => { live.className = 'on'; live.textContent = 'live'; };
  events.onerror = () => { live.className = 'off'; live.textContent = 'reconnecting'; };
  events.onmessage = (event) => render(JSON.parse(event.data));
})();
`;

const HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>nest-gateway</title>
<style>${STYLE}</style>
</head>
<body>
<header>
<h1>nest-gateway</h1>
<dl>
<div><dt>config</dt><dd data-field="version">&ndash;</dd></div>
<div><dt>loaded</dt><dd data-field="loaded">&ndash;</dd></div>
<div><dt>workers</dt><dd data-field="workers">&ndash;</dd></div>
<div><dt>uptime</dt><dd data-field="uptime">&ndash;</dd></div>
<div><dt>at</dt><dd data-field="at">&ndash;</dd></div>
</dl>
<span id="live" class="off">connecting</span>
</header>
<table>
<thead><tr><th>Route</th><th>Targets</th><th>req/s</th><th>Requests</th><th>4xx</th><th>5xx</th><th>p50</th><th>p95</th><th>p99</th><th>Cache hits</th></tr></thead>
<tbody id="routes"></tbody>
<tbody id="none"><tr><td class="empty" colspan="10">waiting for the gateway&hellip;</td></tr></tbody>
</table>
<footer>Counts, latency and cache hits since start, summed over workers; req/s over the last refresh.</footer>
<script>${SCRIPT}</script>
</body>
</html>
`;

const hash = (text: string) => `'sha256-${createHash('sha256').update(text).digest('base64')}'`;

/** The page, and its Content-Security-Policy: its own inline style and script, its own data, nothing else. */
export const DASHBOARD_PAGE = {
  html: HTML,
  contentSecurityPolicy: [
    "default-src 'none'",
    `style-src ${hash(STYLE)}`,
    `script-src ${hash(SCRIPT)}`,
    "connect-src 'self'",
    "img-src 'none'",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join('; '),
} as const;
