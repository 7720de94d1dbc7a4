// The plan service over MQTT against a real broker: the embedded aedes broker always, and the
// external broker at OTAFLASH_TEST_MQTT (mosquitto, started by .ci/run) when it is set.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { connectAsync, type MqttClient } from 'mqtt';
import { MemoryPlanStore } from '../../src/server/plans/memory-store';
import { PlanService } from '../../src/server/plans/service';
import { packageUrl } from '../../src/server/plans/http';
import { checkTopicLevel, downTopic, startEmbeddedBroker, startMqttForServe, startPlanMqttBridge, upTopic, type EmbeddedBroker } from '../../src/server/plans/mqtt';
import { startMqttAgent } from '../../src/node/agent-mqtt';
import { createFleetPlan, mqttFleetLinks, runFleet, sampleImage, SAMPLE_FROM, SAMPLE_TO, SimDevice, startFleetMqttBridge, startLocalPlanServer, type LocalPlanServer } from '../../src/server/plans/fleet-sim';
import { errorCode } from '../helpers';
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { createFleetPlanRemote } from '../../src/server/plans/fleet-sim';

/** `otaflash serve` as a process; resolves with its HTTP URL and the MQTT broker it announced. */
function serveProcess(...extra: string[]): Promise<{ child: ChildProcess; url: string; broker: string | null; stderr: () => string }> {
  const tree = fs.mkdtempSync(path.join(os.tmpdir(), 'otaflash-serve-mqtt-'));
  const main = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));
  const child = spawn(process.execPath, ['--import', 'tsx', main, 'serve', tree, '--port', '0', '--db', 'memory', ...extra], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`serve did not start: ${err}`)), 20000);
    const look = () => {
      const u = / on (http:\/\/\S+) /.exec(out);
      const b = /over MQTT on (\S+)/.exec(err);
      if (u && (b || extra.indexOf('--mqtt') < 0)) {
        clearTimeout(timer);
        resolve({ child, url: u[1], broker: b ? b[1] : null, stderr: () => err });
      }
    };
    child.stdout!.on('data', (d: Buffer) => ((out += d.toString()), look()));
    child.stderr!.on('data', (d: Buffer) => ((err += d.toString()), look()));
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(Object.assign(new Error(`serve exited ${code}: ${err}`), { code, stderr: err }));
    });
  });
}

const EXTERNAL = process.env.OTAFLASH_TEST_MQTT;
if (!EXTERNAL) console.log('mqtt.test: OTAFLASH_TEST_MQTT not set: the tests against an external broker (mosquitto) are skipped');

interface Rig {
  dir: string;
  store: MemoryPlanStore;
  http: LocalPlanServer;
  broker: EmbeddedBroker | null;
  url: string;
  close(): Promise<void>;
}

async function rig(external?: string): Promise<Rig> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'otaflash-mqtt-'));
  const store = new MemoryPlanStore();
  const http = await startLocalPlanServer({ store, packagesDir: dir });
  const broker = external ? null : await startEmbeddedBroker();
  return {
    dir,
    store,
    http,
    broker,
    url: external ?? broker!.url,
    async close() {
      await http.close();
      if (broker) await broker.close();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

const until = async (cond: () => boolean | Promise<boolean>, ms = 5000) => {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 10));
  }
};

