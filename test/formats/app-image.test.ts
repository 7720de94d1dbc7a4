// Parse/build round trips, streaming == whole-buffer, device verification, error paths, seeded fuzz.
import * as fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { OtaflashError } from '../../src/errors';
import { MemoryFlash } from '../../src/flash/memory';
import { RegionFlash } from '../../src/flash/region';
import { buildAppImage, parseAppImage } from '../../src/formats/app-image';
import { decodeAppDescription, encodeAppDescription } from '../../src/formats/app-image-desc';
import type { AppDescription, ImageReport } from '../../src/formats/app-image-types';
import { createImageVerifier, inspectImage, verifyImage, verifyImageOnDevice, xorInto } from '../../src/formats/app-image-verify';
import { CHIP_IDS, chipIdFromName } from '../../src/formats/chips';
import { portableHashes } from '../../src/hash/portable';
import { nodeHashes } from '../../src/node/hash';
import { seededRandom } from '../../src/flash/rng';

const DIR = fileURLToPath(new URL('../fixtures/app-images/', import.meta.url));
if (!fs.existsSync(DIR)) throw new Error(`conformance vectors missing: ${DIR} (the repository's test/fixtures folder)`);
const manifest = JSON.parse(fs.readFileSync(DIR + 'manifest.json', 'utf8')) as { files: { file: string; esptool: { exit_code: number } }[] };
const read = (f: string) => new Uint8Array(fs.readFileSync(DIR + f));
const ALL = manifest.files.map((f) => f.file);

/** mulberry32: small seeded PRNG so failures can be replayed. */
const rng = seededRandom;
const SEED = Number(process.env.SEED ?? Date.now() % 1e9);

function withSeed(seed: number, fn: () => void): void {
  try {
    fn();
  } catch (e) {
    (e as Error).message = `[seed ${seed}: replay with SEED=${seed}] ` + (e as Error).message;
    throw e;
  }
}

function throwsCode(fn: () => unknown, code: string): OtaflashError {
  try {
    fn();
  } catch (e) {
    assert.instance(e, OtaflashError);
    assert.is((e as OtaflashError).code, code, (e as Error).message);
    return e as OtaflashError;
  }
  throw new assert.Assertion({ message: `expected ${code}`, generated: false, operator: 'throws', expects: code, actual: 'no error' });
}

/** Everything a report says, in a comparable form. */
function summary(r: ImageReport): unknown {
  return JSON.parse(JSON.stringify({ ...r, error: r.error ? [r.error.code, r.error.message] : null }, (_k, v) => (v instanceof Uint8Array ? Array.from(v) : v)));
}

function streamed(bytes: Uint8Array, rand: () => number, maxChunk: number, opts = {}): ImageReport {
  const v = createImageVerifier(opts);
  let at = 0;
  try {
    while (at < bytes.length) {
      const n = 1 + Math.floor(rand() * maxChunk);
      // A fresh copy per chunk, then scribbled over: the verifier must not keep references to chunks.
      const chunk = bytes.slice(at, at + n);
      v.update(chunk);
      chunk.fill(0x5a);
      at += n;
    }
  } catch (e) {
    if (!(e instanceof OtaflashError)) throw e;
  }
  return v.report();
}

/** The same verifier fed everything at once (inspectImage adds the signed-digest check a stream cannot do). */
function oneShot(bytes: Uint8Array): ImageReport {
  return streamed(bytes, () => 1, bytes.length);
}

test('xorInto: word path equals a byte loop at every alignment and length', () => {
  const r = rng(SEED);
  withSeed(SEED, () => {
    const buf = new Uint8Array(300);
    for (let i = 0; i < buf.length; i++) buf[i] = Math.floor(r() * 256);
    for (let start = 0; start < 8; start++) {
      for (let end = start; end <= buf.length; end += 7) {
        let ref = 0;
        for (let i = start; i < end; i++) ref ^= buf[i];
        const acc = xorInto(0, buf, start, end);
        assert.is((acc ^ (acc >>> 8) ^ (acc >>> 16) ^ (acc >>> 24)) & 0xff, ref, `${start}..${end}`);
        // Also through a view whose byteOffset is odd.
        const view = new Uint8Array(buf.buffer, 1, buf.length - 1);
        const acc2 = xorInto(0, view, Math.max(0, start - 1), Math.max(0, end - 1));
        let ref2 = 0;
        for (let i = Math.max(0, start - 1); i < Math.max(0, end - 1); i++) ref2 ^= view[i];
        assert.is((acc2 ^ (acc2 >>> 8) ^ (acc2 >>> 16) ^ (acc2 >>> 24)) & 0xff, ref2);
      }
    }
  });
});

