// The bootloader's flash-mapping rule (esp_image_format.c verify_segment_header): a segment loaded
// at a flash-mapped address must sit in flash at the same offset modulo the MMU page. Which
// segments are mapped is checked against esptool's own classification in the vectors' manifest.
import * as fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { OtaflashError } from '../../src/errors';
import { buildAppImage, parseAppImage } from '../../src/formats/app-image';
import { createImageVerifier, inspectImage } from '../../src/formats/app-image-verify';
import { chipFlashMapping, isFlashMapped } from '../../src/formats/chips';
import { seededRandom } from '../../src/flash/rng';
import { nodeHashes } from '../../src/node/hash';
import { OtaEngine } from '../../src/ota/engine';
import { rig } from '../ota/engine-fixtures';
import { errorCode } from '../helpers';

const DIR = fileURLToPath(new URL('../fixtures/app-images/', import.meta.url));
const manifest = JSON.parse(fs.readFileSync(DIR + 'manifest.json', 'utf8')) as {
  files: { file: string; esptool: { chip_id: number | null; segments: { load_addr: string; memory_types?: string[] }[] | null; checksum: { valid: boolean } | null; hash: { valid: boolean } | null } }[];
};
const read = (rel: string) => new Uint8Array(fs.readFileSync(DIR + rel));

const code = errorCode;

test('flash-mapped segments are exactly those esptool labels IROM/DROM, on every uncorrupted vector of a chip otaflash maps', () => {
  let checked = 0;
  let mapped = 0;
  for (const f of manifest.files) {
    const e = f.esptool;
    if (f.file.indexOf('corrupt/') === 0 || e.chip_id === null || !e.segments) continue;
    const mapping = chipFlashMapping(e.chip_id);
    if (!mapping) continue;
    for (const s of e.segments) {
      const esptool = (s.memory_types ?? []).some((t) => t === 'IROM' || t === 'DROM');
      const ours = isFlashMapped(mapping, parseInt(s.load_addr, 16));
      assert.is(ours, esptool, `${f.file}: segment at ${s.load_addr} (${(s.memory_types ?? []).join(',')})`);
      checked++;
      if (ours) mapped++;
    }
  }
  assert.ok(checked >= 80 && mapped >= 20, `${checked} segments compared, ${mapped} mapped`);
});

test('no image esptool calls valid is refused by the mapping check, at flash offset 0 or in a 64 KiB-aligned partition', () => {
  for (const f of manifest.files) {
    const e = f.esptool;
    if (!e.checksum || !e.checksum.valid || (e.hash && !e.hash.valid)) continue;
    for (const flashOffset of [0, 0x10000, 0x110000]) {
      const r = inspectImage(read(f.file), { hashes: nodeHashes, flashOffset });
      assert.ok(!r.error || r.error.code !== 'IMAGE_SEGMENT_MISALIGNED', `${f.file} at ${flashOffset}: ${r.error && r.error.message}`);
    }
  }
});

/** hello_world for ESP32 with its IROM segment (index 4, data at 0x10020) moved by `delta` bytes of load address. */
function shiftedIrom(delta: number): Uint8Array {
  const a = parseAppImage(read('esp-serial-flasher/hello_world-esp32.bin'));
  const segments = a.segments.map((s, i) => ({ loadAddress: i === 4 ? s.loadAddress + delta : s.loadAddress, data: s.data }));
  return buildAppImage({ segments, header: a.header, hashes: nodeHashes, alignMapped: 'none' });
}

test('a flash-mapped segment off its page offset is IMAGE_SEGMENT_MISALIGNED (checksum and hash still fine), whole or streamed', () => {
  const bad = shiftedIrom(0x100);
  const r = inspectImage(bad, { hashes: nodeHashes });
  assert.is(r.checksumValid, true);
  assert.is(r.hashValid, true);
  assert.ok(r.error instanceof OtaflashError);
  assert.is(r.error!.code, 'IMAGE_SEGMENT_MISALIGNED');
  assert.match(r.error!.message, /segment 4 .*0x400d0120.*0x10020/);
  const rnd = seededRandom(7);
  for (let round = 0; round < 20; round++) {
    const v = createImageVerifier({ hashes: nodeHashes });
    for (let at = 0; at < bad.length; ) {
      const n = 1 + Math.floor(rnd() * 9000);
      v.update(bad.subarray(at, Math.min(bad.length, at + n)));
      at += n;
    }
    assert.is(code(() => v.finish()), 'IMAGE_SEGMENT_MISALIGNED');
  }
  // A shift by a whole page keeps the offsets equal: accepted.
  assert.is(inspectImage(shiftedIrom(0x10000), { hashes: nodeHashes }).error, null);
});

