import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import { OtaEngine } from '../../src/ota/engine';
import type { OtaProgress } from '../../src/ota/writer';
import { OtaflashError } from '../../src/errors';
import { OTA_STATE, decodeOtadata, encodeOtadata, otaSeqCrc } from '../../src/formats/otadata';
import { TimedFlash, W25Q32JV, eraseTimeMs, planErase } from '../../src/flash/timing';
import { buildAppImage, parseAppImage } from '../../src/formats/app-image';
import { APP_A, APP_B, APP_NOHASH, OTADATA_AT, equalBytes, esptoolSaysValid, feed, flashImage, image, otadataEntries, rig, rng } from './engine-fixtures';
import { errorCode } from '../helpers';

const ESP32 = 0;

const code = errorCode;

function slotBytes(flash: { read(o: number, b: Uint8Array): void }, offset: number, n: number): Uint8Array {
  const b = new Uint8Array(n);
  flash.read(offset, b);
  return b;
}

test('the test images are what esptool calls valid ESP32 apps with (and without) an appended hash', () => {
  assert.ok(esptoolSaysValid(APP_A));
  assert.ok(esptoolSaysValid(APP_B));
  assert.ok(esptoolSaysValid(APP_NOHASH));
  assert.is(image(APP_A)[12] | (image(APP_A)[13] << 8), ESP32);
  assert.is(image(APP_NOHASH)[23], 0);
});

test('running defaults to what esp_ota_get_boot_partition says; nextUpdatePartition wraps in subtype order', () => {
  const r = rig({ n: 3 });
  let e = OtaEngine.open(r.flash);
  assert.is(e.running!.label, 'ota_0');
  assert.is(e.nextUpdatePartition().label, 'ota_1');
  assert.is(e.nextUpdatePartition(r.p.ota_2).label, 'ota_0');
  const f = rig({ n: 2, factory: true });
  e = OtaEngine.open(f.flash);
  assert.is(e.running!.label, 'factory');
  assert.is(e.nextUpdatePartition().label, 'ota_0');
});

test('update streamed in seeded random chunk sizes lands byte for byte; verdict matches the image', () => {
  const seed = 0x5eed0001;
  try {
    const img = image(APP_B);
    const next = rng(seed);
    for (let round = 0; round < 3; round++) {
      const r = rig();
      const e = OtaEngine.open(r.flash, { chip: ESP32 });
      const w = e.begin(undefined, { erase: round === 1 ? 'sequential' : 'all', size: round === 2 ? undefined : img.length });
      let o = 0;
      while (o < img.length) {
        const n = 1 + Math.floor(next() * 9000);
        w.write(img.subarray(o, Math.min(img.length, o + n)));
        o += n;
      }
      const v = w.end();
      assert.is(v.size, img.length);
      assert.ok(v.hashValid);
      assert.ok(equalBytes(slotBytes(r.flash, r.p.ota_1.offset, img.length), img));
    }
  } catch (err) {
    console.error(`failing seed: ${seed}`);
    throw err;
  }
});

test('write units wider than a byte (internal flash, writeSize 16): odd chunks still land exactly', () => {
  const img = image(APP_A);
  const r = rig({ writeSize: 16 });
  const e = OtaEngine.open(r.flash, { chip: ESP32 });
  const w = e.begin(undefined, { erase: 'sequential' });
  feed(w, img, 1000);
  const v = w.end();
  assert.is(v.size, img.length);
  assert.ok(equalBytes(slotBytes(r.flash, r.p.ota_1.offset, img.length), img));
  e.setBootPartition(r.p.ota_1);
  assert.is(OtaEngine.open(r.flash).bootPartition()!.label, 'ota_1');
});

