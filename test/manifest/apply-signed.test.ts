// Signed manifests: the "signature" field covers the manifest without it, as Pycom's server writes
// JSON. With trust, an unsigned, tampered or wrongly signed manifest is refused before anything is
// written or downloaded; the per-file hashes the signature covers then bind the files.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { applyManifest } from '../../src/manifest/apply';
import { pythonJsonDumps, type JsonValue } from '../../src/manifest/python-json';
import { checkManifestSignature, manifestSignedBytes, signManifestValue } from '../../src/manifest/signature';
import { signDetached, trustFromKeys } from '../../src/node/detached-sign';
import { createNodeSignatureVerifier } from '../../src/node/signature-verifier';
import { nodeHashes } from '../../src/node/hash';
import { OtaflashError } from '../../src/errors';
import { MemoryTransport, NEW, makeManifest, oldStore, visibleFiles } from './apply-harness';

const KEYS = path.resolve(new URL('../fixtures/signed-images/keys/', import.meta.url).pathname);
const key = (name: string) => fs.readFileSync(path.join(KEYS, name), 'utf8');
const TRUST = trustFromKeys({ pubkeys: [key('rsa3072-a.pub.pem'), key('ecdsa256-a.pub.pem')] });
const node = createNodeSignatureVerifier(nodeHashes);
const pycom = JSON.parse(fs.readFileSync(path.join(__dirname, '../fixtures/manifest/pycom-responses.json'), 'utf8')) as {
  records: { path: string; body: string; manifest?: JsonValue }[];
};

/** A manifest as the device gets it: signed, written as the server writes it, parsed from text. */
function received(keyName = 'rsa3072-a.pem', edit?: (m: Record<string, any>) => void): unknown {
  const signed = signManifestValue(makeManifest(), (b) => signDetached(b, [key(keyName)]));
  const value = JSON.parse(pythonJsonDumps(signed as JsonValue));
  if (edit) edit(value);
  return value;
}

/** Applies with trust and expects `code`, with nothing written and nothing fetched. */
function refused(manifest: unknown, code: string, opts: Record<string, unknown> = {}): OtaflashError {
  const store = oldStore();
  const before = visibleFiles(store);
  const t = MemoryTransport.forNewSet();
  let err: unknown = null;
  try {
    applyManifest(manifest, store, t, Object.assign({ journal: store.journal(), trust: TRUST }, opts));
  } catch (e) {
    err = e;
  }
  assert.ok(err instanceof OtaflashError, String(err));
  assert.is((err as OtaflashError).code, code, (err as Error).message);
  assert.is(store.operations, 0, `${code}: store operations`);
  assert.is(t.requests.length, 0, `${code}: downloads`);
  assert.equal(visibleFiles(store), before);
  return err as OtaflashError;
}

test('the signed bytes are what Pycom\'s server sends: recorded Pycom manifests, byte for byte', () => {
  let n = 0;
  for (const r of pycom.records) {
    if (!r.path.startsWith('manifest.json')) continue;
    const value = JSON.parse(r.body);
    if (value === null) continue;
    // Python's json.dumps bytes, parsed and written again by the device: the same bytes.
    assert.is(Buffer.from(manifestSignedBytes(value)).toString('utf8'), r.body, r.path);
    // A signature field does not change them.
    assert.is(Buffer.from(manifestSignedBytes(Object.assign({ signature: 'AAAA' }, value))).toString('utf8'), r.body, r.path);
    n++;
  }
  assert.ok(n >= 1);
});

test('a signed manifest applies with trust (RSA with node:crypto, ECDSA with the portable verifier)', () => {
  for (const [k, opts] of [['rsa3072-a.pem', { verifier: node }], ['ecdsa256-a.pem', {}]] as const) {
    const store = oldStore();
    const m = received(k);
    const v = checkManifestSignature(m, { trust: TRUST, verifier: node })!;
    assert.ok(v.valid, v.reason);
    applyManifest(m, store, MemoryTransport.forNewSet(), Object.assign({ journal: store.journal(), trust: TRUST }, opts));
    assert.equal(visibleFiles(store), NEW, k);
  }
});

test('the signature covers the value, not the layout: other whitespace and key order still verify', () => {
  const m = received() as Record<string, unknown>;
  const reordered = JSON.parse(JSON.stringify(Object.fromEntries(Object.entries(m).reverse())));
  const store = oldStore();
  applyManifest(reordered, store, MemoryTransport.forNewSet(), { journal: store.journal(), trust: TRUST, verifier: node });
  assert.equal(visibleFiles(store), NEW);
});

