// The plan service over HTTP on a real server (127.0.0.1, ephemeral port, SQLite in a temp dir):
// each API answer and refusal, package downloads with Range/ETag, bad input that must never become
// a 500, and end to end: an update agent on a simulated ESP32 (MemoryFlash, real app images, the
// bootloader model) updated through the Node transport, also across a server restart mid-download.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as http from 'node:http';
import * as net from 'node:net';
import { createHash } from 'node:crypto';
import { createUpdateServer, type UpdateServer } from '../../src/server/update-server';
import { createPlanHttpHandler, type PlanHttpHandler } from '../../src/server/plans/http';
import { SqlitePlanStore } from '../../src/server/plans/sqlite-store';
import { UpdateAgent } from '../../src/agent/agent';
import { otaModuleInstaller } from '../../src/agent/ota-installer';
import type { AgentAction } from '../../src/agent/types';
import { AgentHttpHost } from '../../src/node/agent-http';
import { RegionFlash } from '../../src/flash/region';
import { OTA_STATE, makeOtaEntry, writeOtaEntry } from '../../src/formats/otadata';
import { OtaEngine } from '../../src/ota/engine';
import { decideBoot, simulateReboot } from '../../src/ota/bootloader';
import { nodeHashes } from '../../src/node/hash';
import type { Partition } from '../../src/formats/partition-types';
import { APP_A, APP_B, image, rig, type Rig } from '../ota/engine-fixtures';

const OLD = image(APP_A);
const NEW = image(APP_B);
const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'otaflash-plan-http-'));
let n = 0;

interface Srv {
  srv: UpdateServer;
  plans: PlanHttpHandler;
  url: string;
  port: number;
  dir: string;
  close(): Promise<void>;
}

async function start(opts: { dir?: string; port?: number; before?: (req: http.IncomingMessage, res: http.ServerResponse) => Promise<boolean>; maxPackageBytes?: number } = {}): Promise<Srv> {
  const dir = opts.dir ?? path.join(tmp, `srv-${n++}`);
  fs.mkdirSync(dir, { recursive: true });
  const plans = createPlanHttpHandler({ store: new SqlitePlanStore(path.join(dir, 'plans.db')), packagesDir: path.join(dir, 'packages'), maxPackageBytes: opts.maxPackageBytes, log: () => {} });
  const srv = createUpdateServer({ root: dir, handlers: opts.before ? [opts.before, plans] : [plans], log: () => {} });
  const { port, url } = await srv.listen(opts.port ?? 0, '127.0.0.1');
  return { srv, plans, url, port, dir, close: async () => (await srv.close(0), await plans.close()) };
}

async function call(url: string, method: string, body?: string | Uint8Array, type?: string, headers: Record<string, string> = {}) {
  let res: Response;
  const go = () => fetch(url, { method, body, headers: { ...(type ? { 'content-type': type } : {}), ...headers } });
  try {
    res = await go();
  } catch (e) {
    // After a server restart the client's pool may still hold a keep-alive socket to the old one.
    if (!/other side closed/.test(String((e as { cause?: unknown }).cause))) throw e;
    res = await go();
  }
  const bytes = new Uint8Array(await res.arrayBuffer());
  let json: any = null;
  try {
    json = JSON.parse(Buffer.from(bytes).toString('utf8'));
  } catch {
    // not JSON
  }
  return { status: res.status, headers: res.headers, bytes, json };
}

const upload = (s: Srv, bytes: Uint8Array, q = 'kind=full') => call(`${s.url}/api/packages?${q}`, 'POST', bytes, 'application/octet-stream');
const postJson = (s: Srv, p: string, v: unknown) => call(`${s.url}${p}`, 'POST', JSON.stringify(v), 'application/json');

function planJson(pkg: string, extra: Record<string, unknown> = {}) {
  return { name: 'app 2.0', components: [{ id: 'app', kind: 'module', source: '1.0', target: '2.0', full: pkg }], strategy: { mode: 'silent', retries: 5, backoffMs: 100 }, ...extra };
}

