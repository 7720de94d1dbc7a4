// `otaflash image info`: JSON fields against esptool's manifest, exit codes, text output, one real process.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { CliIo } from '../../src/cli/io';
import { run } from '../../src/cli/run';

const DIR = fileURLToPath(new URL('../fixtures/app-images/', import.meta.url));
if (!fs.existsSync(DIR)) throw new Error(`conformance vectors missing: ${DIR} (the repository's test/fixtures folder)`);
const REPO = fileURLToPath(new URL('../../', import.meta.url));
const manifest = JSON.parse(fs.readFileSync(DIR + 'manifest.json', 'utf8')) as {
  files: { file: string; esptool: { exit_code: number; chip_id: number | null; entry_point: string | null; segments: { load_addr: string; length: number }[]; checksum: { valid: boolean } | null; hash_appended: boolean | null; hash: { valid: boolean } | null; app_desc: Record<string, string | number> | null } }[];
};

function cli(argv: string[]): { code: number; out: string; err: string } {
  let out = '';
  let err = '';
  const io: CliIo = {
    stdout: (t) => { out += typeof t === 'string' ? t : Buffer.from(t).toString('utf8'); },
    stderr: (t) => { err += t; },
    isTTY: false,
  };
  const code = run(argv, io);
  return { code, out, err };
}

const INVALID = new Set([
  'corrupt/blink_esp32s2.checksum-byte-flip.bin', 'corrupt/blink_esp32s2.chip-id-esp32.bin', 'corrupt/blink_esp32s2.hash-byte-flip.bin',
  'corrupt/blink_esp32s2.segment-byte-flip.bin', 'corrupt/blink_esp32s2.segment-count-7.bin', 'corrupt/blink_esp32s2.segment-length-past-eof.bin',
  'corrupt/blink_esp32s2.truncated-hash.bin', 'corrupt/blink_esp32s2.truncated-in-segment.bin', 'corrupt/coredump-app-esp32c3.nohash.segment-byte-flip.bin',
  'esptool/ram_helloworld/helloworld-esp32_edit.bin',
]);

test('image info --json on every vector: esptool\'s fields, numbers as numbers, exit 0/1/2', () => {
  for (const { file, esptool: e } of manifest.files) {
    const r = cli(['image', 'info', DIR + file, '--json']);
    if (file === 'corrupt/blink_esp32s2.bad-magic.bin') {
      assert.is(r.code, 2, file);
      assert.is(r.out, '');
      assert.match(r.err, /IMAGE_BAD_MAGIC/);
      continue;
    }
    assert.is(r.code, INVALID.has(file) ? 1 : 0, `${file}: ${r.err}`);
    const j = JSON.parse(r.out);
    assert.is(j.valid, !INVALID.has(file), file);
    if (INVALID.has(file)) assert.type(j.error.code, 'string');
    else assert.is(j.error, null);
    if (e.exit_code !== 0) continue; // esptool printed nothing to compare with
    assert.is(j.chip, e.chip_id === null ? -1 : e.chip_id, file);
    assert.is(j.entry, parseInt(e.entry_point!, 16), file);
    assert.equal(j.segments.map((s: { loadAddress: number; length: number }) => [s.loadAddress, s.length]), e.segments.map((s) => [parseInt(s.load_addr, 16), s.length]), file);
    assert.is(j.checksumValid, e.checksum!.valid, file);
    assert.is(j.hashAppended, e.hash_appended, file);
    if (e.hash) assert.is(j.hashValid, file === 'corrupt/blink_esp32s2.truncated-hash.bin' ? null : e.hash.valid, file);
    else assert.is(j.hashValid, null, file);
    if (e.app_desc) {
      assert.equal(
        { version: j.appDesc.version, projectName: j.appDesc.projectName, secureVersion: j.appDesc.secureVersion, idfVersion: j.appDesc.idfVersion },
        { version: e.app_desc.version, projectName: e.app_desc.project_name, secureVersion: e.app_desc.secure_version, idfVersion: e.app_desc.idf_ver },
        file,
      );
    } else if (file !== 'corrupt/blink_esp32s2.chip-id-esp32.bin') {
      assert.is(j.appDesc, null, file);
    }
  }
});

