// Signed upgrade plans through the plan service: the operator signs on the host (plan sign / plan
// create --sign, signDetached with the espsecure test keys of test/fixtures/signed-images), the
// server stores the signature (SQLite, PostgreSQL when OTAFLASH_TEST_POSTGRES is set, memory) and
// sends it with the plan over HTTP and MQTT unchanged; devices with trusted keys update from signed
// plans and refuse altered or unsigned ones before any download, and the service shows why.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createHash } from 'node:crypto';
import Database from 'better-sqlite3';
import { connectAsync } from 'mqtt';
import { UpdateAgent } from '../../src/agent/agent';
import { otaModuleInstaller } from '../../src/agent/ota-installer';
import { checkPlanSignature, planStatement, planStatementBytes } from '../../src/agent/plan-signature';
import type { AgentAction, AgentEvent, AgentMessage, Plan, ServiceMessage } from '../../src/agent/types';
import { RegionFlash } from '../../src/flash/region';
import { OTA_STATE, makeOtaEntry, writeOtaEntry } from '../../src/formats/otadata';
import { encodeSignatureText } from '../../src/formats/detached-signature';
import type { SignatureTrust } from '../../src/formats/secure-boot-verify';
import type { Partition } from '../../src/formats/partition-types';
import { OtaEngine } from '../../src/ota/engine';
import { simulateReboot } from '../../src/ota/bootloader';
import { nodeHashes } from '../../src/node/hash';
import { signDetached } from '../../src/node/detached-sign';
import { createNodeSignatureVerifier } from '../../src/node/signature-verifier';
import { AgentHttpHost } from '../../src/node/agent-http';
import { runAsync } from '../../src/cli/run';
import { createUpdateServer } from '../../src/server/update-server';
import { createPlanHttpHandler, type PlanHttpOptions } from '../../src/server/plans/http';
import { MemoryPlanStore } from '../../src/server/plans/memory-store';
import { SqlitePlanStore } from '../../src/server/plans/sqlite-store';
import { PostgresPlanStore } from '../../src/server/plans/postgres-store';
import { MIGRATIONS } from '../../src/server/plans/migrations';
import { PlanService } from '../../src/server/plans/service';
import { monitorDevice } from '../../src/server/plans/monitor';
import { downTopic, startEmbeddedBroker, startPlanMqttBridge, upTopic } from '../../src/server/plans/mqtt';
import type { PackageRecord, PlanRecord, PlanStore } from '../../src/server/plans/types';
import { APP_A, APP_B, image, rig, type Rig } from '../ota/engine-fixtures';

const OLD = image(APP_A);
const NEW = image(APP_B);
const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'otaflash-plan-signed-'));
process.on('exit', () => fs.rmSync(tmp, { recursive: true, force: true }));

const KEYS = path.join(__dirname, '../fixtures/signed-images/keys');
const keyFile = (name: string) => path.join(KEYS, `${name}.pem`);
const pem = (name: string) => fs.readFileSync(keyFile(name), 'utf8');
/** The digest eFuse holds for a key, as espsecure wrote it next to the key. */
const digest = (name: string) => new Uint8Array(fs.readFileSync(path.join(KEYS, `${name}.digest.bin`)));
/** The fleet trusts rsa3072-a and ecdsa256-a; rsa3072-c was trusted and is revoked. */
const TRUST: SignatureTrust = { keyDigests: [digest('rsa3072-a'), digest('ecdsa256-a'), digest('rsa3072-c')], revokedDigests: [digest('rsa3072-c')] };
const verifier = createNodeSignatureVerifier();

const NEW_PKG: PackageRecord = { id: 'pkg-new', kind: 'full', size: NEW.length, sha256: sha(NEW), file: 'pkg-new.pkg' };

function planRecord(id: string, extra: Partial<PlanRecord> = {}): PlanRecord {
  return {
    id,
    name: 'app 2.0',
    components: [{ id: 'app', kind: 'module', source: '1.0', target: '2.0', full: 'pkg-new' }],
    strategy: { mode: 'silent', retries: 1, backoffMs: 10 },
    scope: {},
    state: 'active',
    order: 0,
    createdAt: 1,
    ...extra,
  };
}

