import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createHash } from 'node:crypto';
import { generateManifest, selectUpdate, firmwareVersionOf, isVersionName, buildManifest } from '../../src/manifest/generate';
import { pythonJsonDumps, type JsonValue } from '../../src/manifest/python-json';
import type { FileTree, FirmwareFile, TreeFile } from '../../src/manifest/types';
import { errorCode } from '../helpers';

const fixtures = path.join(__dirname, '../fixtures/manifest');
const treeRoot = path.join(fixtures, 'tree');
// What Pycom's OTA_server.py answered on tree/ (see the fixture README).
const pycom = JSON.parse(fs.readFileSync(path.join(fixtures, 'pycom-responses.json'), 'utf8')) as {
  host: string;
  records: { path: string; head: string; body: string; manifest?: JsonValue }[];
};

const sha = (alg: string, b: Uint8Array) => createHash(alg).update(b).digest('hex');

// The test's own walk of a folder (node:fs + node:crypto), independent of the server's.
function walk(dir: string, prefix = ''): TreeFile[] {
  const out: TreeFile[] = [];
  for (const name of fs.readdirSync(dir)) {
    const full = path.join(dir, name);
    const rel = prefix + name;
    if (fs.statSync(full).isDirectory()) out.push(...walk(full, rel + '/'));
    else {
      const b = fs.readFileSync(full);
      out.push({ path: rel, size: b.length, sha1: sha('sha1', b), sha256: sha('sha256', b) });
    }
  }
  return out;
}

const trees: Record<string, FileTree> = { '1.0.0': walk(path.join(treeRoot, '1.0.0')), '1.0.1': walk(path.join(treeRoot, '1.0.1')) };
const fwBytes = fs.readFileSync(path.join(treeRoot, 'firmware_1.0.1.bin'));
const firmware: FirmwareFile[] = [{ name: 'firmware_1.0.1.bin', version: '1.0.1', size: fwBytes.length, sha1: sha('sha1', fwBytes), sha256: sha('sha256', fwBytes) }];
const baseUrl = `http://${pycom.host}`;

function pycomManifest(p: string): JsonValue {
  const r = pycom.records.find((x) => x.path === p);
  assert.ok(r, p);
  return r!.manifest!;
}

test('the same manifests as Pycom\'s server, field for field (extras off)', () => {
  const cases: [string | null, string][] = [
    ['1.0.0', 'manifest.json?current_ver=1.0.0'],
    ['1.0.1', 'manifest.json?current_ver=1.0.1'],
    ['0.9', 'manifest.json?current_ver=0.9'],
    [null, 'manifest.json'],
  ];
  for (const [current, p] of cases) {
    const ours = generateManifest({ trees, firmware, currentVersion: current, baseUrl, extras: false });
    // Pycom's lists come in set order; the fixture holds them sorted by path, as ours are.
    assert.equal(ours as unknown as JsonValue, pycomManifest(p), p);
  }
});

test('byte for byte Pycom\'s body when its lists happen to be in order (one-element lists)', () => {
  const r = pycom.records.find((x) => x.path === 'manifest.json?current_ver=1.0.1')!;
  assert.is(pythonJsonDumps(generateManifest({ trees, firmware, currentVersion: '1.0.1', baseUrl }) as unknown as JsonValue), r.body);
  // The full body re-serialised from the sorted fixture: same text as ours.
  const m = generateManifest({ trees, firmware, currentVersion: '1.0.0', baseUrl, extras: false });
  assert.is(pythonJsonDumps(m as unknown as JsonValue), pythonJsonDumps(pycomManifest('manifest.json?current_ver=1.0.0')));
  assert.ok(r.body === 'null');
});

test('extras: sha256 and size per entry, previous_version; Pycom fields unchanged', () => {
  const m = generateManifest({ trees, firmware, currentVersion: '1.0.0', baseUrl })!;
  const plain = generateManifest({ trees, firmware, currentVersion: '1.0.0', baseUrl, extras: false })!;
  assert.is(m.previous_version, '1.0.0');
  assert.is(m.update[0].sha256, sha('sha256', fs.readFileSync(path.join(treeRoot, '1.0.1/flash/main.py'))));
  assert.is(m.update[0].size, fs.statSync(path.join(treeRoot, '1.0.1/flash/main.py')).size);
  assert.is(m.firmware!.size, 3000);
  assert.equal(m.new.map((e) => [e.URL, e.dst_path, e.hash]), plain.new.map((e) => [e.URL, e.dst_path, e.hash]));
});