test('streaming in random chunk sizes gives the whole-buffer verdict, for every vector', () => {
  withSeed(SEED, () => {
    const r = rng(SEED);
    for (const f of ALL) {
      const bytes = read(f);
      const whole = summary(oneShot(bytes));
      for (const maxChunk of [1, 7, 64, 4096, 70000]) {
        // Tiny chunks on the small images only, to keep the suite fast; the big ones get one byte-by-byte run below.
        if (maxChunk <= 7 && bytes.length > 40000) continue;
        assert.equal(summary(streamed(bytes, r, maxChunk)), whole, `${f} (chunks up to ${maxChunk})`);
      }
    }
    // Byte by byte on one large image with an appended hash and an app description.
    const big = read('esptool/esp_idf_blink_esp32s2.bin');
    assert.equal(summary(streamed(big, r, 1)), summary(oneShot(big)));
  });
});

test('portable and node hashes give identical verdicts', () => {
  for (const f of ALL) {
    const bytes = read(f);
    assert.equal(summary(inspectImage(bytes, { hashes: portableHashes })), summary(inspectImage(bytes, { hashes: nodeHashes })), f);
  }
});

test('parse then build gives back the same bytes for every structurally valid vector image', () => {
  let n = 0;
  for (const f of ALL) {
    const bytes = read(f);
    const r = inspectImage(bytes);
    if (!r.verdict || !r.verdict.checksumValid || r.verdict.hashValid === false) continue;
    const img = parseAppImage(bytes);
    const rebuilt = buildAppImage({ header: img.header, segments: img.segments });
    assert.is(rebuilt.length, img.size, f);
    assert.ok(Buffer.from(rebuilt).equals(bytes.subarray(0, img.size)), `${f}: rebuilt bytes differ`);
    // The same with the node hashes, and with an explicit chip/entry/hash flag taken from the parse.
    const again = buildAppImage({ header: img.header, chip: img.header.chipId, entry: img.header.entry, hashAppended: img.hashAppended, segments: img.segments, hashes: nodeHashes });
    assert.ok(Buffer.from(again).equals(rebuilt), f);
    n++;
  }
  assert.ok(n >= 35, `only ${n} images round-tripped`);
});

test('the rebuilt image of a corrupted copy is a repaired image (checksum and hash recomputed)', () => {
  const bytes = read('corrupt/blink_esp32s2.checksum-byte-flip.bin');
  const img = parseAppImage(bytes);
  assert.is(img.checksumValid, false);
  const fixed = buildAppImage({ header: img.header, segments: img.segments });
  assert.ok(Buffer.from(fixed).equals(read('esptool/esp_idf_blink_esp32s2.bin')));
});

test('app description: decode/encode are inverse on every vector that has one', () => {
  let n = 0;
  for (const f of ALL) {
    const bytes = read(f);
    const r = inspectImage(bytes);
    if (!r.appDesc || !r.segments.length) continue;
    const raw = bytes.subarray(0x20, 0x120);
    assert.ok(Buffer.from(encodeAppDescription(r.appDesc)).equals(raw), f);
    n++;
  }
  assert.ok(n >= 15, `${n}`);
});

