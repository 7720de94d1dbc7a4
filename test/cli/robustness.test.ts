// Every CLI command against bad input, through run() with a capturing io (no child process, so
// hundreds of cases stay fast). The contract under test: no exception escapes run(); a refusal is
// exit 2 (1 only where a verification failed) with exactly one line on stderr; a refused
// operation leaves the flash file byte for byte as it was and leaves no output file behind.
// The random part is seeded: OTAFLASH_SEED=<n> replays a run; failures print the seed.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { run, EXIT_INTERNAL } from '../../src/cli/run';
import { commands } from '../../src/cli/commands';
import { seededRandom, randomBelow } from '../../src/flash/rng';

const repoRoot = path.resolve(new URL('../../', import.meta.url).pathname);
const VECTORS = path.resolve(repoRoot, 'test/fixtures');
const APP = path.join(VECTORS, 'app-images/esp-serial-flasher/hello_world-esp32.bin'); // ESP32, hash appended, 124416 bytes
const APP_S2 = path.join(VECTORS, 'app-images/esptool/esp_idf_blink_esp32s2.bin');
const OTADATA_VEC = path.join(VECTORS, 'otadata/state_valid.bin');
const SEED = process.env.OTAFLASH_SEED ? Number(process.env.OTAFLASH_SEED) : 20261122;

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'otaflash-robust-'));
process.on('exit', () => fs.rmSync(tmp, { recursive: true, force: true }));
let counter = 0;
const tmpPath = (name: string) => path.join(tmp, `${counter++}-${name}`);

// A small layout so every case copies 1 MiB, not 4 MiB.
const FLASH_SIZE = 0x100000;
const TABLE_OFFSET = 0x8000;
const OTADATA = 0xd000;
const TABLE_CSV = path.join(tmp, 'table.csv');
fs.writeFileSync(
  TABLE_CSV,
  `nvs,      data, nvs,     0x9000,  0x4000
otadata,  data, ota,     0xd000,  0x2000
factory,  app,  factory, 0x10000, 0x30000
ota_0,    app,  ota_0,   0x40000, 0x30000
ota_1,    app,  ota_1,   0x70000, 0x30000
`,
);

interface Run {
  code: number;
  stdout: string;
  stderr: string;
  threw: unknown;
}

function cli(argv: string[]): Run {
  let stdout = '';
  let stderr = '';
  let code = -1;
  let threw: unknown = null;
  try {
    code = run(argv, {
      stdout: (t) => void (stdout += typeof t === 'string' ? t : `<${t.length} bytes>`),
      stderr: (t) => void (stderr += t),
      isTTY: false,
    });
  } catch (e) {
    threw = e;
  }
  return { code, stdout, stderr, threw };
}

const read = (f: string) => new Uint8Array(fs.readFileSync(f));

