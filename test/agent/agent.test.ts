// The update agent end to end on a simulated device: a real OTA engine over MemoryFlash, reboots
// through the bootloader model, the agent record in the nvs partition, and a scripted service.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createHash } from 'node:crypto';
import { UpdateAgent, type AgentOptions } from '../../src/agent/agent';
import { otaModuleInstaller } from '../../src/agent/ota-installer';
import { readAgentRecord, writeAgentRecord } from '../../src/agent/record';
import { MemoryFlash } from '../../src/flash/memory';
import { createDeltaPatch } from '../../src/delta/generate';
import { FAULT_MODES, FaultyFlash } from '../../src/flash/faults';
import type { AgentAction, AgentEvent, AgentMessage, ComponentInstaller, Plan, ServiceMessage } from '../../src/agent/types';
import { storeInstaller } from '../../src/agent/store-installer';
import { ImageStore } from '../../src/store/store';
import { RegionFlash } from '../../src/flash/region';
import { OTA_STATE, makeOtaEntry, readOtadata, writeOtaEntry } from '../../src/formats/otadata';
import { OtaEngine } from '../../src/ota/engine';
import { decideBoot, simulateReboot } from '../../src/ota/bootloader';
import { nodeHashes } from '../../src/node/hash';
import { errorCode } from '../helpers';
import type { Partition } from '../../src/formats/partition-types';
import { APP_A, APP_B, image, rig, type Rig } from '../ota/engine-fixtures';

const OLD = image(APP_A);
const NEW = image(APP_B);
const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

function planOf(strategy: Plan['strategy'], pkg = NEW): Plan {
  return { id: 'p1', components: [{ id: 'app', kind: 'module', source: '1.0', target: '2.0', package: { kind: 'full', size: pkg.length, sha256: sha(pkg) } }], strategy };
}

/** A device as flashed at the factory: OLD in ota_0, otadata selecting it, confirmed (seq 1, VALID). */
function device(): Rig {
  const r = rig();
  r.flash.erase(r.p.ota_0.offset, Math.ceil(OLD.length / 4096) * 4096);
  r.flash.write(r.p.ota_0.offset, OLD);
  writeOtaEntry(new RegionFlash(r.flash, r.p.otadata.offset, r.p.otadata.size), 0, makeOtaEntry(1, OTA_STATE.VALID, undefined, nodeHashes));
  return r;
}

interface Run {
  sent: AgentMessage[];
  fetched: { from: number; bytes: number }[];
  actions: AgentAction[];
  reboots: number;
}

/**
 * The host: boots the device, feeds the agent, carries out its actions against `serve`. `cutAfter`
 * stops a download after that many bytes and resets the device (RAM lost, flash kept).
 */
class Host {
  run: Run = { sent: [], fetched: [], actions: [], reboots: 0 };
  agent!: UpdateAgent;
  running: string = '1.0';
  now = 1_000_000;
  cutAfter: number | null = null;
  pkg = NEW;
  /** Packages by URL, for plans with several components (else `pkg`). */
  pkgs: { [url: string]: Uint8Array } = {};
  selfTest = true;
  /** An installer for 'mcu' components, made anew at every boot (RAM is lost). */
  mcu: (() => ComponentInstaller) | null = null;
  /** Versions of other components (an external MCU's), as the runtime learns them. */
  otherVersions: { [c: string]: string } = {};
  queue: AgentEvent[] = [];
  /** Bytes of the current fetch the agent has been fed. */
  delivered = 0;

  constructor(
    readonly r: Rig,
    readonly serve: (m: AgentMessage) => ServiceMessage | null,
    readonly opts: Partial<AgentOptions> = {},
  ) {}

  /** The partition the last boot started (what the running firmware knows about itself). */
  booted: Partition | undefined;

  engine = (): OtaEngine => OtaEngine.open(this.r.flash, { table: this.r.table, rollback: true, hashes: nodeHashes, running: this.booted });

  boot(): void {
    const d = simulateReboot(this.r.flash, this.r.table, { rollback: true, hashes: nodeHashes });
    const p = d.boot!;
    this.booted = p;
    const head = new Uint8Array(64);
    this.r.flash.read(p.offset, head);
    this.running = head.every((b, i) => b === NEW[i]) ? '2.0' : '1.0';
    this.agent = new UpdateAgent({
      deviceId: 'dev-1',
      installers: { module: otaModuleInstaller({ engine: this.engine, hashes: nodeHashes }), ...(this.mcu ? { mcu: this.mcu() } : {}) },
      recordRegion: new RegionFlash(this.r.flash, this.r.p.nvs.offset, this.r.p.nvs.size),
      ...this.opts,
    });
    this.queue.push({ type: 'start', now: this.now, versions: { app: this.running, ...this.otherVersions }, selfTestPassed: this.running === '2.0' ? this.selfTest : undefined });
  }