test('packages: upload hashes server-side; the same bytes again name the same package; refusals are typed', async () => {
  const s = await start({ maxPackageBytes: 200000 });
  try {
    const up = await upload(s, NEW);
    assert.is(up.status, 201);
    assert.equal(up.json, { id: `pkg-${sha(NEW).slice(0, 16)}`, kind: 'full', size: NEW.length, sha256: sha(NEW), created: true });
    const again = await upload(s, NEW);
    assert.is(again.status, 200);
    assert.is(again.json.created, false);
    const named = await upload(s, OLD, 'kind=full&id=app-1.0');
    assert.is(named.status, 201);
    assert.is(named.json.id, 'app-1.0');
    assert.equal((await upload(s, NEW, 'kind=full&id=app-1.0')).json.error, 'PACKAGE_EXISTS');
    assert.is((await upload(s, NEW, 'kind=full&id=app-1.0')).status, 409);
    const cases: [Promise<{ status: number; json: any }>, number, string][] = [
      [call(`${s.url}/api/packages?kind=full`, 'POST', NEW, 'application/json'), 415, 'HTTP_CONTENT_TYPE'],
      [upload(s, NEW, 'kind=patch'), 400, 'HTTP_BAD_QUERY'],
      [upload(s, NEW, 'kind=full&id=../etc'), 400, 'HTTP_BAD_QUERY'],
      [upload(s, new Uint8Array(200001)), 413, 'HTTP_TOO_LARGE'],
      [call(`${s.url}/api/packages`, 'GET'), 405, 'HTTP_METHOD'],
    ];
    for (const [p, status, code] of cases) {
      const r = await p;
      assert.is(r.status, status, JSON.stringify(r.json));
      assert.is(r.json.error, code);
      assert.type(r.json.message, 'string');
    }
    // A client that disconnects mid-upload: no temporary file stays, the server goes on.
    await new Promise<void>((resolve) => {
      const sock = net.connect(s.port, '127.0.0.1', () => {
        sock.write(`POST /api/packages?kind=full HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\nContent-Length: 100000\r\n\r\n`);
        sock.write(Buffer.alloc(30000, 1), () => setTimeout(() => (sock.destroy(), resolve()), 50));
      });
    });
    await new Promise((r) => setTimeout(r, 100));
    // A refused upload leaves no file behind.
    assert.equal(fs.readdirSync(path.join(s.dir, 'packages')).sort(), [`app-1.0.pkg`, `pkg-${sha(NEW).slice(0, 16)}.pkg`]);
  } finally {
    await s.close();
  }
});

test('package downloads: Content-Length, ETag, 304, Range from an offset (206), 416, HEAD, 404', async () => {
  const s = await start();
  try {
    const id = (await upload(s, NEW)).json.id;
    const u = `${s.url}/packages/${id}`;
    const all = await call(u, 'GET');
    assert.is(all.status, 200);
    assert.is(all.headers.get('content-length'), String(NEW.length));
    assert.is(all.headers.get('etag'), `"${sha(NEW)}"`);
    assert.is(sha(all.bytes), sha(NEW));
    assert.is((await call(u, 'GET', undefined, undefined, { 'if-none-match': `"${sha(NEW)}"` })).status, 304);
    const part = await call(u, 'GET', undefined, undefined, { range: 'bytes=12345-' });
    assert.is(part.status, 206);
    assert.is(part.headers.get('content-range'), `bytes 12345-${NEW.length - 1}/${NEW.length}`);
    assert.equal(part.bytes, NEW.subarray(12345));
    const stale = await call(u, 'GET', undefined, undefined, { range: 'bytes=10-', 'if-range': '"other"' });
    assert.is(stale.status, 200, 'If-Range with another ETag: the whole package');
    assert.is((await call(u, 'GET', undefined, undefined, { range: `bytes=${NEW.length}-` })).status, 416);
    const head = await call(u, 'HEAD');
    assert.is(head.status, 200);
    assert.is(head.bytes.length, 0);
    const missing = await call(`${s.url}/packages/nope`, 'GET');
    assert.equal([missing.status, missing.json.error], [404, 'PACKAGE_NOT_FOUND']);
    assert.is((await call(`${s.url}/packages/${id}`, 'DELETE')).status, 405);
  } finally {
    await s.close();
  }
});