/** One device, checking only when the service pushes: plan, download over HTTP, reboot, report. */
async function pushedUpdate(r: Rig, prefix: string) {
  const setup = await createFleetPlan(r.store, (n, b) => fs.writeFileSync(path.join(r.dir, n), b), { planId: `${prefix}-plan` });
  const bridge = await startFleetMqttBridge(r.store, r.url, r.http.url);
  const device = new SimDevice(`${prefix}-dev-1`, sampleImage(SAMPLE_FROM)); // no check interval: waits for a push
  const sent: string[] = [];
  const agent = await startMqttAgent({ url: r.url, deviceId: device.id, boot: () => device.boot(Date.now()), onSent: (m, a, e) => sent.push(`${m.type}${e ? '!' : ''}`) });
  try {
    await new Promise((res) => setTimeout(res, 100));
    assert.equal(sent, [], 'the device checked before it was told to');
    await bridge.checkNow(device.id);
    await until(async () => (await r.store.stats(setup.planId))!.succeeded === 1);
    assert.is(device.runningVersion(), SAMPLE_TO);
    assert.is(device.boots, 2);
    assert.equal(sent.slice(0, 2), ['check', 'confirm']);
    // Answers arrive in any order: the report's may come after the service recorded it.
    await until(() => sent.indexOf('report') >= 0);
    assert.ok(sent.every((s) => ['check', 'confirm', 'progress', 'report'].indexOf(s) >= 0), sent.join(' '));
    const log = await r.store.deviceLog(device.id);
    assert.equal(log.map((e) => e.state).filter((s) => s !== 'progress'), ['offered', 'confirmed', 'succeeded']);
  } finally {
    await agent.close();
    await bridge.close();
  }
}

/** Publishes raw payloads on a device's up topic and collects what comes down. */
async function rawDevice(url: string, deviceId: string): Promise<{ c: MqttClient; got: unknown[] }> {
  const c = await connectAsync(url);
  const got: unknown[] = [];
  c.on('message', (_t, p) => got.push(JSON.parse(p.toString())));
  await c.subscribeAsync(downTopic(deviceId), { qos: 1 });
  return { c, got };
}

test('embedded broker: the service pushes check-now, the device updates over MQTT + HTTP Range and reports success', async () => {
  const r = await rig();
  try {
    await pushedUpdate(r, 'emb');
  } finally {
    await r.close();
  }
});

test('bridge refusals: another device id, an unknown type, a missing id, not JSON; answers go only to the asking device', async () => {
  const r = await rig();
  const lines: string[] = [];
  const service = new PlanService(r.store, { packageUrl: (p) => packageUrl(r.http.url, p) });
  const bridge = await startPlanMqttBridge({ service, url: r.url, log: (l) => lines.push(l) });
  const a = await rawDevice(r.url, 'dev-a');
  const b = await rawDevice(r.url, 'dev-b');
  try {
    await a.c.publishAsync(upTopic('dev-a'), JSON.stringify({ id: 'r1', message: { type: 'check', deviceId: 'dev-b', versions: {} } }), { qos: 1 });
    await a.c.publishAsync(upTopic('dev-a'), JSON.stringify({ id: 'r2', message: { type: 'hello', deviceId: 'dev-a' } }), { qos: 1 });
    await a.c.publishAsync(upTopic('dev-a'), JSON.stringify({ message: { type: 'check', deviceId: 'dev-a', versions: {} } }), { qos: 1 });
    await a.c.publishAsync(upTopic('dev-a'), 'not json', { qos: 1 });
    await a.c.publishAsync(upTopic('dev-a'), JSON.stringify({ id: 'r3', message: { type: 'check', deviceId: 'dev-a', versions: { app: '1.0.0' } } }), { qos: 1 });
    await until(() => a.got.length >= 3 && lines.length >= 2);
    await new Promise((res) => setTimeout(res, 50));
    const byId = new Map((a.got as { id: string; error?: { code: string }; message?: unknown }[]).map((m) => [m.id, m]));
    assert.is(byId.get('r1')!.error!.code, 'PLAN_BAD_MESSAGE');
    assert.is(byId.get('r2')!.error!.code, 'PLAN_BAD_MESSAGE');
    assert.equal(byId.get('r3')!.message, { type: 'none' });
    assert.is(a.got.length, 3);
    assert.equal(b.got, []);
    assert.ok(lines.some((l) => /no request id/.test(l)) && lines.some((l) => /not JSON/.test(l)), lines.join('\n'));
    assert.is(bridge.handled, 3);
    assert.is(errorCode(() => checkTopicLevel('a/b')), 'MQTT_BAD_DEVICE_ID');
    assert.is(errorCode(() => upTopic('+')), 'MQTT_BAD_DEVICE_ID');
    assert.is(errorCode(() => checkTopicLevel('')), 'MQTT_BAD_DEVICE_ID');
  } finally {
    await a.c.endAsync();
    await b.c.endAsync();
    await bridge.close();
    await r.close();
  }
});

