// The README's "An update from a device runtime" example, run as written inside a bare QuickJS
// context over dist/device/otaflash.js. The snippet is read from README.md at test time, so the
// test follows the README: if the example stops working (or its wording stops matching what the
// harness relies on), this fails. The device is an Espruino-style `require('Flash')` emulated in
// plain JS inside the engine (NOR programming, 4 KiB pages, 4 MiB), prepared from the host with the
// two-OTA partition table, a factory app and blank otadata. Outcomes are judged on the flash bytes
// and on what the bootloader model decides, also re-checked in Node from the bytes alone.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { getQuickJS, type QuickJSContext, type QuickJSHandle, type QuickJSRuntime } from 'quickjs-emscripten';
import * as lib from '../../src/index';
import { deviceBundlePath, ensureBuilt, repoRoot } from './bundle';

const VECTORS = path.resolve(repoRoot, 'test/fixtures');
const TABLE_CSV = path.join(VECTORS, 'partition-tables/partitions_two_ota.csv');
const TABLE_BIN = path.join(VECTORS, 'partition-tables/partitions_two_ota.bin');
const FACTORY_APP = path.join(VECTORS, 'app-images/esp-serial-flasher/hello_world-esp32.bin');
const NEW_APP = path.join(VECTORS, 'app-images/elf2image/coredump-app-esp32.bin');
const FLASH_SIZE = 4 * 1024 * 1024;
const PAGE = 4096;
const CHUNK = 4096;

/** The ```js block under "### An update from a device runtime", split where the harness needs it. */
function readmeExample(): { whole: string; driver: string; handlers: string; confirm: string; resumeOpen: string; resumeWriter: string } {
  const readme = fs.readFileSync(path.join(repoRoot, 'README.md'), 'utf8');
  const at = readme.indexOf('### An update from a device runtime');
  assert.ok(at >= 0, 'README has the section "An update from a device runtime"');
  const open = readme.indexOf('```js\n', at);
  const close = readme.indexOf('\n```', open + 6);
  assert.ok(open > at && close > open, 'the section has a ```js block');
  const whole = readme.slice(open + 6, close + 1);
  // The driver (everything before the engine is opened) is reused after a power cut; the handlers
  // are the README's onChunk/onDone; the confirmation is the commented line after the reboot.
  const engineAt = whole.indexOf('var engine = ');
  const handlersAt = whole.indexOf('function onChunk(');
  const confirm = /^\/\/ (OtaFlash\.OtaEngine\.open\(flash, \{ rollback: true \}\)\.markValid\(\);)$/m.exec(whole);
  assert.ok(engineAt > 0 && handlersAt > engineAt, 'the example opens an engine, then defines onChunk');
  assert.ok(confirm, 'the example names the markValid() call to make after the reboot');
  assert.match(whole, "engine.begin(slot, { erase: 'sequential', maxEraseBytesPerStep: 4096 })");
  assert.match(whole, 'E.reboot();');
  // The resume recipe is commented out in the example: its code lines, uncommented, run as given.
  const resume = /^\/\/ (var engine = OtaFlash\.OtaEngine\.open\(flash, \{ rollback: true \}\);)\n\/\/ (var writer = engine\.resume\(\{ maxEraseBytesPerStep: 4096 \}\); var slot = writer\.partition;)$/m.exec(whole);
  assert.ok(resume, 'the example shows how to reopen the engine and resume');
  return { whole, driver: whole.slice(0, engineAt), handlers: whole.slice(handlersAt), confirm: confirm![1], resumeOpen: resume![1], resumeWriter: resume![2] };
}

/**
 * Espruino's Flash module as the example assumes it: read(len, addr) returns a new Uint8Array,
 * write(data, addr) programs NOR-style (AND into the stored bytes, 4-byte aligned as on the ESP32
 * port), erasePage(addr) erases the 4 KiB page holding addr, getPage(addr) names that page. Every program and erase is logged, with
 * a marker per received chunk, so the host can see what each onChunk() call did to the flash.
 */