test('with trust, refused before any write or download: tampered version, file hash, URL, destination, deletions', () => {
  const edits: [string, (m: Record<string, any>) => void][] = [
    ['version', (m) => (m.version = '1.0.2')],
    ['file hash', (m) => (m.update[0].hash = m.update[0].hash.replace(/^./, (c: string) => (c === '0' ? '1' : '0')))],
    ['file sha256', (m) => (m.new[0].sha256 = '0'.repeat(64))],
    ['URL', (m) => (m.new[0].URL = 'http://10.0.0.2:8000/1.0.1/flash/evil.py')],
    ['dst_path', (m) => (m.new[0].dst_path = '/flash/boot.py')],
    ['a file added', (m) => m.new.push({ URL: 'http://10.0.0.2:8000/1.0.1/flash/x.py', dst_path: '/flash/x.py', hash: '0'.repeat(40) })],
    ['deletions dropped', (m) => (m.delete = [])],
    ['a field added', (m) => (m.firmware = { URL: 'http://10.0.0.2:8000/firmware_9.bin', hash: '0'.repeat(40) })],
  ];
  for (const [what, edit] of edits) {
    const e = refused(received('rsa3072-a.pem', edit), 'MANIFEST_SIGNATURE_INVALID', { verifier: node });
    assert.equal((e.info!.blocks as { status: string }[]).map((b) => b.status), ['bad-signature'], what);
  }
});

test('with trust: unsigned refused, untrusted key refused, revoked key refused, a signature that is no signature refused', () => {
  refused(JSON.parse(pythonJsonDumps(makeManifest() as unknown as JsonValue)), 'SIGNATURE_REQUIRED');
  const e = refused(received('rsa3072-b.pem'), 'MANIFEST_SIGNATURE_INVALID');
  assert.match(e.message, 'key digest not trusted');
  refused(received(), 'MANIFEST_SIGNATURE_INVALID', { trust: { keyDigests: TRUST.keyDigests, revokedDigests: TRUST.keyDigests } });
  refused(received('rsa3072-a.pem', (m) => (m.signature = 'not base64!')), 'MANIFEST_SIGNATURE_INVALID');
  refused(received('rsa3072-a.pem', (m) => (m.signature = 'AAAA')), 'MANIFEST_SIGNATURE_INVALID');
  refused(received('rsa3072-a.pem', (m) => (m.signature = 42)), 'MANIFEST_SIGNATURE_INVALID');
  // A byte of the signature flipped (base64 still valid): the block's CRC catches it.
  const flipped = refused(
    received('rsa3072-a.pem', (m) => {
      const b = Buffer.from(m.signature, 'base64');
      b[700] ^= 1;
      m.signature = b.toString('base64');
    }),
    'MANIFEST_SIGNATURE_INVALID',
  );
  assert.equal((flipped.info!.blocks as { status: string }[]).map((b) => b.status), ['bad-frame']);
});

test('a null manifest needs no signature (it changes nothing); without trust a signature is ignored', () => {
  const store = oldStore();
  assert.is(applyManifest(null, store, MemoryTransport.forNewSet(), { journal: store.journal(), trust: TRUST }), null);
  assert.is(store.operations, 0);
  const s2 = oldStore();
  applyManifest(received('rsa3072-b.pem'), s2, MemoryTransport.forNewSet(), { journal: s2.journal() });
  assert.equal(visibleFiles(s2), NEW);
});

test('after the signature, the signed per-file hashes bind the files: a file changed on the server is refused', () => {
  const store = oldStore();
  const t = MemoryTransport.forNewSet();
  (t as unknown as { files: Record<string, Uint8Array> }).files['/1.0.1/flash/main.py'] = new Uint8Array(Buffer.from('print("bad main, longer than before")\n'));
  let code = '';
  try {
    applyManifest(received(), store, t, { journal: store.journal(), trust: TRUST, verifier: node, attempts: 1 });
  } catch (e) {
    code = (e as OtaflashError).code;
  }
  assert.is(code, 'FILESET_HASH_MISMATCH');
  assert.equal(visibleFiles(store)['flash/main.py'], 'print("old main")\n');
});

test.run();
