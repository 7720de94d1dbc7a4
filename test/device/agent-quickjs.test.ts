// The update agent inside QuickJS, from the device bundle: the device (flash, engine, agent) lives
// in the engine; the test is the runtime around it, carrying the agent's actions over real HTTP on
// loopback to the plan server (otaflash serve's update server with the plan handler, SQLite store)
// and feeding back answers and downloaded bytes. The flash ends with the new app confirmed, the
// server with the plan succeeded.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { getQuickJS, type QuickJSContext, type QuickJSHandle } from 'quickjs-emscripten';
import { deviceBundlePath, ensureBuilt } from './bundle';
import { encodePartitionTable } from '../../src/formats/partition-table';
import { nodeHashes } from '../../src/node/hash';
import { createUpdateServer } from '../../src/server/update-server';
import { createPlanHttpHandler } from '../../src/server/plans/http';
import { SqlitePlanStore } from '../../src/server/plans/sqlite-store';
import type { AgentAction, AgentEvent, AgentMessage } from '../../src/agent/types';
import { image, rig } from '../ota/engine-fixtures';

// Small real ESP32 images (128 B and 17 KB): QuickJS hashes at 1-2 MB/s, and this test is about
// the conversation, not throughput (the device benchmarks measure that).
const OLD = image('esptool/ram_helloworld/helloworld-esp32.bin');
const NEW = image('elf2image/esp32-zephyr.bin');

// The device side, as a runtime's own script would be: plain ES5, the bundle's global OtaFlash.
const DEVICE_SCRIPT = `
var L = OtaFlash;
var device = null;
function hexOf(b) { var s = ''; for (var i = 0; i < b.length; i++) s += (b[i] < 16 ? '0' : '') + b[i].toString(16); return s; }
function setup(tableBuf, oldBuf, newHeadBuf) {
  var dev = new L.MemoryFlash({ size: 0x400000 });
  dev.write(0x8000, new Uint8Array(tableBuf));
  var table = L.readPartitionTable(dev, 0x8000);
  var ota0 = L.findPartition(table, 'ota_0');
  var old = new Uint8Array(oldBuf);
  var padded = new Uint8Array(Math.ceil(old.length / 4) * 4);
  for (var i = 0; i < padded.length; i++) padded[i] = i < old.length ? old[i] : 0xff;
  dev.write(ota0.offset, padded);
  var od = L.findPartition(table, 'otadata');
  L.writeOtaEntry(new L.RegionFlash(dev, od.offset, od.size), 0, L.makeOtaEntry(1, L.OTA_STATE.VALID));
  device = { dev: dev, table: table, newHead: new Uint8Array(newHeadBuf), booted: null, agent: null };
}
function boot() {
  var d = L.simulateReboot(device.dev, device.table, { rollback: true });
  device.booted = d.boot;
  var head = new Uint8Array(64);
  device.dev.read(d.boot.offset, head);
  var isNew = true;
  for (var i = 0; i < 64; i++) if (head[i] !== device.newHead[i]) isNew = false;
  var nvs = L.findPartition(device.table, 'nvs');
  device.agent = new L.UpdateAgent({
    deviceId: 'qjs-1',
    installers: { module: L.otaModuleInstaller({ engine: function () {
      return L.OtaEngine.open(device.dev, { table: device.table, rollback: true, running: device.booted });
    } }) },
    recordRegion: new L.RegionFlash(device.dev, nvs.offset, nvs.size),
  });
  return JSON.stringify({ version: isNew ? '2.0' : '1.0', label: d.boot.label });
}
// One event in (JSON; data bytes passed separately), the actions out (JSON).
function step(eventJson, dataBuf) {
  var ev = JSON.parse(eventJson);
  if (ev.type === 'data') ev.bytes = new Uint8Array(dataBuf);
  return JSON.stringify(device.agent.handle(ev));
}
function bootState() {
  var d = L.decideBoot(device.dev, device.table, { rollback: true });
  return JSON.stringify({ label: d.boot ? d.boot.label : null, state: d.activeStateAfterBoot, phase: device.agent.phase });
}
`;

function call(ctx: QuickJSContext, name: string, ...args: QuickJSHandle[]): string {
  const fn = ctx.getProp(ctx.global, name);
  const r = ctx.callFunction(fn, ctx.undefined, ...args);
  fn.dispose();
  for (const a of args) a.dispose();
  if (r.error) {
    const e = ctx.dump(r.error);
    r.error.dispose();
    throw new Error(`${name} failed inside QuickJS: ${JSON.stringify(e)}`);
  }
  const s = ctx.getString(r.value);
  r.value.dispose();
  return s;
}