/** What the operator's host does: the statement from the plan and its packages, signed with `keys`. */
function sign(plan: PlanRecord, pkgs: PackageRecord[], keys: string[]): string {
  const statement = planStatement(plan, (id) => pkgs.find((p) => p.id === id)!);
  return encodeSignatureText(signDetached(planStatementBytes(statement), keys.map(pem)));
}

// --- a device ------------------------------------------------------------------------------------

/** A factory-fresh ESP32 (OLD in ota_0, confirmed) with an agent trusting TRUST. */
class Device {
  readonly r: Rig = rig();
  booted: Partition | undefined;
  running = '1.0';
  agent!: UpdateAgent;
  actions: AgentAction[] = [];

  constructor(
    readonly id: string,
    readonly trust: SignatureTrust | null = TRUST,
  ) {
    this.r.flash.erase(this.r.p.ota_0.offset, Math.ceil(OLD.length / 4096) * 4096);
    this.r.flash.write(this.r.p.ota_0.offset, OLD);
    writeOtaEntry(new RegionFlash(this.r.flash, this.r.p.otadata.offset, this.r.p.otadata.size), 0, makeOtaEntry(1, OTA_STATE.VALID, undefined, nodeHashes));
  }

  /** Boots (through the bootloader model) and makes the agent; returns the start event. */
  boot(): AgentEvent {
    const d = simulateReboot(this.r.flash, this.r.table, { rollback: true, hashes: nodeHashes });
    this.booted = d.boot!;
    const head = new Uint8Array(64);
    this.r.flash.read(this.booted.offset, head);
    this.running = head.every((b, i) => b === NEW[i]) ? '2.0' : '1.0';
    this.agent = new UpdateAgent({
      deviceId: this.id,
      installers: { module: otaModuleInstaller({ engine: () => OtaEngine.open(this.r.flash, { table: this.r.table, rollback: true, hashes: nodeHashes, running: this.booted }), hashes: nodeHashes }) },
      recordRegion: new RegionFlash(this.r.flash, this.r.p.nvs.offset, this.r.p.nvs.size),
      progressMs: 0,
      trust: this.trust ?? undefined,
      signatureVerifier: verifier,
    });
    return { type: 'start', now: Date.now(), versions: { app: this.running }, selfTestPassed: this.running === '2.0' ? true : undefined };
  }

  appSlotsHash(): string {
    const b = new Uint8Array(this.r.p.ota_1.size);
    this.r.flash.read(this.r.p.ota_1.offset, b);
    return sha(b);
  }

  fetches(): number {
    return this.actions.filter((a) => a.type === 'fetch').length;
  }
}

/** Runs a device against a PlanService in memory until nothing is left to do (packages by URL). */
async function runInMemory(dev: Device, service: PlanService, packages: { [url: string]: Uint8Array }): Promise<void> {
  const queue: AgentEvent[] = [dev.boot(), { type: 'check-now', now: Date.now() }];
  for (let n = 0; n < 5000 && queue.length > 0; n++) {
    for (const a of dev.agent.handle(queue.shift()!)) {
      dev.actions.push(a);
      if (a.type === 'send') {
        try {
          queue.push({ type: 'response', now: Date.now(), id: a.id, message: await service.handle(a.message) });
        } catch (e) {
          queue.push({ type: 'request-failed', now: Date.now(), id: a.id, error: String(e) });
        }
      } else if (a.type === 'fetch') {
        const bytes = packages[a.url];
        for (let at = a.from; at < bytes.length; at += 4096) queue.push({ type: 'data', now: Date.now(), id: a.id, bytes: bytes.subarray(at, Math.min(at + 4096, bytes.length)) });
        queue.push({ type: 'fetch-done', now: Date.now(), id: a.id });
      } else if (a.type === 'reboot') {
        queue.length = 0;
        queue.push(dev.boot());
      }
    }
  }
}

async function memoryService(plans: PlanRecord[]): Promise<{ store: MemoryPlanStore; service: PlanService }> {
  const store = new MemoryPlanStore();
  await store.putPackage(NEW_PKG);
  for (const p of plans) await store.putPlan(p);
  return { store, service: new PlanService(store, { packageUrl: (p) => `mem://${p.id}` }) };
}