test('fleet-sim over MQTT (embedded broker): 20 devices with 20% of checks and confirmations cut all succeed', async () => {
  const r = await rig();
  const setup = await createFleetPlan(r.store, (n, b) => fs.writeFileSync(path.join(r.dir, n), b), { planId: 'mqtt-fleet' });
  const bridge = await startFleetMqttBridge(r.store, r.url, r.http.url);
  const links = await mqttFleetLinks(r.url, 3);
  try {
    const res = await runFleet({ devices: 20, server: r.http.url, link: links.link, concurrency: 10, disconnectRate: 0.2, seed: 3 });
    assert.equal(res.failures, {});
    assert.is(res.succeeded, 20);
    assert.ok(res.retries > 0);
    assert.is((await r.store.stats(setup.planId))!.succeeded, 20);
  } finally {
    await links.close();
    await bridge.close();
    await r.close();
  }
});

test('otaflash serve --mqtt embedded: 8 devices update over MQTT through the served plan; bad or absent brokers are refused', async () => {
  const s = await serveProcess('--mqtt', 'embedded');
  try {
    assert.ok(s.broker && /^mqtt:\/\/127\.0\.0\.1:\d+$/.test(s.broker), s.stderr());
    const setup = await createFleetPlanRemote(s.url, { planId: 'served-mqtt' });
    const links = await mqttFleetLinks(s.broker!, 2);
    try {
      const r = await runFleet({ devices: 8, server: s.url, link: links.link, concurrency: 8, disconnectRate: 0.2, seed: 11, prefix: 'served-' });
      assert.equal(r.failures, {});
      assert.is(r.succeeded, 8);
    } finally {
      await links.close();
    }
    const stats = (await (await fetch(`${s.url}/api/stats`)).json()) as { plans: { planId: string; succeeded: number }[] };
    assert.is(stats.plans.find((p) => p.planId === setup.planId)!.succeeded, 8);
  } finally {
    s.child.kill('SIGTERM');
  }
  // Refusals of --mqtt, in process: not a broker URL; a broker that is not there (fails, does not hang).
  const store = new MemoryPlanStore();
  const err = await startMqttForServe(store, 'http://127.0.0.1:1', 'http://127.0.0.1:2').catch((e: { code: string }) => e.code);
  assert.is(err, 'MQTT_OPTIONS');
  const t0 = Date.now();
  const refused = await startMqttForServe(store, 'mqtt://127.0.0.1:1', 'http://127.0.0.1:2').then(
    (m) => (void m.close(), 'started'),
    (e: Error) => e.message,
  );
  assert.is.not(refused, 'started');
  assert.ok(Date.now() - t0 < 10000, `took ${Date.now() - t0} ms to fail`);
});

if (EXTERNAL) {
  test('external broker (OTAFLASH_TEST_MQTT): pushed check-now, update, success report', async () => {
    const r = await rig(EXTERNAL);
    try {
      await pushedUpdate(r, `ext-${process.pid}`);
    } finally {
      await r.close();
    }
  });

  test('external broker: two bridges in one shared subscription group handle each message once', async () => {
    const r = await rig(EXTERNAL);
    const service = new PlanService(r.store, { packageUrl: (p) => packageUrl(r.http.url, p) });
    const group = `g${process.pid}`;
    const b1 = await startPlanMqttBridge({ service, url: r.url, shareGroup: group });
    const b2 = await startPlanMqttBridge({ service, url: r.url, shareGroup: group });
    const dev = `shared-${process.pid}`;
    const d = await rawDevice(r.url, dev);
    try {
      for (let i = 0; i < 20; i++) await d.c.publishAsync(upTopic(dev), JSON.stringify({ id: `q${i}`, message: { type: 'check', deviceId: dev, versions: {} } }), { qos: 1 });
      await until(() => d.got.length >= 20);
      await new Promise((res) => setTimeout(res, 100));
      assert.is(d.got.length, 20);
      assert.is(b1.handled + b2.handled, 20);
    } finally {
      await d.c.endAsync();
      await b1.close();
      await b2.close();
      await r.close();
    }
  });
}

test.run();
