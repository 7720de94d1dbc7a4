// Regression tests for the app-image classes of disagreement that differential fuzzing against
// esptool found (issue 12, classes 9-11). Expected values come from esptool, not from otaflash:
// - the recorded `esptool image_info` output for the unmodified file (manifest.json, esptool-output/);
// - esptool v5.3.1's own rule for picking the image layout (esptool/cmds.py, _parse_image_info_header):
//   byte 23 (hash_appended) must be 0 or 1 and byte 12 (one byte) must be the IMAGE_CHIP_ID of a
//   chip esptool knows, else it reads the file as an ESP8266 image. It never looks at bytes 19..22;
// - what the issue reports from running esptool v5.3.1 on the mutated files.
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { inspectImage } from '../../src/formats/app-image-verify';
import { CHIP_IDS, chipIdFromName, chipName } from '../../src/formats/chips';
import { runInProcess, tempFiles } from '../cli/harness';

const DIR = fileURLToPath(new URL('../fixtures/app-images/', import.meta.url));
const HELLO = 'esptool/ram_helloworld/helloworld-esp32.bin';
const original = new Uint8Array(fs.readFileSync(DIR + HELLO));
const manifest = JSON.parse(fs.readFileSync(DIR + 'manifest.json', 'utf8')) as {
  files: Array<{ file: string; esptool: { detected_image_type: string; chip_id: number; segments: Array<{ length: number; load_addr: string; file_offset: number }> } }>;
};
const recorded = manifest.files.find((f) => f.file === HELLO)!.esptool;

/**
 * esptool v5.3.1 targets (esptool/targets/*.py, ROM_LIST order is irrelevant): CHIP_NAME and
 * IMAGE_CHIP_ID of every chip image_info can detect. ESP8266 has no IMAGE_CHIP_ID.
 */
const ESPTOOL_5_3_1_CHIPS: ReadonlyArray<readonly [string, number]> = [
  ['ESP32', 0], ['ESP32-S2', 2], ['ESP32-C3', 5], ['ESP32-S3', 9], ['ESP32-C2', 12], ['ESP32-C6', 13],
  ['ESP32-H2', 16], ['ESP32-P4', 18], ['ESP32-C61', 20], ['ESP32-C5', 23], ['ESP32-H21', 25],
  ['ESP32-H4', 28], ['ESP32-E22', 31], ['ESP32-S31', 32],
];

/**
 * ESP-IDF master 102122904a, components/bootloader_support/include/esp_app_format.h, esp_chip_id_t
 * (ESP_CHIP_ID_INVALID = 0xFFFF left out).
 */
const ESP_CHIP_ID_T: ReadonlyArray<readonly [string, number]> = [
  ['ESP32', 0x0000], ['ESP32-S2', 0x0002], ['ESP32-C3', 0x0005], ['ESP32-S3', 0x0009], ['ESP32-C2', 0x000c],
  ['ESP32-C6', 0x000d], ['ESP32-H2', 0x0010], ['ESP32-P4', 0x0012], ['ESP32-C5', 0x0017], ['ESP32-C61', 0x0014],
  ['ESP32-H21', 0x0019], ['ESP32-H4', 0x001c], ['ESP32-S31', 0x0020],
];

/** The fixture with some header bytes changed and the appended SHA-256 recomputed (as the fuzzer did). */
function mutated(changes: Record<number, number>): Uint8Array {
  const b = original.slice();
  for (const k of Object.keys(changes)) b[Number(k)] = changes[Number(k)];
  const hashAt = b.length - 32;
  b.set(createHash('sha256').update(b.subarray(0, hashAt)).digest(), hashAt);
  return b;
}

function segmentsAsEsptool(r: ReturnType<typeof inspectImage>) {
  // esptool's "File offs" is where the 8-byte segment header starts.
  return r.segments.map((s) => ({ length: s.length, load_addr: '0x' + s.loadAddress.toString(16), file_offset: s.dataOffset - 8 }));
}

// ---- class 9: reserved header bytes 19..22 do not change the layout ----

test('class 9: non-zero reserved bytes 19..22 keep the ESP32 layout (esptool v5.3.1: valid ESP32)', () => {
  assert.is(recorded.detected_image_type, 'ESP32');
  const cases: Array<Record<number, number>> = [{ 19: 1 }, { 20: 0x80 }, { 21: 0xff }, { 22: 7 }, { 19: 0xff, 20: 0xff, 21: 0xff, 22: 0xff }];
  for (const c of cases) {
    const r = inspectImage(mutated(c));
    const what = JSON.stringify(c);
    assert.is(r.error, null, `${what}: ${r.error && r.error.message}`);
    assert.is(r.header!.format, 'esp32', `${what}: layout`);
    assert.is(r.header!.chipId, recorded.chip_id, `${what}: chip id`);
    assert.is(r.verdict!.chipName, recorded.detected_image_type, `${what}: chip`);
    // esptool does not read the reserved bytes, so it reads the same segments as for the unmodified file.
    assert.equal(segmentsAsEsptool(r), recorded.segments.map((s) => ({ length: s.length, load_addr: s.load_addr, file_offset: s.file_offset })), `${what}: segments`);
  }
});

