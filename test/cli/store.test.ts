// otaflash store list|add|remove|install on flash image files: the store in a data partition of the
// flash image or in a file of its own; the installed slot is checked with `boot` (the bootloader
// model) and byte for byte against the app image file; refusals are one line on stderr.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as fs from 'node:fs';
import { createHash } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { expectExit, expectOneErrorLine, runInProcess, tempFiles } from './harness';

const V = fileURLToPath(new URL('../fixtures/app-images/', import.meta.url));
const OLD = V + 'esp-serial-flasher/hello_world-esp32.bin';
const NEW = V + 'elf2image/coredump-app-esp32.bin';
const tmp = tempFiles('otaflash-store-');
const CSV = tmp('table.csv');
fs.writeFileSync(
  CSV,
  'nvs,data,nvs,0x9000,0x4000,\notadata,data,ota,0xd000,0x2000,\nphy_init,data,phy,0xf000,0x1000,\nota_0,app,ota_0,0x10000,0x40000,\nota_1,app,ota_1,0x50000,0x40000,\nstore,data,0x40,0x90000,0x70000,\nimages,data,0x41,0x100000,0x40000,\n',
);

function ok(...args: string[]) {
  return expectExit(runInProcess(...args), 0, args);
}

function refused(needle: string, ...args: string[]) {
  const r = expectExit(runInProcess(...args), 2, args);
  expectOneErrorLine(r, needle);
  return r;
}

function newFlash(): string {
  const f = tmp('flash.bin');
  ok('flash create', f, '--size', '2MB', '--table', CSV, '--app', `ota_0=${OLD}`);
  return f;
}

test('add, list, install, boot, remove in the default store partition', () => {
  const f = newFlash();
  const empty = JSON.parse(ok('store list', f, '--json').stdout);
  assert.equal(empty.images, []);
  assert.is(empty.sectors, 0x70000 / 4096);
  const added = JSON.parse(ok('store add', f, NEW, '--json').stdout);
  const bytes = new Uint8Array(fs.readFileSync(NEW));
  assert.equal(
    [added.id, added.kind, added.component, added.seq, added.size, added.state, added.storedChunks, added.chunks],
    [1, 'app', 'coredump-app-esp32', 1, bytes.length, 'verified', 40, 40],
  );
  assert.is(added.sha256, createHash('sha256').update(bytes).digest('hex'));
  assert.is(added.version, 'v1.0-56-g30082bf', 'the app description version esptool reports for this image');
  // A second add of the same component gets the next seq.
  const second = JSON.parse(ok('store add', f, NEW, '--json', '--chunk-size', '1000', '--version', 'again').stdout);
  assert.equal([second.id, second.seq, second.chunks, second.version], [2, 2, 162, 'again']);
  const listed = ok('store list', f).stdout;
  assert.match(listed, /2 images/);
  assert.match(listed, /id 1 {2}app {2}coredump-app-esp32 v1\.0-56-g30082bf {2}seq 1/);

  const inst = JSON.parse(ok('store install', f, '--id', '1', '--json').stdout);
  assert.equal([inst.how, inst.slot, inst.offset, inst.selected], ['written', 'ota_1', 0x50000, true]);
  const flash = new Uint8Array(fs.readFileSync(f));
  assert.ok(Buffer.from(flash.subarray(0x50000, 0x50000 + bytes.length)).equals(Buffer.from(bytes)), 'ota_1 holds the image');
  assert.match(ok('boot', f).stdout, /boots: ota_1/);
  assert.is(JSON.parse(ok('store install', f, '--id', '1', '--json').stdout).how, 'already-installed');
  assert.is(JSON.parse(ok('store list', f, '--json').stdout).images[0].state, 'installed');

  const rm = JSON.parse(ok('store remove', f, '--id', '1', '--json').stdout);
  assert.equal(rm, { removed: 1, freedSectors: 41 });
  assert.equal(JSON.parse(ok('store list', f, '--json').stdout).images.map((i: { id: number }) => i.id), [2]);
});

test('--partition and --store FILE', () => {
  const f = newFlash();
  ok('store add', f, NEW, '--partition', 'images', '--kind', 'opaque', '--component', 'blob', '--seq', '7', '--id', '40');
  assert.is(JSON.parse(ok('store list', f, '--json').stdout).images.length, 0, 'the default store is another partition');
  const img = JSON.parse(ok('store list', f, '--partition', 'images', '--json').stdout).images[0];
  assert.equal([img.id, img.kind, img.component, img.seq, img.version], [40, 'opaque', 'blob', 7, '']);
  refused('STORE_KIND_UNSUPPORTED', 'store install', f, '--partition', 'images', '--id', '40');

  const chip = tmp('spi.bin');
  ok('flash create', chip, '--size', '512K');
  ok('store add', '--store', chip, NEW);
  assert.is(JSON.parse(ok('store list', '--store', chip, '--json').stdout).images.length, 1);
  ok('store install', f, '--store', chip, '--id', '1', '--no-select');
  assert.match(ok('boot', f).stdout, /boots: ota_0/, '--no-select leaves otadata alone');
});

test('refusals: one line on stderr, exit 2, files unchanged', () => {
  const f = newFlash();
  const before = fs.readFileSync(f);
  refused("no partition labelled 'nope'", 'store list', f, '--partition', 'nope');
  refused('app partition', 'store list', f, '--partition', 'ota_0');
  refused('--store and --partition', 'store list', f, '--store', f, '--partition', 'store');
  refused('expected FLASH', 'store list');
  refused('--id N is required', 'store remove', f);
  refused('STORE_NOT_FOUND', 'store remove', f, '--id', '3');
  refused('STORE_NOT_FOUND', 'store install', f, '--id', '3');
  refused('--id', 'store remove', f, '--id', 'x');
  refused('--kind', 'store add', f, NEW, '--kind', 'firmware');
  refused('expected IMAGE', 'store add');
  refused('STORE_BAD_ARGUMENT', 'store add', f, NEW, '--component', 'c'.repeat(40));
  refused('STORE_FULL', 'store add', f, NEW, '--partition', 'nvs');
  assert.ok(fs.readFileSync(f).equals(before));
  // A store that is too full refuses, and --evict takes nothing that is not failed or superseded.
  ok('store add', f, NEW);
  ok('store add', f, NEW);
  refused('STORE_FULL', 'store add', f, NEW, '--evict');
});

test.run();
