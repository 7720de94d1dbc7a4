// Conformance: every image in test/fixtures/app-images against what esptool 4.12.0 printed
// (manifest.json), plus the bootloader's stricter verdicts on the corrupted copies.
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { OtaflashError } from '../../src/errors';
import { chipRevisionName, flashModeName, flashSizeName } from '../../src/formats/app-image-header';
import { inspectImage } from '../../src/formats/app-image-verify';
import type { ImageReport } from '../../src/formats/app-image-types';
import { CHIP_IDS, chipName } from '../../src/formats/chips';
import { nodeHashes } from '../../src/node/hash';

const DIR = fileURLToPath(new URL('../fixtures/app-images/', import.meta.url));
if (!fs.existsSync(DIR)) throw new Error(`conformance vectors missing: ${DIR} (the repository's test/fixtures folder)`);

interface EsptoolSegment { index: number; length: number; load_addr: string; file_offset: number }
interface EsptoolFacts {
  exit_code: number;
  error: string | null;
  detected_image_type: string | null;
  entry_point: string | null;
  segment_count_header: number | null;
  flash_size: string | null;
  flash_mode: string | null;
  wp_pin: string | null;
  chip_id: number | null;
  min_chip_rev: string | null;
  max_chip_rev: string | null;
  segments: EsptoolSegment[];
  checksum: { stored: string; valid: boolean; calculated_hex: string | null } | null;
  hash_appended: boolean | null;
  hash: { calculated_sha256: string; valid: boolean } | null;
  app_desc: Record<string, string | number> | null;
  bootloader_desc?: { version: number; idf_ver: string; compile_time: string } | null;
}
interface Entry { file: string; size: number; esptool: EsptoolFacts }

const manifest = JSON.parse(fs.readFileSync(DIR + 'manifest.json', 'utf8')) as { files: Entry[] };
const read = (f: string) => new Uint8Array(fs.readFileSync(DIR + f));
const hexOf = (b: Uint8Array) => Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
const num = (s: string) => parseInt(s, 16);
const efuseRev = (v: number) => `${Math.floor(v / 100)}.${v % 100}`;

test('the manifest lists every image in the folder, and there are enough of them', () => {
  assert.ok(manifest.files.length >= 47, `only ${manifest.files.length} images in the manifest`);
  for (const f of manifest.files) assert.is(fs.statSync(DIR + f.file).size, f.size, f.file);
});