test("erase 'all' with a known size: exactly the chip's greedy block plan over the rounded size, nothing more", () => {
  const img = image(APP_A);
  const r = rig();
  const timed = new TimedFlash(r.flash, W25Q32JV);
  const e = OtaEngine.open(timed, { table: r.table, chip: ESP32 });
  const otadataBefore = { ...timed.eraseCommands };
  const w = e.begin(undefined, { size: img.length });
  // Count only the slot's erases: begin may also erase an otadata sector.
  const want: Record<number, number> = {};
  const rounded = Math.ceil(img.length / 4096) * 4096;
  for (const s of planErase(W25Q32JV, r.p.ota_1.offset, rounded)) want[s.size] = (want[s.size] ?? 0) + 1;
  const got: Record<number, number> = {};
  for (const k of Object.keys(timed.eraseCommands)) got[Number(k)] = timed.eraseCommands[Number(k)] - (otadataBefore[Number(k)] ?? 0);
  got[4096] -= r.flash.stats.sectorErases[OTADATA_AT / 4096] + r.flash.stats.sectorErases[OTADATA_AT / 4096 + 1];
  if (got[4096] === 0) delete got[4096];
  assert.equal(got, want);
  assert.is(w.erased, rounded);
  feed(w, img);
  w.end();
  // Nothing past the rounded image size was touched.
  const after = slotBytes(r.flash, r.p.ota_1.offset + rounded, 4096);
  assert.ok(after.every((b) => b === 0xff));
});

test("erase 'sequential': erases only ahead of the data, in the largest aligned units; progress is monotonic", () => {
  const img = image(APP_B);
  const r = rig();
  const seen: OtaProgress[] = [];
  const e = OtaEngine.open(r.flash, { chip: ESP32 });
  const w = e.begin(undefined, { erase: 'sequential', size: img.length, onProgress: (p) => seen.push(p) });
  assert.is(w.erased, 0);
  w.write(img.subarray(0, 4096));
  assert.is(w.erased, 65536, 'first write erases one 64 KiB block, not the whole image');
  feed(w, img, 4096, 4096);
  w.end();
  const rounded = Math.ceil(img.length / 4096) * 4096;
  assert.is(w.erased, rounded);
  for (let i = 1; i < seen.length; i++) {
    assert.ok(seen[i].written >= seen[i - 1].written && seen[i].erased >= seen[i - 1].erased);
    assert.ok(seen[i].erased >= seen[i].written, 'data is never written ahead of the erase');
  }
  assert.is(seen[seen.length - 1].written, img.length);
  assert.is(seen[seen.length - 1].total, img.length);
});

test('bounded erase: eraseStep() never exceeds the byte budget; begin erases nothing itself', () => {
  const r = rig();
  const e = OtaEngine.open(r.flash, { chip: ESP32 });
  const w = e.begin(undefined, { maxEraseBytesPerStep: 8192 });
  assert.is(w.erased, 0);
  let steps = 0;
  let last = 0;
  while (w.eraseStep() > 0) {
    assert.ok(w.erased - last <= 8192, `step ${steps} erased ${w.erased - last}`);
    last = w.erased;
    steps++;
  }
  assert.is(w.erased, r.p.ota_1.size);
  assert.is(steps + 1, r.p.ota_1.size / 8192);
  w.abort();
});

test('bounded erase by chip time: each step stays within the millisecond budget of the timing model', () => {
  const r = rig();
  const timed = new TimedFlash(r.flash, W25Q32JV);
  const e = OtaEngine.open(timed, { table: r.table, chip: ESP32 });
  const budget = 200;
  const w = e.begin(undefined, { maxEraseMsPerStep: budget, eraseTimeMs: (n) => eraseTimeMs(W25Q32JV, 0, n) });
  let before = timed.eraseMs;
  let steps = 0;
  let remaining: number;
  do {
    remaining = w.eraseStep();
    const spent = timed.eraseMs - before;
    assert.ok(spent <= budget, `step ${steps} took ${spent} ms of chip time`);
    before = timed.eraseMs;
    steps++;
  } while (remaining > 0);
  assert.is(w.erased, r.p.ota_1.size);
  // 150 ms per 64 KiB block fits a 200 ms budget once per step: 16 steps for 1 MiB.
  assert.is(steps, 16);
  w.abort();
});