test('plans: create (checked), activate, detail, stats; every refusal typed', async () => {
  const s = await start();
  try {
    const full = (await upload(s, NEW)).json.id;
    const delta = (await upload(s, OLD, 'kind=delta&id=d1')).json.id;
    const bad: [unknown, string][] = [
      [{ components: [] }, 'components'],
      [planJson('missing-pkg'), 'not stored'],
      [planJson(delta), 'is a delta package'],
      [{ ...planJson(full), strategy: { mode: 'loud' } }, 'strategy.mode'],
      [{ ...planJson(full), scope: { batchLimit: 0 } }, 'scope.batchLimit'],
      [{ ...planJson(full), extra: 1 }, "unknown field 'extra'"],
      [[1, 2], 'JSON object'],
    ];
    for (const [body, why] of bad) {
      const r = await postJson(s, '/api/plans', body);
      assert.is(r.status, 400, JSON.stringify(body));
      assert.is(r.json.error, 'PLAN_SPEC_INVALID');
      assert.match(r.json.message, why);
    }
    assert.is((await call(`${s.url}/api/plans`, 'POST', '{"name":', 'application/json')).json.error, 'HTTP_BAD_JSON');
    const made = await postJson(s, '/api/plans', { id: 'p1', ...planJson(full, { scope: { batchLimit: 10 } }) });
    assert.is(made.status, 201);
    assert.is(made.json.plan.state, 'draft');
    assert.is((await postJson(s, '/api/plans', { id: 'p1', ...planJson(full) })).json.error, 'PLAN_EXISTS');
    // Drafts are offered to nobody.
    assert.equal((await postJson(s, '/api/device/message', { type: 'check', deviceId: 'd', versions: { app: '1.0' } })).json, { type: 'none' });
    const act = await call(`${s.url}/api/plans/p1/activate`, 'POST');
    assert.equal([act.status, act.json.plan.state], [200, 'active']);
    assert.is((await call(`${s.url}/api/plans/nope/activate`, 'POST')).json.error, 'PLAN_NOT_FOUND');
    const offer = await postJson(s, '/api/device/message', { type: 'check', deviceId: 'd', versions: { app: '1.0' } });
    assert.is(offer.json.type, 'plan');
    assert.equal(offer.json.plan.components[0].package, { kind: 'full', size: NEW.length, sha256: sha(NEW) });
    const urls = await postJson(s, '/api/device/message', { type: 'confirm', deviceId: 'd', planId: 'p1', accept: true });
    assert.equal(urls.json, { type: 'urls', urls: { app: `${s.url}/packages/${full}` } });
    const detail = await call(`${s.url}/api/plans/p1`, 'GET');
    assert.is(detail.json.plan.id, 'p1');
    assert.is(detail.json.devices[0].state, 'confirmed');
    const stats = await call(`${s.url}/api/stats`, 'GET');
    assert.equal(stats.json.plans, [{ planId: 'p1', name: 'app 2.0', state: 'active', devices: 1, succeeded: 0, failed: 0, inProgress: 1, successRate: 0 }]);
    const log = await call(`${s.url}/api/devices/d/log`, 'GET');
    assert.equal(log.json.log.map((e: { state: string }) => e.state), ['offered', 'confirmed']);
    assert.is((await call(`${s.url}/api/devices/d/log?limit=x`, 'GET')).json.error, 'HTTP_BAD_QUERY');
    const closed = await call(`${s.url}/api/plans/p1/close`, 'POST');
    assert.is(closed.json.plan.state, 'done');
    assert.is((await call(`${s.url}/api/plans/p1/activate`, 'POST')).status, 409);
  } finally {
    await s.close();
  }
});