  /** Runs events until nothing is left to do; returns false when a reset cut the run short. */
  drain(limit = 10000): boolean {
    while (this.queue.length > 0 && limit-- > 0) {
      const ev = this.queue.shift()!;
      if (ev.type === 'data' && this.cutAfter !== null) {
        if (this.cutAfter < ev.bytes.length) {
          // Power lost while this chunk was on its way: what the agent took so far is all it got.
          const last = this.run.fetched[this.run.fetched.length - 1];
          last.bytes = this.delivered;
          this.cutAfter = null;
          this.queue = [];
          this.boot(); // RAM gone: new agent, new engine; the flash keeps what was written
          continue;
        }
        this.cutAfter -= ev.bytes.length;
      }
      if (ev.type === 'data') this.delivered += ev.bytes.length;
      const acts = this.agent.handle(ev);
      for (const a of acts) {
        this.run.actions.push(a);
        if (a.type === 'send') {
          this.run.sent.push(a.message);
          const answer = this.serve(a.message);
          if (answer) this.queue.push({ type: 'response', now: this.now, id: a.id, message: answer });
          else this.queue.push({ type: 'request-failed', now: this.now, id: a.id, error: 'no answer' });
        } else if (a.type === 'fetch') {
          let sent = 0;
          this.delivered = 0;
          const pkg = this.pkgs[a.url] ?? this.pkg;
          for (let at = a.from; at < pkg.length; at += 4096) {
            const chunk = pkg.subarray(at, Math.min(at + 4096, pkg.length));
            this.now += 10;
            this.queue.push({ type: 'data', now: this.now, id: a.id, bytes: chunk });
            sent += chunk.length;
          }
          this.run.fetched.push({ from: a.from, bytes: sent });
          this.queue.push({ type: 'fetch-done', now: this.now, id: a.id });
        } else if (a.type === 'reboot') {
          this.run.reboots++;
          this.queue = [];
          this.boot();
          return this.drain(limit);
        } else if (a.type === 'wake-at') {
          // Timers are the host's: tests advance time explicitly.
        }
      }
    }
    return true;
  }
}

function service(plan: Plan, log: AgentMessage[] = []) {
  return (m: AgentMessage): ServiceMessage | null => {
    log.push(m);
    if (m.type === 'check') return plan.components.length === 0 || m.versions.app === plan.components[0].source ? { type: 'plan', plan } : { type: 'none' };
    if (m.type === 'confirm') return m.accept ? { type: 'urls', urls: { app: 'http://127.0.0.1/app.bin' } } : { type: 'ack' };
    return { type: 'ack' };
  };
}

test('silent plan: check, confirm, download with progress, switch, reboot, self-test, success report; VALID on flash', () => {
  const r = device();
  const h = new Host(r, service(planOf({ mode: 'silent' })));
  h.boot();
  h.drain();
  h.queue.push({ type: 'check-now', now: h.now });
  h.drain();
  assert.is(h.running, '2.0');
  assert.is(h.run.reboots, 1);
  const types = h.run.sent.map((m) => m.type);
  assert.equal(types.slice(0, 2), ['check', 'confirm']);
  const progress = h.run.sent.filter((m) => m.type === 'progress') as Extract<AgentMessage, { type: 'progress' }>[];
  assert.ok(progress.length >= 2, `${progress.length} progress messages`);
  assert.is(progress[progress.length - 1].percent, 100);
  assert.is(progress[progress.length - 1].bytes, NEW.length);
  for (let i = 1; i < progress.length; i++) assert.ok(progress[i].percent > progress[i - 1].percent);
  const report = h.run.sent[h.run.sent.length - 1];
  assert.equal(report, { type: 'report', deviceId: 'dev-1', planId: 'p1', component: 'app', state: 'succeeded', version: '2.0' });
  // The engine confirmed the new app: the bootloader's selected entry is VALID.
  const d = decideBoot(r.flash, r.table, { rollback: true, hashes: nodeHashes });
  assert.is(d.boot!.label, 'ota_1');
  assert.is(d.activeStateAfterBoot, OTA_STATE.VALID);
  assert.is(h.agent.phase, 'idle');
});