test('in memory: the service sends the signature with the statement it rebuilds; a device with trusted keys updates', async () => {
  const base = planRecord('p-signed');
  const plan = { ...base, signature: sign(base, [NEW_PKG], ['rsa3072-a']) };
  const { store, service } = await memoryService([plan]);
  const offer = (await service.handle({ type: 'check', deviceId: 'probe', versions: { app: '1.0' } })) as Extract<ServiceMessage, { type: 'plan' }>;
  assert.is(offer.plan.signed!.signature, plan.signature);
  assert.equal(offer.plan.signed!.statement, planStatement(base, () => NEW_PKG));
  assert.is(checkPlanSignature(offer.plan, { app: '1.0' }, { trust: TRUST, verifier }).valid, true);

  const dev = new Device('dev-1');
  await runInMemory(dev, service, { 'mem://pkg-new': NEW });
  assert.is(dev.running, '2.0');
  const rec = (await store.getDevicePlan('p-signed', 'dev-1'))!;
  assert.is(rec.state, 'succeeded');
  assert.is(rec.components.app.state, 'succeeded');
});

test('in memory: a plan changed in the store after signing, or unsigned, is refused before any download; the service records the code as a failure', async () => {
  const base = planRecord('p');
  const signature = sign(base, [NEW_PKG], ['rsa3072-a']);
  const changed: [string, PlanRecord, string][] = [
    ['strategy', { ...base, signature, strategy: { mode: 'forced', retries: 1, backoffMs: 10 } }, 'PLAN_SIGNATURE_INVALID'],
    ['target', { ...base, signature, components: [{ ...base.components[0], target: '2.1' }] }, 'PLAN_SIGNATURE_INVALID'],
    ['package', { ...base, signature, components: [{ ...base.components[0], full: 'pkg-old' }] }, 'PLAN_SIGNATURE_INVALID'],
    ['id (a signed plan copied under another id)', { ...base, id: 'p-copy', signature }, 'PLAN_SIGNATURE_INVALID'],
    ['signed by an untrusted key', { ...base, signature: sign(base, [NEW_PKG], ['rsa3072-b']) }, 'PLAN_SIGNATURE_INVALID'],
    ['signed by a revoked key', { ...base, signature: sign(base, [NEW_PKG], ['rsa3072-c']) }, 'PLAN_SIGNATURE_INVALID'],
    ['unsigned', base, 'PLAN_UNSIGNED'],
  ];
  for (const [what, plan, code] of changed) {
    const { store, service } = await memoryService([plan]);
    await store.putPackage({ id: 'pkg-old', kind: 'full', size: OLD.length, sha256: sha(OLD), file: 'pkg-old.pkg' });
    const dev = new Device('dev-1');
    const before = dev.appSlotsHash();
    await runInMemory(dev, service, { 'mem://pkg-new': NEW, 'mem://pkg-old': OLD });
    assert.is(dev.fetches(), 0, what);
    assert.is(dev.appSlotsHash(), before, what);
    assert.is(dev.running, '1.0', what);
    const rec = (await store.getDevicePlan(plan.id, 'dev-1'))!;
    assert.is(rec.state, 'failed', what);
    assert.is(rec.components.app.error, code, what);
    assert.is(monitorDevice(rec).error, `app: ${code}`, what);
    const log = await store.deviceLog('dev-1');
    assert.equal(log.map((e) => e.state), ['offered', 'failed'], what);
    assert.ok(log[1].error!.startsWith(`${code}: plan ${plan.id}`), log[1].error);
    assert.is((await store.stats(plan.id))!.failed, 1, what);
    // Finished: the plan is not offered again.
    assert.equal(await service.handle({ type: 'check', deviceId: 'dev-1', versions: { app: '1.0' } }), { type: 'none' }, what);
  }
});

test('a device without trusted keys takes signed and unsigned plans as before', async () => {
  const base = planRecord('p');
  for (const plan of [base, { ...base, signature: sign(base, [NEW_PKG], ['rsa3072-b']) }]) {
    const { store, service } = await memoryService([plan]);
    const dev = new Device('dev-1', null);
    await runInMemory(dev, service, { 'mem://pkg-new': NEW });
    assert.is(dev.running, '2.0');
    assert.is((await store.getDevicePlan('p', 'dev-1'))!.state, 'succeeded');
  }
});