test('device protocol: bad input is a 4xx with a code, never a 500; other paths fall through to the version tree', async () => {
  const s = await start();
  try {
    const m = (v: unknown) => postJson(s, '/api/device/message', v);
    const cases: [Promise<{ status: number; json: any }>, number, string][] = [
      [m({ type: 'check' }), 400, 'PLAN_BAD_MESSAGE'],
      [m({ type: 'dance', deviceId: 'd' }), 400, 'PLAN_BAD_MESSAGE'],
      [m({ type: 'confirm', deviceId: 'd', accept: true }), 400, 'PLAN_BAD_MESSAGE'],
      [m({ type: 'progress', deviceId: 'd', planId: 'p', component: 'app', bytes: -1, total: 5 }), 400, 'PLAN_BAD_MESSAGE'],
      [m({ type: 'check', deviceId: 'd', versions: { app: 5 } }), 400, 'PLAN_BAD_MESSAGE'],
      [m({ type: 'confirm', deviceId: 'd', planId: 'p', accept: true }), 404, 'PLAN_NOT_OFFERED'],
      [m(null), 400, 'PLAN_BAD_MESSAGE'],
      [call(`${s.url}/api/device/message`, 'POST', '{"type":"check","deviceId":"d"}', 'text/plain'), 415, 'HTTP_CONTENT_TYPE'],
      [call(`${s.url}/api/device/message`, 'POST', '{', 'application/json'), 400, 'HTTP_BAD_JSON'],
      [call(`${s.url}/api/device/message`, 'POST', JSON.stringify({ type: 'check', deviceId: 'd', pad: 'x'.repeat(70000) }), 'application/json'), 413, 'HTTP_TOO_LARGE'],
      [call(`${s.url}/api/device/message`, 'GET'), 405, 'HTTP_METHOD'],
      [call(`${s.url}/api/nothing`, 'GET'), 404, 'HTTP_NOT_FOUND'],
      [call(`${s.url}/api/devices/%ZZ/log`, 'GET'), 404, 'HTTP_NOT_FOUND'],
    ];
    for (const [p, status, code] of cases) {
      const r = await p;
      assert.is(r.status, status, JSON.stringify(r.json));
      assert.is(r.json.error, code);
    }
    // Random JSON-ish bodies (bounded, seeded): every answer is JSON, none is a 500.
    let seed = 7;
    const rnd = () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff);
    const atoms = ['null', '1', '-1', '"x"', 'true', '{}', '[]', '"__proto__"', '1e309', '"constructor"'];
    for (let i = 0; i < 60; i++) {
      const fields = ['type', 'deviceId', 'planId', 'component', 'accept', 'bytes', 'total', 'state', 'versions', 'version'];
      const types = ['"check"', '"confirm"', '"progress"', '"report"'];
      const parts = fields.filter(() => rnd() < 0.6).map((f) => `"${f}":${f === 'type' ? types[Math.floor(rnd() * 4)] : f === 'deviceId' ? '"d"' : atoms[Math.floor(rnd() * atoms.length)]}`);
      const r = await call(`${s.url}/api/device/message`, 'POST', `{${parts.join(',')}}`, 'application/json');
      assert.ok(r.status === 200 || (r.status >= 400 && r.status < 500), `${r.status} for {${parts.join(',')}}: ${JSON.stringify(r.json)}`);
      assert.ok(r.json !== null);
    }
    const tree = await call(`${s.url}/something-else`, 'GET');
    assert.is(tree.status, 404);
    assert.is(tree.json, null, 'answered by the update server, not the plan API');
  } finally {
    await s.close();
  }
});

// --- end to end ---------------------------------------------------------------------------------

/** A device as flashed at the factory (OLD in ota_0, confirmed) with an agent over HTTP. */
class Device {
  readonly r: Rig = rig();
  booted: Partition | undefined;
  running = '1.0';
  host!: AgentHttpHost;
  reboots = 0;
  fetches: { url: string; from: number }[] = [];
  errors: unknown[] = [];
  logs: string[] = [];