const ESPRUINO_FLASH = `
var __flashBytes = new Uint8Array(__flashInit);
var __flashLog = [];
(function () {
  var PAGE = ${PAGE};
  function inRange(op, addr, len) {
    if (!(addr >= 0 && addr + len <= __flashBytes.length)) throw new Error('Flash.' + op + ': 0x' + addr.toString(16) + '+' + len + ' out of range');
  }
  var Flash = {
    read: function (len, addr) {
      inRange('read', addr, len);
      return __flashBytes.slice(addr, addr + len);
    },
    write: function (data, addr) {
      if (addr % 4 !== 0 || data.length % 4 !== 0) throw new Error('Flash.write: 0x' + addr.toString(16) + '+' + data.length + ' not word aligned');
      inRange('write', addr, data.length);
      for (var i = 0; i < data.length; i++) __flashBytes[addr + i] &= data[i];
      __flashLog.push(['w', addr, data.length]);
    },
    getPage: function (addr) {
      if (!(addr >= 0 && addr < __flashBytes.length)) return undefined;
      return { addr: addr - (addr % PAGE), length: PAGE };
    },
    erasePage: function (addr) {
      inRange('erasePage', addr, 1);
      var start = addr - (addr % PAGE);
      __flashBytes.fill(0xff, start, start + PAGE);
      __flashLog.push(['e', start, PAGE]);
    }
  };
  globalThis.require = function (name) {
    if (name === 'Flash') return Flash;
    throw new Error('Module ' + name + ' not found');
  };
})();
var E = { reboots: 0, reboot: function () { E.reboots++; } };
`;

/** What a reboot decided, in plain values (evaluated inside the engine). */
const REBOOT = `(function () {
  var d = OtaFlash.simulateReboot(flash, OtaFlash.readPartitionTable(flash), { rollback: true });
  return { label: d.label, state: d.activeStateAfterBoot === null ? null : OtaFlash.otaStateName(d.activeStateAfterBoot), tried: d.tried };
})()`;

interface Reboot {
  label: string | null;
  state: string | null;
  tried: { label: string; ok: boolean; error?: string }[];
}

type LogEntry = ['w' | 'e', number, number] | ['c', number, number];

let quickjs: Awaited<ReturnType<typeof getQuickJS>> | null = null;

/** One power-on of the emulated device: a fresh QuickJS context whose flash starts as `bytes`. */
class Device {
  private constructor(
    private readonly rt: QuickJSRuntime,
    readonly ctx: QuickJSContext,
  ) {}

  static async boot(bytes: Uint8Array): Promise<Device> {
    quickjs ??= await getQuickJS();
    const rt = quickjs.newRuntime();
    const dev = new Device(rt, rt.newContext());
    const init = dev.ctx.newArrayBuffer(bytes.slice().buffer);
    dev.ctx.setProp(dev.ctx.global, '__flashInit', init);
    init.dispose();
    dev.run(ESPRUINO_FLASH, 'espruino-flash.js');
    dev.run(fs.readFileSync(deviceBundlePath, 'utf8'), 'otaflash.js');
    return dev;
  }

  private unwrap(r: ReturnType<QuickJSContext['evalCode']>, what: string): QuickJSHandle {
    if (r.error) {
      const err = this.ctx.dump(r.error);
      r.error.dispose();
      throw new Error(`${what} failed inside QuickJS: ${JSON.stringify(err)}`);
    }
    return r.value;
  }

  /** Runs a script as the device would (global `var`s and functions stay global). */
  run(code: string, file: string): void {
    this.unwrap(this.ctx.evalCode(code, file, { type: 'global' }), file).dispose();
  }

  value<T>(expr: string): T {
    const h = this.unwrap(this.ctx.evalCode(`(${expr})`, 'expr.js', { type: 'global' }), expr);
    const v = this.ctx.dump(h) as T;
    h.dispose();
    return v;
  }

  /** Hands one received chunk to the README's onChunk(), as a fresh Uint8Array (as a radio would). */
  receive(chunk: Uint8Array): void {
    const feed = this.unwrap(
      this.ctx.evalCode('(function (ab) { __flashLog.push(["c", 0, ab.byteLength]); onChunk(new Uint8Array(ab)); })', 'feed.js', { type: 'global' }),
      'feed',
    );
    const ab = this.ctx.newArrayBuffer(chunk.slice().buffer);
    const r = this.ctx.callFunction(feed, this.ctx.undefined, ab);
    [feed, ab].forEach((h) => h.dispose());
    this.unwrap(r, 'onChunk').dispose();
  }

  flash(): Uint8Array {
    const h = this.unwrap(this.ctx.evalCode('__flashBytes.buffer', 'flash.js', { type: 'global' }), 'reading the flash');
    const out = new Uint8Array(this.ctx.getArrayBuffer(h).value.slice(0)); // copy before dispose
    h.dispose();
    return out;
  }

  log(): LogEntry[] {
    return this.value<LogEntry[]>('__flashLog');
  }

  /** Power off: nothing in the engine's RAM survives, only what flash() returned. */
  off(): void {
    this.ctx.dispose();
    this.rt.dispose();
  }
}

function readVector(p: string): Uint8Array {
  return new Uint8Array(fs.readFileSync(p));
}