for (const entry of manifest.files) {
  const e = entry.esptool;
  test(`esptool agrees on ${entry.file}`, () => {
    for (const hashes of [undefined, nodeHashes]) {
      const r: ImageReport = inspectImage(read(entry.file), { hashes });
      if (e.exit_code !== 0) {
        // esptool gives up on these (bad magic, end of file inside a segment): so must we.
        assert.ok(r.error, 'expected an error');
        assert.ok(r.verdict === null);
        assert.ok(/magic/.test(e.error!) ? r.error!.code === 'IMAGE_BAD_MAGIC' : r.error!.code === 'IMAGE_TRUNCATED', `${r.error!.code}: ${r.error!.message}`);
        continue;
      }
      const h = r.header!;
      assert.ok(h, 'header read');
      assert.is(h.entry, num(e.entry_point!), 'entry');
      assert.is(h.segmentCount, e.segment_count_header, 'segment count');
      assert.is(flashModeName(h.flashMode), e.flash_mode, 'flash mode');
      assert.is(flashSizeName(h.flashSize, h.format), e.flash_size, 'flash size');
      if (e.chip_id === null) {
        assert.is(h.format, 'esp8266');
        assert.is(h.chipId, CHIP_IDS.esp8266);
      } else {
        assert.is(h.format, 'esp32');
        assert.is(h.chipId, e.chip_id, 'chip id');
        assert.is(h.wpPin, num(e.wp_pin!.split(' ')[0]), 'wp pin');
        assert.is(chipRevisionName(h.minChipRevFull), e.min_chip_rev, 'min chip rev');
        assert.is(chipRevisionName(h.maxChipRevFull), e.max_chip_rev, 'max chip rev');
      }
      assert.is(chipName(h.chipId), e.detected_image_type, 'chip name');
      assert.is(r.segments.length, e.segments.length, 'segments read');
      r.segments.forEach((s, i) => {
        const t = e.segments[i];
        assert.is(s.loadAddress, num(t.load_addr), `segment ${i} load address`);
        assert.is(s.length, t.length, `segment ${i} length`);
        assert.is(s.dataOffset - 8, t.file_offset, `segment ${i} offset`);
      });
      assert.is(r.checksumValid, e.checksum!.valid, 'checksum verdict');
      assert.is(r.hashAppended, e.hash_appended, 'hash appended');
      if (r.verdict) {
        const v = r.verdict;
        assert.is(v.checksumStored, num(e.checksum!.stored), 'stored checksum');
        if (e.checksum!.calculated_hex) assert.is(v.checksumCalculated, num(e.checksum!.calculated_hex), 'calculated checksum');
        if (e.hash) {
          assert.is(v.hashValid, e.hash.valid, 'hash verdict');
          assert.is(hexOf(v.sha256!), e.hash.calculated_sha256, 'calculated SHA-256');
        } else {
          assert.is(v.hashValid, null);
        }
        const bd = e.bootloader_desc ?? null;
        if (bd) {
          assert.ok(v.bootloaderDesc, 'bootloader description');
          assert.is(v.bootloaderDesc!.version, bd.version);
          assert.is(v.bootloaderDesc!.idfVersion, bd.idf_ver);
          assert.is(v.bootloaderDesc!.dateTime, bd.compile_time);
        }
      } else {
        // Only the cut-off hash gets this far without a verdict; esptool calls that hash invalid.
        assert.is(r.error!.code, 'IMAGE_TRUNCATED');
        assert.is(e.hash!.valid, false);
      }
      const d = e.app_desc;
      if (entry.file === 'corrupt/blink_esp32s2.chip-id-esp32.bin') {
        // esptool hides the description when segment 0's address is outside the chip's DROM map;
        // the bytes are unchanged from the original image, and we read them as such.
        assert.is(r.appDesc!.projectName, 'blink');
      } else if (d === null) {
        assert.is(r.appDesc, null, 'no app description');
      } else {
        const a = r.appDesc!;
        assert.ok(a, 'app description');
        assert.is(a.projectName, d.project_name);
        assert.is(a.version, d.version);
        assert.is(a.idfVersion, d.idf_ver);
        assert.is(a.secureVersion, d.secure_version);
        assert.is(`${a.date} ${a.time}`, d.compile_time);
        assert.is(hexOf(a.elfSha256), d.elf_sha256);
        assert.is(efuseRev(a.minEfuseBlkRevFull), d.min_efuse_blk_rev);
        assert.is(efuseRev(a.maxEfuseBlkRevFull), d.max_efuse_blk_rev);
      }
    }
  });
}

// What the ESP-IDF bootloader (esp_image_verify) concludes, which is stricter than esptool.
const BOOTLOADER_VERDICTS: Record<string, string | null> = {
  'corrupt/blink_esp32s2.bad-magic.bin': 'IMAGE_BAD_MAGIC',
  'corrupt/blink_esp32s2.checksum-byte-flip.bin': 'IMAGE_BAD_CHECKSUM',
  'corrupt/blink_esp32s2.chip-id-esp32.bin': 'IMAGE_BAD_HASH',
  'corrupt/blink_esp32s2.hash-byte-flip.bin': 'IMAGE_BAD_HASH',
  'corrupt/blink_esp32s2.hash-flag-cleared.bin': null,
  'corrupt/blink_esp32s2.segment-byte-flip.bin': 'IMAGE_BAD_CHECKSUM',
  'corrupt/blink_esp32s2.segment-count-7.bin': 'IMAGE_BAD_HASH',
  'corrupt/blink_esp32s2.segment-length-past-eof.bin': 'IMAGE_TRUNCATED',
  'corrupt/blink_esp32s2.truncated-hash.bin': 'IMAGE_TRUNCATED',
  'corrupt/blink_esp32s2.truncated-in-segment.bin': 'IMAGE_TRUNCATED',
  'corrupt/coredump-app-esp32c3.nohash.segment-byte-flip.bin': 'IMAGE_BAD_CHECKSUM',
  'esptool/ram_helloworld/helloworld-esp32_edit.bin': 'IMAGE_BAD_HASH',
};

