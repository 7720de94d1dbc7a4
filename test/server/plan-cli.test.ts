// otaflash plan create|activate|status against a real server (in process, 127.0.0.1), and
// `otaflash serve --db` putting the plan API in front of the version tree.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createHash } from 'node:crypto';
import { runAsync } from '../../src/cli/run';
import { createUpdateServer } from '../../src/server/update-server';
import { createPlanHttpHandler } from '../../src/server/plans/http';
import { SqlitePlanStore } from '../../src/server/plans/sqlite-store';
import { APP_A, APP_B, image } from '../ota/engine-fixtures';

const OLD = image(APP_A);
const NEW = image(APP_B);
const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'otaflash-plan-cli-'));

async function cli(...argv: string[]) {
  let stdout = '';
  let stderr = '';
  const code = await runAsync(argv, { stdout: (t) => void (stdout += typeof t === 'string' ? t : Buffer.from(t).toString()), stderr: (t) => void (stderr += t), isTTY: false });
  return { code, stdout, stderr };
}

async function server() {
  const dir = fs.mkdtempSync(path.join(tmp, 'srv-'));
  const plans = createPlanHttpHandler({ store: new SqlitePlanStore(path.join(dir, 'plans.db')), packagesDir: path.join(dir, 'packages'), log: () => {} });
  const srv = createUpdateServer({ root: dir, handlers: [plans], log: () => {} });
  const { url } = await srv.listen(0, '127.0.0.1');
  return { url, close: async () => (await srv.close(0), await plans.close()) };
}

function planFile(plan: unknown): string {
  const dir = fs.mkdtempSync(path.join(tmp, 'plan-'));
  fs.mkdirSync(path.join(dir, 'build'));
  fs.writeFileSync(path.join(dir, 'build', 'app-2.0.bin'), NEW);
  fs.writeFileSync(path.join(dir, 'build', 'app-1.0-2.0.delta'), OLD.subarray(0, 5000));
  const f = path.join(dir, 'plan.json');
  fs.writeFileSync(f, JSON.stringify(plan));
  return f;
}

const PLAN = {
  name: 'app 2.0',
  components: [{ id: 'app', kind: 'module', source: '*', target: '2.0', full: 'build/app-2.0.bin', deltas: { '1.0': 'build/app-1.0-2.0.delta' } }],
  strategy: { mode: 'silent', retries: 2 },
  scope: { batchLimit: 50 },
};

test('plan create uploads the files, creates the plan; activate; status in text and JSON', async () => {
  const s = await server();
  try {
    const f = planFile(PLAN);
    const c = await cli('plan', 'create', f, '--server', s.url);
    assert.is(c.code, 0, c.stderr);
    const id = c.stdout.trim();
    assert.match(id, /^plan-[0-9a-f]{12}$/);
    assert.match(c.stderr, `uploaded: `);
    assert.match(c.stderr, `pkg-${sha(NEW).slice(0, 16)}`);
    // The same file again: the same packages (already there), a second plan.
    const c2 = await cli('plan', 'create', f, '--server', s.url, '--json');
    assert.is(c2.code, 0, c2.stderr);
    assert.match(c2.stderr, 'already there');
    const plan2 = JSON.parse(c2.stdout);
    assert.is(plan2.components[0].full, `pkg-${sha(NEW).slice(0, 16)}`);
    assert.is(plan2.components[0].deltas['1.0'], `pkg-${sha(OLD.subarray(0, 5000)).slice(0, 16)}`);
    const a = await cli('plan', 'activate', id, '--server', s.url);
    assert.equal([a.code, a.stdout], [0, `plan ${id} is active\n`]);
    // A device checks in, so status has one to show.
    await fetch(`${s.url}/api/device/message`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ type: 'check', deviceId: 'dev-1', versions: { app: '1.0' } }) });
    const st = await cli('plan', 'status', id, '--server', s.url);
    assert.is(st.code, 0, st.stderr);
    assert.match(st.stdout, `plan ${id} "app 2.0": active`);
    assert.match(st.stdout, '1 devices: 0 succeeded, 0 failed, 1 in progress; success rate 0%');
    assert.match(st.stdout, /dev-1 {2}offered {2}app pending/);
    const js = await cli('plan', 'status', id, '--server', s.url, '--json');
    const j = JSON.parse(js.stdout);
    assert.is(j.stats.devices, 1);
    assert.is(j.devices[0].packages.app, `pkg-${sha(OLD.subarray(0, 5000)).slice(0, 16)}`, 'the delta for 1.0');
  } finally {
    await s.close();
  }
});