test('low battery: the agent waits and re-checks; once the battery is up it proceeds', () => {
  const r = device();
  const h = new Host(r, service(planOf({ mode: 'silent', minBattery: 30 })));
  h.boot();
  h.drain();
  h.queue.push({ type: 'readings', now: h.now, battery: 12 }, { type: 'check-now', now: h.now });
  h.drain();
  assert.is(h.agent.phase, 'waiting');
  assert.ok(!h.run.sent.some((m) => m.type === 'confirm'), 'confirmed despite a low battery');
  const wake = h.run.actions.filter((a) => a.type === 'wake-at').pop() as { at: number };
  assert.ok(wake && wake.at > h.now);
  // Before the wake time nothing happens; after it, still low: waits again.
  h.queue.push({ type: 'tick', now: wake.at - 1 });
  h.drain();
  assert.is(h.agent.phase, 'waiting');
  h.queue.push({ type: 'readings', now: wake.at, battery: 80 }, { type: 'tick', now: wake.at });
  h.drain();
  assert.is(h.running, '2.0');
  assert.is(h.agent.phase, 'idle');
});

test('ask mode: the application is asked; a refusal declines the plan and nothing is written', () => {
  const r = device();
  const before = r.flash.bytes.slice(r.p.ota_1.offset, r.p.ota_1.offset + 4096);
  const h = new Host(r, service(planOf({ mode: 'ask' })));
  h.boot();
  h.drain();
  h.queue.push({ type: 'check-now', now: h.now });
  h.drain();
  assert.ok(h.run.actions.some((a) => a.type === 'ask-permission'));
  assert.is(h.agent.phase, 'asking');
  h.queue.push({ type: 'permit', now: h.now, allow: false });
  h.drain();
  const c = h.run.sent.find((m) => m.type === 'confirm') as Extract<AgentMessage, { type: 'confirm' }>;
  assert.is(c.accept, false);
  assert.is(h.agent.phase, 'idle');
  assert.equal(r.flash.bytes.slice(r.p.ota_1.offset, r.p.ota_1.offset + 4096), before);
});

test('autoSwitch off: the agent stages the update and reboots only when the app calls activate', () => {
  const r = device();
  const h = new Host(r, service(planOf({ mode: 'silent' })), { autoSwitch: false });
  h.boot();
  h.drain();
  h.queue.push({ type: 'check-now', now: h.now });
  h.drain();
  assert.is(h.agent.phase, 'staged');
  assert.is(h.run.reboots, 0);
  assert.ok(h.run.actions.some((a) => a.type === 'ready-to-switch'));
  // A reset while staged keeps the staged state (the record), and still waits for the app.
  h.boot();
  h.drain();
  assert.is(h.agent.phase, 'staged');
  assert.is(h.running, '1.0');
  h.queue.push({ type: 'activate', now: h.now });
  h.drain();
  assert.is(h.running, '2.0');
  assert.is(h.run.reboots, 1);
});

test('a reset in the middle of the download resumes from what is on flash, without fetching it again', () => {
  const r = device();
  const h = new Host(r, service(planOf({ mode: 'silent' })));
  h.boot();
  h.drain();
  h.cutAfter = 5 * 4096 + 100;
  h.queue.push({ type: 'check-now', now: h.now });
  h.drain();
  assert.is(h.running, '2.0');
  assert.is(h.run.fetched.length, 2);
  const [first, second] = h.run.fetched;
  assert.is(first.from, 0);
  assert.ok(second.from > 0 && second.from <= first.bytes, `resumed at ${second.from} after ${first.bytes} bytes`);
  assert.is(second.from + second.bytes, NEW.length);
  // Re-sent: at most the bytes after the last checkpoint (one erase sector).
  assert.ok(first.bytes + second.bytes - NEW.length <= 4096 + 100, `${first.bytes + second.bytes - NEW.length} bytes fetched twice`);
  const report = h.run.sent[h.run.sent.length - 1] as Extract<AgentMessage, { type: 'report' }>;
  assert.is(report.state, 'succeeded');
});