test('build from scratch: segments, entry, chip and app description; the result verifies and parses back', () => {
  const desc: AppDescription = {
    secureVersion: 7,
    version: '1.2.3',
    projectName: 'otaflash-demo',
    time: '12:34:56',
    date: 'Jul 23 2026',
    idfVersion: 'v5.5.5',
    elfSha256: new Uint8Array(32).fill(0xab),
    minEfuseBlkRevFull: 0,
    maxEfuseBlkRevFull: 199,
    mmuPageSizeLog2: 16,
    spiFlashMode: 3,
  };
  const seg0 = new Uint8Array(0x400);
  for (let i = 0; i < seg0.length; i++) seg0[i] = i * 7;
  const seg1 = new Uint8Array(0x104).fill(0x11);
  for (const chip of [CHIP_IDS.esp32, CHIP_IDS.esp32c3, CHIP_IDS.esp32s3]) {
    for (const hashAppended of [true, false]) {
      const bytes = buildAppImage({ chip, entry: 0x40080000, hashAppended, appDesc: desc, segments: [{ loadAddress: 0x3f400020, data: seg0 }, { loadAddress: 0x40080000, data: seg1 }] });
      const v = verifyImage(bytes, { expectedChip: chip, requireHash: hashAppended });
      assert.is(v.chip, chip);
      assert.is(v.entry, 0x40080000);
      assert.is(v.hashAppended, hashAppended);
      assert.is(v.hashValid, hashAppended ? true : null);
      assert.equal(v.appDesc, desc);
      assert.equal(v.segments.map((s) => [s.loadAddress, s.length]), [[0x3f400020, 0x400], [0x40080000, 0x104]]);
      // Checksum at the end of a 16-byte block, SHA-256 (of everything before it) after it.
      const L = 24 + 8 + 0x400 + 8 + 0x104;
      const C = Math.ceil((L + 1) / 16) * 16 - 1;
      assert.is(bytes.length, C + 1 + (hashAppended ? 32 : 0));
      for (let i = L; i < C; i++) assert.is(bytes[i], 0, 'padding is zero');
      // The caller's segment was not modified by writing the description.
      assert.is(seg0[0], 0);
      assert.is(seg0[1], 7);
    }
  }
});

test('buildAppImage refuses values that do not fit their fields', () => {
  const seg = { loadAddress: 0x3f400020, data: new Uint8Array(16) };
  throwsCode(() => buildAppImage({ entry: 2 ** 32, segments: [seg] }), 'IMAGE_BAD_ARGUMENT');
  throwsCode(() => buildAppImage({ entry: -1, segments: [seg] }), 'IMAGE_BAD_ARGUMENT');
  throwsCode(() => buildAppImage({ chip: 0x10000, segments: [seg] }), 'IMAGE_BAD_ARGUMENT');
  throwsCode(() => buildAppImage({ segments: [{ loadAddress: 1.5, data: seg.data }] }), 'IMAGE_BAD_ARGUMENT');
  throwsCode(() => buildAppImage({ segments: [{ loadAddress: 0, data: new Uint8Array(6) }] }), 'IMAGE_BAD_SEGMENT_LENGTH');
  throwsCode(() => buildAppImage({ segments: Array.from({ length: 17 }, () => seg) }), 'IMAGE_TOO_MANY_SEGMENTS');
  throwsCode(() => buildAppImage({ appDesc: decodeAppDescription(read('elf2image/esp32c6-appdesc.bin').subarray(0x20, 0x120))!, segments: [seg] }), 'IMAGE_BAD_SEGMENT_LENGTH');
});

test('verifyImageOnDevice: an image in a partition of a MemoryFlash, with any chunk size', () => {
  const bytes = read('esp-serial-flasher/hello_world-esp32c3.bin');
  const flash = new MemoryFlash({ size: 0x100000, mode: 'strict' });
  flash.write(0x10000, bytes);
  const region = new RegionFlash(flash, 0x10000, 0x40000, 'ota_0');
  const want = verifyImage(bytes);
  for (const chunkSize of [4096, 1000, 65536]) {
    assert.equal(summary({ ...inspectImage(bytes), verdict: verifyImageOnDevice(region, { chunkSize }) } as ImageReport), summary(inspectImage(bytes)));
  }
  assert.is(verifyImageOnDevice(region, { expectedChip: CHIP_IDS.esp32c3, requireHash: true }).size, want.size);
  throwsCode(() => verifyImageOnDevice(region, { expectedChip: CHIP_IDS.esp32 }), 'IMAGE_CHIP_MISMATCH');
  // Too small a partition.
  throwsCode(() => verifyImageOnDevice(new RegionFlash(flash, 0x10000, 0x10000, 'small')), 'IMAGE_SEGMENT_OUT_OF_BOUNDS');
  // An erased partition is no image.
  throwsCode(() => verifyImageOnDevice(new RegionFlash(flash, 0x80000, 0x40000, 'ota_1')), 'IMAGE_BAD_MAGIC');
  // One flipped bit inside the image on flash.
  const copy = new MemoryFlash({ size: 0x100000, mode: 'nor', contents: flash.bytes });
  copy.write(0x10000 + 0x3000, new Uint8Array([flash.bytes[0x13000] & 0xfe]));
  const damaged = new RegionFlash(copy, 0x10000, 0x40000);
  if (flash.bytes[0x13000] & 1) throwsCode(() => verifyImageOnDevice(damaged), 'IMAGE_BAD_CHECKSUM');
});

