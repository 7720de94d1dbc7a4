// The fleet simulator end to end on loopback: real agents over their own MemoryFlash, the real plan
// HTTP handler over a store, injected disconnects; the service's own numbers must agree.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { MemoryPlanStore } from '../../src/server/plans/memory-store';
import { runAsync } from '../../src/cli/run';
import { createFleetPlan, runFleet, startLocalPlanServer, SimDevice, sampleImage, SAMPLE_FROM, SAMPLE_TO } from '../../src/server/plans/fleet-sim';

test('50 devices over HTTP with 20% of checks, confirmations and downloads cut: all succeed, the service agrees', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'otaflash-fleet-'));
  const store = new MemoryPlanStore();
  const srv = await startLocalPlanServer({ store, packagesDir: dir });
  try {
    const setup = await createFleetPlan(store, (name, bytes) => fs.writeFileSync(path.join(dir, name), bytes), { planId: 'fleet-test' });
    const r = await runFleet({ devices: 50, server: srv.url, concurrency: 25, disconnectRate: 0.2, seed: 7 });
    assert.equal(r.failures, {});
    assert.is(r.succeeded, 50);
    assert.ok(r.retries > 0, 'no retries: the injected disconnects did not happen');
    const stats = await store.stats(setup.planId);
    assert.is(stats!.devices, 50);
    assert.is(stats!.succeeded, 50);
    assert.is(stats!.failed, 0);
    const one = await store.deviceLog('sim-3');
    assert.ok(one.some((e) => e.state === 'succeeded'));
  } finally {
    await srv.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('a simulated device boots its factory image and reports its version from the app description', () => {
  const d = new SimDevice('x', sampleImage(SAMPLE_FROM));
  const { start } = d.boot(0);
  assert.equal(start.versions, { app: SAMPLE_FROM });
  assert.is.not(sampleImage(SAMPLE_FROM).length, 0);
  assert.is(sampleImage(SAMPLE_TO).length, sampleImage(SAMPLE_FROM).length);
});

async function cli(...argv: string[]) {
  let stdout = '';
  let stderr = '';
  const code = await runAsync(argv, { stdout: (t) => void (stdout += typeof t === 'string' ? t : Buffer.from(t).toString()), stderr: (t) => void (stderr += t), isTTY: false });
  return { code, stdout, stderr };
}

test('otaflash fleet-sim --db FILE --json; a later otaflash serve on that database shows the run on /monitor and /api/stats', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'otaflash-fleet-cli-'));
  const db = path.join(dir, 'plans.db');
  try {
    const r = await cli('fleet-sim', '--devices', '6', '--db', db, '--json', '--disconnects', '0.2', '--concurrency', '6');
    assert.is(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout);
    assert.equal(Object.keys(out).slice(0, 8), ['devices', 'succeeded', 'failed', 'retries', 'wallSeconds', 'requestsPerSecond', 'p99Ms', 'serverRssMb']);
    assert.is(out.succeeded, 6);
    assert.is(out.failed, 0);
    assert.match(r.stderr, /6\/6 devices done/);
    // The run's plan outlives it: serve an empty tree on the same database.
    const tree = fs.mkdtempSync(path.join(dir, 'tree-'));
    const main = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));
    const child = spawn(process.execPath, ['--import', 'tsx', main, 'serve', tree, '--port', '0', '--db', db], { stdio: ['ignore', 'pipe', 'pipe'] });
    try {
      const url = await new Promise<string>((resolve, reject) => {
        let text = '';
        const timer = setTimeout(() => reject(new Error('serve did not start')), 15000);
        child.stdout!.on('data', (b: Buffer) => {
          text += b.toString();
          const m = / on (http:\/\/\S+) /.exec(text);
          if (m) {
            clearTimeout(timer);
            resolve(m[1]);
          }
        });
      });
      const page = await fetch(`${url}/monitor`);
      assert.is(page.status, 200);
      assert.match(await page.text(), /Upgrade monitor/);
      const stats = (await (await fetch(`${url}/api/stats`)).json()) as { plans: { planId: string; devices: number; succeeded: number; successRate: number }[] };
      const p = stats.plans.find((x) => x.planId === out.planId)!;
      assert.equal([p.devices, p.succeeded, p.successRate], [6, 6, 1]);
      const devs = (await (await fetch(`${url}/monitor/api/plans/${out.planId}/devices?limit=5`)).json()) as { count: number; devices: { state: string; percent: number }[] };
      assert.is(devs.count, 6);
      assert.is(devs.devices.length, 5);
      assert.ok(devs.devices.every((d) => d.state === 'succeeded' && d.percent === 100));
      assert.is((await fetch(`${url}/monitor/api/plans/nope/devices`)).status, 404);
      assert.is((await fetch(`${url}/monitor/api/plans/${out.planId}/devices?limit=0`)).status, 400);
      assert.is((await fetch(`${url}/monitor`, { method: 'POST' })).status, 405);
    } finally {
      child.kill('SIGTERM');
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('otaflash fleet-sim --server URL: the plan goes through the admin API of a running server', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'otaflash-fleet-remote-'));
  const store = new MemoryPlanStore();
  const srv = await startLocalPlanServer({ store, packagesDir: dir });
  try {
    const r = await cli('fleet-sim', '--devices', '5', '--server', srv.url, '--json', '--disconnects', '0');
    assert.is(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout);
    assert.equal([out.succeeded, out.failed, out.retries, out.serverRssMb], [5, 0, 0, null]);
    const plan = await store.getPlan(out.planId);
    assert.is(plan!.state, 'active');
    assert.is((await store.stats(out.planId))!.succeeded, 5);
    assert.is((await store.getPackage(plan!.components[0].full!))!.size, sampleImage(SAMPLE_TO).length);
  } finally {
    await srv.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('fleet-sim refuses bad options with one line each', async () => {
  for (const [argv, re] of [
    [['fleet-sim'], /--devices N is required/],
    [['fleet-sim', '--devices', '0'], /--devices '0' must be a whole number from 1/],
    [['fleet-sim', '--devices', '5', '--transport', 'udp'], /--transport must be http or mqtt/],
    [['fleet-sim', '--devices', '5', '--server', 'http://example.com'], /must be http:\/\/127\.0\.0\.1/],
    [['fleet-sim', '--devices', '5', '--server', 'http://127.0.0.1:1', '--transport', 'mqtt'], /needs the server here/],
    [['fleet-sim', '--devices', '5', '--mqtt', 'mqtt://127.0.0.1:1'], /--mqtt goes with --transport mqtt/],
    [['fleet-sim', '--devices', '5', '--disconnects', '0.9'], /share from 0 to 0\.5/],
  ] as [string[], RegExp][]) {
    const r = await cli(...argv);
    assert.is(r.code, 2, argv.join(' '));
    assert.match(r.stderr, re);
  }
});

test.run();
