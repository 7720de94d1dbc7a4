// otaflash pull against otaflash serve, against a Pycom-style server (its recorded bytes: HTTP/1.0,
// no Content-Length, no Range), with a broken connection resumed, a bad hash, and --rollback.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { runAsync } from '../../src/cli/run';
import { createUpdateServer } from '../../src/server/update-server';

const TREE = path.join(__dirname, '../fixtures/manifest/tree');
const pycom = JSON.parse(fs.readFileSync(path.join(__dirname, '../fixtures/manifest/pycom-responses.json'), 'utf8')) as {
  records: { path: string; head: string; body: string }[];
};
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'otaflash-pull-'));
process.on('exit', () => fs.rmSync(tmp, { recursive: true, force: true }));
let n = 0;

async function cli(...argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const code = await runAsync(argv, { stdout: (t) => void (stdout += typeof t === 'string' ? t : Buffer.from(t).toString()), stderr: (t) => void (stderr += t), isTTY: false });
  return { code, stdout, stderr };
}

/** Every file under `dir`, by '/'-path, with its content (latin1 text). */
function files(dir: string, prefix = ''): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of fs.readdirSync(dir).sort()) {
    const full = path.join(dir, name);
    if (fs.statSync(full).isDirectory()) Object.assign(out, files(full, prefix + name + '/'));
    else out[prefix + name] = fs.readFileSync(full, 'latin1');
  }
  return out;
}

/** A device on 1.0.0: the 1.0.0 folder plus its version file, in a parent of its own (the journal goes beside). */
function device(): string {
  const dev = path.join(tmp, `case${n++}`, 'device');
  fs.mkdirSync(path.dirname(dev));
  fs.cpSync(path.join(TREE, '1.0.0'), dev, { recursive: true });
  fs.writeFileSync(path.join(dev, 'flash/OTA_VERSION.py'), "VERSION = '1.0.0'");
  return dev;
}

function expectedNew(): Record<string, string> {
  const want = files(path.join(TREE, '1.0.1'));
  delete want['flash/.DS_Store']; // Pycom's servers leave it out of manifests
  want['flash/OTA_VERSION.py'] = "VERSION = '1.0.1'";
  return want;
}

function visible(dev: string): Record<string, string> {
  return Object.fromEntries(Object.entries(files(dev)).filter(([p]) => !p.endsWith('.bak') && !p.endsWith('.bak_del')));
}

async function withServer<T>(body: (url: string) => Promise<T>, root = TREE, signKeys?: string[]): Promise<T> {
  const srv = createUpdateServer({ root, log: () => undefined, signKeys });
  const { url } = await srv.listen(0);
  try {
    return await body(url);
  } finally {
    await srv.close();
  }
}

test('pull from otaflash serve: the new set, Pycom backups, firmware, nothing of ours in DIR; then nothing to do', async () => {
  await withServer(async (url) => {
    const dev = device();
    const before = files(dev);
    const fw = path.join(tmp, `fw${n++}.bin`);
    const r = await cli('pull', url, '--device', dev, '--firmware-out', fw);
    assert.is(r.code, 0, r.stderr);
    assert.match(r.stdout, /updated from 1.0.0 to 1.0.1 \(2 added, 1 replaced, 1 deleted\); firmware written to/);
    assert.equal(visible(dev), expectedNew());
    const all = files(dev);
    assert.is(all['flash/main.py.bak'], before['flash/main.py']);
    assert.is(all['flash/old.py.bak_del'], before['flash/old.py']);
    assert.is(all['flash/OTA_VERSION.py.bak'], "VERSION = '1.0.0'");
    assert.ok(Object.keys(all).every((p) => /\.(bak|bak_del)$/.test(p) || p in expectedNew()), Object.keys(all).join(' '));
    assert.equal(fs.readFileSync(fw), fs.readFileSync(path.join(TREE, 'firmware_1.0.1.bin')));
    assert.ok(fs.existsSync(path.join(path.dirname(dev), '.device.otaflash-journal')), 'journal beside DIR');
    const again = await cli('pull', url, '--device', dev, '--json');
    assert.is(again.code, 0, again.stderr);
    assert.equal(JSON.parse(again.stdout), { updated: false, version: '1.0.1' });
  });
});