test('verifyImageOnDevice reads only what the image needs, and finds a signature sector at the next 4 KiB boundary', () => {
  const bytes = read('esptool/bootloader_signed_v2_ecdsa256.bin');
  const flash = new MemoryFlash({ size: 0x20000 });
  flash.write(0, bytes);
  let readEnd = 0;
  const spy = {
    size: flash.size, eraseSize: flash.eraseSize, writeSize: flash.writeSize, eraseValue: flash.eraseValue,
    read(o: number, into: Uint8Array) { readEnd = Math.max(readEnd, o + into.length); flash.read(o, into); },
    write() { throw new Error('verification must not write'); },
    erase() { throw new Error('verification must not erase'); },
    sync() {},
  };
  const v = verifyImageOnDevice(spy, { chunkSize: 4096 });
  assert.is(v.signatureOffset, 0x8000);
  assert.is(v.signatures.length, 1);
  assert.ok(v.signatures[0].crcValid);
  assert.is(v.signatures[0].digestValid, true);
  assert.ok(readEnd <= 0x8000 + 3 * 1216, `read up to ${readEnd}`);
  // The bare streaming verifier keeps no bytes, so it cannot check the signed digest.
  const sv = createImageVerifier();
  sv.update(bytes);
  assert.is(sv.finish().signatures[0].digestValid, null);
  // Without a signature sector, reading stops soon after the image.
  const plain = read('elf2image/esp32-zephyr.bin');
  const f2 = new MemoryFlash({ size: 0x20000 });
  f2.write(0, plain);
  readEnd = 0;
  const spy2 = { ...spy, read(o: number, into: Uint8Array) { readEnd = Math.max(readEnd, o + into.length); f2.read(o, into); } };
  const v2 = verifyImageOnDevice(spy2, { chunkSize: 4096 });
  assert.is(v2.signatures.length, 0);
  assert.ok(readEnd <= Math.ceil(plain.length / 4096) * 4096 + 4096, `read up to ${readEnd}`);
});

test('structural errors: codes, offsets, and the verifier stays failed', () => {
  const good = read('elf2image/esp32c6-appdesc.bin');
  throwsCode(() => verifyImage(new Uint8Array(0)), 'IMAGE_TRUNCATED');
  throwsCode(() => verifyImage(good.subarray(0, 10)), 'IMAGE_TRUNCATED');
  throwsCode(() => verifyImage(new Uint8Array(64).fill(0xff)), 'IMAGE_BAD_MAGIC');
  const many = good.slice();
  many[1] = 17;
  assert.match(throwsCode(() => verifyImage(many), 'IMAGE_TOO_MANY_SEGMENTS').message, /byte 1/);
  const odd = good.slice();
  odd[28] = 0xfe; // segment 0 length 0x100 -> 0xfe
  assert.match(throwsCode(() => verifyImage(odd), 'IMAGE_BAD_SEGMENT_LENGTH').message, /header at 0x18/);
  const huge = good.slice();
  huge[31] = 0x01; // 16 MiB + 0x100
  throwsCode(() => verifyImage(huge), 'IMAGE_SEGMENT_OUT_OF_BOUNDS');
  const v = createImageVerifier();
  assert.throws(() => v.update(new Uint8Array([0x00])), (e: unknown) => e instanceof OtaflashError && e.code === 'IMAGE_BAD_MAGIC');
  assert.throws(() => v.update(good), (e: unknown) => e instanceof OtaflashError && e.code === 'IMAGE_BAD_MAGIC');
  throwsCode(() => v.finish(), 'IMAGE_BAD_MAGIC');
  // The bad magic is reported at the first byte, before the rest of the header arrives.
  throwsCode(() => createImageVerifier().update(new Uint8Array([0xe8])), 'IMAGE_BAD_MAGIC');
  // hash required is known from the header alone
  const nohash = read('elf2image/coredump-app-esp32.nohash.bin');
  throwsCode(() => createImageVerifier({ requireHash: true }).update(nohash.subarray(0, 24)), 'IMAGE_HASH_REQUIRED');
});

