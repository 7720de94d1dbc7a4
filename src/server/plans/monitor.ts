/**
 * The upgrade monitor: GET /monitor is one HTML page (no framework, no build step) that polls the
 * plan API every second and shows the plans with their numbers from /api/stats, the devices of the
 * selected plan with their state and progress, and the upgrade log of the selected device
 * (/api/devices/<id>/log). The per-plan device list is this handler's own endpoint,
 * GET /monitor/api/plans/<id>/devices, bounded so a 10,000-device plan stays a small answer.
 *
 * The handler answers only /monitor and /monitor/...; it returns false for everything else, so it
 * sits in front of (or behind) the plan handler on one node:http server.
 */
import type * as http from 'node:http';
import type { DevicePlanRecord, PlanStore } from './types';

export interface MonitorOptions {
  /** The store, or a function opening it at the first request (as `otaflash serve` does by default). */
  store: PlanStore | (() => Promise<PlanStore>);
  /** Poll interval of the page in ms (default 1000). */
  pollMs?: number;
}

export interface MonitorDevice {
  deviceId: string;
  state: DevicePlanRecord['state'];
  bytes: number;
  total: number;
  percent: number;
  updatedAt: number;
  error?: string;
}

/** One row per device: the sum over its components (a plan may have several). */
export function monitorDevice(r: DevicePlanRecord): MonitorDevice {
  let bytes = 0;
  let total = 0;
  let error: string | undefined;
  for (const k of Object.keys(r.components)) {
    const c = r.components[k];
    bytes += c.bytes;
    total += c.total;
    if (c.error && !error) error = `${k}: ${c.error}`;
  }
  const percent = r.state === 'succeeded' ? 100 : total > 0 ? Math.floor((bytes * 100) / total) : 0;
  const d: MonitorDevice = { deviceId: r.deviceId, state: r.state, bytes, total, percent, updatedAt: r.updatedAt };
  if (error) d.error = error;
  return d;
}

function send(res: http.ServerResponse, status: number, type: string, body: string): void {
  const b = Buffer.from(body, 'utf8');
  res.writeHead(status, { 'Content-Type': type, 'Content-Length': String(b.length), 'Cache-Control': 'no-store' });
  res.end(b);
}

export function createMonitorHandler(opts: MonitorOptions): (req: http.IncomingMessage, res: http.ServerResponse) => Promise<boolean> {
  const page = monitorPage(opts.pollMs ?? 1000);
  let opened: Promise<PlanStore> | null = null;
  const storeOf = (): Promise<PlanStore> => {
    if (typeof opts.store !== 'function') return Promise.resolve(opts.store);
    if (!opened) opened = opts.store();
    return opened;
  };
  return async (req, res) => {
    const raw = req.url ?? '';
    const q = raw.indexOf('?');
    const pathname = q >= 0 ? raw.slice(0, q) : raw;
    if (pathname !== '/monitor' && pathname.indexOf('/monitor/') !== 0) return false;
    const json = (status: number, v: unknown) => send(res, status, 'application/json; charset=utf-8', JSON.stringify(v));
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('Allow', 'GET, HEAD');
      json(405, { error: 'HTTP_METHOD', message: `${req.method} is not allowed on ${pathname}` });
      return true;
    }
    if (pathname === '/monitor' || pathname === '/monitor/') {
      send(res, 200, 'text/html; charset=utf-8', page);
      return true;
    }
    const m = /^\/monitor\/api\/plans\/([^/]+)\/devices$/.exec(pathname);
    if (!m) {
      json(404, { error: 'HTTP_NOT_FOUND', message: `nothing at ${pathname.slice(0, 200)}` });
      return true;
    }
    let planId: string;
    try {
      planId = decodeURIComponent(m[1]);
    } catch {
      json(404, { error: 'HTTP_NOT_FOUND', message: 'malformed percent-encoding in the path' });
      return true;
    }
    const params = new URLSearchParams(q >= 0 ? raw.slice(q + 1) : '');
    const l = params.get('limit');
    if (l !== null && !/^[1-9]\d{0,4}$/.test(l)) {
      json(400, { error: 'HTTP_BAD_QUERY', message: `limit must be 1..99999, got '${l.slice(0, 20)}'` });
      return true;
    }
    const limit = l === null ? 100 : Number(l);
    const store = await storeOf();
    const plan = await store.getPlan(planId);
    if (!plan) {
      json(404, { error: 'PLAN_NOT_FOUND', message: `no plan '${planId.slice(0, 200)}'` });
      return true;
    }
    const all = await store.listDevicePlans(planId);
    const byState: { [state: string]: number } = {};
    for (const r of all) byState[r.state] = (byState[r.state] ?? 0) + 1;
    // Devices still under way first, then the most recently changed.
    const rank = (r: DevicePlanRecord) => (r.state === 'downloading' || r.state === 'confirmed' || r.state === 'offered' ? 0 : 1);
    all.sort((a, b) => rank(a) - rank(b) || b.updatedAt - a.updatedAt || (a.deviceId < b.deviceId ? -1 : 1));
    json(200, { planId, count: all.length, byState, devices: all.slice(0, limit).map(monitorDevice) });
    return true;
  };
}

