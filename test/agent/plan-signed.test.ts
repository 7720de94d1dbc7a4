// Signed upgrade plans on a simulated device: the agent with trusted keys takes a plan signed by the
// operator and refuses, before any download or flash write, a plan that is unsigned, signed by an
// untrusted or revoked key, or changed after signing (version, digest, size, strategy, id). The
// signatures are made with the espsecure test keys in test/fixtures/signed-images via signDetached.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createHash } from 'node:crypto';
import { UpdateAgent, type AgentOptions } from '../../src/agent/agent';
import { otaModuleInstaller } from '../../src/agent/ota-installer';
import { readAgentRecord } from '../../src/agent/record';
import { PLAN_STATEMENT_FORMAT, checkPlanSignature, planStatement, planStatementBytes } from '../../src/agent/plan-signature';
import type { AgentAction, AgentEvent, AgentMessage, Plan, ServiceMessage, Strategy } from '../../src/agent/types';
import { RegionFlash } from '../../src/flash/region';
import { OTA_STATE, makeOtaEntry, writeOtaEntry } from '../../src/formats/otadata';
import { decodeSignatureText, encodeSignatureText } from '../../src/formats/detached-signature';
import type { SignatureTrust } from '../../src/formats/secure-boot-verify';
import { OtaEngine } from '../../src/ota/engine';
import { simulateReboot } from '../../src/ota/bootloader';
import { nodeHashes } from '../../src/node/hash';
import { signDetached } from '../../src/node/detached-sign';
import { createNodeSignatureVerifier } from '../../src/node/signature-verifier';
import type { Partition } from '../../src/formats/partition-types';
import { APP_A, APP_B, image, rig, type Rig } from '../ota/engine-fixtures';
import { errorCode } from '../helpers';

const OLD = image(APP_A);
const NEW = image(APP_B);
const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

const KEYS = path.join(__dirname, '../fixtures/signed-images/keys');
const pem = (name: string) => fs.readFileSync(path.join(KEYS, `${name}.pem`), 'utf8');
/** The digest eFuse holds for a key, as espsecure wrote it next to the key. */
const digest = (name: string) => new Uint8Array(fs.readFileSync(path.join(KEYS, `${name}.digest.bin`)));

const RSA_A = pem('rsa3072-a');
const RSA_B = pem('rsa3072-b');
const RSA_C = pem('rsa3072-c');
const EC_A = pem('ecdsa256-a');
/** The device trusts rsa3072-a, ecdsa256-a and rsa3072-c, but rsa3072-c's slot is revoked. */
const TRUST: SignatureTrust = { keyDigests: [digest('rsa3072-a'), digest('ecdsa256-a'), digest('rsa3072-c')], revokedDigests: [digest('rsa3072-c')] };
const verifier = createNodeSignatureVerifier();

const STRATEGY: Strategy = { mode: 'silent', retries: 2, minBattery: 20, windows: [[0, 1440]] };

/** The plan as the service keeps it: package ids per component. */
const SOURCE = {
  id: 'p1',
  components: [{ id: 'app', kind: 'module' as const, source: '1.0', target: '2.0', full: 'pkg-new', deltas: { '0.9': 'pkg-delta' } }],
  strategy: STRATEGY,
};
const PKGS: { [id: string]: { size: number; sha256: string } } = { 'pkg-new': { size: NEW.length, sha256: sha(NEW) }, 'pkg-delta': { size: 1234, sha256: 'ab'.repeat(32) } };

/** The plan a device on 1.0 is sent, signed with `keys` (none: unsigned). */
function signedPlan(keys: string[]): Plan {
  const statement = planStatement(SOURCE, (id) => PKGS[id]);
  const plan: Plan = { id: 'p1', components: [{ id: 'app', kind: 'module', source: '1.0', target: '2.0', package: { kind: 'full', size: NEW.length, sha256: sha(NEW) } }], strategy: STRATEGY };
  if (keys.length === 0) return plan;
  return { ...plan, signed: { statement, signature: encodeSignatureText(signDetached(planStatementBytes(statement), keys)) } };
}

const clone = <T>(v: T): T => JSON.parse(JSON.stringify(v)) as T;

function device(): Rig {
  const r = rig();
  r.flash.erase(r.p.ota_0.offset, Math.ceil(OLD.length / 4096) * 4096);
  r.flash.write(r.p.ota_0.offset, OLD);
  writeOtaEntry(new RegionFlash(r.flash, r.p.otadata.offset, r.p.otadata.size), 0, makeOtaEntry(1, OTA_STATE.VALID, undefined, nodeHashes));
  return r;
}

