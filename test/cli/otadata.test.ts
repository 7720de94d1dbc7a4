import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { run } from '../../src/cli/run';
import type { CliIo } from '../../src/cli/io';

const DIR = fileURLToPath(new URL('../fixtures/otadata/', import.meta.url));
if (!fs.existsSync(DIR)) throw new Error(`conformance vectors missing: ${DIR} (the repository's test/fixtures folder)`);
const cases = JSON.parse(fs.readFileSync(DIR + 'cases.json', 'utf8'));

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

for (const c of cases.cases) {
  test(`otadata show --json ${c.file}: entries, active sector, boot and writes for every expected[] row`, () => {
    for (const row of c.expected) {
      const argv = ['otadata', 'show', DIR + c.file, '--slots', String(row.ota_app_count), '--json'];
      if (row.has_factory) argv.push('--factory');
      if (row.rollback_enabled) argv.push('--rollback');
      const r = cli(argv);
      assert.is(r.code, 0, r.err);
      const j = JSON.parse(r.out);
      assert.equal(Object.keys(j), ['entries', 'activeSector', 'boot', 'bootloaderWrites']);
      assert.equal(
        j.entries,
        c.entries.map((e: { sector: number; ota_seq: number; ota_state: string; crc_ok: boolean; valid: boolean }) => ({ sector: e.sector, seq: e.ota_seq, state: e.ota_state, crcOk: e.crc_ok, valid: e.valid })),
      );
      assert.is(j.activeSector, c.active_sector);
      assert.is(j.boot, row.boot, argv.join(' '));
      assert.equal(
        j.bootloaderWrites,
        row.otadata_writes.map((w: { sector: number; ota_seq: number; ota_state: string }) => ({ sector: w.sector, seq: w.ota_seq, state: w.ota_state })),
        argv.join(' '),
      );
    }
  });
}

test('otadata show, text output: both sectors, the boot and the writes', () => {
  const r = cli(['otadata', 'show', DIR + 'state_new.bin', '--slots', '2', '--rollback']);
  assert.is(r.code, 0, r.err);
  assert.match(r.out, /sector 0 @0x0: seq 1, state VALID, crc ok, valid/);
  assert.match(r.out, /sector 1 @0x1000: seq 2, state NEW, crc ok, valid/);
  assert.match(r.out, /boots: ota_1/);
  assert.match(r.out, /writes sector 1: seq 2, state PENDING_VERIFY/);
  const blank = cli(['otadata', 'show', DIR + 'crc_corrupt_sector1.bin', '--slots=3']);
  assert.is(blank.code, 0, blank.err);
  assert.match(blank.out, /crc BAD/);
  assert.match(blank.out, /otadata writes: none/);
});

test('otadata show: bad input is exit 2 with a message', () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'otaflash-otadata-'));
  try {
    const short = path.join(tmp, 'short.bin');
    fs.writeFileSync(short, new Uint8Array(0x1000).fill(0xff));
    let r = cli(['otadata', 'show', short, '--slots', '2']);
    assert.is(r.code, 2);
    assert.match(r.err, /OTADATA_BAD_SIZE/);
    assert.match(r.err, /4096/);
    r = cli(['otadata', 'show', DIR + 'blank.bin']);
    assert.is(r.code, 2);
    assert.match(r.err, /--slots/);
    for (const bad of ['0', '17', 'two', '-1', '2.5']) {
      r = cli(['otadata', 'show', DIR + 'blank.bin', '--slots', bad]);
      assert.is(r.code, 2, `--slots ${bad}`);
      assert.match(r.err, /slot/);
    }
    r = cli(['otadata', 'show', path.join(tmp, 'missing.bin'), '--slots', '2']);
    assert.is(r.code, 2);
    assert.match(r.err, /ENOENT/);
    r = cli(['otadata', 'show', '--slots', '2']);
    assert.is(r.code, 2);
    r = cli(['otadata', 'show', DIR + 'blank.bin', '--slots', '2', '--bogus']);
    assert.is(r.code, 2);
    assert.match(r.err, /unknown option/);
    r = cli(['otadata', 'show', '--help']);
    assert.is(r.code, 0);
    assert.match(r.out, /--slots N/);
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
});

test('otadata show on a real otadata cut from Arduino firmware: seq 0 in sector 1 is a valid entry', () => {
  const file = fileURLToPath(new URL('../fixtures/partition-tables/uno-r4-esp32s3-0.6.0.otadata.bin', import.meta.url));
  const r = cli(['otadata', 'show', file, '--slots', '2', '--json']);
  assert.is(r.code, 0, r.err);
  assert.equal(JSON.parse(r.out), {
    entries: [
      { sector: 0, seq: 1, state: 'UNDEFINED', crcOk: true, valid: true },
      { sector: 1, seq: 0, state: 'UNDEFINED', crcOk: true, valid: true },
    ],
    activeSector: 0,
    boot: 'ota_0',
    bootloaderWrites: [],
  });
});

test.run();