test('image info text: a valid image, a broken one still shows what was read', () => {
  const ok = cli(['image', 'info', DIR + 'esptool/esp_idf_blink_esp32s2.bin']);
  assert.is(ok.code, 0, ok.err);
  assert.match(ok.out, /chip\s+ESP32-S2 \(id 2\)/);
  assert.match(ok.out, /entry\s+0x40022f84/);
  assert.match(ok.out, /checksum\s+0x18 \(valid\)/);
  assert.match(ok.out, /sha256\s+[0-9a-f]{64} \(valid\)/);
  assert.match(ok.out, /app\s+blink qa-test-v5.0-20220830-4-g4532e6/);
  assert.match(ok.out, /result\s+valid/);
  const cut = cli(['image', 'info', DIR + 'corrupt/blink_esp32s2.truncated-in-segment.bin']);
  assert.is(cut.code, 1);
  assert.match(cut.out, /segments\s+6 in the header, 4 read/);
  assert.match(cut.out, /INVALID: image ends at 0x186a0, inside segment 3/);
  assert.match(cut.err, /IMAGE_TRUNCATED/);
  const sig = cli(['image', 'info', DIR + 'esptool/bootloader_signed_v2_ecdsa256.bin']);
  assert.is(sig.code, 0);
  assert.match(sig.out, /signatures sector at 0x8000: #0 ecdsa \(CRC ok, signed digest matches\)/);
  const sigJson = JSON.parse(cli(['image', 'info', DIR + 'esptool/bootloader_signed_v2_ecdsa256.bin', '--json']).out);
  assert.equal(sigJson.signatures.map((x: { offset: number; scheme: string; crcValid: boolean; digestValid: boolean }) => [x.offset, x.scheme, x.crcValid, x.digestValid]), [[0x8000, 'ecdsa', true, true]]);
});

test('image info --chip and --require-hash', () => {
  const blink = DIR + 'esptool/esp_idf_blink_esp32s2.bin';
  assert.is(cli(['image', 'info', blink, '--chip', 'esp32s2']).code, 0);
  assert.is(cli(['image', 'info', blink, '--chip=ESP32-S2']).code, 0);
  const wrong = cli(['image', 'info', blink, '--chip', 'esp32c3', '--json']);
  assert.is(wrong.code, 1);
  assert.is(JSON.parse(wrong.out).error.code, 'IMAGE_CHIP_MISMATCH');
  const unknown = cli(['image', 'info', blink, '--chip', 'esp99']);
  assert.is(unknown.code, 2);
  assert.match(unknown.err, /unknown chip 'esp99'/);
  const cleared = DIR + 'corrupt/blink_esp32s2.hash-flag-cleared.bin';
  assert.is(cli(['image', 'info', cleared]).code, 0);
  const strict = cli(['image', 'info', cleared, '--require-hash', '--json']);
  assert.is(strict.code, 1);
  assert.is(JSON.parse(strict.out).error.code, 'IMAGE_HASH_REQUIRED');
});

test('image info: unusable input exits 2', () => {
  assert.is(cli(['image', 'info', DIR + 'does-not-exist.bin']).code, 2);
  assert.is(cli(['image', 'info']).code, 2);
  assert.is(cli(['image', 'info', 'a', 'b']).code, 2);
  assert.is(cli(['image', 'info', DIR + 'esptool/esp32s3_header.bin', '--bogus']).code, 2);
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'otaflash-image-'));
  try {
    const empty = path.join(tmp, 'empty.bin');
    fs.writeFileSync(empty, new Uint8Array(0));
    const r = cli(['image', 'info', empty]);
    assert.is(r.code, 2);
    assert.match(r.err, /IMAGE_TRUNCATED/);
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
  assert.is(cli(['image', 'info', '--help']).code, 0);
});

test('a real process: npx tsx src/cli/main.ts image info --json', () => {
  const p = spawnSync('npx', ['tsx', 'src/cli/main.ts', 'image', 'info', DIR + 'esp-serial-flasher/hello_world-esp32c3.bin', '--json'], { cwd: REPO, encoding: 'utf8' });
  assert.is(p.status, 0, p.stderr);
  const j = JSON.parse(p.stdout);
  assert.is(j.valid, true);
  assert.is(j.chip, 5);
  assert.is(j.appDesc.projectName, 'hello_world');
  const bad = spawnSync('npx', ['tsx', 'src/cli/main.ts', 'image', 'info', DIR + 'corrupt/blink_esp32s2.segment-byte-flip.bin'], { cwd: REPO, encoding: 'utf8' });
  assert.is(bad.status, 1, bad.stderr);
  assert.match(bad.stdout, /checksum\s+0x18 \(INVALID, calculated 0x19\)/);
  // '-' reads the image from standard input.
  const piped = spawnSync('npx', ['tsx', 'src/cli/main.ts', 'image', 'info', '-', '--json'], { cwd: REPO, input: fs.readFileSync(DIR + 'elf2image/esp32c6-appdesc.bin') });
  assert.is(piped.status, 0, String(piped.stderr));
  assert.is(JSON.parse(String(piped.stdout)).appDesc.secureVersion, 4294967295);
});

test.run();
