// The PostgreSQL plan store against a real server (OTAFLASH_TEST_POSTGRES, a postgres:// URL; .ci/run
// starts one): the store contract, migrations, and two stores with their own pools (two servers)
// racing for the slots of a limited batch. Skipped, saying so, when the variable is unset.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { PostgresPlanStore } from '../../src/server/plans/postgres-store';
import { openPlanStore } from '../../src/server/plans/open-store';
import { MIGRATIONS } from '../../src/server/plans/migrations';
import type { DevicePlanRecord, PlanRecord, PlanStore } from '../../src/server/plans/types';
import { planStoreContract } from './plan-store-contract';

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

  test.after(async () => {
    for (const s of open) await s.close();
    const c = new pg.Client({ connectionString: URL });
    await c.connect();
    for (const s of schemas) await c.query(`DROP SCHEMA IF EXISTS ${s} CASCADE`);
    await c.end();
  });
}

test.run();
