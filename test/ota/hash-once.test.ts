// The engine hashes an image once per update. A counting hash provider measures the SHA-256 bytes
// of each step of the device flow (begin / write / end, setBootPartition, reboot, open + markValid,
// reboot): the engine's share must be about one image (<= 1.1x), markValid none; the bootloader
// model (the ROM's own check at each boot) is counted apart. And the one hash still catches bytes
// that did not land on flash: end() verifies the slot as read back, not the stream as sent.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { OtaEngine } from '../../src/ota/engine';
import { simulateReboot } from '../../src/ota/bootloader';
import { portableHashes } from '../../src/hash/portable';
import type { HashProvider, IncrementalHash } from '../../src/hash/types';
import type { BlockDevice } from '../../src/flash/types';
import { OtaflashError } from '../../src/errors';
import { OTA_STATE } from '../../src/formats/otadata';
import { APP_A, APP_B, feed, flashImage, image, otadataEntries, rig } from './engine-fixtures';

/** portableHashes, counting the bytes fed to SHA-256 under the current phase name. */
function countingHashes(): { hashes: HashProvider; bytes: Record<string, number>; phase: (name: string) => void } {
  const bytes: Record<string, number> = {};
  let current = 'setup';
  const hashes: HashProvider = {
    sha256(): IncrementalHash {
      const h = portableHashes.sha256();
      const api: IncrementalHash = {
        update(d: Uint8Array) {
          bytes[current] = (bytes[current] ?? 0) + d.length;
          h.update(d);
          return api;
        },
        digest: () => h.digest(),
      };
      return api;
    },
    md5: portableHashes.md5,
    crc32: portableHashes.crc32,
  };
  return { hashes, bytes, phase: (name) => (current = name) };
}

const ENGINE_PHASES = ['open', 'begin', 'write', 'end', 'setBootPartition', 'open after reboot', 'markValid'];
const sum = (b: Record<string, number>, names: string[]) => names.reduce((n, k) => n + (b[k] ?? 0), 0);

test('one update (scenario flow): the engine hashes the image about once; markValid hashes nothing; the bootloader model counted apart', () => {
  const r = rig({ factory: true });
  const img = image(APP_A);
  const c = countingHashes();
  const opts = { rollback: true, hashes: c.hashes };
  c.phase('open');
  const engine = OtaEngine.open(r.flash, opts);
  c.phase('begin');
  const target = engine.nextUpdatePartition();
  const w = engine.begin(target, { size: img.length, erase: 'sequential', maxEraseBytesPerStep: 4096 });
  c.phase('write');
  feed(w, img);
  c.phase('end');
  const verdict = w.end();
  assert.is(verdict.hashValid, true);
  c.phase('setBootPartition');
  engine.setBootPartition(target);
  c.phase('reboot 1 (bootloader model)');
  const first = simulateReboot(r.flash, r.table, opts);
  assert.is(first.label, target.label);
  c.phase('open after reboot');
  const after = OtaEngine.open(r.flash, { rollback: true, hashes: c.hashes, running: first.boot ?? undefined });
  c.phase('markValid');
  after.markValid();
  assert.is(after.slotState(target), OTA_STATE.VALID);
  c.phase('reboot 2 (bootloader model)');
  const last = simulateReboot(r.flash, r.table, opts);
  assert.is(last.label, target.label);

  const engineBytes = sum(c.bytes, ENGINE_PHASES);
  const ratio = engineBytes / img.length;
  assert.ok(ratio >= 0.99 && ratio <= 1.1, `engine SHA-256 bytes ${engineBytes} = ${ratio.toFixed(3)}x the ${img.length}-byte image: ${JSON.stringify(c.bytes)}`);
  // The single pass is the read-back in end(): nothing while streaming, nothing at set-boot.
  assert.is(c.bytes['write'] ?? 0, 0, 'no SHA-256 while streaming');
  assert.is(c.bytes['setBootPartition'] ?? 0, 0, 'setBootPartition trusts the verdict end() just gave');
  assert.is(c.bytes['markValid'] ?? 0, 0, 'markValid hashes nothing');
  // The ROM/bootloader check of each boot (ESP-IDF verifies the app at power-on): once per reboot.
  for (const boot of ['reboot 1 (bootloader model)', 'reboot 2 (bootloader model)']) {
    const b = c.bytes[boot] ?? 0;
    assert.ok(b >= img.length * 0.99 && b <= img.length * 1.1, `${boot}: ${b} bytes`);
  }
});