/** The page. Its numbers are rendered from /api/stats as received; `data-at` says which answer. */
function monitorPage(pollMs: number): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>otaflash upgrade monitor</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#222;background:#fafafa}
h1{font-size:1.3em;margin:0 0 .2em} h2{font-size:1.1em;margin:1.4em 0 .4em}
table{border-collapse:collapse;background:#fff;min-width:40em}
th,td{border:1px solid #ddd;padding:.25em .6em;text-align:left} td.n{text-align:right;font-variant-numeric:tabular-nums}
tr.plan{cursor:pointer} tr.plan:hover,tr.dev:hover{background:#eef} tr.sel{background:#dde6ff}
tr.dev{cursor:pointer}
.bar{width:10em;height:.8em;background:#eee;border-radius:.4em;overflow:hidden;display:inline-block;vertical-align:middle}
.bar>i{display:block;height:100%;background:#4a8}
.failed{color:#b22} .succeeded{color:#282} .status{color:#666;font-size:.9em}
</style></head>
<body>
<h1>Upgrade monitor</h1>
<div class="status" id="status">loading…</div>
<h2>Plans</h2>
<table id="plans" data-at=""><thead><tr><th>plan</th><th>name</th><th>state</th><th>devices</th><th>succeeded</th><th>failed</th><th>in progress</th><th>success rate</th><th>progress</th></tr></thead><tbody></tbody></table>
<h2 id="devices-title">Devices</h2>
<div class="status" id="devices-summary">select a plan</div>
<table id="devices"><thead><tr><th>device</th><th>state</th><th>progress</th><th>bytes</th><th>updated</th><th>error</th></tr></thead><tbody></tbody></table>
<h2 id="log-title">Upgrade log</h2>
<table id="log"><thead><tr><th>time</th><th>plan</th><th>component</th><th>state</th><th>bytes</th><th>error</th></tr></thead><tbody></tbody></table>
<script>
"use strict";
var POLL = ${pollMs};
var selectedPlan = null, selectedDevice = null;
function el(tag, cls, text) { var e = document.createElement(tag); if (cls) e.className = cls; if (text !== undefined) e.textContent = String(text); return e; }
function cell(tr, text, cls, field) { var td = el('td', cls, text); if (field) td.setAttribute('data-field', field); tr.appendChild(td); return td; }
function bar(p) { var b = el('span', 'bar'); var i = el('i'); i.style.width = Math.max(0, Math.min(100, p)) + '%'; b.appendChild(i); return b; }
function time(t) { var d = new Date(t); return d.toISOString().replace('T', ' ').slice(0, 19); }
function pct(r) { return (Math.round(r * 1000) / 10).toFixed(1) + '%'; }
function getJson(url) { return fetch(url, { cache: 'no-store' }).then(function (r) { if (!r.ok) throw new Error(url + ': HTTP ' + r.status); return r.json(); }); }
function renderPlans(s) {
  var tb = document.querySelector('#plans tbody'); tb.textContent = '';
  var plans = s.plans || [];
  if (!selectedPlan && plans.length) selectedPlan = plans[plans.length - 1].planId;
  plans.forEach(function (p) {
    var tr = el('tr', 'plan' + (p.planId === selectedPlan ? ' sel' : '')); tr.setAttribute('data-plan', p.planId);
    cell(tr, p.planId, '', 'planId'); cell(tr, p.name, '', 'name'); cell(tr, p.state, '', 'state');
    cell(tr, p.devices, 'n', 'devices'); cell(tr, p.succeeded, 'n succeeded', 'succeeded'); cell(tr, p.failed, 'n failed', 'failed');
    cell(tr, p.inProgress, 'n', 'inProgress'); cell(tr, pct(p.successRate), 'n', 'successRate');
    var done = p.devices ? (p.succeeded + p.failed) * 100 / p.devices : 0; cell(tr, '').appendChild(bar(done));
    tr.onclick = function () { selectedPlan = p.planId; selectedDevice = null; tick(); };
    tb.appendChild(tr);
  });
  document.getElementById('plans').setAttribute('data-at', String(s.at));
}
function renderDevices(d) {
  var tb = document.querySelector('#devices tbody'); tb.textContent = '';
  document.getElementById('devices-title').textContent = 'Devices of ' + d.planId;
  var parts = Object.keys(d.byState).sort().map(function (k) { return k + ' ' + d.byState[k]; });
  document.getElementById('devices-summary').textContent = d.count + ' devices (' + parts.join(', ') + ')' + (d.count > d.devices.length ? '; showing ' + d.devices.length + ', those under way first' : '');
  d.devices.forEach(function (v) {
    var tr = el('tr', 'dev' + (v.deviceId === selectedDevice ? ' sel' : '')); tr.setAttribute('data-device', v.deviceId);
    cell(tr, v.deviceId); cell(tr, v.state, v.state, 'state');
    var p = cell(tr, ' ' + v.percent + '%', 'n', 'percent'); p.insertBefore(bar(v.percent), p.firstChild);
    cell(tr, v.bytes + ' / ' + v.total, 'n'); cell(tr, time(v.updatedAt)); cell(tr, v.error || '', 'failed');
    tr.onclick = function () { selectedDevice = v.deviceId; tick(); };
    tb.appendChild(tr);
  });
}
function renderLog(l) {
  var tb = document.querySelector('#log tbody'); tb.textContent = '';
  document.getElementById('log-title').textContent = 'Upgrade log of ' + l.deviceId;
  l.log.forEach(function (e) {
    var tr = el('tr'); cell(tr, time(e.at)); cell(tr, e.planId); cell(tr, e.component); cell(tr, e.state, e.state);
    cell(tr, e.bytes === undefined || e.bytes === null ? '' : e.bytes, 'n'); cell(tr, e.error || '', 'failed'); tb.appendChild(tr);
  });
}
var busy = false;
function tick() {
  if (busy) return; busy = true;
  getJson('/api/stats').then(function (s) {
    renderPlans(s);
    var next = [];
    if (selectedPlan) next.push(getJson('/monitor/api/plans/' + encodeURIComponent(selectedPlan) + '/devices?limit=50').then(renderDevices));
    if (selectedDevice) next.push(getJson('/api/devices/' + encodeURIComponent(selectedDevice) + '/log?limit=100').then(renderLog));
    return Promise.all(next);
  }).then(function () {
    document.getElementById('status').textContent = 'updated ' + new Date().toLocaleTimeString() + ', every ' + POLL / 1000 + ' s';
  }, function (e) {
    document.getElementById('status').textContent = 'error: ' + e.message + ' (retrying)';
  }).then(function () { busy = false; });
}
tick(); setInterval(tick, POLL);
</script>
</body></html>
`;
}