test('pull --rollback puts the old set back; a firmware without --firmware-out/--flash is refused first', async () => {
  await withServer(async (url) => {
    const dev = device();
    const before = files(dev);
    const refused = await cli('pull', url, '--device', dev);
    assert.is(refused.code, 2);
    assert.match(refused.stderr, /carries a firmware/);
    assert.equal(files(dev), before);
    const fw = path.join(tmp, `fw${n++}.bin`);
    assert.is((await cli('pull', url, '--device', dev, '--firmware-out', fw)).code, 0);
    const r = await cli('pull', '--rollback', '--device', dev, '--json');
    assert.is(r.code, 0, r.stderr);
    assert.equal(JSON.parse(r.stdout).to, '1.0.0');
    assert.equal(files(dev), before);
    assert.is((await cli('pull', '--rollback', '--device', dev)).code, 2);
  });
});

/**
 * A server that answers as Pycom's OTA_server.py does, from what it was recorded sending: the
 * manifest body byte for byte (lists in its set order), files with its HTTP/1.0 head, no
 * Content-Length, Range ignored, the end of the body marked by the close.
 */
function pycomStyleServer(): Promise<{ url: string; requests: string[]; close: () => void }> {
  const manifest = pycom.records.find((r) => r.path === 'manifest.json?current_ver=1.0.0')!;
  const requests: string[] = [];
  const server = net.createServer((sock) => {
    let buf = '';
    sock.on('data', (d) => {
      buf += d.toString('latin1');
      if (buf.indexOf('\r\n\r\n') < 0) return;
      const target = buf.split(' ')[1];
      requests.push(buf.split('\r\n')[0]);
      const head = manifest.head.replace(/Content-type: .*/, 'Content-type: ') + '\r\n\r\n';
      if (target === '/manifest.json?current_ver=1.0.0') {
        sock.end(Buffer.concat([Buffer.from(manifest.head + '\r\n\r\n', 'latin1'), Buffer.from(manifest.body, 'latin1')]));
      } else {
        const file = path.join(TREE, decodeURIComponent(target.slice(1)));
        if (fs.existsSync(file)) sock.end(Buffer.concat([Buffer.from(head.replace('Content-type: ', 'Content-type: application/octet-stream'), 'latin1'), fs.readFileSync(file)]));
        else sock.end('HTTP/1.0 404 File Not Found\r\n\r\n');
      }
    });
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({ url: `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`, requests, close: () => server.close() })));
}

test('pull from a Pycom-style server (its recorded manifest, HTTP/1.0 without Content-Length)', async () => {
  const s = await pycomStyleServer();
  try {
    const dev = device();
    const fw = path.join(tmp, `fw${n++}.bin`);
    const r = await cli('pull', s.url, '--device', dev, '--firmware-out', fw);
    assert.is(r.code, 0, r.stderr);
    assert.equal(visible(dev), expectedNew());
    assert.equal(fs.readFileSync(fw), fs.readFileSync(path.join(TREE, 'firmware_1.0.1.bin')));
    // Its URLs name 192.168.1.144:8000; files came from the server asked, by the URLs' paths.
    assert.ok(s.requests.includes('GET /1.0.1/flash/lib/new_lib.py HTTP/1.1'), s.requests.join('\n'));
  } finally {
    s.close();
  }
});

/** Serves the tree with Range, but breaks the first transfer of `breakPath` after `breakAt` bytes. */
function flakyServer(breakPath: string, breakAt: number, corrupt = false): Promise<{ url: string; ranges: string[]; close: () => void }> {
  const ranges: string[] = [];
  let broken = false;
  const inner = createUpdateServer({ root: TREE, log: () => undefined });
  const server = http.createServer((req, res) => {
    if (req.url === breakPath) {
      ranges.push(String(req.headers.range ?? 'none'));
      const body = fs.readFileSync(path.join(TREE, breakPath.slice(1)));
      if (corrupt) {
        res.setHeader('Content-Length', body.length);
        res.end(Buffer.concat([body.subarray(0, body.length - 1), Buffer.from([body[body.length - 1] ^ 1])]));
        return;
      }
      if (!broken) {
        broken = true;
        res.setHeader('Content-Length', body.length);
        res.write(body.subarray(0, breakAt), () => res.destroy());
        return;
      }
    }
    inner.server.emit('request', req, res);
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({ url: `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`, ranges, close: () => server.close() })));
}

test('a connection broken mid-file is resumed with Range; the result is whole', async () => {
  const s = await flakyServer('/firmware_1.0.1.bin', 1200);
  try {
    const dev = device();
    const fw = path.join(tmp, `fw${n++}.bin`);
    const r = await cli('pull', s.url, '--device', dev, '--firmware-out', fw);
    assert.is(r.code, 0, r.stderr);
    assert.equal(s.ranges, ['none', 'bytes=1200-']);
    assert.equal(fs.readFileSync(fw), fs.readFileSync(path.join(TREE, 'firmware_1.0.1.bin')));
    assert.equal(visible(dev), expectedNew());
  } finally {
    s.close();
  }
});