function same(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function where(argv: string[], r: Run, seed?: number): string {
  return `otaflash ${argv.join(' ')}${seed !== undefined ? ` (seed ${seed}; OTAFLASH_SEED=${seed} replays)` : ''}\n  exit ${r.code}\n  stderr: ${JSON.stringify(r.stderr)}\n  stdout: ${JSON.stringify(r.stdout.slice(0, 300))}${r.threw ? `\n  threw: ${(r.threw as Error).stack ?? String(r.threw)}` : ''}`;
}

/** No exception, no internal error, a known exit code, and for a failure exactly one stderr line. */
function wellBehaved(argv: string[], r: Run, seed?: number): void {
  assert.ok(r.threw === null, `an exception escaped run(): ${where(argv, r, seed)}`);
  assert.ok(r.code === 0 || r.code === 1 || r.code === 2, `exit code 0, 1 or 2: ${where(argv, r, seed)}`);
  assert.not.ok(/internal error|\n\s+at /.test(r.stderr), `no internal error or stack trace: ${where(argv, r, seed)}`);
  if (r.code === 2) {
    assert.ok(/^otaflash[ :][^\n]+\n$/.test(r.stderr), `exactly one stderr line naming otaflash: ${where(argv, r, seed)}`);
  }
  if (r.code === 1) {
    const lines = r.stderr.split('\n').filter((l) => l.length > 0);
    assert.ok(lines.length >= 1 && /^otaflash[ :]/.test(lines[lines.length - 1]), `a verification failure ends with its reason: ${where(argv, r, seed)}`);
  }
}

/**
 * Runs argv and asserts it is refused with `code` and a message matching `needle`, and that each
 * file in `unchanged` still has its bytes and each path in `absent` does not exist afterwards.
 */
function refused(code: 1 | 2, needle: RegExp, argv: string[], opts: { unchanged?: string[]; absent?: string[] } = {}): Run {
  const before = (opts.unchanged ?? []).map((f) => (fs.existsSync(f) && fs.statSync(f).isFile() ? read(f) : null));
  const r = cli(argv);
  wellBehaved(argv, r);
  assert.is(r.code, code, `exit ${code}: ${where(argv, r)}`);
  assert.ok(needle.test(r.stderr), `message matches ${needle}: ${where(argv, r)}`);
  if (code === 2) assert.is(r.stdout, '', `nothing on stdout when refused: ${where(argv, r)}`);
  (opts.unchanged ?? []).forEach((f, i) => {
    const b = before[i];
    if (b) assert.ok(same(read(f), b), `${f} unchanged by the refused ${where(argv, r)}`);
  });
  for (const p of opts.absent ?? []) assert.not.ok(fs.existsSync(p), `${p} not left behind by ${where(argv, r)}`);
  const leftovers = fs.readdirSync(tmp).filter((n) => n.includes('.otaflash-'));
  assert.equal(leftovers, [], `no temporary files left behind by ${where(argv, r)}`);
  return r;
}

function okRun(argv: string[]): Run {
  const r = cli(argv);
  assert.is(r.code, 0, where(argv, r));
  return r;
}

/** A flash image with the small layout: APP in factory, ota slots empty, otadata erased. */
function freshFlash(): string {
  const f = tmpPath('flash.bin');
  okRun(['flash', 'create', f, '--size', String(FLASH_SIZE), '--table', TABLE_CSV, '--app', APP]);
  return f;
}

/** A flash image after one update: ota_0 holds APP and is selected (NEW). */
function updatedFlash(): string {
  const f = freshFlash();
  okRun(['update', f, APP]);
  return f;
}

// Bad input files of every kind, made once.
const MISSING = path.join(tmp, 'missing.bin');
const DIR = path.join(tmp, 'a-directory');
fs.mkdirSync(DIR);
const EMPTY = path.join(tmp, 'empty.bin');
fs.writeFileSync(EMPTY, '');
const GARBAGE = path.join(tmp, 'garbage.bin');
{
  const rand = seededRandom(SEED);
  const g = new Uint8Array(3 * 4096);
  for (let i = 0; i < g.length; i++) g[i] = randomBelow(rand, 256);
  g[0] = 0x17; // not the table magic AA, not the image magic E9
  fs.writeFileSync(GARBAGE, g);
}
const ODD = path.join(tmp, 'odd.bin'); // not a whole number of sectors
fs.writeFileSync(ODD, new Uint8Array(5000));
const TOO_SMALL = path.join(tmp, 'too-small.bin'); // 16 KiB: ends before the table at 0x8000
fs.writeFileSync(TOO_SMALL, new Uint8Array(0x4000).fill(0xff));
const TRUNCATED_APP = path.join(tmp, 'truncated-app.bin');
const OUT_IN_MISSING_DIR = path.join(tmp, 'no-such-dir', 'out.bin');
const BAD_FILES = [MISSING, DIR, EMPTY, GARBAGE, ODD, TOO_SMALL];

test.before(() => {
  fs.writeFileSync(TRUNCATED_APP, read(APP).subarray(0, 1000));
});

test('every command run with bad files refuses with exit 2 and one line, and changes nothing', () => {
  const flash = freshFlash();
  const out = path.join(tmp, 'never-written.bin');
  for (const bad of BAD_FILES) {
    const keep = { unchanged: [bad, flash], absent: [out] };
    const anyReason = /^otaflash[ :]/;
    // Bad flash image.
    for (const argv of [
      ['inspect', bad],
      ['inspect', bad, '--json'],
      ['boot', bad],
      ['boot', bad, '--apply', '--rollback'],
      ['confirm', bad],
      ['rollback', bad],
      ['otadata', 'switch', bad, '--slot', '1'],
      ['otadata', 'erase', bad],
      ['partition', 'read', bad, '--label', 'factory', '--output', out],
      ['partition', 'write', bad, '--label', 'nvs', '--input', APP],
      ['partition', 'erase', bad, '--label', 'nvs'],
      ['update', bad, APP],
    ]) {
      refused(2, anyReason, argv, keep);
    }
    // Bad input file on a good flash image (or none).
    for (const argv of [
      ['update', flash, bad],
      ['flash', 'create', out, '--size', '1MB', '--table', bad],
      ['flash', 'create', out, '--size', '1MB', '--table', TABLE_CSV, '--app', bad],
      ['flash', 'create', out, '--size', '1MB', '--bootloader', bad],
      ['image', 'info', bad],
      ['otadata', 'show', bad, '--slots', '2'],
      ['prove', '--table', bad, '--image', APP],
    ]) {
      refused(2, anyReason, argv, keep);
    }
    // Any bytes are fine to write into a partition, but not a file that is missing, a folder or empty.
    if (bad === MISSING || bad === DIR || bad === EMPTY) refused(2, anyReason, ['partition', 'write', flash, '--label', 'nvs', '--input', bad], keep);
    // An empty CSV is a valid (empty) table for gen_esp32part; everything else here is refused.
    if (bad !== EMPTY) {
      refused(2, anyReason, ['partition-table', 'convert', bad, out], keep);
      refused(2, anyReason, ['partition-table', 'show', bad], keep);
    }
  }
});

test('the messages say what and where', () => {
  const flash = freshFlash();
  refused(2, /cannot open flash image '.*missing\.bin': ENOENT/, ['inspect', MISSING]);
  refused(2, /flash image '.*a-directory' is not a file/, ['boot', DIR]);
  refused(2, /cannot read app image '.*a-directory': EISDIR/, ['update', flash, DIR]);
  refused(2, /'.*odd\.bin' is 5000 bytes, not a whole number of 4 KiB sectors/, ['confirm', ODD]);
  refused(2, /too-small\.bin: .*0x8000.*0x4000 bytes/, ['inspect', TOO_SMALL]);
  refused(2, /too-small\.bin: .*0x8000.*0x4000 bytes/, ['update', TOO_SMALL, APP]);
  refused(2, /too-small\.bin: .*0x8000.*0x4000 bytes/, ['confirm', TOO_SMALL]);
  refused(2, /app image '.*empty\.bin' is empty/, ['update', flash, EMPTY]);
  refused(2, /partition table '.*empty\.bin' has no partitions \[PARTITION_TABLE_EMPTY\]/, ['flash', 'create', tmpPath('x.bin'), '--size', '1MB', '--table', EMPTY]);
  refused(2, /garbage\.bin is not an app image: .*\[IMAGE_BAD_MAGIC\]/, ['update', flash, GARBAGE], { unchanged: [flash] });
  refused(2, /an otadata image is 0x2000 bytes, got 0/, ['otadata', 'show', EMPTY, '--slots', '2']);
});

test('wrong labels, slots, sizes, options: exit 2, one line, nothing changed or created', () => {
  const flash = freshFlash();
  const keep = { unchanged: [flash] };
  const out = tmpPath('out.bin');
  refused(2, /no partition labelled 'nope' \(the table has: nvs, otadata, factory, ota_0, ota_1\)/, ['partition', 'read', flash, '--label', 'nope', '--output', out], { unchanged: [flash], absent: [out] });
  refused(2, /no partition labelled 'NVS'/, ['partition', 'erase', flash, '--label', 'NVS'], keep);
  refused(2, /--label NAME is required/, ['partition', 'erase', flash], keep);
  refused(2, /--label needs a value/, ['partition', 'erase', flash, '--label', '--json'], keep);
  refused(2, /--output FILE is required/, ['partition', 'read', flash, '--label', 'nvs'], keep);
  refused(2, /--input FILE is required/, ['partition', 'write', flash, '--label', 'nvs'], keep);
  refused(2, /larger than partition 'nvs'.*PARTITION_TOO_SMALL/, ['partition', 'write', flash, '--label', 'nvs', '--input', APP], keep);
  refused(2, /there is no OTA slot 7 \(the table has slots: 0, 1\)/, ['update', flash, APP, '--slot', '7'], keep);
  refused(2, /--slot '16' must be an OTA slot number 0\.\.15/, ['update', flash, APP, '--slot', '16'], keep);
  refused(2, /--slot '-1' must be/, ['update', flash, APP, '--slot=-1'], keep);
  refused(2, /--slot 'one' must be/, ['otadata', 'switch', flash, '--slot', 'one'], keep);
  refused(2, /--slot N is required/, ['otadata', 'switch', flash], keep);
  refused(2, /--chunk 0 must be between 1 byte and 16 MiB/, ['update', flash, APP, '--chunk', '0'], keep);
  refused(2, /--chunk: '-4K' is not a size/, ['update', flash, APP, '--chunk=-4K'], keep);
  refused(2, /option --chunk is given twice/, ['update', flash, APP, '--chunk', '4K', '--chunk', '8K'], keep);
  refused(2, /unknown option --bogus \(options: .*--slot/, ['update', flash, APP, '--bogus'], keep);
  refused(2, /option --json takes no value/, ['inspect', flash, '--json=yes'], keep);
  refused(2, /expected FILE \(a flash image\) and APP\.bin/, ['update', flash], keep);
  refused(2, /expected one FILE/, ['boot', flash, flash], keep);
  refused(2, /--table-offset 0x8001 must be a multiple of 0x1000/, ['boot', flash, '--table-offset', '0x8001'], keep);
  refused(2, /no usable partition table at 0x9000/, ['inspect', flash, '--table-offset', '0x9000'], keep);
  refused(2, /no usable partition table at 0x80000/, ['otadata', 'erase', flash, '--table-offset', '0x80000'], keep);
  refused(2, /--chip 'esp99' is not a chip name/, ['update', flash, APP, '--chip', 'esp99'], keep);
  refused(2, /is the running app; it cannot be overwritten|OTA_BAD_SLOT|OTA_/, ['update', updatedFlash(), APP, '--slot', '0']);
  refused(2, /OTA_RUNNING_FACTORY/, ['confirm', flash], keep);
  refused(2, /OTA_ROLLBACK_FAILED/, ['rollback', flash], keep);
  refused(2, /IMAGE_/, ['otadata', 'switch', flash, '--slot', '1'], keep); // ota_1 is empty
  refused(2, /--efuse-secure-version 'x' is not a whole number/, ['boot', flash, '--anti-rollback', '--efuse-secure-version', 'x'], keep);
  refused(2, /--efuse-secure-version is only used with --anti-rollback/, ['boot', flash, '--efuse-secure-version', '2'], keep);
  refused(2, /--bootloader-offset needs --bootloader/, ['flash', 'create', tmpPath('b.bin'), '--size', '1MB', '--bootloader-offset', '0x1000']);
  refused(2, /--table-offset needs --table/, ['flash', 'create', tmpPath('t.bin'), '--size', '1MB', '--table-offset', '0x9000']);
  refused(2, /--slots: '17' is not a slot count from 1 to 16/, ['otadata', 'show', OTADATA_VEC, '--slots', '17']);
  refused(2, /--slots N is required/, ['otadata', 'show', OTADATA_VEC]);
  refused(2, /--chip: unknown chip 'foo'/, ['image', 'info', APP, '--chip', 'foo']);
  refused(2, /--secure: 'v3' is not v1 or v2/, ['partition-table', 'convert', TABLE_CSV, '--secure', 'v3']);
  refused(2, /is not a command\. Try: partition-table convert, partition-table show/, ['partition-table', 'frobnicate']);
  refused(2, /unknown command 'frobnicate'/, ['frobnicate']);
  refused(2, /unknown --scenario 'nope'/, ['prove', '--table', TABLE_CSV, '--image', APP, '--scenario', 'nope']);
  refused(2, /--image NEW\.bin is required/, ['prove', '--table', TABLE_CSV]);
  // Once a hang: a 0-byte chunk never finished writing the image.
  refused(2, /--chunk 0 must be between 1 byte and 16 MiB/, ['prove', '--table', TABLE_CSV, '--image', APP, '--chunk', '0']);
  refused(2, /--table-offset '0x100000000' is beyond 32-bit flash addresses/, ['boot', flash, '--table-offset', '0x100000000'], keep);
  refused(2, /flash\.bin: not a CSV, and no binary table .* at its start or at --offset 0x9000/, ['partition-table', 'show', flash, '--offset', '0x9000']);
});

test('bad --size values for flash create: refused, no file', () => {
  for (const size of ['3.5MB', '-1', '0', '4097', '1e6', '4XB', '', '512GB', '0x20000000']) {
    const f = tmpPath('sized.bin');
    refused(2, /--size/, ['flash', 'create', f, '--size', size], { absent: [f] });
  }
  const f = tmpPath('no-size.bin');
  refused(2, /--size is required/, ['flash', 'create', f], { absent: [f] });
  const g = tmpPath('small.bin');
  refused(2, /partition table at 0x8000 does not fit in 0x4000 bytes/, ['flash', 'create', g, '--size', '16K', '--table', TABLE_CSV], { absent: [g] });
  refused(2, /ends past the flash size 0x40000.*PARTITION_PAST_FLASH_END/, ['flash', 'create', g, '--size', '256K', '--table', TABLE_CSV], { absent: [g] });
});

test('output paths in a missing directory: refused, nothing created', () => {
  const flash = freshFlash();
  refused(2, /cannot create '.*no-such-dir\/out\.bin': ENOENT/, ['flash', 'create', OUT_IN_MISSING_DIR, '--size', '1MB']);
  refused(2, /cannot write '.*no-such-dir\/out\.bin': ENOENT/, ['partition', 'read', flash, '--label', 'nvs', '--output', OUT_IN_MISSING_DIR], { unchanged: [flash] });
  refused(2, /cannot write '.*no-such-dir\/out\.bin': ENOENT/, ['partition-table', 'convert', TABLE_CSV, OUT_IN_MISSING_DIR]);
  refused(2, /cannot write '.*a-directory'|EISDIR/, ['partition-table', 'convert', TABLE_CSV, DIR]);
  refused(2, /cannot use demo folder/, ['demo', '--dir', path.join(EMPTY, 'sub')]);
  assert.not.ok(fs.existsSync(path.dirname(OUT_IN_MISSING_DIR)));
});

test('a failed create keeps the old file under --force; a partition read that fails leaves no output', () => {
  const flash = freshFlash();
  const before = read(flash);
  // ota_1 of this table ends at 0xa0000: a 256 KiB flash cannot hold it.
  refused(2, /PARTITION_PAST_FLASH_END/, ['flash', 'create', flash, '--force', '--size', '256K', '--table', TABLE_CSV]);
  refused(2, /is for ESP32-S2 but --app .* is for ESP32/, ['flash', 'create', flash, '--force', '--size', '1MB', '--table', TABLE_CSV, '--app', APP, '--app', `ota_0=${APP_S2}`]);
  assert.ok(same(read(flash), before), 'the existing file survives refused creates with --force');
  // A flash file cut short: the table says ota_1 ends at 0xa0000, the file ends at 0x90000.
  const short = tmpPath('short.bin');
  fs.writeFileSync(short, before.subarray(0, 0x90000));
  const out = tmpPath('ota_1.bin');
  refused(2, /FLASH_OUT_OF_RANGE/, ['partition', 'read', short, '--label', 'ota_1', '--output', out], { unchanged: [short], absent: [out] });
  refused(2, /FLASH_OUT_OF_RANGE/, ['partition', 'erase', short, '--label', 'ota_1'], { unchanged: [short] });
  wellBehaved(['inspect', short], cli(['inspect', short]));
});

test('update with an image that fails verification: exit 1, the flash file untouched', () => {
  const flash = updatedFlash(); // the running app is ota_0 once booted; here otadata selects it
  for (const [image, code] of [
    [TRUNCATED_APP, /IMAGE_TRUNCATED/],
    [APP_S2, /IMAGE_CHIP_MISMATCH/],
    [path.join(VECTORS, 'app-images/corrupt/blink_esp32s2.hash-byte-flip.bin'), /IMAGE_/],
  ] as const) {
    const r = refused(1, code, ['update', flash, image, '--slot', '1'], { unchanged: [flash] });
    assert.match(r.stderr, /failed verification/);
  }
  refused(1, /IMAGE_/, ['image', 'info', TRUNCATED_APP]);
});

test('seeded fuzz: mutated flash images never crash a command; refusals change nothing', () => {
  const base = read(updatedFlash());
  const rand = seededRandom(SEED);
  // Regions worth mutating: the table, otadata, the headers of the images in factory and ota_0.
  const regions = [
    [TABLE_OFFSET, 0xc00],
    [OTADATA, 0x2000],
    [0x10000, 0x400],
    [0x40000, 0x400],
  ];
  const commandsOnFlash = (f: string): string[][] => [
    ['inspect', f, '--json'],
    ['inspect', f],
    ['boot', f, '--json'],
    ['boot', f, '--rollback', '--apply'],
    ['confirm', f],
    ['rollback', f],
    ['otadata', 'switch', f, '--slot', '0'],
    ['otadata', 'erase', f],
    ['partition', 'read', f, '--label', 'otadata', '--output', tmpPath('o.bin')],
    ['partition', 'erase', f, '--label', 'nvs'],
    ['update', f, APP, '--slot', '1', '--chunk', '3000'],
  ];
  const iterations = 40;
  for (let it = 0; it < iterations; it++) {
    const seed = SEED + it;
    const r = seededRandom(seed);
    const img = base.slice();
    const [start, len] = regions[randomBelow(r, regions.length)];
    const flips = 1 + randomBelow(r, 8);
    for (let k = 0; k < flips; k++) {
      const at = start + randomBelow(r, len);
      img[at] = randomBelow(r, 3) === 0 ? 0xff : randomBelow(r, 256);
    }
    const cmds = commandsOnFlash('');
    const argvTemplate = cmds[randomBelow(rand, cmds.length)];
    const f = tmpPath('fuzz.bin');
    fs.writeFileSync(f, img);
    const argv = argvTemplate.map((a) => (a === '' ? f : a));
    const res = cli(argv);
    wellBehaved(argv, res, seed);
    if (res.code === 2) assert.ok(same(read(f), img), `a refused command changed the flash file: ${where(argv, res, seed)}`);
    fs.unlinkSync(f);
  }
});

test('seeded fuzz: mutated and truncated app images are never accepted by update or image info', () => {
  const app = read(APP);
  const flash = freshFlash();
  const before = read(flash);
  for (let it = 0; it < 25; it++) {
    const seed = SEED + 1000 + it;
    const r = seededRandom(seed);
    let img = app.slice();
    if (randomBelow(r, 3) === 0) img = img.subarray(0, randomBelow(r, img.length));
    else {
      const at = randomBelow(r, img.length);
      img[at] ^= 1 << randomBelow(r, 8);
    }
    const f = tmpPath('mutated-app.bin');
    fs.writeFileSync(f, img);
    for (const argv of [['image', 'info', f, '--json'], ['update', flash, f, '--chunk', '4K']]) {
      const res = cli(argv);
      wellBehaved(argv, res, seed);
      assert.ok(res.code !== 0, `a damaged image passed (every byte is covered by the appended SHA-256): ${where(argv, res, seed)}`);
      if (argv[0] === 'image' && res.code === 1) JSON.parse(res.stdout);
    }
    assert.ok(same(read(flash), before), `a refused update changed the flash file (seed ${seed})`);
    fs.unlinkSync(f);
  }
});

test('seeded fuzz: mutated CSV tables give a table or one error line naming the CSV line', () => {
  const csv = fs.readFileSync(TABLE_CSV, 'utf8');
  const pieces = [',', ' ', '0x', 'k', 'M', '-', '#', '\n', 'ota_9', 'data', 'app', '0x1001', '99999999999', '"', '\t', 'é', 'encrypted', ':'];
  for (let it = 0; it < 60; it++) {
    const seed = SEED + 2000 + it;
    const r = seededRandom(seed);
    let text = csv;
    const edits = 1 + randomBelow(r, 4);
    for (let k = 0; k < edits; k++) {
      const at = randomBelow(r, text.length);
      const op = randomBelow(r, 3);
      if (op === 0) text = text.slice(0, at) + text.slice(at + 1 + randomBelow(r, 6));
      else text = text.slice(0, at) + pieces[randomBelow(r, pieces.length)] + text.slice(at + (op === 1 ? 1 : 0));
    }
    const f = tmpPath('fuzz.csv');
    fs.writeFileSync(f, text);
    const out = tmpPath('fuzz.bin');
    for (const argv of [['partition-table', 'convert', f, out], ['partition-table', 'show', f, '--json'], ['flash', 'create', tmpPath('fz.bin'), '--size', '1MB', '--table', f]]) {
      const res = cli(argv);
      wellBehaved(argv, res, seed);
      assert.ok(res.code === 0 || res.code === 2, `exit 0 or 2: ${where(argv, res, seed)}`);
      if (res.code === 0 && argv.indexOf('--json') >= 0) JSON.parse(res.stdout);
    }
    if (fs.existsSync(out)) fs.unlinkSync(out);
  }
});

test('no exception escapes run() for any command with no arguments or only --json', () => {
  for (const name of Object.keys(commands)) {
    if (name === 'demo') continue; // demo with no arguments is a successful tour, tested elsewhere
    for (const extra of [[], ['--json'], ['--nonsense']]) {
      const argv = name.split(' ').concat(extra);
      const r = cli(argv);
      wellBehaved(argv, r);
      assert.is(r.code, 2, where(argv, r));
    }
  }
});

test('an unexpected exception is one line with exit 70, never a stack trace', () => {
  const name = 'inspect';
  const original = commands[name].run;
  commands[name].run = () => {
    throw new TypeError('boom\nsecond line');
  };
  try {
    const r = cli([name, 'x']);
    assert.is(r.threw, null);
    assert.is(r.code, EXIT_INTERNAL);
    assert.match(r.stderr, /^otaflash inspect: internal error .*TypeError: boom \| second line\n$/);
  } finally {
    commands[name].run = original;
  }
  // An operating-system error is the environment, not a bug: exit 2, one line naming the call.
  commands[name].run = () => {
    const e = new Error('ENOSPC: no space left on device, write') as NodeJS.ErrnoException;
    e.code = 'ENOSPC';
    e.syscall = 'write';
    throw e;
  };
  try {
    const r = cli([name, 'x']);
    assert.is(r.code, 2);
    assert.is(r.stderr, 'otaflash inspect: write failed: ENOSPC\n');
  } finally {
    commands[name].run = original;
  }
});

test.run();