test('a new engine (after a reboot) remembers nothing: setBootPartition verifies the slot once', () => {
  const r = rig();
  const img = image(APP_A);
  const c = countingHashes();
  const e1 = OtaEngine.open(r.flash, { hashes: c.hashes });
  const target = e1.nextUpdatePartition();
  const w = e1.begin(target, { size: img.length });
  feed(w, img);
  w.end();
  c.phase('fresh engine');
  const e2 = OtaEngine.open(r.flash, { hashes: c.hashes, running: r.p.ota_0 });
  e2.setBootPartition(target);
  const b = c.bytes['fresh engine'] ?? 0;
  assert.ok(b >= img.length * 0.99 && b <= img.length * 1.1, `fresh engine hashed ${b} bytes`);
});

test('the next update on a device in service (running app given): still one image of SHA-256', () => {
  const r = rig();
  flashImage(r.flash, r.p.ota_0, image(APP_B));
  const img = image(APP_A);
  const c = countingHashes();
  c.phase('update');
  const e = OtaEngine.open(r.flash, { hashes: c.hashes, running: r.p.ota_0 });
  const w = e.begin(r.p.ota_1, { size: img.length });
  feed(w, img, 1000);
  w.end();
  e.setBootPartition(r.p.ota_1);
  const ratio = (c.bytes['update'] ?? 0) / img.length;
  assert.ok(ratio >= 0.99 && ratio <= 1.1, `${ratio.toFixed(3)}x`);
});

test('starting to write a slot again forgets its verdict: setBootPartition then verifies (and refuses the erased slot)', () => {
  const r = rig();
  const img = image(APP_A);
  const e = OtaEngine.open(r.flash, { running: r.p.ota_0 });
  const w = e.begin(r.p.ota_1, { size: img.length });
  feed(w, img);
  w.end();
  const before = otadataEntries(r.flash);
  e.begin(r.p.ota_1, { size: img.length }).abort(); // erases the slot ('all')
  try {
    e.setBootPartition(r.p.ota_1);
    assert.unreachable('an erased slot must not be selected');
  } catch (err) {
    assert.instance(err, OtaflashError);
    assert.match((err as OtaflashError).code, /^IMAGE_/);
  }
  const now = otadataEntries(r.flash);
  for (const s of [0, 1]) if (before[s].seq !== now[s].seq) assert.ok(now[s].seq === 0xffffffff || now[s].seq === before[s].seq, 'no new selection');
});

/** A flash with one stuck-at-0 bit: programs succeed, but that byte reads back with bit 0 cleared. */
class StuckBitFlash implements BlockDevice {
  readonly size: number;
  readonly eraseSize: number;
  readonly writeSize: number;
  readonly eraseValue: number;
  constructor(
    private readonly inner: BlockDevice,
    private readonly at: number,
  ) {
    this.size = inner.size;
    this.eraseSize = inner.eraseSize;
    this.writeSize = inner.writeSize;
    this.eraseValue = inner.eraseValue;
  }
  read(offset: number, into: Uint8Array): void {
    this.inner.read(offset, into);
  }
  write(offset: number, data: Uint8Array): void {
    if (this.at >= offset && this.at < offset + data.length && (data[this.at - offset] & 1) === 1) {
      const copy = data.slice();
      copy[this.at - offset] &= 0xfe;
      this.inner.write(offset, copy);
      return;
    }
    this.inner.write(offset, data);
  }
  erase(offset: number, length: number): void {
    this.inner.erase(offset, length);
  }
  sync(): void {
    this.inner.sync();
  }
}

test('bytes that did not land on flash fail end() (read-back SHA-256), and the slot is never selected', () => {
  const r = rig();
  const img = image(APP_A);
  // A byte in the middle of the image whose bit 0 is set, so the stuck bit changes it.
  let at = img.length >> 1;
  while ((img[at] & 1) === 0) at++;
  const dev = new StuckBitFlash(r.flash, r.p.ota_1.offset + at);
  const e = OtaEngine.open(dev, { running: r.p.ota_0, table: r.table });
  const before = otadataEntries(r.flash);
  const w = e.begin(r.p.ota_1, { size: img.length });
  feed(w, img); // every write() is accepted: the stream itself is a good image
  try {
    w.end();
    assert.unreachable('end() must notice the byte that did not land');
  } catch (err) {
    assert.instance(err, OtaflashError);
    const code = (err as OtaflashError).code;
    assert.ok(code === 'IMAGE_BAD_HASH' || code === 'IMAGE_BAD_CHECKSUM', code);
    assert.match((err as Error).message, /read back from flash/);
  }
  try {
    e.setBootPartition(r.p.ota_1);
    assert.unreachable('a corrupted slot must not be selected');
  } catch (err) {
    assert.instance(err, OtaflashError);
    assert.match((err as OtaflashError).code, /^IMAGE_/);
  }
  const now = otadataEntries(r.flash);
  assert.equal([now[0].seq, now[1].seq].filter((s) => s !== 0xffffffff).sort(), [before[0].seq, before[1].seq].filter((s) => s !== 0xffffffff).sort());
});

test.run();