function snapshot(r: Rig): string {
  const b = new Uint8Array(r.flash.size);
  r.flash.read(0, b);
  return sha(b);
}

/** The host: feeds the agent, answers its messages from `plan`, serves NEW (or `pkg`) for every fetch. */
class Host {
  sent: AgentMessage[] = [];
  actions: AgentAction[] = [];
  fetches = 0;
  reboots = 0;
  running = '1.0';
  agent!: UpdateAgent;
  booted: Partition | undefined;
  queue: AgentEvent[] = [];
  now = 1_000_000;
  pkg = NEW;

  constructor(
    readonly r: Rig,
    readonly plan: () => Plan,
    readonly opts: Partial<AgentOptions>,
  ) {}

  boot(): void {
    const d = simulateReboot(this.r.flash, this.r.table, { rollback: true, hashes: nodeHashes });
    this.booted = d.boot!;
    const head = new Uint8Array(64);
    this.r.flash.read(this.booted.offset, head);
    this.running = head.every((b, i) => b === NEW[i]) ? '2.0' : '1.0';
    this.agent = new UpdateAgent({
      deviceId: 'dev-1',
      installers: { module: otaModuleInstaller({ engine: () => OtaEngine.open(this.r.flash, { table: this.r.table, rollback: true, hashes: nodeHashes, running: this.booted }), hashes: nodeHashes }) },
      recordRegion: new RegionFlash(this.r.flash, this.r.p.nvs.offset, this.r.p.nvs.size),
      ...this.opts,
    });
    this.queue.push({ type: 'start', now: this.now, versions: { app: this.running }, selfTestPassed: this.running === '2.0' ? true : undefined });
    this.queue.push({ type: 'readings', now: this.now, battery: 80 });
  }

  answer(m: AgentMessage): ServiceMessage {
    if (m.type === 'check') return m.versions.app === '1.0' ? { type: 'plan', plan: this.plan() } : { type: 'none' };
    if (m.type === 'confirm') return m.accept ? { type: 'urls', urls: { app: 'http://127.0.0.1/app.bin' } } : { type: 'ack' };
    return { type: 'ack' };
  }

  drain(): void {
    for (let n = 0; n < 10000 && this.queue.length > 0; n++) {
      const ev = this.queue.shift()!;
      for (const a of this.agent.handle(ev)) {
        this.actions.push(a);
        if (a.type === 'send') {
          this.sent.push(a.message);
          this.queue.push({ type: 'response', now: this.now, id: a.id, message: this.answer(a.message) });
        } else if (a.type === 'fetch') {
          this.fetches++;
          for (let at = a.from; at < this.pkg.length; at += 4096) this.queue.push({ type: 'data', now: this.now, id: a.id, bytes: this.pkg.subarray(at, Math.min(at + 4096, this.pkg.length)) });
          this.queue.push({ type: 'fetch-done', now: this.now, id: a.id });
        } else if (a.type === 'reboot') {
          this.reboots++;
          this.queue = [];
          this.boot();
        }
      }
    }
  }

  checkNow(): void {
    this.queue.push({ type: 'check-now', now: this.now });
    this.drain();
  }

  logs(): string[] {
    return this.actions.filter((a): a is Extract<AgentAction, { type: 'log' }> => a.type === 'log').map((a) => a.text);
  }
}

function run(plan: () => Plan, opts: Partial<AgentOptions>, pkg = NEW): { h: Host; r: Rig; before: string } {
  const r = device();
  const h = new Host(r, plan, opts);
  h.pkg = pkg;
  h.boot();
  h.drain();
  const before = snapshot(r);
  h.checkNow();
  return { h, r, before };
}

/** A refused plan: one refusal sent with the code, nothing fetched, not one byte of flash changed. */
function assertRefused(x: { h: Host; r: Rig; before: string }, code: string, why?: RegExp): void {
  const { h, r, before } = x;
  assert.is(h.fetches, 0, 'nothing downloaded');
  assert.is(snapshot(r), before, 'flash unchanged (app slots, otadata and the agent record)');
  assert.is(h.running, '1.0');
  assert.is(h.reboots, 0);
  const confirms = h.sent.filter((m) => m.type === 'confirm') as Extract<AgentMessage, { type: 'confirm' }>[];
  assert.is(confirms.length, 1);
  assert.is(confirms[0].accept, false);
  assert.is(confirms[0].error, code);
  if (why) assert.match(confirms[0].reason!, why);
  assert.is(h.agent.phase, 'idle');
}