test("bounded erase inside write(): with a step budget, erase-ahead in 'sequential' and 'all' mode stays within it per write call", () => {
  const img = image(APP_B);
  for (const erase of ['sequential', 'all'] as const) {
    // Bytes: 4 KiB chunks, 4 KiB budget. Without the budget the first write erases a 64 KiB block.
    let r = rig();
    let e = OtaEngine.open(r.flash, { chip: ESP32 });
    let w = e.begin(undefined, { erase, size: img.length, maxEraseBytesPerStep: 4096 });
    assert.is(w.erased, 0, `${erase}: begin erased nothing`);
    for (let o = 0; o < img.length; o += 4096) {
      const before = w.erased;
      const erasesBefore = r.flash.stats.erases;
      w.write(img.subarray(o, Math.min(img.length, o + 4096)));
      assert.ok(w.erased - before <= 4096, `${erase}: write at ${o} erased ${w.erased - before} bytes`);
      assert.ok(r.flash.stats.erases - erasesBefore <= 1, `${erase}: write at ${o} issued ${r.flash.stats.erases - erasesBefore} erases`);
    }
    w.end();
    assert.ok(equalBytes(slotBytes(r.flash, r.p.ota_1.offset, img.length), img), `${erase}: image landed`);
    // Chip time: 100 ms allows a 45 ms sector erase but not a 120 ms 32 KiB block.
    r = rig();
    const timed = new TimedFlash(r.flash, W25Q32JV);
    e = OtaEngine.open(timed, { table: r.table, chip: ESP32 });
    w = e.begin(undefined, { erase, size: img.length, maxEraseMsPerStep: 100, eraseTimeMs: (n) => eraseTimeMs(W25Q32JV, 0, n) });
    for (let o = 0; o < img.length; o += 4096) {
      const before = timed.eraseMs;
      w.write(img.subarray(o, Math.min(img.length, o + 4096)));
      assert.ok(timed.eraseMs - before <= 100, `${erase}: write at ${o} took ${timed.eraseMs - before} ms of erase`);
    }
    w.end();
  }
});

test('write options that would be ignored or misread are refused before anything is written', () => {
  const r = rig();
  const e = OtaEngine.open(r.flash, { chip: ESP32 });
  const before = r.flash.bytes.slice();
  for (const bad of [
    { checkpointBytes: -1 },
    { checkpointBytes: 1.5 },
    { maxEraseBytesPerStep: 0 },
    { maxEraseBytesPerStep: NaN },
    { maxEraseMsPerStep: -5, eraseTimeMs: () => 1 },
    { maxEraseMsPerStep: 100 },
  ]) {
    assert.is(code(() => e.begin(undefined, bad)), 'OTA_BAD_ARGUMENT', JSON.stringify(bad));
  }
  assert.ok(equalBytes(r.flash.bytes, before), 'flash untouched');
  e.begin().abort();
});

test('an otadata sector that does not erase is reported as such, before anything is programmed into it', () => {
  const r = rig();
  flashImage(r.flash, r.p.ota_1, image(APP_B));
  const inner = r.flash;
  // A chip whose erase command silently fails inside otadata.
  const stuck = {
    size: inner.size,
    eraseSize: inner.eraseSize,
    writeSize: inner.writeSize,
    eraseValue: inner.eraseValue,
    read: (o: number, b: Uint8Array) => inner.read(o, b),
    write: (o: number, d: Uint8Array) => inner.write(o, d),
    erase: (o: number, n: number) => {
      if (o < OTADATA_AT || o >= OTADATA_AT + 0x2000) inner.erase(o, n);
    },
    sync: () => inner.sync(),
  };
  const e = OtaEngine.open(stuck, { table: r.table, chip: ESP32, rollback: false });
  // Blank otadata: both sectors are written without an erase.
  e.setBootPartition(r.p.ota_1);
  let err: unknown = null;
  try {
    // Now a sector holding an entry must be rewritten, which starts with an erase.
    e.setBootPartition(r.p.ota_1);
  } catch (x) {
    err = x;
  }
  assert.instance(err, OtaflashError);
  assert.is((err as OtaflashError).code, 'OTADATA_VERIFY_FAILED');
  assert.match((err as OtaflashError).message, 'does not read erased');
});