  constructor(
    readonly id: string,
    public serverUrl: string,
  ) {
    this.r.flash.erase(this.r.p.ota_0.offset, Math.ceil(OLD.length / 4096) * 4096);
    this.r.flash.write(this.r.p.ota_0.offset, OLD);
    writeOtaEntry(new RegionFlash(this.r.flash, this.r.p.otadata.offset, this.r.p.otadata.size), 0, makeOtaEntry(1, OTA_STATE.VALID, undefined, nodeHashes));
  }

  boot(): void {
    const d = simulateReboot(this.r.flash, this.r.table, { rollback: true, hashes: nodeHashes });
    this.booted = d.boot!;
    const head = new Uint8Array(64);
    this.r.flash.read(this.booted.offset, head);
    this.running = head.every((b, i) => b === NEW[i]) ? '2.0' : '1.0';
    const engine = () => OtaEngine.open(this.r.flash, { table: this.r.table, rollback: true, hashes: nodeHashes, running: this.booted });
    const agent = new UpdateAgent({
      deviceId: this.id,
      installers: { module: otaModuleInstaller({ engine, hashes: nodeHashes }) },
      recordRegion: new RegionFlash(this.r.flash, this.r.p.nvs.offset, this.r.p.nvs.size),
      progressMs: 0,
    });
    this.host = new AgentHttpHost(agent, {
      serverUrl: this.serverUrl,
      chunkSize: 4096,
      onReboot: () => {
        this.reboots++;
        setImmediate(() => this.boot());
      },
      onAction: (a: AgentAction) => {
        if (a.type === 'fetch') this.fetches.push({ url: a.url, from: a.from });
      },
      onError: (e) => this.errors.push(e),
      onLog: (t) => this.logs.push(t),
    });
    this.host.start({ app: this.running }, this.running === '2.0' ? true : undefined);
  }
}

