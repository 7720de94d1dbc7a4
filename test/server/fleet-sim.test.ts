// The fleet simulator end to end on loopback: real agents over their own MemoryFlash, the real plan
// HTTP handler over a store, injected disconnects; the service's own numbers must agree.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { MemoryPlanStore } from '../../src/server/plans/memory-store';
import { createFleetPlan, runFleet, startLocalPlanServer, SimDevice, sampleImage, SAMPLE_FROM, SAMPLE_TO } from '../../src/server/plans/fleet-sim';

test('50 devices over HTTP with 20% of checks, confirmations and downloads cut: all succeed, the service agrees', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'otaflash-fleet-'));
  const store = new MemoryPlanStore();
  const srv = await startLocalPlanServer({ store, packagesDir: dir });
  try {
    const setup = await createFleetPlan(store, (name, bytes) => fs.writeFileSync(path.join(dir, name), bytes), { planId: 'fleet-test' });
    const r = await runFleet({ devices: 50, server: srv.url, concurrency: 20, disconnectRate: 0.2, seed: 7 });
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

test.run();