test('retries: failed downloads back off (doubling), and when they are used up a failure is reported', () => {
  const r = device();
  const h = new Host(r, service(planOf({ mode: 'silent', retries: 2, backoffMs: 1000 })));
  h.boot();
  h.drain();
  h.queue.push({ type: 'check-now', now: h.now });
  // Every fetch fails at once.
  const failing = (acts: AgentAction[]) => {
    for (const a of acts) {
      if (a.type === 'send') {
        h.run.sent.push(a.message);
        const ans = h.serve(a.message);
        if (ans) failing(h.agent.handle({ type: 'response', now: h.now, id: a.id, message: ans }));
      } else if (a.type === 'fetch') failing(h.agent.handle({ type: 'request-failed', now: h.now, id: a.id, error: 'connection reset' }));
      else if (a.type === 'wake-at') h.run.actions.push(a);
    }
  };
  failing(h.agent.handle(h.queue.shift()!));
  const waits: number[] = [];
  for (let i = 0; i < 2; i++) {
    const w = h.run.actions.pop() as { type: 'wake-at'; at: number };
    waits.push(w.at - h.now);
    h.now = w.at;
    failing(h.agent.handle({ type: 'tick', now: h.now }));
  }
  assert.equal(waits, [1000, 2000]);
  const report = h.run.sent[h.run.sent.length - 1] as Extract<AgentMessage, { type: 'report' }>;
  assert.is(report.type, 'report');
  assert.is(report.state, 'failed');
  assert.is(report.error, 'AGENT_DOWNLOAD_FAILED');
  assert.is(h.agent.phase, 'idle');
});

test('a package whose SHA-256 differs from the plan is refused, never selected, and reported (no retry)', () => {
  const r = device();
  const plan = planOf({ mode: 'silent', retries: 5 });
  const h = new Host(r, service(plan));
  h.pkg = OLD.length === NEW.length ? OLD : NEW.slice();
  h.pkg[h.pkg.length - 40] ^= 1; // one bit
  h.boot();
  h.drain();
  h.queue.push({ type: 'check-now', now: h.now });
  h.drain();
  assert.is(h.running, '1.0');
  assert.is(h.run.fetched.length, 1);
  const report = h.run.sent[h.run.sent.length - 1] as Extract<AgentMessage, { type: 'report' }>;
  assert.is(report.state, 'failed');
  assert.ok(/^IMAGE_/.test(report.error!), report.error);
  assert.is(decideBoot(r.flash, r.table, { rollback: true, hashes: nodeHashes }).boot!.label, 'ota_0');
});

test('a failed self-test after the switch rolls back to the old app and reports the failure', () => {
  const r = device();
  const h = new Host(r, service(planOf({ mode: 'silent' })));
  h.selfTest = false;
  h.boot();
  h.drain();
  h.queue.push({ type: 'check-now', now: h.now });
  h.drain();
  assert.is(h.running, '1.0');
  assert.is(h.run.reboots, 2);
  const report = h.run.sent.find((m) => m.type === 'report') as Extract<AgentMessage, { type: 'report' }>;
  assert.is(report.state, 'failed');
  assert.is(report.error, 'AGENT_SELF_TEST_FAILED');
  const entries = readOtadata(new RegionFlash(r.flash, r.p.otadata.offset, r.p.otadata.size));
  assert.ok(entries.some((e) => e.state === OTA_STATE.INVALID || e.state === OTA_STATE.ABORTED), 'the new app is not marked invalid');
});

test('a lost final report stays on flash and is sent again (next wake-up or boot) until the service has it', () => {
  const r = device();
  let drop = 2; // the service is unreachable for the first two deliveries of the report
  const inner = service(planOf({ mode: 'silent' }));
  const reports: AgentMessage[] = [];
  const h = new Host(r, (m) => {
    if (m.type === 'report') {
      reports.push(m);
      if (drop-- > 0) return null; // no answer: the host reports the request as failed below
    }
    return inner(m);
  });
  h.boot();
  h.drain();
  h.queue.push({ type: 'check-now', now: h.now });
  h.drain();
  assert.is(h.running, '2.0');
  // A reset: the report is still in the record and goes out again at start (dropped once more).
  h.boot();
  h.drain();
  assert.is(reports.length, 2);
  // The next wake-up sends it again; this time the service answers, and the record forgets it.
  const wake = h.run.actions.filter((a) => a.type === 'wake-at').pop() as { at: number } | undefined;
  h.queue.push({ type: 'tick', now: wake ? wake.at : h.now + 3600_000 });
  h.drain();
  assert.is(reports.length, 3);
  assert.equal(reports[2], reports[0]);
  const rec = readAgentRecord(new RegionFlash(r.flash, r.p.nvs.offset, r.p.nvs.size))!;
  assert.is((rec.payload as { unsent?: unknown[] }).unsent, undefined);
  h.boot();
  h.drain();
  assert.is(reports.length, 3, 'acknowledged reports are not sent again');
});

