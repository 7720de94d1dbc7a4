// The SQLite plan store: the store contract, migrations (a fresh file, an older one brought
// forward, a newer one refused), data kept across close/reopen, two connections claiming slots
// from one file, and openPlanStore's choice of engine.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import Database from 'better-sqlite3';
import { SqlitePlanStore } from '../../src/server/plans/sqlite-store';
import { openPlanStore } from '../../src/server/plans/open-store';
import { MemoryPlanStore } from '../../src/server/plans/memory-store';
import { MIGRATIONS, SCHEMA_VERSION } from '../../src/server/plans/migrations';
import type { DevicePlanRecord, PlanRecord } from '../../src/server/plans/types';
import { planStoreContract } from './plan-store-contract';
import { errorCode } from '../helpers';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'otaflash-sqlite-'));
let n = 0;
const fresh = () => path.join(tmp, `db-${n++}`, 'plans.db');

planStoreContract((name, fn) => test(`sqlite store: ${name}`, fn), async () => new SqlitePlanStore(fresh()));

const plan = (id: string): PlanRecord => ({
  id, name: id, components: [{ id: 'app', kind: 'module', source: '1.0', target: '2.0', full: 'pkg' }],
  strategy: { mode: 'silent', retries: 2 }, scope: { batchLimit: 3 }, state: 'active', order: 1, createdAt: 1_700_000_000_000,
});
const rec = (planId: string, deviceId: string): DevicePlanRecord => ({
  planId, deviceId, state: 'offered', packages: { app: 'pkg' }, components: { app: { bytes: 0, total: 0, state: 'pending' } }, updatedAt: 1_700_000_000_123,
});

test('a new file gets every migration, each recorded once; reopening applies none again', async () => {
  const file = fresh();
  await new SqlitePlanStore(file).close();
  await new SqlitePlanStore(file).close();
  const db = new Database(file, { readonly: true });
  const rows = db.prepare('SELECT version FROM otaflash_schema ORDER BY version').all() as { version: number }[];
  db.close();
  assert.equal(rows.map((r) => r.version), MIGRATIONS.map((m) => m.version));
});

test('a database at schema 1 is brought forward, keeping its data', async () => {
  const file = fresh();
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const db = new Database(file);
  db.exec('CREATE TABLE otaflash_schema (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)');
  db.exec(MIGRATIONS[0].sql.sqlite);
  db.prepare('INSERT INTO otaflash_schema VALUES (1, 0)').run();
  db.prepare("INSERT INTO packages VALUES ('pkg', 'full', 5, 'aa', 'pkg.pkg')").run();
  db.close();
  const s = new SqlitePlanStore(file);
  assert.equal(await s.getPackage('pkg'), { id: 'pkg', kind: 'full', size: 5, sha256: 'aa', file: 'pkg.pkg' });
  await s.close();
  const check = new Database(file, { readonly: true });
  assert.is((check.prepare('SELECT MAX(version) AS v FROM otaflash_schema').get() as { v: number }).v, SCHEMA_VERSION);
  const idx = check.prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND name = 'device_plans_state'").get();
  check.close();
  assert.ok(idx, 'migration 2 ran');
});

test('a database from a newer otaflash is refused with PLAN_STORE_SCHEMA; a file that is not SQLite with PLAN_STORE_OPEN', async () => {
  const file = fresh();
  await new SqlitePlanStore(file).close();
  const db = new Database(file);
  db.prepare('INSERT INTO otaflash_schema VALUES (?, 0)').run(SCHEMA_VERSION + 1);
  db.close();
  assert.is(errorCode(() => new SqlitePlanStore(file)), 'PLAN_STORE_SCHEMA');
  const junk = path.join(tmp, 'junk.db');
  fs.writeFileSync(junk, 'this is not a database, it is a text file of some length...'.repeat(20));
  assert.is(errorCode(() => new SqlitePlanStore(junk)), 'PLAN_STORE_OPEN');
});

test('plans, device records and the log survive close and reopen, numbers as numbers', async () => {
  const file = fresh();
  const a = new SqlitePlanStore(file);
  await a.putPlan(plan('p1'));
  await a.claimSlot('p1', 'dev:aa:bb', 3, rec('p1', 'dev:aa:bb'));
  await a.appendLog({ at: 1_700_000_000_999, deviceId: 'dev:aa:bb', planId: 'p1', component: 'app', state: 'progress', bytes: 4096 });
  await a.close();
  const b = new SqlitePlanStore(file);
  assert.equal(await b.getPlan('p1'), plan('p1'));
  assert.equal(await b.getDevicePlan('p1', 'dev:aa:bb'), rec('p1', 'dev:aa:bb'));
  assert.equal(await b.deviceLog('dev:aa:bb'), [{ at: 1_700_000_000_999, deviceId: 'dev:aa:bb', planId: 'p1', component: 'app', state: 'progress', bytes: 4096 }]);
  await b.close();
});

test('two connections to one file (two servers): the batch limit holds across them', async () => {
  const file = fresh();
  const a = new SqlitePlanStore(file);
  const b = new SqlitePlanStore(file);
  await a.putPlan(plan('p1'));
  const claims: Promise<boolean>[] = [];
  for (let i = 0; i < 20; i++) claims.push((i % 2 ? a : b).claimSlot('p1', `d${i}`, 3, rec('p1', `d${i}`)));
  const granted = (await Promise.all(claims)).filter(Boolean).length;
  assert.is(granted, 3);
  assert.is((await b.listDevicePlans('p1')).length, 3);
  await a.close();
  await b.close();
});

test('the device log keeps the last `limit` entries in order', async () => {
  const s = new SqlitePlanStore(fresh());
  for (let i = 0; i < 10; i++) await s.appendLog({ at: i, deviceId: 'd', planId: 'p', component: 'app', state: 'progress', bytes: i });
  assert.equal((await s.deviceLog('d', 3)).map((e) => e.bytes), [7, 8, 9]);
  await s.close();
});

test('openPlanStore: memory, a file path (SQLite), an unknown scheme refused', async () => {
  assert.ok((await openPlanStore('memory')) instanceof MemoryPlanStore);
  const s = await openPlanStore(fresh());
  assert.is(s.constructor.name, 'SqlitePlanStore'); // by name: loaded with a dynamic import
  await s.close();
  let code = '';
  try {
    await openPlanStore('mysql://x@y/z');
  } catch (e) {
    code = (e as { code: string }).code;
  }
  assert.is(code, 'PLAN_STORE_OPTIONS');
});

test.after(() => fs.rmSync(tmp, { recursive: true, force: true }));

test.run();