/** A 4 MiB flash as a device leaves the factory: partition table at 0x8000, the factory app, blank otadata. */
function factoryFlash(): { bytes: Uint8Array; table: lib.PartitionTable } {
  const parsed = lib.parsePartitionCsv(fs.readFileSync(TABLE_CSV, 'utf8'));
  const encoded = lib.encodePartitionTable(parsed, { md5: true });
  assert.equal(encoded, readVector(TABLE_BIN), 'the CSV encodes to the gen_esp32part.py vector');
  const bytes = new Uint8Array(FLASH_SIZE).fill(0xff);
  bytes.set(encoded, lib.PARTITION_TABLE_OFFSET);
  const table = lib.decodePartitionTable(encoded);
  const factory = lib.findPartition(table, 'factory')!;
  bytes.set(readVector(FACTORY_APP), factory.offset);
  return { bytes, table };
}

function chunksOf(image: Uint8Array): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let at = 0; at < image.length; at += CHUNK) out.push(image.subarray(at, Math.min(at + CHUNK, image.length)));
  return out;
}

/** The bootloader's decision, made in Node from the flash bytes alone (no state from the engine). */
function bootInNode(bytes: Uint8Array, table: lib.PartitionTable): lib.BootDecision {
  const dev = new lib.MemoryFlash({ size: bytes.length, contents: bytes });
  return lib.decideBoot(dev, table, { rollback: true });
}

function slotOps(log: LogEntry[], slot: lib.Partition): LogEntry[] {
  return log.filter((e) => e[0] !== 'c' && e[1] >= slot.offset && e[1] < slot.offset + slot.size);
}

/** Slot erases done by each onChunk() call (the README's per-step erase budget is one page). */
function erasesPerChunk(log: LogEntry[], slot: lib.Partition): number[] {
  const counts: number[] = [];
  for (const e of log) {
    if (e[0] === 'c') counts.push(0);
    else if (e[0] === 'e' && counts.length > 0 && e[1] >= slot.offset && e[1] < slot.offset + slot.size) counts[counts.length - 1]++;
  }
  return counts;
}

function firstDifference(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return i;
  return a.length === b.length ? -1 : n;
}

/** Reboot, check the new app boots PENDING_VERIFY, confirm with the README's line, reboot, check VALID. */
function rebootAndConfirm(dev: Device, confirm: string, slotLabel: string): void {
  const first = dev.value<Reboot>(REBOOT);
  assert.is(first.label, slotLabel, `first boot after the update: ${JSON.stringify(first.tried)}`);
  assert.is(first.state, 'PENDING_VERIFY');
  assert.ok(first.tried.length > 0 && first.tried[0].label === slotLabel && first.tried[0].ok, 'the bootloader verified the new image');
  dev.run(confirm, 'confirm.js');
  const second = dev.value<Reboot>(REBOOT);
  assert.is(second.label, slotLabel, 'the confirmed app boots again');
  assert.is(second.state, 'VALID');
}

/** The uninterrupted run's slot operations, for the resume test to compare with. */
let uninterrupted: { ops: LogEntry[]; slotBytes: Uint8Array } | null = null;

test('README device example: update, E.reboot(), boot PENDING_VERIFY, markValid(), boot VALID (QuickJS, Espruino Flash)', async () => {
  ensureBuilt();
  const ex = readmeExample();
  const image = readVector(NEW_APP);
  assert.is(lib.verifyImage(image).hashValid, true, 'the new image carries an appended SHA-256');
  const { bytes, table } = factoryFlash();
  assert.is(bootInNode(bytes, table).label, 'factory', 'before the update the factory app boots');

  const dev = await Device.boot(bytes);
  try {
    dev.run(ex.whole, 'readme-example.js');
    const slotLabel = dev.value<string>('slot.label');
    assert.is(slotLabel, 'ota_0', 'running the factory app, the update goes to ota_0');
    const slot = lib.findPartition(table, slotLabel)!;
    for (const c of chunksOf(image)) dev.receive(c);
    assert.is(dev.value<number>('writer.offset'), image.length);
    assert.is(dev.value<number>('E.reboots'), 0);
    dev.run('onDone();', 'done.js');
    assert.is(dev.value<number>('E.reboots'), 1, 'onDone() reboots once');

    // The image is in the slot byte for byte, and a bootloader looking only at the bytes picks it.
    const after = dev.flash();
    assert.is(firstDifference(after.subarray(slot.offset, slot.offset + image.length), image), -1, 'image bytes in the slot');
    const decided = bootInNode(after, table);
    assert.is(decided.label, slotLabel, 'the bootloader (in Node, from the bytes) boots the new slot');
    assert.is(decided.activeStateAfterBoot, lib.OTA_STATE.PENDING_VERIFY);

    const perChunk = erasesPerChunk(dev.log(), slot);
    assert.is(perChunk.length, chunksOf(image).length);
    assert.ok(Math.max(...perChunk) <= 1, `maxEraseBytesPerStep 4096: at most one page erased per onChunk(), got ${perChunk.join(',')}`);
    uninterrupted = { ops: slotOps(dev.log(), slot), slotBytes: after.slice(slot.offset, slot.offset + slot.size) };

    rebootAndConfirm(dev, ex.confirm, slotLabel);
    const final = bootInNode(dev.flash(), table);
    assert.is(final.label, slotLabel);
    assert.is(final.activeStateAfterBoot, lib.OTA_STATE.VALID);
    assert.is(dev.value<number>('E.reboots'), 1, 'E.reboot() was called exactly once');
  } finally {
    dev.off();
  }
});

