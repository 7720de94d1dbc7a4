// The PostgreSQL plan store against a real server (OTAFLASH_TEST_POSTGRES, a postgres:// URL; .ci/run
// starts one): the store contract, migrations, and two stores with their own pools (two servers)
// racing for the slots of a limited batch. Skipped, saying so, when the variable is unset.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import pg from 'pg';
import { PostgresPlanStore } from '../../src/server/plans/postgres-store';
import { openPlanStore } from '../../src/server/plans/open-store';
import { MIGRATIONS } from '../../src/server/plans/migrations';
import type { DevicePlanRecord, PlanRecord, PlanStore } from '../../src/server/plans/types';
import { planStoreContract } from './plan-store-contract';
import { createPlanHttpHandler } from '../../src/server/plans/http';
import { createUpdateServer } from '../../src/server/update-server';

const URL = process.env.OTAFLASH_TEST_POSTGRES;

if (!URL) {
  console.log('plan-postgres: skipped, OTAFLASH_TEST_POSTGRES is not set (a postgres:// URL; .ci/run sets it)');
} else {
  // Each store gets a schema of its own, dropped at the end, so runs never see each other's rows.
  const schemas: string[] = [];
  const schema = () => {
    const s = `otaflash_test_${randomBytes(5).toString('hex')}`;
    schemas.push(s);
    return s;
  };
  const open: PlanStore[] = [];
  const make = async (s = schema()) => {
    const st = await PostgresPlanStore.open(URL, { schema: s });
    open.push(st);
    return st;
  };

  planStoreContract((name, fn) => test(`postgres store: ${name}`, fn), () => make());

  const plan = (id: string): PlanRecord => ({
    id, name: id, components: [{ id: 'app', kind: 'module', source: '1.0', target: '2.0', full: 'pkg' }],
    strategy: { mode: 'silent' }, scope: { batchLimit: 7 }, state: 'active', order: 0, createdAt: 1_700_000_000_000,
  });
  const rec = (planId: string, deviceId: string): DevicePlanRecord => ({
    planId, deviceId, state: 'offered', packages: { app: 'pkg' }, components: { app: { bytes: 0, total: 0, state: 'pending' } }, updatedAt: 1_700_000_000_001,
  });

  test('postgres: two stores (two pools, as two servers) racing for a batch of 7: exactly 7 granted, once per device', async () => {
    const s = schema();
    const a = await make(s);
    const b = await make(s);
    await a.putPlan(plan('race'));
    const claims: Promise<boolean>[] = [];
    // 60 devices, each asking through both servers at once (a retry that reached the other one).
    for (let i = 0; i < 60; i++) {
      claims.push(a.claimSlot('race', `dev-${i}`, 7, rec('race', `dev-${i}`)));
      claims.push(b.claimSlot('race', `dev-${i}`, 7, rec('race', `dev-${i}`)));
    }
    const granted = (await Promise.all(claims)).filter(Boolean).length;
    assert.is(granted, 7);
    const rows = await a.listDevicePlans('race');
    assert.is(rows.length, 7);
    assert.is(new Set(rows.map((r) => r.deviceId)).size, 7);
    assert.equal((await b.stats('race'))!.devices, 7);
  });

  test('postgres: two stores opened at once on a new schema migrate it once; numbers come back as numbers', async () => {
    const s = schema();
    const [a, b] = await Promise.all([make(s), make(s)]);
    const c = new pg.Client({ connectionString: URL });
    await c.connect();
    const rows = (await c.query(`SELECT version FROM ${s}.otaflash_schema ORDER BY version`)).rows.map((r) => r.version);
    await c.end();
    assert.equal(rows, MIGRATIONS.map((m) => m.version));
    await a.putPlan(plan('p'));
    const got = await b.getPlan('p');
    assert.equal(got, plan('p'));
    assert.is(typeof got!.createdAt, 'number');
  });

  test('postgres: openPlanStore picks it for a postgres:// URL; a wrong password is PLAN_STORE_OPEN without the password', async () => {
    const st = await openPlanStore(URL, { schema: schema() });
    open.push(st);
    // By name: the engine is loaded with a dynamic import, which tsx may resolve to a second module instance.
    assert.is(st.constructor.name, 'PostgresPlanStore');
    const wrong = URL.replace(/\/\/([^:/@]+)(:[^@]*)?@/, '//$1:wrong-secret@');
    let e: { code?: string; message?: string } = {};
    try {
      await openPlanStore(wrong);
    } catch (x) {
      e = x as typeof e;
    }
    assert.is(e.code, 'PLAN_STORE_OPEN');
    assert.not.match(e.message ?? '', 'wrong-secret');
  });

  test('postgres: two HTTP servers on one database; a device talks to either, both show the same plan and stats', async () => {
    const s = schema();
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'otaflash-pg-http-'));
    const servers = [];
    for (const name of ['a', 'b']) {
      // Packages are files: both servers read the same folder (a shared volume in a real deployment).
      const plans = createPlanHttpHandler({ store: await make(s), packagesDir: path.join(dir, 'packages'), log: () => {} });
      const srv = createUpdateServer({ root: dir, handlers: [plans], log: () => {} });
      servers.push({ name, srv, url: (await srv.listen(0, '127.0.0.1')).url });
    }
    const [A, B] = servers;
    const post = async (base: string, p: string, body: unknown, type = 'application/json') => {
      const r = await fetch(base + p, { method: 'POST', headers: { 'content-type': type }, body: type === 'application/json' ? JSON.stringify(body) : (body as Uint8Array) });
      return { status: r.status, json: (await r.json()) as any };
    };
    try {
      const pkg = await post(A.url, '/api/packages?kind=full', new Uint8Array(1000).fill(7), 'application/octet-stream');
      assert.is(pkg.status, 201);
      await post(A.url, '/api/plans', { id: 'shared', components: [{ id: 'app', kind: 'module', source: '1.0', target: '2.0', full: pkg.json.id }], scope: { batchLimit: 1 } });
      assert.is((await post(B.url, '/api/plans/shared/activate', null)).json.plan.state, 'active');
      const offer = await post(A.url, '/api/device/message', { type: 'check', deviceId: 'd1', versions: { app: '1.0' } });
      assert.is(offer.json.type, 'plan');
      // The batch of one is taken through A: B offers d2 nothing.
      assert.equal((await post(B.url, '/api/device/message', { type: 'check', deviceId: 'd2', versions: { app: '1.0' } })).json, { type: 'none' });
      const urls = await post(B.url, '/api/device/message', { type: 'confirm', deviceId: 'd1', planId: 'shared', accept: true });
      assert.is(urls.json.urls.app, `${B.url}/packages/${pkg.json.id}`);
      const got = await fetch(urls.json.urls.app);
      assert.is((await got.arrayBuffer()).byteLength, 1000);
      await post(A.url, '/api/device/message', { type: 'progress', deviceId: 'd1', planId: 'shared', component: 'app', bytes: 1000, total: 1000, percent: 100 });
      await post(B.url, '/api/device/message', { type: 'report', deviceId: 'd1', planId: 'shared', component: 'app', state: 'succeeded', version: '2.0' });
      for (const X of [A, B]) {
        const st = (await (await fetch(`${X.url}/api/stats`)).json()) as { plans: { planId: string; devices: number; succeeded: number; successRate: number }[] };
        assert.equal(st.plans.map((p) => [p.planId, p.devices, p.succeeded, p.successRate]), [['shared', 1, 1, 1]], X.name);
      }
    } finally {
      for (const x of servers) await x.srv.close(0);
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test.after(async () => {
    for (const s of open) await s.close();
    const c = new pg.Client({ connectionString: URL });
    await c.connect();
    for (const s of schemas) await c.query(`DROP SCHEMA IF EXISTS ${s} CASCADE`);
    await c.end();
  });
}

test.run();
