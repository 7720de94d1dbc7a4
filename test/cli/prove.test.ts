import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { run } from '../../src/cli/run';
import type { CliIo } from '../../src/cli/io';

const V = fileURLToPath(new URL('../fixtures/', import.meta.url));
if (!fs.existsSync(V)) throw new Error(`conformance vectors missing: ${V} (the repository's test/fixtures folder)`);
const TINY = V + 'app-images/esptool/ram_helloworld/helloworld-esp32.bin';
const SMALL = V + 'app-images/elf2image/esp32-zephyr.bin';
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'otaflash-prove-'));
const CSV = path.join(dir, 'small.csv');
fs.writeFileSync(CSV, 'nvs,data,nvs,0x9000,0x4000,\notadata,data,ota,0xd000,0x2000,\nota_0,app,ota_0,0x10000,64K,\nota_1,app,ota_1,0x20000,64K,\n');

function cli(argv: string[]): { code: number; out: string; err: string } {
  let out = '';
  let err = '';
  const io: CliIo = {
    stdout: (t) => { out += typeof t === 'string' ? t : Buffer.from(t).toString('utf8'); },
    stderr: (t) => { err += t; },
    isTTY: false,
  };
  return { code: run(argv, io), out, err };
}

test('prove --json on a user table: every cut of full-update, zero failures, counts consistent', () => {
  const r = cli(['prove', '--table', CSV, '--image', SMALL, '--old', TINY, '--flash-size', '192K', '--scenario', 'full-update', '--json']);
  assert.is(r.code, 0, r.out + r.err);
  const j = JSON.parse(r.out);
  assert.is(j.flashSize, 0x30000);
  assert.is(j.scenarios.length, 1);
  const s = j.scenarios[0];
  assert.is(s.scenario, 'full-update');
  assert.ok(s.operations > 10, `${s.operations} operations`);
  assert.is(s.cutPoints, s.operations * 5);
  assert.is(s.failures, 0, JSON.stringify(s.failureSamples));
});

test('prove prints the table with every scenario of the layout', () => {
  const r = cli(['prove', '--table', CSV, '--image', SMALL, '--old', TINY, '--flash-size', '192K', '--modes', 'before,torn-bits', '--every', '4']);
  for (const name of ['full-update', 'first-boot-confirm', 'no-confirm-rollback', 'explicit-rollback', 'self-test-rollback', 'resume', 'blank-otadata']) assert.ok(r.out.includes(name), `${name} missing:\n${r.out}`);
  assert.match(r.out, /scenario\s+operations\s+cut points\s+modes/);
  assert.is(r.code, /, 0 failures\n$/.test(r.out) ? 0 : 1);
});

test('prove --replay narrates one case: the cut, the boots, the outcome', () => {
  const r = cli(['prove', '--table', CSV, '--image', SMALL, '--old', TINY, '--flash-size', '192K', '--replay', 'full-update@user:5:torn-bits:1']);
  assert.is(r.code, 0, r.out + r.err);
  assert.match(r.out, /CUT power cut at operation 5: /);
  assert.match(r.out, /boot ota_0 = old/);
  assert.match(r.out, /goal reached: new/);
});

test('prove refuses bad input with a message and exit code 2, or the layout error', () => {
  let r = cli(['prove', '--table', CSV]);
  assert.is(r.code, 2);
  assert.match(r.err, /--image/);
  r = cli(['prove', '--table', CSV, '--image', SMALL, '--chip-profile', 'nope']);
  assert.is(r.code, 2);
  assert.match(r.err, /W25Q32JV/);
  r = cli(['prove', '--table', CSV, '--image', SMALL, '--modes', 'sideways']);
  assert.is(r.code, 2);
  assert.match(r.err, /sideways/);
  r = cli(['prove', '--table', V + 'partition-tables/partitions_singleapp.csv', '--image', SMALL]);
  assert.not.equal(r.code, 0);
  assert.match(r.err, /otadata/);
  r = cli(['prove', '--table', CSV, '--image', SMALL, '--replay', 'full-update@user:x:before:1']);
  assert.not.equal(r.code, 0);
  assert.match(r.err, /replay id/);
});

test('an image too large for the slots fails the clean run, with a replay id that replays it', () => {
  const big = V + 'app-images/esp-serial-flasher/hello_world-esp32.bin'; // 124 KB, slots are 64 KB
  const r = cli(['prove', '--table', CSV, '--image', big, '--old', TINY, '--flash-size', '192K', '--scenario', 'full-update']);
  assert.is(r.code, 1, r.out + r.err);
  assert.match(r.out, /clean-run: the flow fails without any cut: OTA_IMAGE_TOO_LARGE/);
  const id = /--replay (\S+)/.exec(r.out)![1];
  assert.is(id, 'full-update@user:0:none:1');
  const again = cli(['prove', '--table', CSV, '--image', big, '--old', TINY, '--flash-size', '192K', '--replay', id]);
  assert.is(again.code, 1);
  assert.match(again.out, /OTA_IMAGE_TOO_LARGE/);
});

test.after(() => fs.rmSync(dir, { recursive: true, force: true }));
test.run();
