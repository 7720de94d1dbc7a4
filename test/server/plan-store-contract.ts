// The PlanStore contract: every storage engine (memory, SQLite, PostgreSQL) must pass these.
import * as assert from 'uvu/assert';
import type { DevicePlanRecord, PlanRecord, PlanStore } from '../../src/server/plans/types';

export type Suite = (name: string, fn: () => Promise<void>) => void;

const plan = (id: string, extra: Partial<PlanRecord> = {}): PlanRecord => ({
  id, name: `plan ${id}`, components: [{ id: 'app', kind: 'module', source: '1.0', target: '2.0', full: 'pkg-full' }],
  strategy: { mode: 'silent' }, scope: {}, state: 'draft', order: 0, createdAt: 1000, ...extra,
});
const rec = (planId: string, deviceId: string): DevicePlanRecord => ({
  planId, deviceId, state: 'offered', packages: { app: 'pkg-full' }, components: { app: { bytes: 0, total: 0, state: 'pending' } }, updatedAt: 1,
});

/** Registers the contract's tests for a store made by `make` (a fresh, empty store each time). */
export function planStoreContract(test: Suite, make: () => Promise<PlanStore>): void {
  test('packages and plans round-trip; unknown ids are null', async () => {
    const s = await make();
    await s.putPackage({ id: 'pkg-full', kind: 'full', size: 10, sha256: 'ab'.repeat(32), file: 'a.bin' });
    assert.equal(await s.getPackage('pkg-full'), { id: 'pkg-full', kind: 'full', size: 10, sha256: 'ab'.repeat(32), file: 'a.bin' });
    assert.is(await s.getPackage('nope'), null);
    await s.putPlan(plan('p1', { scope: { devices: ['a', 'b'], batchLimit: 5 }, strategy: { mode: 'ask', minBattery: 20, windows: [[60, 120]] } }));
    const got = await s.getPlan('p1');
    assert.equal(got, plan('p1', { scope: { devices: ['a', 'b'], batchLimit: 5 }, strategy: { mode: 'ask', minBattery: 20, windows: [[60, 120]] } }));
    await s.setPlanState('p1', 'active');
    assert.is((await s.getPlan('p1'))!.state, 'active');
    assert.equal((await s.listPlans()).map((p) => p.id), ['p1']);
    assert.is(await s.getPlan('nope'), null);
    await s.close();
  });

  test('claimSlot: once per device, never past the batch limit, even when claims race', async () => {
    const s = await make();
    await s.putPlan(plan('p1'));
    assert.is(await s.claimSlot('p1', 'a', 2, rec('p1', 'a')), true);
    assert.is(await s.claimSlot('p1', 'a', 2, rec('p1', 'a')), false, 'a device claims once');
    const results = await Promise.all(['b', 'c', 'd', 'e'].map((d) => s.claimSlot('p1', d, 2, rec('p1', d))));
    assert.is(results.filter(Boolean).length, 1, `granted ${JSON.stringify(results)}`);
    assert.is((await s.listDevicePlans('p1')).length, 2);
    assert.is(await s.claimSlot('p1', 'z', null, rec('p1', 'z')), true, 'no limit');
    await s.close();
  });

  test('device plans update; the log keeps order; stats count states', async () => {
    const s = await make();
    await s.putPlan(plan('p1'));
    for (const d of ['a', 'b', 'c', 'd']) await s.claimSlot('p1', d, null, rec('p1', d));
    const a = (await s.getDevicePlan('p1', 'a'))!;
    a.state = 'succeeded';
    a.components.app = { bytes: 10, total: 10, state: 'succeeded', version: '2.0' };
    await s.putDevicePlan(a);
    const b = (await s.getDevicePlan('p1', 'b'))!;
    b.state = 'failed';
    await s.putDevicePlan(b);
    const c = (await s.getDevicePlan('p1', 'c'))!;
    c.state = 'declined';
    await s.putDevicePlan(c);
    assert.equal((await s.getDevicePlan('p1', 'a'))!.components.app, { bytes: 10, total: 10, state: 'succeeded', version: '2.0' });
    for (let i = 0; i < 3; i++) await s.appendLog({ at: 100 + i, deviceId: 'a', planId: 'p1', component: 'app', state: 'progress', bytes: i });
    await s.appendLog({ at: 200, deviceId: 'b', planId: 'p1', component: 'app', state: 'failed', error: 'IMAGE_BAD_HASH' });
    assert.equal((await s.deviceLog('a')).map((e) => e.bytes), [0, 1, 2]);
    assert.equal((await s.deviceLog('b'))[0].error, 'IMAGE_BAD_HASH');
    const st = (await s.stats('p1'))!;
    assert.equal({ devices: st.devices, succeeded: st.succeeded, failed: st.failed, inProgress: st.inProgress, successRate: st.successRate }, { devices: 4, succeeded: 1, failed: 1, inProgress: 1, successRate: 0.5 });
    assert.is(await s.stats('nope'), null);
    await s.close();
  });
}
