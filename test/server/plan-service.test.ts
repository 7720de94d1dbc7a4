// The plan service's logic over the memory store, and the store contract on the memory store.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { PlanService } from '../../src/server/plans/service';
import { MemoryPlanStore } from '../../src/server/plans/memory-store';
import type { PlanRecord } from '../../src/server/plans/types';
import type { ServiceMessage } from '../../src/agent/types';
import { planStoreContract } from './plan-store-contract';

planStoreContract((name, fn) => test(`memory store: ${name}`, fn), async () => new MemoryPlanStore());

const SHA_FULL = '11'.repeat(32);
const SHA_DELTA = '22'.repeat(32);

async function setup(extra: Partial<PlanRecord> = {}) {
  const store = new MemoryPlanStore();
  await store.putPackage({ id: 'full-2', kind: 'full', size: 1000, sha256: SHA_FULL, file: 'app-2.0.bin' });
  await store.putPackage({ id: 'delta-1-2', kind: 'delta', size: 90, sha256: SHA_DELTA, file: 'app-1.0-2.0.delta' });
  const plan: PlanRecord = {
    id: 'p1', name: 'app 2.0', state: 'active', order: 0, createdAt: 1,
    components: [{ id: 'app', kind: 'module', source: '*', target: '2.0', full: 'full-2', deltas: { '1.0': 'delta-1-2' } }],
    strategy: { mode: 'silent', retries: 2 }, scope: {}, ...extra,
  };
  await store.putPlan(plan);
  const svc = new PlanService(store, { packageUrl: (p) => `http://127.0.0.1:1/packages/${p.id}`, now: () => 5 });
  return { store, svc };
}

test('check: a device on the delta source gets the delta, another the full image, one on the target nothing', async () => {
  const { svc } = await setup();
  const a = (await svc.handle({ type: 'check', deviceId: 'a', versions: { app: '1.0' } })) as Extract<ServiceMessage, { type: 'plan' }>;
  assert.is(a.type, 'plan');
  assert.equal(a.plan.components[0].package, { kind: 'delta', size: 90, sha256: SHA_DELTA });
  const b = (await svc.handle({ type: 'check', deviceId: 'b', versions: { app: '0.9' } })) as Extract<ServiceMessage, { type: 'plan' }>;
  assert.equal(b.plan.components[0].package, { kind: 'full', size: 1000, sha256: SHA_FULL });
  assert.equal(await svc.handle({ type: 'check', deviceId: 'c', versions: { app: '2.0' } }), { type: 'none' });
});

test('the whole conversation: confirm gives the package URL; progress and the version report make success; stats and log follow', async () => {
  const { svc, store } = await setup();
  await svc.handle({ type: 'check', deviceId: 'a', versions: { app: '1.0' } });
  assert.equal(await svc.handle({ type: 'confirm', deviceId: 'a', planId: 'p1', accept: true }), { type: 'urls', urls: { app: 'http://127.0.0.1:1/packages/delta-1-2' } });
  await svc.handle({ type: 'progress', deviceId: 'a', planId: 'p1', component: 'app', bytes: 45, total: 90, percent: 50 });
  assert.equal((await store.stats('p1'))!.inProgress, 1);
  await svc.handle({ type: 'report', deviceId: 'a', planId: 'p1', component: 'app', state: 'succeeded', version: '2.0' });
  const st = (await store.stats('p1'))!;
  assert.equal([st.devices, st.succeeded, st.failed, st.successRate], [1, 1, 0, 1]);
  assert.equal((await store.deviceLog('a')).map((e) => e.state), ['offered', 'confirmed', 'progress', 'succeeded']);
  // Done: the next check has nothing for it.
  assert.equal(await svc.handle({ type: 'check', deviceId: 'a', versions: { app: '2.0' } }), { type: 'none' });
});

test('a reported version other than the target is a failure, whatever the device says', async () => {
  const { svc, store } = await setup();
  await svc.handle({ type: 'check', deviceId: 'a', versions: { app: '1.0' } });
  await svc.handle({ type: 'confirm', deviceId: 'a', planId: 'p1', accept: true });
  await svc.handle({ type: 'report', deviceId: 'a', planId: 'p1', component: 'app', state: 'succeeded', version: '1.0' });
  assert.is((await store.getDevicePlan('p1', 'a'))!.state, 'failed');
});

test('scope: blacklist, device list and batch limit; a restarted device is offered its plan again', async () => {
  const { svc } = await setup({ scope: { blacklist: ['x'], batchLimit: 2 } });
  assert.equal(await svc.handle({ type: 'check', deviceId: 'x', versions: { app: '1.0' } }), { type: 'none' });
  assert.is((await svc.handle({ type: 'check', deviceId: 'a', versions: { app: '1.0' } })).type, 'plan');
  assert.is((await svc.handle({ type: 'check', deviceId: 'b', versions: { app: '1.0' } })).type, 'plan');
  assert.equal(await svc.handle({ type: 'check', deviceId: 'c', versions: { app: '1.0' } }), { type: 'none' }, 'batch full');
  assert.is((await svc.handle({ type: 'check', deviceId: 'a', versions: { app: '1.0' } })).type, 'plan', 'offered again after a restart');
  const only = await setup({ scope: { devices: ['d'] } });
  assert.equal(await only.svc.handle({ type: 'check', deviceId: 'a', versions: { app: '1.0' } }), { type: 'none' });
  assert.is((await only.svc.handle({ type: 'check', deviceId: 'd', versions: { app: '1.0' } })).type, 'plan');
});

test('plans run one after another for a device, in order; a decline moves on', async () => {
  const { svc, store } = await setup();
  await store.putPlan({ id: 'p0', name: 'first', state: 'active', order: -1, createdAt: 1, components: [{ id: 'app', kind: 'module', source: '1.0', target: '1.5', full: 'full-2' }], strategy: { mode: 'silent' }, scope: {} });
  const first = (await svc.handle({ type: 'check', deviceId: 'a', versions: { app: '1.0' } })) as Extract<ServiceMessage, { type: 'plan' }>;
  assert.is(first.plan.id, 'p0');
  await svc.handle({ type: 'confirm', deviceId: 'a', planId: 'p0', accept: false, reason: 'battery' });
  const next = (await svc.handle({ type: 'check', deviceId: 'a', versions: { app: '1.0' } })) as Extract<ServiceMessage, { type: 'plan' }>;
  assert.is(next.plan.id, 'p1');
});

test('bad messages are typed errors', async () => {
  const { svc } = await setup();
  for (const m of [null, {}, { type: 'check' }, { type: 'what', deviceId: 'a' }]) {
    try {
      await svc.handle(m as never);
      assert.unreachable('accepted ' + JSON.stringify(m));
    } catch (e) {
      assert.ok(/^PLAN_BAD_MESSAGE$/.test((e as { code: string }).code), String(e));
    }
  }
  try {
    await svc.handle({ type: 'confirm', deviceId: 'zz', planId: 'p1', accept: true });
    assert.unreachable();
  } catch (e) {
    assert.is((e as { code: string }).code, 'PLAN_NOT_OFFERED');
  }
});

test.run();