test('a plan offered to a device that already runs its targets is reported done, not declined; one 100% progress', () => {
  const r = device();
  const plan = planOf({ mode: 'silent' });
  const h = new Host(r, service(plan));
  h.boot();
  h.drain();
  h.queue.push({ type: 'check-now', now: h.now });
  h.drain();
  const hundred = h.run.sent.filter((m) => m.type === 'progress' && m.percent === 100);
  assert.is(hundred.length, 1, `${hundred.length} progress messages at 100%`);
  // A service that offers the same plan again (say its copy of the report was lost).
  const forced = new Host(r, () => ({ type: 'plan', plan }));
  forced.boot();
  forced.drain();
  forced.queue.push({ type: 'check-now', now: forced.now });
  forced.drain();
  const after = forced.run.sent;
  assert.ok(!after.some((m) => m.type === 'confirm'), 'declined or confirmed a plan it already runs');
  const rep = after.find((m) => m.type === 'report') as Extract<AgentMessage, { type: 'report' }>;
  assert.equal([rep.state, rep.version], ['succeeded', '2.0']);
});

test('delta package: the module installer applies the patch from the running slot; a reset mid-download re-fetches the patch and checks what is on flash', () => {
  const patch = createDeltaPatch(OLD, NEW, { compression: 'heatshrink', trials: 1 });
  for (const cut of [null, Math.floor(patch.length / 2)]) {
    const r = device();
    const plan: Plan = { id: 'pd', components: [{ id: 'app', kind: 'module', source: '1.0', target: '2.0', package: { kind: 'delta', size: patch.length, sha256: sha(patch) } }], strategy: { mode: 'silent' } };
    const h = new Host(r, service(plan));
    h.pkg = patch;
    h.boot();
    h.drain();
    h.cutAfter = cut;
    h.queue.push({ type: 'check-now', now: h.now });
    h.drain();
    assert.is(h.running, '2.0', `cut ${cut}`);
    const d = decideBoot(r.flash, r.table, { rollback: true, hashes: nodeHashes });
    assert.equal([d.boot!.label, d.activeStateAfterBoot], ['ota_1', OTA_STATE.VALID]);
    assert.equal(r.flash.bytes.slice(r.p.ota_1.offset, r.p.ota_1.offset + NEW.length), NEW);
    if (cut !== null) {
      assert.is(h.run.fetched.length, 2);
      assert.equal(h.run.fetched.map((f) => f.from), [0, 0], 'a delta is fetched again from its start');
    }
    const report = h.run.sent.filter((m) => m.type === 'report').pop() as Extract<AgentMessage, { type: 'report' }>;
    assert.equal([report.state, report.version], ['succeeded', '2.0']);
  }
});

test('an MCU component goes into the image store (resumed at the first missing chunk after a reset); the app hands it over on activate', () => {
  const mcuFw = new Uint8Array(50_000);
  for (let i = 0; i < mcuFw.length; i++) mcuFw[i] = (i * 7 + (i >> 9)) & 0xff;
  const plan: Plan = {
    id: 'pm',
    components: [
      { id: 'app', kind: 'module', source: '1.0', target: '2.0', package: { kind: 'full', size: NEW.length, sha256: sha(NEW) } },
      { id: 'mcu', kind: 'mcu', source: '', target: '7.1', package: { kind: 'full', size: mcuFw.length, sha256: sha(mcuFw) } },
    ],
    strategy: { mode: 'silent' },
  };
  const r = device();
  const ext = new MemoryFlash({ size: 256 * 1024, mode: 'strict' }); // the external SPI flash
  const handedOver: Uint8Array[] = [];
  const confirmed: string[] = [];
  const h = new Host(r, (m) => {
    if (m.type === 'check') return m.versions.app === '1.0' ? { type: 'plan', plan } : { type: 'none' };
    if (m.type === 'confirm') return { type: 'urls', urls: { app: 'u:app', mcu: 'u:mcu' } };
    return { type: 'ack' };
  });
  h.pkgs = { 'u:app': NEW, 'u:mcu': mcuFw };
  h.mcu = () => storeInstaller({
    store: ImageStore.open(ext),
    onActivate: (im) => {
      const got = new Uint8Array(im.size);
      ImageStore.open(ext).readImage(im.id, 0, got);
      handedOver.push(got);
      h.otherVersions = { mcu: '7.1' }; // the MCU runs it after the reboot
    },
    onConfirm: (im) => confirmed.push(im.version),
  });
  h.boot();
  h.drain();
  // Cut after the app and half the MCU firmware.
  h.cutAfter = NEW.length + 6 * 4096 + 10;
  h.queue.push({ type: 'check-now', now: h.now });
  h.drain();
  assert.is(h.running, '2.0');
  assert.is(handedOver.length, 1);
  assert.equal(handedOver[0], mcuFw);
  assert.equal(confirmed, ['7.1']);
  const mcuFetches = h.run.fetched.filter((f, i) => i > 0);
  assert.ok(mcuFetches.some((f) => f.from > 0), `MCU download resumed: ${JSON.stringify(h.run.fetched)}`);
  const stored = ImageStore.open(ext).list();
  assert.equal(stored.map((im) => [im.component, im.version, im.state]), [['mcu', '7.1', 'installed']]);
  const reports = h.run.sent.filter((m) => m.type === 'report') as Extract<AgentMessage, { type: 'report' }>[];
  assert.equal(reports.map((m) => [m.component, m.state, m.version]), [['app', 'succeeded', '2.0'], ['mcu', 'succeeded', '7.1']]);
});