test('README device example: power cut half way, engine.resume() continues from writer.offset without re-erasing or re-writing', async () => {
  ensureBuilt();
  const ex = readmeExample();
  const image = readVector(NEW_APP);
  const chunks = chunksOf(image);
  const half = Math.floor(chunks.length / 2);
  const sent = half * CHUNK;
  const { bytes, table } = factoryFlash();

  // First power-on: the README example runs and receives half the image, then the power goes.
  const before = await Device.boot(bytes);
  let cutFlash: Uint8Array;
  let logBefore: LogEntry[];
  let slotLabel: string;
  try {
    before.run(ex.whole, 'readme-example.js');
    slotLabel = before.value<string>('slot.label');
    for (let i = 0; i < half; i++) before.receive(chunks[i]);
    cutFlash = before.flash();
    logBefore = before.log();
  } finally {
    before.off();
  }
  const slot = lib.findPartition(table, slotLabel)!;
  assert.is(bootInNode(cutFlash, table).label, 'factory', 'after the cut the old app still boots');

  // Second power-on: the bootloader runs, then the app rebuilds everything from flash.
  const after = await Device.boot(cutFlash);
  try {
    after.run(ex.driver, 'readme-driver.js');
    const boot = after.value<Reboot>(REBOOT);
    assert.is(boot.label, 'factory', 'the device restarts in the factory app');
    after.run('__flashLog = [];', 'reset-log.js');
    after.run(ex.resumeOpen, 'open.js');
    const pending = after.value<{ label: string; written: number } | null>('(function (p) { return p && { label: p.partition.label, written: p.written }; })(engine.pendingUpdate())');
    assert.equal(pending, { label: slotLabel, written: sent }, 'flash records how far the download got');
    after.run(ex.resumeWriter + '\n' + ex.handlers, 'resume.js');
    const offset = after.value<number>('writer.offset');
    assert.is(offset, sent, 'resume() continues exactly after the last chunk received before the cut');
    assert.is(after.value<string>('slot.label'), slotLabel);

    const resumeOps = slotOps(after.log(), slot);
    for (let at = offset; at < image.length; at += CHUNK) after.receive(image.subarray(at, Math.min(at + CHUNK, image.length)));
    after.run('onDone();', 'done.js');
    assert.is(after.value<number>('E.reboots'), 1, 'onDone() reboots once');

    // Nothing below the resume point was erased or programmed again, in resume() or after it.
    const opsAfter = slotOps(after.log(), slot);
    assert.equal(resumeOps, [], 'resume() itself erases and programs nothing in the slot');
    for (const [op, at, len] of opsAfter) {
      assert.ok(at >= slot.offset + offset, `${op === 'e' ? 'erase' : 'write'} of ${len} bytes at 0x${at.toString(16)} is below the resume point 0x${(slot.offset + offset).toString(16)}`);
    }
    // Both halves together did exactly what the uninterrupted run did to the slot.
    const combined = slotOps(logBefore, slot).concat(opsAfter);
    const pages = combined.filter((e) => e[0] === 'e').map((e) => e[1]);
    assert.is(new Set(pages).size, pages.length, 'no page of the slot was erased twice');
    if (uninterrupted) assert.equal(combined, uninterrupted.ops, 'the same slot erases and writes, in the same order, as without the cut');

    const flash = after.flash();
    assert.is(firstDifference(flash.subarray(slot.offset, slot.offset + image.length), image), -1, 'image bytes in the slot');
    if (uninterrupted) assert.is(firstDifference(flash.subarray(slot.offset, slot.offset + slot.size), uninterrupted.slotBytes), -1, 'the slot equals the uninterrupted run');
    const decided = bootInNode(flash, table);
    assert.is(decided.label, slotLabel, 'the bootloader (in Node, from the bytes) boots the resumed image');
    assert.is(decided.activeStateAfterBoot, lib.OTA_STATE.PENDING_VERIFY);

    rebootAndConfirm(after, ex.confirm, slotLabel);
    const final = bootInNode(after.flash(), table);
    assert.is(final.label, slotLabel);
    assert.is(final.activeStateAfterBoot, lib.OTA_STATE.VALID);
  } finally {
    after.off();
  }
});

test.run();