test('the check uses the flash address: the real image is fine in a 64 KiB-aligned partition, refused 4 KiB off it', () => {
  const img = read('esp-serial-flasher/hello_world-esp32.bin');
  assert.is(inspectImage(img, { hashes: nodeHashes, flashOffset: 0x10000 }).error, null);
  assert.is(inspectImage(img, { hashes: nodeHashes, flashOffset: 0x11000 }).error!.code, 'IMAGE_SEGMENT_MISALIGNED');
  assert.is(code(() => createImageVerifier({ flashOffset: -1 })), 'IMAGE_BAD_ARGUMENT');
  assert.is(code(() => createImageVerifier({ flashOffset: 0.5 })), 'IMAGE_BAD_ARGUMENT');
});

test("buildAppImage refuses a misaligned mapped segment by default; alignMapped 'pad' inserts elf2image-style padding", () => {
  const a = parseAppImage(read('esp-serial-flasher/hello_world-esp32.bin'));
  // Drop esptool's padding segment (index 3): the IROM segment then lands off its page offset.
  const segments = a.segments.filter((_, i) => i !== 3).map((s) => ({ loadAddress: s.loadAddress, data: s.data }));
  assert.is(code(() => buildAppImage({ segments, header: a.header, hashes: nodeHashes })), 'IMAGE_SEGMENT_MISALIGNED');
  const padded = buildAppImage({ segments, header: a.header, hashes: nodeHashes, alignMapped: 'pad' });
  const p = parseAppImage(padded, { hashes: nodeHashes });
  assert.is(p.verdict.checksumValid && p.hashValid, true);
  assert.is(inspectImage(padded, { hashes: nodeHashes }).error, null);
  assert.is(p.segments.length, a.segments.length);
  assert.is(p.segments[3].loadAddress, 0);
  // Same layout as esptool's own: the IROM data lands where elf2image put it.
  assert.is(p.segments[4].dataOffset, a.segments[4].dataOffset);
  // A segment 0 that would need padding cannot get it (its data must start at 0x20).
  const first = [{ loadAddress: 0x3f400100, data: new Uint8Array(256) }];
  assert.is(code(() => buildAppImage({ segments: first, chip: 0, hashes: nodeHashes, alignMapped: 'pad' })), 'IMAGE_SEGMENT_MISALIGNED');
  assert.is(code(() => buildAppImage({ segments, header: a.header, alignMapped: 'x' as never })), 'IMAGE_BAD_ARGUMENT');
});

test("configurable MMU pages: the app's own page size when its description names one, else the smallest the chip allows", () => {
  // This ESP32-C6 app was built with 32 KiB pages: its second IROM segment is 32 KiB- but not 64 KiB-aligned.
  const a = parseAppImage(read('elf2image/coredump-app-esp32c6.bin'), { hashes: nodeHashes });
  assert.is(a.segments[2].dataOffset % 0x8000, a.segments[2].loadAddress % 0x8000);
  assert.is.not(a.segments[2].dataOffset % 0x10000, a.segments[2].loadAddress % 0x10000);
  assert.is(inspectImage(read('elf2image/coredump-app-esp32c6.bin'), { hashes: nodeHashes }).error, null);
  const segs = a.segments.map((s) => ({ loadAddress: s.loadAddress, data: s.data }));
  for (const [log2, ok] of [[15, true], [16, false], [0, true]] as const) {
    const desc = { ...a.appDesc!, mmuPageSizeLog2: log2 };
    const img = buildAppImage({ segments: segs, header: a.header, appDesc: desc, hashes: nodeHashes, alignMapped: 'none' });
    const err = inspectImage(img, { hashes: nodeHashes }).error;
    assert.is(err ? err.code : null, ok ? null : 'IMAGE_SEGMENT_MISALIGNED', `mmu_page_size 2^${log2}`);
  }
});

test('the OTA engine refuses a misaligned image at end() and leaves the running app selected', () => {
  const r = rig({ factory: true });
  const engine = OtaEngine.open(r.flash, { table: r.table, hashes: nodeHashes });
  const bad = shiftedIrom(0x100);
  const w = engine.begin(undefined, { size: bad.length });
  for (let at = 0; at < bad.length; at += 4096) w.write(bad.subarray(at, at + 4096));
  assert.is(code(() => w.end()), 'IMAGE_SEGMENT_MISALIGNED');
  assert.is(code(() => engine.setBootPartition(w.partition)), 'IMAGE_SEGMENT_MISALIGNED');
  assert.is(OtaEngine.open(r.flash, { table: r.table, hashes: nodeHashes }).bootPartition()!.label, 'factory');
});

test.run();