test('bad plans and events are typed errors; the record survives a torn second sector', () => {
  const r = device();
  const h = new Host(r, service({ id: 'p1', components: [], strategy: { mode: 'silent' } } as Plan));
  h.boot();
  h.drain();
  // An answer to a request the agent never made is ignored.
  assert.equal(h.agent.handle({ type: 'response', now: 0, id: 999, message: { type: 'plan', plan: { id: 'x', components: [], strategy: { mode: 'silent' } } } }), []);
  h.queue.push({ type: 'check-now', now: h.now });
  assert.is(errorCode(() => h.drain()), 'AGENT_BAD_PLAN');
  assert.is(errorCode(() => h.agent.handle({ type: 'nope', now: 1 } as unknown as AgentEvent)), 'AGENT_BAD_EVENT');
  assert.is(errorCode(() => h.agent.handle(null as unknown as AgentEvent)), 'AGENT_BAD_EVENT');
  const fresh = new UpdateAgent({ deviceId: 'd', installers: {}, recordRegion: new RegionFlash(r.flash, r.p.nvs.offset, r.p.nvs.size) });
  assert.is(errorCode(() => fresh.handle({ type: 'tick', now: 1 })), 'AGENT_NOT_STARTED');
  assert.is(errorCode(() => new UpdateAgent({ deviceId: '', installers: {}, recordRegion: r.flash } as AgentOptions)), 'AGENT_BAD_ARGUMENT');
});

test('agent record: A/B sectors, the newer valid one wins, a torn write of the newer falls back; size limit', () => {
  for (const writeSize of [1, 4, 16]) {
    const flash = new MemoryFlash({ size: 2 * 4096, writeSize, mode: 'strict' });
    assert.is(readAgentRecord(flash), null);
    const a = writeAgentRecord(flash, { phase: 'idle', n: 1 });
    const b = writeAgentRecord(flash, { phase: 'downloading', n: 2 }, a);
    assert.equal([a.sector, a.seq, b.sector, b.seq], [0, 1, 1, 2]);
    assert.equal(readAgentRecord(flash)!.payload, { phase: 'downloading', n: 2 });
    // Every fault mode at every operation of the third write: the result is the second or the third record.
    for (const mode of FAULT_MODES) {
      for (let k = 0; k < 4; k++) {
        const snap = flash.snapshot();
        const f = new FaultyFlash(flash, { cutAt: k, mode, seed: 7 });
        let cut = false;
        try {
          writeAgentRecord(f, { phase: 'staged', n: 3 }, b);
        } catch (e) {
          cut = true;
        }
        const got = readAgentRecord(flash)!;
        assert.ok(got, `${mode}@${k} (writeSize ${writeSize}): no record`);
        const n = (got.payload as { n: number }).n;
        assert.ok(n === 2 || (n === 3 && (!cut || mode !== 'before')), `${mode}@${k}: record ${n}`);
        flash.restore(snap);
      }
    }
  }
  const small = new MemoryFlash({ size: 2 * 4096 });
  assert.is(errorCode(() => writeAgentRecord(small, { big: 'x'.repeat(5000) })), 'AGENT_RECORD_TOO_LARGE');
  assert.is(errorCode(() => readAgentRecord(new MemoryFlash({ size: 4096 }))), 'AGENT_RECORD_REGION');
});

test.run();