test('a file whose hash does not match: exit 1, the device exactly as before, no firmware file', async () => {
  const s = await flakyServer('/1.0.1/flash/main.py', 0, true);
  try {
    const dev = device();
    const before = files(dev);
    const fw = path.join(tmp, `fw${n++}.bin`);
    const r = await cli('pull', s.url, '--device', dev, '--firmware-out', fw);
    assert.is(r.code, 1, r.stderr);
    assert.match(r.stderr, /FILESET_HASH_MISMATCH/);
    assert.equal(files(dev), before);
    assert.not.ok(fs.existsSync(fw) || fs.existsSync(fw + '.part'));
  } finally {
    s.close();
  }
});

test('manifest CLI prints what Pycom\'s server sends (with --pycom), null when up to date', async () => {
  const r = await cli('manifest', TREE, '--from', '1.0.0', '--host', '192.168.1.144:8000', '--pycom');
  assert.is(r.code, 0, r.stderr);
  const ours = JSON.parse(r.stdout);
  const theirs = JSON.parse(pycom.records.find((x) => x.path === 'manifest.json?current_ver=1.0.0')!.body);
  for (const k of ['new', 'update']) theirs[k].sort((a: { dst_path: string }, b: { dst_path: string }) => (a.dst_path < b.dst_path ? -1 : 1));
  assert.equal(ours, theirs);
  assert.is((await cli('manifest', TREE, '--from', '1.0.1')).stdout, 'null\n');
  const bad = await cli('manifest', TREE, '--from', 'abc');
  assert.is(bad.code, 2);
  assert.match(bad.stderr, /VERSION_INCOMPARABLE/);
});

test('an unreachable server is one line and exit 2, nothing written', async () => {
  const dev = device();
  const before = files(dev);
  const r = await cli('pull', 'http://127.0.0.1:1', '--device', dev);
  assert.is(r.code, 2, r.stderr);
  assert.is(r.stderr.trim().split('\n').length, 1);
  assert.match(r.stderr, /ECONNREFUSED \[HTTP_TRANSIENT\]/);
  assert.equal(files(dev), before);
});

// pull --pubkey/--key-digest: a device that trusts keys takes a manifest signed by one of them and
// refuses an unsigned one, or one signed by another key, before it downloads or writes.
const KEYS = path.join(__dirname, '../fixtures/signed-images/keys');
const key = (name: string) => fs.readFileSync(path.join(KEYS, name), 'utf8');

test('pull --pubkey: a manifest signed by the trusted key is applied', async () => {
  await withServer(async (url) => {
    const dev = device();
    const r = await cli('pull', url, '--device', dev, '--firmware-out', path.join(tmp, `fw${n++}.bin`), '--pubkey', path.join(KEYS, 'ecdsa256-a.pub.pem'));
    assert.is(r.code, 0, r.stderr);
    assert.match(r.stdout, /updated from 1\.0\.0 to 1\.0\.1/);
  }, TREE, [key('ecdsa256-a.pem')]);
});

test('pull --pubkey: unsigned and wrongly signed manifests are refused with the device untouched', async () => {
  for (const [signKeys, code] of [[undefined, 'SIGNATURE_REQUIRED'], [[key('rsa3072-a.pem')], 'MANIFEST_SIGNATURE_INVALID']] as const) {
    await withServer(async (url) => {
      const dev = device();
      const before = files(path.dirname(dev));
      const r = await cli('pull', url, '--device', dev, '--firmware-out', path.join(tmp, `fw${n++}.bin`), '--pubkey', path.join(KEYS, 'ecdsa256-a.pub.pem'));
      assert.is(r.code, 1, r.stdout + r.stderr);
      assert.match(r.stderr, new RegExp(`\\[${code}\\].*was not changed`));
      assert.equal(files(path.dirname(dev)), before);
    }, TREE, signKeys as string[] | undefined);
  }
});

test('pull --revoked without trusted keys is a usage error', async () => {
  const r = await cli('pull', 'http://127.0.0.1:9', '--device', device(), '--revoked', '00'.repeat(32));
  assert.is(r.code, 2);
  assert.match(r.stderr, /--revoked needs trusted keys/);
});

test.run();