test('the confirm refusal is checked: an error code only with accept false, UPPER_SNAKE', async () => {
  const { service } = await memoryService([planRecord('p')]);
  await service.handle({ type: 'check', deviceId: 'd', versions: { app: '1.0' } });
  for (const m of [
    { type: 'confirm', deviceId: 'd', planId: 'p', accept: true, error: 'PLAN_UNSIGNED' },
    { type: 'confirm', deviceId: 'd', planId: 'p', accept: false, error: 'not a code' },
    { type: 'confirm', deviceId: 'd', planId: 'p', accept: false, error: 7 },
  ]) {
    let code = 'none';
    await service.handle(m as AgentMessage).catch((e) => (code = e.code));
    assert.is(code, 'PLAN_BAD_MESSAGE', JSON.stringify(m));
  }
});

// --- over HTTP -------------------------------------------------------------------------------------

async function server(extra: Partial<PlanHttpOptions> = {}) {
  const dir = fs.mkdtempSync(path.join(tmp, 'srv-'));
  const plans = createPlanHttpHandler({ store: new SqlitePlanStore(path.join(dir, 'plans.db')), packagesDir: path.join(dir, 'packages'), log: () => {}, ...extra });
  const srv = createUpdateServer({ root: dir, handlers: [plans], log: () => {} });
  const { url } = await srv.listen(0, '127.0.0.1');
  return { url, plans, close: async () => (await srv.close(0), await plans.close()) };
}

async function cli(...argv: string[]) {
  let stdout = '';
  let stderr = '';
  const code = await runAsync(argv, { stdout: (t) => void (stdout += typeof t === 'string' ? t : Buffer.from(t).toString()), stderr: (t) => void (stderr += t), isTTY: false });
  return { code, stdout, stderr };
}

const getJson = async (url: string) => (await fetch(url)).json() as Promise<any>;
const postJson = async (url: string, v: unknown) => {
  const r = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(v) });
  return { status: r.status, json: (await r.json()) as any };
};

function planFile(plan: Record<string, unknown>): string {
  const dir = fs.mkdtempSync(path.join(tmp, 'plan-'));
  fs.mkdirSync(path.join(dir, 'build'));
  fs.writeFileSync(path.join(dir, 'build', 'app-2.0.bin'), NEW);
  const f = path.join(dir, 'plan.json');
  fs.writeFileSync(f, JSON.stringify(plan));
  return f;
}

const PLAN_FILE = { name: 'app 2.0', components: [{ id: 'app', kind: 'module', source: '1.0', target: '2.0', full: 'build/app-2.0.bin' }], strategy: { mode: 'silent', retries: 1, backoffMs: 10 } };

