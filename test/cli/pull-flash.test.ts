// pull --flash: the manifest's firmware goes through the OTA engine (hash, then app image check),
// is selected in the same switch as the files, and the files follow it when it is rolled back.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { run, runAsync } from '../../src/cli/run';
import { createUpdateServer } from '../../src/server/update-server';
import { FileFlash } from '../../src/node/file-flash';
import { OtaEngine } from '../../src/ota/engine';

const FIX = path.join(__dirname, '../fixtures');
const TREE = path.join(FIX, 'manifest/tree');
const TABLE_CSV = path.join(FIX, 'partition-tables/partitions_two_ota.csv');
const APP = path.join(FIX, 'app-images/esp-serial-flasher/hello_world-esp32.bin');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'otaflash-pullflash-'));
process.on('exit', () => fs.rmSync(tmp, { recursive: true, force: true }));
let n = 0;

const io = () => {
  const out = { stdout: '', stderr: '' };
  return { out, io: { stdout: (t: string | Uint8Array) => void (out.stdout += String(t)), stderr: (t: string) => void (out.stderr += t), isTTY: false } };
};

function files(dir: string, prefix = ''): Record<string, string> {
  const o: Record<string, string> = {};
  for (const name of fs.readdirSync(dir).sort()) {
    const full = path.join(dir, name);
    if (fs.statSync(full).isDirectory()) Object.assign(o, files(full, prefix + name + '/'));
    else o[prefix + name] = fs.readFileSync(full, 'latin1');
  }
  return o;
}

function setup(firmware: string) {
  const base = path.join(tmp, `case${n++}`);
  const root = path.join(base, 'server');
  fs.cpSync(TREE, root, { recursive: true });
  fs.copyFileSync(firmware, path.join(root, 'firmware_1.0.1.bin'));
  const dev = path.join(base, 'device');
  fs.cpSync(path.join(TREE, '1.0.0'), dev, { recursive: true });
  const flash = path.join(base, 'flash.bin');
  const c = io();
  assert.is(run(['flash', 'create', flash, '--size', '4MB', '--table', TABLE_CSV, '--app', APP], c.io), 0, c.out.stderr);
  return { root, dev, flash };
}

function bootLabel(flash: string): string | undefined {
  const dev = FileFlash.open(flash);
  try {
    return OtaEngine.open(dev).bootPartition()?.label;
  } finally {
    dev.close();
  }
}

async function pull(root: string, ...argv: string[]) {
  const srv = createUpdateServer({ root, log: () => undefined });
  const { url } = await srv.listen(0);
  try {
    const c = io();
    const code = await runAsync(['pull', url, ...argv], c.io);
    return { code, ...c.out };
  } finally {
    await srv.close();
  }
}

test('pull --flash: firmware written to the next OTA slot, verified, selected with the files', async () => {
  const { root, dev, flash } = setup(APP);
  assert.is(bootLabel(flash), 'factory');
  const r = await pull(root, '--device', dev, '--flash', flash);
  assert.is(r.code, 0, r.stderr);
  assert.match(r.stdout, /firmware written to ota_0 and selected for the next boot/);
  assert.is(bootLabel(flash), 'ota_0');
  const app = fs.readFileSync(APP);
  const fd = fs.openSync(flash, 'r');
  const inSlot = Buffer.alloc(app.length);
  fs.readSync(fd, inSlot, 0, app.length, 0x10000 + 0x100000); // ota_0 of partitions_two_ota.csv
  fs.closeSync(fd);
  assert.equal(inSlot, app);
  assert.is(files(dev)['flash/OTA_VERSION.py'], "VERSION = '1.0.1'");
});

test('a firmware that passes its SHA-1 but is no app image: exit 1, files and otadata unchanged', async () => {
  const { root, dev, flash } = setup(path.join(TREE, 'firmware_1.0.1.bin')); // 3000 random bytes
  const before = files(dev);
  const r = await pull(root, '--device', dev, '--flash', flash);
  assert.is(r.code, 1, r.stderr + r.stdout);
  assert.match(r.stderr, /OTA_VALIDATE_FAILED|IMAGE_/);
  assert.match(r.stderr, /was not changed/);
  assert.equal(files(dev), before);
  assert.is(bootLabel(flash), 'factory');
});

test('when the firmware is rolled back, the next pull rolls the files back with it', async () => {
  const { root, dev, flash } = setup(APP);
  const before = files(dev);
  assert.is((await pull(root, '--device', dev, '--flash', flash)).code, 0);
  // The new app is rolled back (as the bootloader does when it is never confirmed).
  const c = io();
  assert.is(run(['boot', flash, '--rollback', '--apply'], c.io), 0, c.out.stderr);
  assert.is(run(['rollback', flash], c.io), 0, c.out.stderr);
  assert.is.not(bootLabel(flash), 'ota_0');
  fs.mkdirSync(path.join(tmp, 'empty-server'), { recursive: true });
  const srv = createUpdateServer({ root: path.join(tmp, 'empty-server'), log: () => undefined });
  const r = await (async () => {
    const { url } = await srv.listen(0);
    try {
      const o = io();
      const code = await runAsync(['pull', url, '--device', dev, '--flash', flash], o.io);
      return { code, ...o.out };
    } finally {
      await srv.close();
    }
  })();
  assert.is(r.code, 0, r.stderr);
  assert.match(r.stderr, /no longer selected for boot, so its files were rolled back/);
  assert.equal(files(dev), before);
});

test.run();