test('every image gets the bootloader verdict: the corrupt ones are refused with the right code', () => {
  for (const entry of manifest.files) {
    const want = entry.file in BOOTLOADER_VERDICTS ? BOOTLOADER_VERDICTS[entry.file] : null;
    const r = inspectImage(read(entry.file));
    assert.is(r.error ? r.error.code : null, want, entry.file + (r.error ? ': ' + r.error.message : ''));
    if (r.error) {
      assert.instance(r.error, OtaflashError);
      // Every message names the byte offset where the problem is.
      assert.match(r.error.message, /(byte \d+|0x[0-9a-f]+)/, entry.file);
      assert.type(r.error.info!.offset, 'number');
    }
  }
});

test('a cleared hash flag reads as an image without a hash, which requireHash refuses', () => {
  const bytes = read('corrupt/blink_esp32s2.hash-flag-cleared.bin');
  const r = inspectImage(bytes);
  assert.is(r.error, null);
  assert.is(r.verdict!.hashAppended, false);
  assert.is(r.verdict!.hashValid, null);
  assert.is(r.verdict!.size, bytes.length - 32);
  const strict = inspectImage(bytes, { requireHash: true });
  assert.is(strict.error!.code, 'IMAGE_HASH_REQUIRED');
  assert.match(strict.error!.message, /byte 23/);
  // The untouched original passes the same policy.
  assert.is(inspectImage(read('esptool/esp_idf_blink_esp32s2.bin'), { requireHash: true }).error, null);
});

test('a changed chip id is caught as a chip mismatch when the chip is known', () => {
  const r = inspectImage(read('corrupt/blink_esp32s2.chip-id-esp32.bin'), { expectedChip: CHIP_IDS.esp32s2 });
  assert.is(r.error!.code, 'IMAGE_CHIP_MISMATCH');
  assert.match(r.error!.message, /ESP32 .*ESP32-S2/);
  assert.is(inspectImage(read('esptool/esp_idf_blink_esp32s2.bin'), { expectedChip: CHIP_IDS.esp32s2 }).error, null);
  assert.is(inspectImage(read('esptool/esp_idf_blink_esp32s2.bin'), { expectedChip: CHIP_IDS.esp32c3 }).error!.code, 'IMAGE_CHIP_MISMATCH');
});

test('a segment longer than the space it must fit in is out of bounds, not just truncated', () => {
  const bytes = read('corrupt/blink_esp32s2.segment-length-past-eof.bin');
  const r = inspectImage(bytes, { maxSize: bytes.length });
  assert.is(r.error!.code, 'IMAGE_SEGMENT_OUT_OF_BOUNDS');
  assert.match(r.error!.message, /segment 0 \(header at 0x18/);
});

test('image too large for maxSize', () => {
  const bytes = read('esptool/esp_idf_blink_esp32s2.bin');
  // Segment data fits, but the checksum block and hash do not.
  const r = inspectImage(bytes, { maxSize: bytes.length - 1 });
  assert.is(r.error!.code, 'IMAGE_TOO_LARGE');
  assert.is(inspectImage(bytes, { maxSize: bytes.length }).error, null);
});

test('the Secure Boot v2 signature sector after the signed bootloader is found and its CRC checked', () => {
  const bytes = read('esptool/bootloader_signed_v2_ecdsa256.bin');
  const v = inspectImage(bytes).verdict!;
  assert.is(v.signatureOffset, 0x8000);
  assert.is(v.signatures.length, 1);
  const s = v.signatures[0];
  assert.is(s.offset, 0x8000);
  assert.is(s.version, 3);
  assert.is(s.scheme, 'ecdsa');
  assert.ok(s.crcValid);
  // The signed digest is the SHA-256 of everything before the sector (image, hash, 0xFF padding).
  assert.is(s.digestValid, true);
  assert.is(hexOf(s.imageDigest), createHash('sha256').update(bytes.subarray(0, 0x8000)).digest('hex'));
  const padded = bytes.slice();
  padded[0x7f00] = 0xfe; // in the 0xFF padding: the image still verifies, the signed digest does not
  const sp = inspectImage(padded).verdict!;
  assert.is(sp.hashValid, true);
  assert.is(sp.signatures[0].digestValid, false);
  // A damaged block fails its CRC (the CRC covers bytes 0..1195).
  const bad = bytes.slice();
  bad[0x8000 + 100] ^= 1;
  const s2 = inspectImage(bad).verdict!.signatures[0];
  assert.not.ok(s2.crcValid);
  // Images without such a sector report none.
  assert.is(inspectImage(read('esptool/hello-world-signed.bin')).verdict!.signatures.length, 0);
});

test.run();