/** The device over HTTP (AgentHttpHost), from boot until `done`. */
async function httpDevice(dev: Device, url: string, done: () => Promise<boolean>): Promise<void> {
  let host: AgentHttpHost | null = null;
  const errors: unknown[] = [];
  const start = () => {
    const ev = dev.boot() as Extract<AgentEvent, { type: 'start' }>;
    host = new AgentHttpHost(dev.agent, {
      serverUrl: url,
      chunkSize: 4096,
      onReboot: () => setImmediate(start),
      onAction: (a) => dev.actions.push(a),
      onError: (e) => errors.push(e),
    });
    host.start(ev.versions, ev.selfTestPassed);
    host.checkNow();
  };
  start();
  const t0 = Date.now();
  try {
    while (!(await done())) {
      if (Date.now() - t0 > 15000) throw new Error(`timed out; errors: ${errors.map(String).join('; ')}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  } finally {
    (host as AgentHttpHost | null)?.stop();
  }
  assert.equal(errors, []);
}

test('over HTTP: plan sign on the host, plan create uploads and stores the signature, a device with trusted keys updates', async () => {
  const s = await server();
  try {
    const f = planFile(PLAN_FILE);
    const signed = await cli('plan', 'sign', f, '--key', keyFile('ecdsa256-a'), '--key', keyFile('rsa3072-b'));
    assert.is(signed.code, 0, signed.stderr);
    const id = signed.stdout.trim();
    assert.match(id, /^plan-[0-9a-f]{12}$/);
    const file = JSON.parse(fs.readFileSync(f, 'utf8'));
    assert.is(file.id, id);
    assert.is(file.components[0].full, 'build/app-2.0.bin', 'the rest of the file is as written');
    const created = await cli('plan', 'create', f, '--server', s.url, '--activate');
    assert.is(created.code, 0, created.stderr);
    assert.is(created.stdout.trim(), id);
    const detail = await getJson(`${s.url}/api/plans/${id}`);
    assert.is(detail.plan.signature, file.signature);
    const status = await cli('plan', 'status', id, '--server', s.url);
    assert.match(status.stdout, `plan ${id} "app 2.0": active (signed)`);
    const dev = new Device('esp32-0001');
    await httpDevice(dev, s.url, async () => (await getJson(`${s.url}/api/plans/${id}`)).stats.succeeded === 1);
    assert.is(dev.running, '2.0');
  } finally {
    await s.close();
  }
});

test('over HTTP: plan create --sign with an untrusted key; the device refuses before downloading and the status shows PLAN_SIGNATURE_INVALID', async () => {
  const s = await server();
  try {
    const c = await cli('plan', 'create', planFile({ ...PLAN_FILE, id: 'wrong-key' }), '--server', s.url, '--sign', keyFile('rsa3072-b'), '--activate');
    assert.is(c.code, 0, c.stderr);
    const dev = new Device('esp32-0002');
    const before = dev.appSlotsHash();
    await httpDevice(dev, s.url, async () => (await getJson(`${s.url}/api/plans/wrong-key`)).stats.failed === 1);
    assert.is(dev.fetches(), 0);
    assert.is(dev.appSlotsHash(), before);
    const detail = await getJson(`${s.url}/api/plans/wrong-key`);
    assert.is(detail.devices[0].components.app.error, 'PLAN_SIGNATURE_INVALID');
    const log = (await getJson(`${s.url}/api/devices/esp32-0002/log`)).log;
    assert.match(log[log.length - 1].error, /^PLAN_SIGNATURE_INVALID: plan wrong-key: no trusted signature: block 0: key digest not trusted/);
    const status = await cli('plan', 'status', 'wrong-key', '--server', s.url);
    assert.match(status.stdout, 'app failed (PLAN_SIGNATURE_INVALID)');
  } finally {
    await s.close();
  }
});

test('plan create refuses a signed plan file whose package changed after signing, before uploading anything; --sign on a signed file is refused', async () => {
  const s = await server();
  try {
    const f = planFile(PLAN_FILE);
    assert.is((await cli('plan', 'sign', f, '--key', keyFile('rsa3072-a'))).code, 0);
    const pkg = path.join(path.dirname(f), 'build', 'app-2.0.bin');
    const changed = NEW.slice();
    changed[100] ^= 1;
    fs.writeFileSync(pkg, changed);
    const c = await cli('plan', 'create', f, '--server', s.url);
    assert.is(c.code, 2, c.stderr);
    assert.match(c.stderr, 'its signature does not cover this plan');
    assert.equal((await getJson(`${s.url}/api/plans`)).plans, []);
    fs.writeFileSync(pkg, NEW);
    const again = await cli('plan', 'create', f, '--server', s.url, '--sign', keyFile('rsa3072-a'));
    assert.match(again.stderr, 'already signed');
    // Package ids in the file: looked up on the server (GET /api/packages/ID) when signing.
    const up = await fetch(`${s.url}/api/packages?kind=full`, { method: 'POST', headers: { 'content-type': 'application/octet-stream' }, body: NEW });
    const pkgId = ((await up.json()) as { id: string }).id;
    assert.equal(await getJson(`${s.url}/api/packages/${pkgId}`), { id: pkgId, kind: 'full', size: NEW.length, sha256: sha(NEW) });
    const byId = planFile({ ...PLAN_FILE, components: [{ ...PLAN_FILE.components[0], full: pkgId }] });
    const noServer = await cli('plan', 'sign', byId, '--key', keyFile('rsa3072-a'));
    assert.match(noServer.stderr, 'give --server URL');
    const ok = await cli('plan', 'create', byId, '--server', s.url, '--sign', keyFile('rsa3072-a'));
    assert.is(ok.code, 0, ok.stderr);
  } finally {
    await s.close();
  }
});

test('POST /api/plans: a signature needs the id and must be blocks; planTrust refuses unsigned and untrusted plans; planSigner signs', async () => {
  const s = await server({ planTrust: { trust: TRUST, verifier } });
  try {
    const up = await fetch(`${s.url}/api/packages?kind=full`, { method: 'POST', headers: { 'content-type': 'application/octet-stream' }, body: NEW });
    const pkg = ((await up.json()) as { id: string }).id;
    const spec = { components: [{ id: 'app', kind: 'module', source: '1.0', target: '2.0', full: pkg }], strategy: { mode: 'silent' } };
    const rec = (id: string) => planRecord(id, { components: [{ id: 'app', kind: 'module', source: '1.0', target: '2.0', full: pkg }], strategy: { mode: 'silent' } });
    const pkgs = [{ ...NEW_PKG, id: pkg }];
    const good = sign(rec('a'), pkgs, ['rsa3072-a']);
    const r1 = await postJson(`${s.url}/api/plans`, { ...spec, signature: good });
    assert.equal([r1.status, r1.json.error], [400, 'PLAN_SPEC_INVALID']);
    assert.match(r1.json.message, 'a signed plan needs its id');
    const r2 = await postJson(`${s.url}/api/plans`, { ...spec, id: 'a', signature: 'AAAA' });
    assert.equal([r2.status, r2.json.error], [400, 'PLAN_SPEC_INVALID']);
    const r3 = await postJson(`${s.url}/api/plans`, { ...spec, id: 'a' });
    assert.equal([r3.status, r3.json.error], [400, 'PLAN_UNSIGNED']);
    const r4 = await postJson(`${s.url}/api/plans`, { ...spec, id: 'a', signature: sign(rec('a'), pkgs, ['rsa3072-c']) });
    assert.equal([r4.status, r4.json.error], [400, 'PLAN_SIGNATURE_INVALID']);
    const r5 = await postJson(`${s.url}/api/plans`, { ...spec, id: 'a', signature: good, strategy: { mode: 'forced' } });
    assert.equal([r5.status, r5.json.error], [400, 'PLAN_SIGNATURE_INVALID']);
    const r6 = await postJson(`${s.url}/api/plans`, { ...spec, id: 'a', signature: good });
    assert.is(r6.status, 201, JSON.stringify(r6.json));
    assert.is(r6.json.plan.signature, good);
  } finally {
    await s.close();
  }
  const signer = await server({ planSigner: (b) => signDetached(b, [pem('ecdsa256-a')]) });
  try {
    const up = await fetch(`${signer.url}/api/packages?kind=full`, { method: 'POST', headers: { 'content-type': 'application/octet-stream' }, body: NEW });
    const pkg = ((await up.json()) as { id: string }).id;
    const r = await postJson(`${signer.url}/api/plans`, { components: [{ id: 'app', kind: 'module', source: '1.0', target: '2.0', full: pkg }] });
    assert.is(r.status, 201);
    const id = r.json.plan.id;
    assert.is(typeof r.json.plan.signature, 'string');
    await fetch(`${signer.url}/api/plans/${id}/activate`, { method: 'POST' });
    const dev = new Device('esp32-0003');
    await httpDevice(dev, signer.url, async () => (await getJson(`${signer.url}/api/plans/${id}`)).stats.succeeded === 1);
    assert.is(dev.running, '2.0');
  } finally {
    await signer.close();
  }
});

// --- storage --------------------------------------------------------------------------------------

async function storeKeepsSignature(open: () => Promise<PlanStore>): Promise<string> {
  const a = await open();
  const signed = { ...planRecord('signed'), signature: sign(planRecord('signed'), [NEW_PKG], ['rsa3072-a']) };
  await a.putPlan(signed);
  await a.putPlan(planRecord('unsigned'));
  assert.equal(await a.getPlan('signed'), signed);
  const u = (await a.getPlan('unsigned'))!;
  assert.not.ok('signature' in u, 'an unsigned plan has no signature field');
  assert.equal((await a.listPlans()).map((p) => p.signature ?? null).sort(), [signed.signature, null].sort());
  await a.setPlanState('signed', 'done');
  assert.is((await a.getPlan('signed'))!.signature, signed.signature);
  return signed.signature;
}

test('stores keep the signature: memory, and SQLite across a reopen', async () => {
  await storeKeepsSignature(async () => new MemoryPlanStore());
  const file = path.join(tmp, 'keep.db');
  let s: SqlitePlanStore | null = null;
  const signature = await storeKeepsSignature(async () => (s = new SqlitePlanStore(file)));
  await s!.close();
  const again = new SqlitePlanStore(file);
  assert.is((await again.getPlan('signed'))!.signature, signature);
  assert.not.ok('signature' in (await again.getPlan('unsigned'))!);
  await again.close();
});

test('a SQLite database of schema 2 (before signatures) migrates: its plans stay unsigned and keep working; new ones can be signed', async () => {
  const file = path.join(tmp, 'v2.db');
  const db = new Database(file);
  db.exec('CREATE TABLE otaflash_schema (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)');
  for (const m of MIGRATIONS.filter((x) => x.version <= 2)) {
    db.exec(m.sql.sqlite);
    db.prepare('INSERT INTO otaflash_schema VALUES (?, 0)').run(m.version);
  }
  db.prepare("INSERT INTO plans (id, name, state, ord, created_at, components, strategy, scope) VALUES ('old', 'old plan', 'active', 0, 5, ?, ?, '{}')").run(JSON.stringify(planRecord('old').components), JSON.stringify(planRecord('old').strategy));
  db.close();
  const store = new SqlitePlanStore(file);
  try {
    const old = (await store.getPlan('old'))!;
    assert.is(old.name, 'old plan');
    assert.not.ok('signature' in old);
    const signed = { ...planRecord('new'), signature: sign(planRecord('new'), [NEW_PKG], ['ecdsa256-a']) };
    await store.putPlan(signed);
    assert.equal(await store.getPlan('new'), signed);
    const check = new Database(file, { readonly: true });
    assert.equal((check.prepare('SELECT version FROM otaflash_schema ORDER BY version').all() as { version: number }[]).map((r) => r.version), MIGRATIONS.map((m) => m.version));
    check.close();
  } finally {
    await store.close();
  }
});

const PG = process.env.OTAFLASH_TEST_POSTGRES;
if (!PG) console.log('plan-signed: the PostgreSQL store test is skipped, OTAFLASH_TEST_POSTGRES is not set');
else {
  test('PostgreSQL keeps the signature (migration 3 shared with SQLite)', async () => {
    const schema = `otaflash_sig_${Date.now().toString(36)}`;
    let store: PostgresPlanStore | null = null;
    try {
      await storeKeepsSignature(async () => (store = await PostgresPlanStore.open(PG, { schema })));
    } finally {
      await (store as PostgresPlanStore | null)?.close();
      const pg = (await import('pg')).default;
      const c = new pg.Client({ connectionString: PG });
      await c.connect();
      await c.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
      await c.end();
    }
  });
}

// --- over MQTT ------------------------------------------------------------------------------------

test('over MQTT (embedded broker): the signed plan reaches the device unchanged and verifies', async () => {
  const base = planRecord('p-mqtt');
  const plan = { ...base, signature: sign(base, [NEW_PKG], ['rsa3072-a']) };
  const { service } = await memoryService([plan]);
  const broker = await startEmbeddedBroker();
  const bridge = await startPlanMqttBridge({ service, url: broker.url, log: () => {} });
  const c = await connectAsync(broker.url);
  try {
    const got = new Promise<{ id: string; message: ServiceMessage }>((resolve) => c.on('message', (_t, p) => resolve(JSON.parse(p.toString()))));
    await c.subscribeAsync(downTopic('dev-m'), { qos: 1 });
    await c.publishAsync(upTopic('dev-m'), JSON.stringify({ id: 'r1', message: { type: 'check', deviceId: 'dev-m', versions: { app: '1.0' } } }), { qos: 1 });
    const down = await got;
    assert.is(down.id, 'r1');
    const offered = (down.message as Extract<ServiceMessage, { type: 'plan' }>).plan as Plan;
    assert.is(offered.signed!.signature, plan.signature);
    assert.equal(offered.signed!.statement, planStatement(base, () => NEW_PKG));
    assert.is(checkPlanSignature(offered, { app: '1.0' }, { trust: TRUST, verifier }).verifiedBlock, 0);
  } finally {
    await c.endAsync();
    await bridge.close();
    await broker.close();
  }
});

test.run();