test('imageSize and complete track the stream', () => {
  const bytes = read('elf2image/esp32-zephyr.bin');
  const v = createImageVerifier();
  v.update(bytes.subarray(0, 100));
  assert.is(v.imageSize, null);
  assert.not.ok(v.complete);
  v.update(bytes.subarray(100));
  assert.is(v.imageSize, bytes.length);
  assert.is(v.bytesRead, bytes.length);
  // Complete only once it has seen that no signature sector follows at the next 4 KiB boundary.
  assert.not.ok(v.complete);
  v.update(new Uint8Array(Math.ceil(bytes.length / 4096) * 4096 - bytes.length + 1).fill(0xff));
  assert.ok(v.complete);
  assert.is(v.finish().size, bytes.length);
});

test('chip revision range from the header (min_chip_rev_full, max_chip_rev_full; 0/0xFFFF max = unbounded)', () => {
  const c3 = read('esp-serial-flasher/hello_world-esp32c3.bin'); // v0.3 .. v1.99
  assert.ok(verifyImage(c3, { chipRevision: 3 }));
  assert.ok(verifyImage(c3, { chipRevision: 199 }));
  assert.match(throwsCode(() => verifyImage(c3, { chipRevision: 2 }), 'IMAGE_CHIP_REVISION').message, /v0.3 to v1.99.*v0.2/);
  throwsCode(() => verifyImage(c3, { chipRevision: 200 }), 'IMAGE_CHIP_REVISION');
  const minRev = read('esptool/esp32c3_header_min_rev.bin'); // v2.55, max 0xFFFF
  throwsCode(() => verifyImage(minRev, { chipRevision: 254 }), 'IMAGE_CHIP_REVISION');
  assert.ok(verifyImage(minRev, { chipRevision: 9999 }));
  const blink = read('esptool/esp_idf_blink_esp32s2.bin'); // max 0: no upper bound
  assert.ok(verifyImage(blink, { chipRevision: 300 }));
});

test('ESP8266 images: detected, or forced with expectedChip', () => {
  const bytes = read('esptool/ram_helloworld/helloworld-esp8266.bin');
  const v = verifyImage(bytes, { expectedChip: CHIP_IDS.esp8266 });
  assert.is(v.header.format, 'esp8266');
  assert.is(v.segments[0].dataOffset, 16);
  throwsCode(() => verifyImage(bytes, { expectedChip: CHIP_IDS.esp32 }), 'IMAGE_CHIP_MISMATCH');
});

test('chip names', () => {
  assert.is(chipIdFromName('esp32c3'), 5);
  assert.is(chipIdFromName('ESP32-C3'), 5);
  assert.is(chipIdFromName('esp32'), 0);
  assert.is(chipIdFromName('0x17'), 0x17);
  assert.is(chipIdFromName('esp99'), undefined);
});

test('fuzz: random damage never crashes, hangs or passes silently (seeded)', () => {
  withSeed(SEED, () => {
    const r = rng(SEED ^ 0x5eed);
    const sources = ['elf2image/esp32c6-appdesc.bin', 'esptool/ram_helloworld/helloworld-esp32c3.bin', 'elf2image/esp32-bootloader.bin', 'esptool/bootloader_esp8266.bin'].map(read);
    for (let round = 0; round < 1500; round++) {
      const src = sources[round % sources.length];
      const bytes = src.slice(0, r() < 0.2 ? Math.floor(r() * src.length) : src.length);
      const flips = 1 + Math.floor(r() * 4);
      for (let k = 0; k < flips && bytes.length > 0; k++) bytes[Math.floor(r() * bytes.length)] ^= 1 << Math.floor(r() * 8);
      const rep = streamed(bytes, r, 1 + Math.floor(r() * 300));
      const whole = oneShot(bytes);
      assert.equal(summary(rep), summary(whole), `round ${round}`);
      if (whole.error) assert.instance(whole.error, OtaflashError);
      assert.is(inspectImage(bytes).error?.code, whole.error?.code, `round ${round}: inspectImage`);
      // A changed image with a hash appended is never accepted unless the change is outside the image.
      if (!whole.error && whole.verdict!.hashAppended && bytes.length === src.length) {
        const same = Buffer.from(bytes.subarray(0, whole.verdict!.size)).equals(src.subarray(0, whole.verdict!.size));
        assert.ok(same, `round ${round}: a damaged image with a hash passed`);
      }
    }
  });
});

test('decodeAppDescription refuses a missing magic word (esptool prints nothing then)', () => {
  const bytes = read('elf2image/esp32-app-cust-ver-info.bin');
  assert.is(decodeAppDescription(bytes.subarray(0x20, 0x120)), null);
});

test.run();
