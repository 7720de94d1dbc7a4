// otaflash pull --pubkey/--key-digest: a device that trusts keys takes a manifest signed by one of
// them and refuses an unsigned one, or one signed by another key, before it downloads or writes.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { runAsync } from '../../src/cli/run';
import { createUpdateServer } from '../../src/server/update-server';

const TREE = path.join(__dirname, '../fixtures/manifest/tree');
const KEYS = path.join(__dirname, '../fixtures/signed-images/keys');
const key = (name: string) => fs.readFileSync(path.join(KEYS, name), 'utf8');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'otaflash-pull-signed-'));
process.on('exit', () => fs.rmSync(tmp, { recursive: true, force: true }));
let n = 0;

async function cli(...argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const code = await runAsync(argv, { stdout: (t) => void (stdout += typeof t === 'string' ? t : Buffer.from(t).toString()), stderr: (t) => void (stderr += t), isTTY: false });
  return { code, stdout, stderr };
}

function files(dir: string, prefix = ''): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of fs.readdirSync(dir).sort()) {
    const full = path.join(dir, name);
    if (fs.statSync(full).isDirectory()) Object.assign(out, files(full, prefix + name + '/'));
    else out[prefix + name] = fs.readFileSync(full, 'latin1');
  }
  return out;
}

function device(): string {
  const dev = path.join(tmp, `case${n++}`, 'device');
  fs.mkdirSync(path.dirname(dev));
  fs.cpSync(path.join(TREE, '1.0.0'), dev, { recursive: true });
  fs.writeFileSync(path.join(dev, 'flash/OTA_VERSION.py'), "VERSION = '1.0.0'");
  return dev;
}

async function withServer<T>(signKeys: string[] | undefined, body: (url: string) => Promise<T>): Promise<T> {
  const srv = createUpdateServer({ root: TREE, log: () => undefined, signKeys });
  const { url } = await srv.listen(0);
  try {
    return await body(url);
  } finally {
    await srv.close();
  }
}

test('pull --pubkey: a manifest signed by the trusted key is applied', async () => {
  await withServer([key('ecdsa256-a.pem')], async (url) => {
    const dev = device();
    const r = await cli('pull', url, '--device', dev, '--firmware-out', path.join(tmp, `fw${n++}.bin`), '--pubkey', path.join(KEYS, 'ecdsa256-a.pub.pem'));
    assert.is(r.code, 0, r.stderr);
    assert.match(r.stdout, /updated from 1\.0\.0 to 1\.0\.1/);
  });
});

test('pull --pubkey: unsigned and wrongly signed manifests are refused with the device untouched', async () => {
  for (const [signKeys, code] of [[undefined, 'SIGNATURE_REQUIRED'], [[key('rsa3072-a.pem')], 'MANIFEST_SIGNATURE_INVALID']] as const) {
    await withServer(signKeys as string[] | undefined, async (url) => {
      const dev = device();
      const before = files(path.dirname(dev));
      const r = await cli('pull', url, '--device', dev, '--firmware-out', path.join(tmp, `fw${n++}.bin`), '--pubkey', path.join(KEYS, 'ecdsa256-a.pub.pem'));
      assert.is(r.code, 1, r.stdout + r.stderr);
      assert.match(r.stderr, new RegExp(`\\[${code}\\].*was not changed`));
      assert.equal(files(path.dirname(dev)), before);
    });
  }
});

test('pull --revoked without trusted keys is a usage error', async () => {
  const r = await cli('pull', 'http://127.0.0.1:9', '--device', device(), '--revoked', '00'.repeat(32));
  assert.is(r.code, 2);
  assert.match(r.stderr, /--revoked needs trusted keys/);
});

test.run();