test('refusals: wrong magic, running slot, factory slot, size past the slot, writes past the declared size', () => {
  const r = rig({ factory: true });
  flashImage(r.flash, r.p.factory, image(APP_A));
  const e = OtaEngine.open(r.flash, { chip: ESP32 });
  assert.is(code(() => e.begin(r.p.factory)), 'OTA_BAD_SLOT');
  assert.is(code(() => e.begin(r.p.nvs)), 'OTA_BAD_SLOT');
  const plain = rig();
  assert.is(code(() => OtaEngine.open(plain.flash).begin(plain.p.ota_0)), 'OTA_PARTITION_CONFLICT');
  assert.is(code(() => e.begin(undefined, { size: r.p.ota_0.size + 1 })), 'OTA_IMAGE_TOO_LARGE');
  const w = e.begin(undefined, { size: 100 });
  assert.is(code(() => w.write(new Uint8Array([0xe8, 1, 2]))), 'OTA_VALIDATE_FAILED');
  assert.is(code(() => w.write(image(APP_A).subarray(0, 200))), 'OTA_IMAGE_TOO_LARGE');
  w.abort();
  assert.is(code(() => w.write(image(APP_A))), 'OTA_WRITER_CLOSED');
  assert.is(code(() => e.begin(r.p.ota_0).end()), 'OTA_NOTHING_WRITTEN');
});

function refusal(rel: string, opts: { chip?: number; requireHash?: boolean; slotSize?: number } = {}): string {
  const r = rig({ slotSize: opts.slotSize });
  const e = OtaEngine.open(r.flash, { chip: opts.chip, requireHash: opts.requireHash });
  const w = e.begin();
  const c = code(() => {
    feed(w, image(rel));
    w.end();
  });
  assert.not.ok(w.isOpen, 'the writer is closed on every path, like esp_ota_end');
  // Nothing selects the refused slot.
  assert.is(OtaEngine.open(r.flash).bootPartition()!.label, 'ota_0');
  return c;
}

test('end() refuses images the bootloader would refuse (real corrupt vectors)', () => {
  assert.not.ok(esptoolSaysValid('corrupt/blink_esp32s2.segment-byte-flip.bin'));
  assert.is(refusal('corrupt/blink_esp32s2.segment-byte-flip.bin'), 'IMAGE_BAD_CHECKSUM');
  assert.is(refusal('corrupt/blink_esp32s2.hash-byte-flip.bin'), 'IMAGE_BAD_HASH');
  assert.is(refusal('corrupt/blink_esp32s2.truncated-hash.bin'), 'IMAGE_TRUNCATED');
  assert.is(refusal('esptool/esp_idf_blink_esp32s2.bin', { chip: ESP32 }), 'IMAGE_CHIP_MISMATCH');
  assert.is(refusal(APP_NOHASH), 'IMAGE_HASH_REQUIRED');
  const big = refusal(APP_B, { slotSize: 0x20000 });
  assert.ok(big === 'IMAGE_TOO_LARGE' || big === 'OTA_IMAGE_TOO_LARGE' || big === 'IMAGE_SEGMENT_OUT_OF_BOUNDS', big);
});

test('requireHash: false accepts an image without an appended hash (its checksum still checked)', () => {
  const r = rig();
  const e = OtaEngine.open(r.flash, { chip: ESP32, requireHash: false });
  const w = e.begin();
  feed(w, image(APP_NOHASH));
  const v = w.end();
  assert.is(v.hashAppended, false);
  assert.ok(v.checksumValid);
});

function withSecureVersion(rel: string, sv: number): Uint8Array {
  const a = parseAppImage(image(rel));
  return buildAppImage({ segments: a.segments, header: a.header, appDesc: { ...a.appDesc!, secureVersion: sv } });
}

test('anti-rollback: an image with a lower secure_version than the running app is refused at end()', () => {
  const r = rig();
  flashImage(r.flash, r.p.ota_0, withSecureVersion(APP_A, 2));
  const e = OtaEngine.open(r.flash, { chip: ESP32, antiRollback: true });
  let w = e.begin();
  feed(w, withSecureVersion(APP_B, 1));
  assert.is(code(() => w.end()), 'OTA_SMALL_SEC_VER');
  w = e.begin();
  feed(w, withSecureVersion(APP_B, 2));
  assert.is(w.end().appDesc!.secureVersion, 2);
  // Without anti-rollback the same downgrade is accepted.
  const e2 = OtaEngine.open(r.flash, { chip: ESP32 });
  w = e2.begin();
  feed(w, withSecureVersion(APP_B, 1));
  assert.is(w.end().appDesc!.secureVersion, 1);
});