test('class 9: `image info` exits 0 on the file with byte 19 = 1 (esptool v5.3.1 exit 0, valid ESP32)', () => {
  const file = tempFiles('otaflash-fuzz9-')('helloworld-esp32-byte19.bin');
  fs.writeFileSync(file, mutated({ 19: 1 }));
  const r = runInProcess('image info', file, '--json');
  assert.is(r.code, 0, r.stderr);
  const j = JSON.parse(r.stdout);
  assert.is(j.format, 'esp32');
  assert.is(j.chipName, 'ESP32');
  assert.is(j.valid, true);
});

// ---- class 10: a chip id nobody knows falls back to the ESP8266 layout ----

test('class 10: byte 12 = 3 is read as ESP8266 and is not a valid image (esptool v5.3.1: ESP8266 layout, fails)', () => {
  for (const bytes of [mutated({ 12: 3 }), (() => { const b = original.slice(); b[12] = 3; return b; })()]) {
    const r = inspectImage(bytes);
    assert.is(r.header!.format, 'esp8266', 'esptool falls back to the ESP8266 layout');
    assert.ok(r.error !== null, 'not a valid image');
    assert.is(r.verdict, null);
  }
  const file = tempFiles('otaflash-fuzz10-')('helloworld-esp32-chip3.bin');
  fs.writeFileSync(file, mutated({ 12: 3 }));
  const cli = runInProcess('image info', file, '--json');
  assert.is.not(cli.code, 0, 'image info must not call it valid');
  assert.is.not(JSON.parse(cli.stdout).valid, true);
});

test('class 10/11: every value of byte 12 is read the way esptool v5.3.1 reads it; an unknown chip is never valid', () => {
  const known = new Map(ESPTOOL_5_3_1_CHIPS.map(([name, id]) => [id, name] as const));
  for (let v = 0; v < 256; v++) {
    const r = inspectImage(mutated({ 12: v }));
    const name = known.get(v);
    if (name !== undefined) {
      // Layout and chip only: the ESP32 segments need not suit another chip's flash mapping, a
      // bootloader check esptool does not make (so validity is not compared here).
      assert.is(r.header!.format, 'esp32', `byte 12 = ${v}: ${name} layout`);
      assert.is(r.header!.chipId, v, `byte 12 = ${v}`);
      assert.is(chipName(r.header!.chipId), name, `byte 12 = ${v}`);
    } else {
      assert.is(r.header!.format, 'esp8266', `byte 12 = ${v}: unknown to esptool, so the ESP8266 layout`);
      if (r.verdict) assert.not.match(r.verdict.chipName, /unknown/, `byte 12 = ${v}: an unknown chip reported valid`);
    }
  }
});

// ---- class 11: the chip table ----

test('class 11: chip id 31 is ESP32-E22 (esptool 5.x), by id and by name', () => {
  assert.is(chipName(31), 'ESP32-E22');
  assert.is(chipIdFromName('esp32e22'), 31);
  assert.is(chipIdFromName('ESP32-E22'), 31);
  const r = inspectImage(mutated({ 12: 31 }));
  assert.is(r.error, null);
  assert.is(r.verdict!.chip, 31);
  assert.is(r.verdict!.chipName, 'ESP32-E22');
  assert.is(inspectImage(mutated({ 12: 31 }), { expectedChip: 31 }).error, null, '--chip esp32e22 accepts it');
});

test('class 11: the chip table holds every esptool 5.3.1 target and every esp_chip_id_t value, and nothing else', () => {
  const union = new Map<number, string>();
  for (const [name, id] of ESPTOOL_5_3_1_CHIPS) union.set(id, name);
  for (const [name, id] of ESP_CHIP_ID_T) {
    assert.is(union.get(id) ?? name, name, `esptool and ESP-IDF agree on id ${id}`);
    union.set(id, name);
  }
  for (const [id, name] of union) {
    assert.is(chipName(id), name, `id ${id}`);
    assert.is(chipIdFromName(name), id, `name ${name}`);
  }
  const ours = Object.keys(CHIP_IDS).filter((k) => k !== 'esp8266').map((k) => CHIP_IDS[k]).sort((a, b) => a - b);
  assert.equal(ours, [...union.keys()].sort((a, b) => a - b), 'no chip that neither reference knows');
});

test.run();