test('a plan signed with a trusted RSA-3072 key is taken: downloaded, switched, reported 2.0; the record keeps no signature', () => {
  const { h, r } = run(() => signedPlan([RSA_A]), { trust: TRUST, signatureVerifier: verifier });
  assert.is(h.running, '2.0');
  assert.is(h.fetches, 1);
  assert.ok(h.logs().some((l) => /plan p1: signature verified \(block 0\)/.test(l)), h.logs().join('\n'));
  assert.equal(h.sent[h.sent.length - 1], { type: 'report', deviceId: 'dev-1', planId: 'p1', component: 'app', state: 'succeeded', version: '2.0' });
  // Mid-way the record held the plan; after success it is idle. Either way no signature text on flash.
  const rec = readAgentRecord(new RegionFlash(r.flash, r.p.nvs.offset, r.p.nvs.size));
  assert.not.ok(JSON.stringify(rec!.payload).includes('signature'));
});

test('ECDSA P-256 and a two-block signature (untrusted block first) are taken too, with the portable verifier', () => {
  const ec = run(() => signedPlan([EC_A]), { trust: TRUST });
  assert.is(ec.h.running, '2.0');
  const two = run(() => signedPlan([RSA_B, RSA_A]), { trust: TRUST });
  assert.is(two.h.running, '2.0');
  assert.ok(two.h.logs().some((l) => /signature verified \(block 1\)/.test(l)), two.h.logs().join('\n'));
});

test('with trusted keys, an unsigned plan is refused before anything happens: PLAN_UNSIGNED', () => {
  assertRefused(run(() => signedPlan([]), { trust: TRUST, signatureVerifier: verifier }), 'PLAN_UNSIGNED', /not signed/);
});

test('a plan signed by an untrusted key, or by a revoked one, is refused: PLAN_SIGNATURE_INVALID with the block reason', () => {
  assertRefused(run(() => signedPlan([RSA_B]), { trust: TRUST, signatureVerifier: verifier }), 'PLAN_SIGNATURE_INVALID', /block 0: key digest not trusted/);
  assertRefused(run(() => signedPlan([RSA_C]), { trust: TRUST, signatureVerifier: verifier }), 'PLAN_SIGNATURE_INVALID', /block 0: key digest not trusted/);
  // The same revoked key is accepted by a device that has not revoked it: the refusal above is the revocation.
  assert.is(run(() => signedPlan([RSA_C]), { trust: { keyDigests: [digest('rsa3072-c')] }, signatureVerifier: verifier }).h.running, '2.0');
});

/** Changes made to a signed plan on its way (a server or a network in between). */
const TAMPER: [string, (p: any) => void][] = [
  ['target version (plan)', (p) => (p.components[0].target = '2.1')],
  ['target version (plan and statement)', (p) => ((p.components[0].target = '2.1'), (p.signed.statement.components[0].target = '2.1'))],
  ['source version', (p) => (p.components[0].source = '*')],
  ['package digest (plan)', (p) => (p.components[0].package.sha256 = sha(OLD))],
  ['package digest (plan and statement)', (p) => ((p.components[0].package.sha256 = sha(OLD)), (p.signed.statement.components[0].full.sha256 = sha(OLD)))],
  ['package size', (p) => (p.components[0].package.size += 1)],
  ['package kind', (p) => (p.components[0].package.kind = 'delta')],
  ['delta digest in the statement', (p) => (p.signed.statement.components[0].deltas['0.9'].sha256 = 'cd'.repeat(32))],
  ['strategy: minBattery dropped', (p) => delete p.strategy.minBattery],
  ['strategy: mode forced (plan and statement)', (p) => ((p.strategy.mode = 'forced'), (p.signed.statement.strategy.mode = 'forced'))],
  ['strategy: retries', (p) => (p.strategy.retries = 100)],
  ['strategy: windows', (p) => (p.strategy.windows = [[0, 60]])],
  ['plan id', (p) => (p.id = 'p2')],
  ['statement format', (p) => (p.signed.statement.format = 'otaflash-manifest/1')],
  ['signature bytes', (p) => (p.signed.signature = encodeSignatureText(decodeSignatureText(p.signed.signature).map((b: number, i: number) => (i === 1000 ? b ^ 1 : b))))],
  ['signature text', (p) => (p.signed.signature = p.signed.signature.slice(4))],
  ['signature removed', (p) => delete p.signed],
];

