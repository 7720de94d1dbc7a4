// The update server signing its manifests (signKeys): Pycom's client still reads the body whole and
// ignores the field; the signature verifies over exactly the bytes Pycom's server would have sent.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fixtureTree, pycomClientBody, pycomRequest, rawRequest, splitResponse, startServer } from '../server/harness';
import { pythonJsonDumps, type JsonValue } from '../../src/manifest/python-json';
import { checkManifestSignature, manifestSignedBytes } from '../../src/manifest/signature';
import { trustFromKeys } from '../../src/node/detached-sign';
import { createNodeSignatureVerifier } from '../../src/node/signature-verifier';
import { nodeHashes } from '../../src/node/hash';
import { createUpdateServer } from '../../src/server/update-server';
import { errorCode } from '../helpers';
import { manifestCommand } from '../../src/cli/manifest';

const KEYS = path.resolve(new URL('../fixtures/signed-images/keys/', import.meta.url).pathname);
const key = (name: string) => fs.readFileSync(path.join(KEYS, name), 'utf8');
const pycom = JSON.parse(fs.readFileSync(path.join(__dirname, '../fixtures/manifest/pycom-responses.json'), 'utf8')) as {
  host: string;
  records: { path: string; body: string; manifest?: JsonValue }[];
};
const node = createNodeSignatureVerifier(nodeHashes);

test('signKeys: the manifest carries a signature over the bytes Pycom\'s server sends; Pycom\'s client reads it whole', async () => {
  const { srv, port } = await startServer(fixtureTree, { extras: false, signKeys: [key('rsa3072-a.pem'), key('ecdsa256-a.pem')] });
  try {
    const q = 'manifest.json?current_ver=1.0.0';
    const r = await rawRequest(port, pycomRequest(q, pycom.host));
    const { body } = splitResponse(r);
    assert.equal(pycomClientBody(r), body);
    const value = JSON.parse(body.toString('utf8'));
    assert.is(typeof value.signature, 'string');
    assert.is(Buffer.from(value.signature, 'base64').length, 2 * 1216);
    // Without its signature the manifest is the recorded one, written as Pycom's server writes it.
    const want = pycom.records.find((x) => x.path === q)!.manifest!;
    assert.is(Buffer.from(manifestSignedBytes(value)).toString('utf8'), pythonJsonDumps(want));
    // The body is that text with the field in its sort_keys place.
    assert.is(body.toString('utf8'), pythonJsonDumps(value));
    for (const pub of ['rsa3072-a.pub.pem', 'ecdsa256-a.pub.pem']) {
      const v = checkManifestSignature(value, { trust: trustFromKeys({ pubkeys: [key(pub)] }), verifier: node })!;
      assert.ok(v.valid, `${pub}: ${v.reason}`);
    }
    // "Nothing to do" stays null (nothing to sign, nothing a device would change).
    const none = splitResponse(await rawRequest(port, pycomRequest('manifest.json?current_ver=1.0.1', pycom.host)));
    assert.is(none.body.toString(), 'null');
  } finally {
    await srv.close();
  }
});

test('without signKeys the manifest is byte for byte Pycom\'s (no signature field)', async () => {
  const { srv, port } = await startServer(fixtureTree, { extras: false });
  try {
    const q = 'manifest.json?current_ver=1.0.0';
    const { body } = splitResponse(await rawRequest(port, pycomRequest(q, pycom.host)));
    assert.is(body.toString('utf8'), pythonJsonDumps(pycom.records.find((x) => x.path === q)!.manifest!));
    assert.not.match(body.toString('utf8'), 'signature');
  } finally {
    await srv.close();
  }
});

test('bad signKeys stop the start with a typed error', () => {
  assert.is(errorCode(() => createUpdateServer({ root: fixtureTree, signKeys: [key('rsa3072-a.pub.pem')] })), 'KEY_BAD_FORMAT');
  assert.is(errorCode(() => createUpdateServer({ root: fixtureTree, signKeys: [key('extra-rsa2048.pem')] })), 'KEY_UNSUPPORTED');
  assert.is(errorCode(() => createUpdateServer({ root: fixtureTree, signKeys: [] })), 'SERVER_OPTIONS');
  assert.is(errorCode(() => createUpdateServer({ root: fixtureTree, signKeys: ['x', 'x', 'x', 'x'] })), 'SERVER_OPTIONS');
});

test('otaflash manifest DIR --sign KEY prints the signed manifest the server sends', async () => {
  let out = '';
  const io = { stdout: (t: string | Uint8Array) => void (out += String(t)), stderr: () => undefined, isTTY: false };
  const code = await manifestCommand.runAsync!([fixtureTree, '--from', '1.0.0', '--pycom', '--host', pycom.host, '--sign', path.join(KEYS, 'ecdsa256-a.pem')], io as never);
  assert.is(code, 0);
  const value = JSON.parse(out);
  const want = pycom.records.find((x) => x.path === 'manifest.json?current_ver=1.0.0')!.manifest!;
  assert.is(Buffer.from(manifestSignedBytes(value)).toString('utf8'), pythonJsonDumps(want));
  const v = checkManifestSignature(value, { trust: trustFromKeys({ pubkeys: [key('ecdsa256-a.pub.pem')] }) })!;
  assert.ok(v.valid, v.reason);
});

test.run();