test('never a downgrade: a client on a version newer than every folder gets null', () => {
  assert.is(generateManifest({ trees, firmware, currentVersion: '1.0.2', baseUrl }), null);
  assert.is(generateManifest({ trees, firmware, currentVersion: '1.0.1b', baseUrl }), null); // 1.0.1b > 1.0.1
  assert.is(generateManifest({ trees, firmware: [], currentVersion: '1.0.1', baseUrl }), null);
});

test('the highest firmware version wins, not the last in directory order', () => {
  const fw = (v: string): FirmwareFile => ({ name: `firmware_${v}.bin`, version: v, size: 1, sha1: '0'.repeat(40) });
  const sel = selectUpdate({ folders: ['1.0.0', '1.0.1'], firmware: ['1.0.10', '1.0.9', '1.0.2'], currentVersion: '1.0.0' })!;
  assert.is(sel.firmware, '1.0.10');
  // A firmware newer than every folder is offered (Pycom's server never offered it), and the
  // manifest's version becomes the firmware's, so the device does not ask for it again.
  const m = generateManifest({ trees, firmware: [fw('1.0.2')], currentVersion: '1.0.1', baseUrl })!;
  assert.equal([m.new, m.update, m.delete], [[], [], []]);
  assert.is(m.firmware!.URL, `${baseUrl}/firmware_1.0.2.bin`);
  assert.is(m.version, '1.0.2');
  assert.is(generateManifest({ trees, firmware: [fw('1.0.2')], currentVersion: '1.0.2', baseUrl }), null);
});

test('firmware names: exactly firmware_<version>.bin', () => {
  assert.is(firmwareVersionOf('firmware_1.0.1.bin'), '1.0.1');
  assert.is(firmwareVersionOf('firmware_1.0.1.bin.sha1'), null);
  assert.is(firmwareVersionOf('firmware_abc.bin'), null);
  assert.is(firmwareVersionOf('firmware_.bin'), null);
  assert.is(firmwareVersionOf('my_firmware_1.0.bin'), null);
});

test('stray folders are not versions; incomparable versions are typed errors', () => {
  assert.not.ok(isVersionName('static'));
  assert.not.ok(isVersionName('.git'));
  assert.ok(isVersionName('1.0.1b'));
  const sel = selectUpdate({ folders: ['static', '1.0.0', 'node_modules', '1.0.1'], firmware: [], currentVersion: '1.0.0' })!;
  assert.is(sel.target, '1.0.1');
  assert.is(sel.from, '1.0.0');
  assert.is(errorCode(() => selectUpdate({ folders: ['1.0.0'], firmware: [], currentVersion: 'abc' })), 'VERSION_INCOMPARABLE');
  assert.is(errorCode(() => selectUpdate({ folders: ['1.0.0'], firmware: [], currentVersion: '../..' })), 'VERSION_INVALID');
  assert.is(errorCode(() => selectUpdate({ folders: ['1.0a', '1.0.1'], firmware: [], currentVersion: '1.0.0' })), 'MANIFEST_SERVER_VERSIONS');
});

test('an older version that is not a folder gets a full install; no current_ver too', () => {
  const sel = selectUpdate({ folders: ['1.0.0', '1.0.2'], firmware: [], currentVersion: '1.0.1' })!;
  assert.equal(sel, { version: '1.0.2', target: '1.0.2', from: null, firmware: null });
  assert.equal(selectUpdate({ folders: ['1.0.0'], firmware: [], currentVersion: null }), { version: '1.0.0', target: '1.0.0', from: null, firmware: null });
});

test('names with spaces and # are percent-encoded in URLs, raw in dst_path', () => {
  const files: TreeFile[] = [{ path: 'flash/my lib#1.py', size: 1, sha1: 'a'.repeat(40) }];
  const m = buildManifest({ selection: { version: '2.0', target: '2.0', from: null, firmware: null }, fromTree: null, targetTree: files, firmware: null, baseUrl: 'http://h' });
  assert.is(m.new[0].URL, 'http://h/2.0/flash/my%20lib%231.py');
  assert.is(m.new[0].dst_path, '/flash/my lib#1.py');
});

test.run();
