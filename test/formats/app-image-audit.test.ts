// An image cut off inside its appended SHA-256 still has its checksum byte: the checksum verdict is
// known (esptool reports it) even though the image is IMAGE_TRUNCATED.
import * as fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createImageVerifier, inspectImage } from '../../src/formats/app-image-verify';

const DIR = fileURLToPath(new URL('../fixtures/app-images/', import.meta.url));
const read = (f: string) => new Uint8Array(fs.readFileSync(DIR + f));
const manifest = JSON.parse(fs.readFileSync(DIR + 'manifest.json', 'utf8')) as {
  files: { file: string; esptool: { exit_code: number; checksum: { valid: boolean } | null } }[];
};

// blink_esp32s2: segments end at 0x2c834, checksum byte at 0x2c83f, SHA-256 at 0x2c840..0x2c860.
const CHECKSUM_AT = 0x2c83f;

function reportIn(bytes: Uint8Array, chunk: number) {
  const v = createImageVerifier();
  for (let at = 0; at < bytes.length; at += chunk) v.update(bytes.subarray(at, at + chunk));
  return v.report();
}

test("truncated-hash vector: IMAGE_TRUNCATED with esptool's checksum verdict, whatever the chunking", () => {
  const entry = manifest.files.find((f) => f.file === 'corrupt/blink_esp32s2.truncated-hash.bin')!;
  assert.is(entry.esptool.checksum!.valid, true);
  const bytes = read(entry.file);
  for (const chunk of [1, 3, 16, 4096, CHECKSUM_AT, CHECKSUM_AT + 1, bytes.length]) {
    const r = reportIn(bytes, chunk);
    assert.is(r.error!.code, 'IMAGE_TRUNCATED', `chunk ${chunk}`);
    assert.is(r.checksumValid, true, `chunk ${chunk}`);
    assert.is(r.hashValid, null, `chunk ${chunk}: the stored hash is cut off`);
  }
  assert.is(inspectImage(bytes).checksumValid, true);
});

test('cut anywhere after the checksum byte: its verdict is reported, true or false; before it: unknown', () => {
  const good = read('esptool/esp_idf_blink_esp32s2.bin');
  const flipped = read('corrupt/blink_esp32s2.checksum-byte-flip.bin');
  for (let end = CHECKSUM_AT + 1; end < good.length; end++) {
    const a = inspectImage(good.subarray(0, end));
    assert.is(a.error!.code, 'IMAGE_TRUNCATED', `good cut at ${end}`);
    assert.is(a.checksumValid, true, `good cut at ${end}`);
    const b = inspectImage(flipped.subarray(0, end));
    assert.is(b.error!.code, 'IMAGE_TRUNCATED', `flipped cut at ${end}`);
    assert.is(b.checksumValid, false, `flipped cut at ${end}`);
  }
  for (const end of [CHECKSUM_AT, CHECKSUM_AT - 5, 0x2c834]) {
    const r = inspectImage(good.subarray(0, end));
    assert.is(r.error!.code, 'IMAGE_TRUNCATED');
    assert.is(r.checksumValid, null, `cut at ${end}: the checksum byte is missing`);
  }
});

test("every vector esptool reads to the end has esptool's checksum verdict, and the rest none", () => {
  for (const { file, esptool } of manifest.files) {
    const r = inspectImage(read(file));
    if (esptool.exit_code !== 0) assert.is(r.checksumValid, null, file);
    else assert.is(r.checksumValid, esptool.checksum!.valid, file);
  }
});

test.run();