test('only one update at a time; setBootPartition waits for end()', () => {
  const r = rig({ n: 3 });
  const e = OtaEngine.open(r.flash, { chip: ESP32 });
  const w = e.begin();
  assert.is(code(() => e.begin(r.p.ota_2)), 'OTA_ALREADY_IN_PROGRESS');
  assert.is(code(() => e.setBootPartition(r.p.ota_1)), 'OTA_ALREADY_IN_PROGRESS');
  w.abort();
  assert.is(code(() => e.setBootPartition(r.p.ota_1)), 'IMAGE_BAD_MAGIC');
});

// ---- setBootPartition against cases.json -------------------------------------------------------

const OTADATA_DIR = fileURLToPath(new URL('../fixtures/otadata/', import.meta.url));
const cases = JSON.parse(fs.readFileSync(OTADATA_DIR + 'cases.json', 'utf8'));
const TINY = 'esptool/ram_helloworld/helloworld-esp32.bin';

test('setBootPartition writes the sector and seq of the idf_v6 column, or idf_v5 when re-selecting the active slot (every cases.json row)', () => {
  assert.ok(esptoolSaysValid(TINY));
  let rows = 0;
  for (const c of cases.cases) {
    const file = new Uint8Array(fs.readFileSync(OTADATA_DIR + c.file));
    for (const row of c.set_boot_partition) {
      const n = row.ota_app_count;
      const r = rig({ n, slotSize: 0x10000 });
      for (let i = 0; i < n; i++) flashImage(r.flash, r.p[`ota_${i}`], image(TINY));
      r.flash.erase(OTADATA_AT, 0x2000);
      r.flash.write(OTADATA_AT, file);
      const before = decodeOtadata(file);
      // ESP-IDF's sector/seq rule does not depend on the running app; running = target keeps the
      // engine from first re-selecting a running app that otadata does not name (see selectRunningFirst).
      const e = OtaEngine.open(r.flash, { running: r.p[`ota_${row.target_slot}`] });
      e.setBootPartition(r.p[`ota_${row.target_slot}`]);
      const reselect = row.idf_v6.sector !== row.idf_v5.sector || row.idf_v6.ota_seq !== row.idf_v5.ota_seq;
      const want = reselect ? row.idf_v5 : row.idf_v6;
      const after = otadataEntries(r.flash);
      const where = `${c.file} N=${n} target ota_${row.target_slot}`;
      assert.is(after[want.sector].seq, want.ota_seq, where);
      assert.is(after[want.sector].crc, otaSeqCrc(want.ota_seq), where);
      assert.is(after[want.sector].state, OTA_STATE.NEW, where);
      assert.equal(after[want.sector].seqLabel, before[want.sector].seqLabel, where);
      assert.equal(after[1 - want.sector], before[1 - want.sector], `${where}: the other sector is untouched`);
      rows++;
    }
  }
  assert.is(rows, 14 * 9);
});

test('setBootPartition(factory) erases otadata; rollback off writes UNDEFINED', () => {
  const r = rig({ factory: true });
  flashImage(r.flash, r.p.factory, image(TINY));
  flashImage(r.flash, r.p.ota_0, image(TINY));
  const e = OtaEngine.open(r.flash, { rollback: false });
  e.setBootPartition(r.p.ota_0);
  let ent = otadataEntries(r.flash);
  assert.is(ent[0].seq, 1);
  assert.is(ent[0].state, OTA_STATE.UNDEFINED);
  e.setBootPartition(r.p.factory);
  ent = otadataEntries(r.flash);
  assert.is(ent[0].seq, 0xffffffff);
  assert.is(ent[1].seq, 0xffffffff);
  assert.is(OtaEngine.open(r.flash).bootPartition()!.label, 'factory');
});

test('slotState follows esp_ota_get_state_partition (sector 0 first, CRC must match)', () => {
  const r = rig();
  const file = encodeOtadata([
    { seq: 3, seqLabel: new Uint8Array(20).fill(0xff), state: OTA_STATE.PENDING_VERIFY, crc: otaSeqCrc(3) },
    { seq: 2, seqLabel: new Uint8Array(20).fill(0xff), state: OTA_STATE.VALID, crc: 0x1234 },
  ]);
  r.flash.erase(OTADATA_AT, 0x2000);
  r.flash.write(OTADATA_AT, file);
  const e = OtaEngine.open(r.flash);
  assert.is(e.slotState(r.p.ota_0), OTA_STATE.PENDING_VERIFY);
  assert.is(e.slotState(r.p.ota_1), null);
});

test.run();