test('every field of a signed plan changed after signing is refused before any download or flash write', () => {
  const good = signedPlan([RSA_A]);
  for (const [what, change] of TAMPER) {
    const p = clone(good);
    change(p);
    const x = run(() => p, { trust: TRUST, signatureVerifier: verifier });
    try {
      assertRefused(x, what === 'signature removed' ? 'PLAN_UNSIGNED' : 'PLAN_SIGNATURE_INVALID');
    } catch (e) {
      throw new Error(`${what}: ${(e as Error).message}; logs: ${x.h.logs().join(' | ')}`);
    }
  }
});

test('the download address is not signed; bytes other than the signed digest never reach the boot selection', () => {
  // A service (or network) that points the device elsewhere gets its bytes refused by the signed SHA-256.
  const { h } = run(() => signedPlan([RSA_A]), { trust: TRUST, signatureVerifier: verifier }, OLD.length === NEW.length ? OLD : NEW.map((b, i) => (i === NEW.length - 40 ? b ^ 1 : b)));
  assert.is(h.running, '1.0');
  const report = h.sent[h.sent.length - 1] as Extract<AgentMessage, { type: 'report' }>;
  assert.is(report.state, 'failed');
  assert.match(report.error!, /^IMAGE_/);
});

test('without trusted keys nothing changes: a signed plan is taken and logged as not checked; so is an altered one', () => {
  const ok = run(() => signedPlan([RSA_B]), {});
  assert.is(ok.h.running, '2.0');
  assert.ok(ok.h.logs().some((l) => /signature not checked/.test(l)));
  const altered = clone(signedPlan([RSA_A]));
  (altered.strategy as any).retries = 9;
  assert.is(run(() => altered, {}).h.running, '2.0');
  assert.is(run(() => signedPlan([]), {}).h.running, '2.0');
});

test('checkPlanSignature: a delta package must be the one signed for the version the device runs', () => {
  const statement = planStatement(SOURCE, (id) => PKGS[id]);
  const signature = encodeSignatureText(signDetached(planStatementBytes(statement), [EC_A]));
  const plan: Plan = { id: 'p1', components: [{ id: 'app', kind: 'module', source: '1.0', target: '2.0', package: { kind: 'delta', size: 1234, sha256: 'ab'.repeat(32) } }], strategy: STRATEGY, signed: { statement, signature } };
  const v = checkPlanSignature(plan, { app: '0.9' }, { trust: TRUST, verifier });
  assert.is(v.valid, true);
  assert.is(errorCode(() => checkPlanSignature(plan, { app: '1.0' }, { trust: TRUST, verifier })), 'PLAN_SIGNATURE_INVALID');
  assert.is(errorCode(() => checkPlanSignature(plan, {}, { trust: TRUST, verifier })), 'PLAN_SIGNATURE_INVALID');
  // A revoked key listed only among the revoked is never trusted; bad trust is a caller error.
  assert.is(errorCode(() => checkPlanSignature(plan, { app: '0.9' }, { trust: { keyDigests: [digest('ecdsa256-a')], revokedDigests: [digest('ecdsa256-a')] }, verifier })), 'PLAN_SIGNATURE_INVALID');
  assert.is(errorCode(() => checkPlanSignature(plan, { app: '0.9' }, { trust: { keyDigests: [new Uint8Array(5)] }, verifier })), 'SIGNATURE_BAD_ARGUMENT');
});

test('the statement: its format tag, every package of every source version, strategy as given; name and scope are not in it', () => {
  const st = planStatement(SOURCE, (id) => PKGS[id]);
  assert.equal(JSON.parse(JSON.stringify(st)), {
    format: PLAN_STATEMENT_FORMAT,
    id: 'p1',
    components: [{ id: 'app', kind: 'module', source: '1.0', target: '2.0', full: PKGS['pkg-new'], deltas: { '0.9': PKGS['pkg-delta'] } }],
    strategy: STRATEGY,
  });
  const text = Buffer.from(planStatementBytes(st)).toString('utf8');
  assert.is(
    text,
    `{"components":[{"deltas":{"0.9":{"sha256":"${'ab'.repeat(32)}","size":1234}},"full":{"sha256":"${sha(NEW)}","size":${NEW.length}},"id":"app","kind":"module","source":"1.0","target":"2.0"}],"format":"otaflash-plan/1","id":"p1","strategy":{"minBattery":20,"mode":"silent","retries":2,"windows":[[0,1440]]}}`,
  );
});

test.run();