test('QuickJS device bundle: the agent takes a plan from the real plan server over loopback, updates, reboots, self-tests, confirms, reports', async () => {
  ensureBuilt();
  const qjs = await getQuickJS();
  const rt = qjs.newRuntime();
  const ctx = rt.newContext();
  const closers: (() => Promise<void>)[] = [];
  try {
    const load = ctx.evalCode(fs.readFileSync(deviceBundlePath, 'utf8'), 'otaflash.device.js', { type: 'global' });
    if (load.error) throw new Error(JSON.stringify(ctx.dump(load.error)));
    load.value.dispose();
    const s = ctx.evalCode(DEVICE_SCRIPT, 'device.js', { type: 'global' });
    if (s.error) throw new Error(JSON.stringify(ctx.dump(s.error)));
    s.value.dispose();

    const r = rig();
    const tableBytes = encodePartitionTable(r.table, { hashes: nodeHashes });
    call(ctx, 'setup', ctx.newArrayBuffer(tableBytes.slice().buffer), ctx.newArrayBuffer(OLD.slice().buffer), ctx.newArrayBuffer(NEW.slice(0, 64).buffer));

    // The server: a real update server on 127.0.0.1 with the plan handler over SQLite.
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'otaflash-qjs-agent-'));
    const plans = createPlanHttpHandler({ store: new SqlitePlanStore(path.join(dir, 'plans.db')), packagesDir: path.join(dir, 'packages'), log: () => {} });
    const srv = createUpdateServer({ root: dir, handlers: [plans], log: () => {} });
    const { url } = await srv.listen(0, '127.0.0.1');
    const api = async (p: string, method: string, body?: string | Uint8Array, type?: string): Promise<any> => {
      const res = await fetch(url + p, { method, body, headers: type ? { 'content-type': type } : {} });
      const json = await res.json();
      assert.ok(res.ok, `${method} ${p}: ${res.status} ${JSON.stringify(json)}`);
      return json;
    };
    closers.push(async () => {
      await srv.close(0);
      await plans.close();
      fs.rmSync(dir, { recursive: true, force: true });
    });
    const pkg = (await api('/api/packages?kind=full', 'POST', NEW, 'application/octet-stream')).id as string;
    await api('/api/plans', 'POST', JSON.stringify({ id: 'plan-1', name: 'app 2.0', components: [{ id: 'app', kind: 'module', source: '1.0', target: '2.0', full: pkg }], strategy: { mode: 'silent' } }), 'application/json');
    await api('/api/plans/plan-1/activate', 'POST');

    let booted = JSON.parse(call(ctx, 'boot')) as { version: string; label: string };
    assert.is(booted.version, '1.0');
    const queue: { ev: AgentEvent; bytes?: Uint8Array }[] = [
      { ev: { type: 'start', now: 0, versions: { app: booted.version } } },
      { ev: { type: 'check-now', now: 0 } },
    ];
    const sent: AgentMessage[] = [];
    let reboots = 0;
    let steps = 0;
    while (queue.length > 0) {
      assert.ok(steps++ < 10000, 'the agent did not settle');
      const { ev, bytes } = queue.shift()!;
      const json = JSON.stringify(ev.type === 'data' ? { ...ev, bytes: null } : ev);
      const data = bytes ? ctx.newArrayBuffer(bytes.slice().buffer) : ctx.undefined;
      const actions = JSON.parse(call(ctx, 'step', ctx.newString(json), data)) as AgentAction[];
      for (const a of actions) {
        if (a.type === 'send') {
          sent.push(a.message);
          const answer = await api('/api/device/message', 'POST', JSON.stringify(a.message), 'application/json');
          queue.push({ ev: { type: 'response', now: 0, id: a.id, message: answer } });
        } else if (a.type === 'fetch') {
          assert.ok(a.url.startsWith(url + '/packages/'), a.url);
          const res = await fetch(a.url, { headers: a.from > 0 ? { range: `bytes=${a.from}-` } : {} });
          assert.is(res.status, a.from > 0 ? 206 : 200);
          const body = new Uint8Array(await res.arrayBuffer());
          for (let at = 0; at < body.length; at += 4096) {
            queue.push({ ev: { type: 'data', now: 0, id: a.id, bytes: new Uint8Array(0) }, bytes: body.subarray(at, Math.min(at + 4096, body.length)) });
          }
          queue.push({ ev: { type: 'fetch-done', now: 0, id: a.id } });
        } else if (a.type === 'reboot') {
          reboots++;
          queue.length = 0;
          booted = JSON.parse(call(ctx, 'boot'));
          queue.push({ ev: { type: 'start', now: 0, versions: { app: booted.version }, selfTestPassed: true } });
          break;
        }
      }
    }
    assert.is(reboots, 1);
    assert.is(booted.version, '2.0');
    assert.is(booted.label, 'ota_1');
    const st = JSON.parse(call(ctx, 'bootState'));
    assert.equal(st, { label: 'ota_1', state: 2 /* VALID */, phase: 'idle' });
    const stats = (await api('/api/stats', 'GET')).plans.find((p: { planId: string }) => p.planId === 'plan-1');
    assert.equal([stats.devices, stats.succeeded, stats.failed], [1, 1, 0]);
    assert.equal(sent.map((m) => m.type).filter((t) => t !== 'progress'), ['check', 'confirm', 'report']);
    assert.ok(sent.some((m) => m.type === 'progress' && m.percent === 100));
  } finally {
    for (const c of closers) await c();
    ctx.dispose();
    rt.dispose();
  }
});

test.run();