test('plan CLI refusals: no --server, an unreachable server, a bad plan file, an unknown plan', async () => {
  const s = await server();
  try {
    const f = planFile(PLAN);
    let r = await cli('plan', 'create', f);
    assert.is(r.code, 2);
    assert.match(r.stderr, '--server URL is required');
    r = await cli('plan', 'status', 'p1', '--server', 'http://127.0.0.1:1');
    assert.is(r.code, 1);
    assert.match(r.stderr, 'cannot reach');
    r = await cli('plan', 'create', planFile({ ...PLAN, strategy: { mode: 'sometimes' } }), '--server', s.url);
    assert.is(r.code, 2);
    assert.match(r.stderr, 'strategy.mode');
    r = await cli('plan', 'create', planFile({ ...PLAN, components: [{ ...PLAN.components[0], full: 'no/such/file.bin' }] }), '--server', s.url);
    assert.is(r.code, 2);
    assert.match(r.stderr, 'neither a file');
    r = await cli('plan', 'create', planFile({ ...PLAN, components: [{ ...PLAN.components[0], full: 'pkg-unknown' }] }), '--server', s.url);
    assert.is(r.code, 1);
    assert.match(r.stderr, "package 'pkg-unknown' is not stored");
    assert.match(r.stderr, '[PLAN_SPEC_INVALID]');
    r = await cli('plan', 'activate', 'nope', '--server', s.url);
    assert.is(r.code, 1);
    assert.match(r.stderr, '[PLAN_NOT_FOUND]');
    const bad = path.join(tmp, 'bad.json');
    fs.writeFileSync(bad, '{"name": ');
    r = await cli('plan', 'create', bad, '--server', s.url);
    assert.is(r.code, 2);
    assert.match(r.stderr, 'not JSON');
  } finally {
    await s.close();
  }
});

test('serve --db FILE: the plan API answers beside the version tree; the plans are in FILE after it stops', async () => {
  const dir = fs.mkdtempSync(path.join(tmp, 'serve-'));
  const db = path.join(tmp, 'serve.db');
  let out = '';
  const done = runAsync(['serve', dir, '--port', '0', '--db', db], { stdout: (t) => void (out += String(t)), stderr: () => {}, isTTY: false });
  let url = '';
  for (let i = 0; i < 300 && url === ''; i++) {
    await new Promise((r) => setTimeout(r, 10));
    url = /on (http:\/\/127\.0\.0\.1:\d+)/.exec(out)?.[1] ?? '';
  }
  assert.ok(url, out);
  const c = await cli('plan', 'create', planFile(PLAN), '--server', url);
  assert.is(c.code, 0, c.stderr);
  const stats = (await (await fetch(`${url}/api/stats`)).json()) as { plans: unknown[] };
  assert.is(stats.plans.length, 1);
  assert.ok(fs.existsSync(path.join(dir, '.otaflash', 'packages')));
  process.emit('SIGINT', 'SIGINT');
  assert.is(await done, 0);
  const store = new SqlitePlanStore(db);
  assert.is((await store.listPlans())[0].id, c.stdout.trim());
  await store.close();
});

test('serve DIR without --db: nothing is written into DIR until a plan request; then DIR/.otaflash/plans.db', async () => {
  const dir = fs.mkdtempSync(path.join(tmp, 'serve-default-'));
  let out = '';
  const done = runAsync(['serve', dir, '--port', '0'], { stdout: (t) => void (out += String(t)), stderr: () => {}, isTTY: false });
  let url = '';
  for (let i = 0; i < 300 && url === ''; i++) {
    await new Promise((r) => setTimeout(r, 10));
    url = /on (http:\/\/127\.0\.0\.1:\d+)/.exec(out)?.[1] ?? '';
  }
  assert.ok(url, out);
  await (await fetch(`${url}/manifest.json?current_ver=1.0.0`)).arrayBuffer();
  assert.equal(fs.readdirSync(dir), []);
  const stats = (await (await fetch(`${url}/api/stats`)).json()) as { plans: unknown[] };
  assert.equal(stats.plans, []);
  assert.ok(fs.existsSync(path.join(dir, '.otaflash', 'plans.db')));
  process.emit('SIGINT', 'SIGINT');
  assert.is(await done, 0);
});

test.after(() => fs.rmSync(tmp, { recursive: true, force: true }));

test.run();