async function until(what: string, cond: () => Promise<boolean> | boolean, ms = 15000): Promise<void> {
  const t0 = Date.now();
  while (!(await cond())) {
    if (Date.now() - t0 > ms) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function statsOf(s: Srv, planId: string) {
  return (await call(`${s.url}/api/plans/${planId}`, 'GET')).json;
}

test('end to end: an agent over HTTP updates a MemoryFlash, reboots through the bootloader, reports 2.0; stats say success', async () => {
  const s = await start();
  const dev = new Device('esp32-0001', s.url);
  try {
    const pkg = (await upload(s, NEW)).json.id;
    await postJson(s, '/api/plans', { id: 'e2e', ...planJson(pkg) });
    await call(`${s.url}/api/plans/e2e/activate`, 'POST');
    dev.boot();
    dev.host.checkNow();
    await until('success in the stats', async () => (await statsOf(s, 'e2e')).stats.succeeded === 1);
    assert.equal(dev.errors, []);
    assert.is(dev.running, '2.0');
    assert.is(dev.reboots, 1);
    const d = decideBoot(dev.r.flash, dev.r.table, { rollback: true, hashes: nodeHashes });
    assert.is(d.boot!.label, 'ota_1');
    assert.is(d.activeStateAfterBoot, OTA_STATE.VALID);
    const st = await statsOf(s, 'e2e');
    assert.equal({ ...st.stats }, { planId: 'e2e', name: 'app 2.0', state: 'active', devices: 1, succeeded: 1, failed: 0, inProgress: 0, successRate: 1 });
    assert.equal(st.devices[0].components.app, { bytes: NEW.length, total: NEW.length, state: 'succeeded', version: '2.0' });
    const log = (await call(`${s.url}/api/devices/esp32-0001/log`, 'GET')).json.log.map((e: { state: string }) => e.state);
    assert.equal(log.slice(0, 2), ['offered', 'confirmed']);
    assert.ok(log.filter((x: string) => x === 'progress').length >= 2, log.join(','));
    assert.is(log[log.length - 1], 'succeeded');
    // The device checks again: nothing more for it.
    assert.equal((await postJson(s, '/api/device/message', { type: 'check', deviceId: 'esp32-0001', versions: { app: '2.0' } })).json, { type: 'none' });
  } finally {
    dev.host?.stop();
    await s.close();
  }
});

test('a server restart mid-download: the plan and device state survive in SQLite; the device resumes with Range and succeeds', async () => {
  const dir = path.join(tmp, 'restart');
  let cutDone: (() => void) | null = null;
  const cut = new Promise<void>((r) => (cutDone = r));
  // The first server dies while sending the package: a third of it goes out, then the socket drops.
  const dying = async (req: http.IncomingMessage, res: http.ServerResponse) => {
    if (!/^\/packages\//.test(req.url ?? '') || req.headers.range) return false;
    const third = Math.floor(NEW.length / 3);
    res.writeHead(200, { 'Content-Type': 'application/octet-stream', 'Content-Length': String(NEW.length) });
    res.write(Buffer.from(NEW.subarray(0, third)), () => setTimeout(() => (res.destroy(), cutDone!()), 50));
    return true;
  };
  let s = await start({ dir, before: dying });
  const port = s.port;
  const dev = new Device('esp32-0002', s.url);
  try {
    const pkg = (await upload(s, NEW)).json.id;
    await postJson(s, '/api/plans', { id: 'restart', ...planJson(pkg) });
    await call(`${s.url}/api/plans/restart/activate`, 'POST');
    dev.boot();
    dev.host.checkNow();
    await cut;
    await s.close();
    s = await start({ dir, port });
    const before = await statsOf(s, 'restart');
    assert.is(before.plan.state, 'active', 'the plan survived the restart');
    assert.equal(before.devices.map((d: { deviceId: string }) => d.deviceId), ['esp32-0002']);
    assert.ok(['confirmed', 'downloading'].includes(before.devices[0].state), before.devices[0].state);
    await until('success after the restart', async () => (await statsOf(s, 'restart')).stats.succeeded === 1);
    assert.equal(dev.errors, []);
    assert.is(dev.running, '2.0');
    // The second download started where the flash said, not from 0.
    assert.ok(dev.fetches.length >= 2, JSON.stringify(dev.fetches));
    assert.is(dev.fetches[0].from, 0);
    const last = dev.fetches[dev.fetches.length - 1];
    assert.ok(last.from > 0 && last.from <= Math.floor(NEW.length / 3), `resumed from ${last.from}: ${JSON.stringify(dev.fetches)} ${dev.logs.join(' | ')}`);
  } finally {
    dev.host?.stop();
    await s.close();
  }
});

test('a download cut short, then a server that ignores Range (200, whole package): the host skips what the flash holds; success', async () => {
  let cuts = 0;
  let ignoredRange = '';
  // The first GET is cut after a third; later ones answer 200 with every byte, whatever the Range.
  const flaky = async (req: http.IncomingMessage, res: http.ServerResponse) => {
    if (!/^\/packages\//.test(req.url ?? '')) return false;
    res.writeHead(200, { 'Content-Type': 'application/octet-stream', 'Content-Length': String(NEW.length) });
    if (cuts++ === 0) {
      res.write(Buffer.from(NEW.subarray(0, Math.floor(NEW.length / 3))), () => setTimeout(() => res.destroy(), 50));
    } else {
      ignoredRange = String(req.headers.range);
      res.end(Buffer.from(NEW));
    }
    return true;
  };
  const s = await start({ before: flaky });
  const dev = new Device('esp32-0003', s.url);
  try {
    const pkg = (await upload(s, NEW)).json.id;
    await postJson(s, '/api/plans', { id: 'norange', ...planJson(pkg) });
    await call(`${s.url}/api/plans/norange/activate`, 'POST');
    dev.boot();
    dev.host.checkNow();
    await until('success', async () => (await statsOf(s, 'norange')).stats.succeeded === 1);
    assert.equal(dev.errors, []);
    assert.is(dev.running, '2.0');
    const last = dev.fetches[dev.fetches.length - 1];
    assert.ok(last.from > 0, `resumed from ${last.from}`);
    assert.is(ignoredRange, `bytes=${last.from}-`, 'the host asked for the rest');
  } finally {
    dev.host?.stop();
    await s.close();
  }
});

test.after(() => fs.rmSync(tmp, { recursive: true, force: true }));

test.run();
