// Signers: PEM keys signing a bare digest, external commands (openssl pkeyutl as a stand-in for an
// HSM tool: ECDSA answers in DER, RSA-PSS raw), every wrong answer refused with a typed error before
// a block is built, and a PKCS#11 token (SoftHSM2 through OpenSC's pkcs11-tool) when installed.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { verifyImageSignature } from '../../src/formats/secure-boot-verify';
import { SB2_BLOCK_SIZE } from '../../src/formats/secure-boot-signature';
import { nodeHashes } from '../../src/node/hash';
import { createNodeSignatureVerifier } from '../../src/node/signature-verifier';
import { secureBootKeyDigest, secureBootPublicKey, signBlock, signImageV1, signImageV2 } from '../../src/node/secure-boot-keys';
import { commandSigner, ecdsaDerToRaw, findSoftHsmModule, pemSigner, pkcs11Signer, type Signer } from '../../src/node/signer';
import { isOtaflashError } from '../../src/errors';

const dir = path.resolve(new URL('../fixtures/signed-images/', import.meta.url).pathname);
const manifest = JSON.parse(fs.readFileSync(path.join(dir, 'manifest.json'), 'utf8'));
const keyPath = (name: string, pub = false) => path.join(dir, 'keys', `${name}${pub ? '.pub' : ''}.pem`);
const pem = (name: string) => fs.readFileSync(keyPath(name), 'utf8');
const pub = (name: string) => secureBootPublicKey(fs.readFileSync(keyPath(name, true), 'utf8'));
const node = createNodeSignatureVerifier(nodeHashes);
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'otaflash-signer-'));
const haveOpenssl = spawnSync('openssl', ['version']).status === 0;

// The ESP32-C3 RAM app of the vectors, unsigned (its first image_len bytes).
const c3 = manifest.files.find((f: { file: string }) => f.file === 'v2/esp32c3-ram.rsa3072-a.bin');
const unsigned = new Uint8Array(fs.readFileSync(path.join(dir, c3.file))).subarray(0, c3.image_len);

function verifies(image: Uint8Array, keyName: string): boolean {
  const digest = new Uint8Array(Buffer.from(manifest.keys[keyName].digest, 'hex'));
  return verifyImageSignature(image, { trust: { keyDigests: [digest] }, verifier: node, hashes: nodeHashes, sha384: () => { const h = crypto.createHash('sha384'); const api = { update: (d: Uint8Array) => { h.update(d); return api; }, digest: () => new Uint8Array(h.digest()) }; return api; } }).valid;
}

function throwsCode(fn: () => unknown, code: string): string {
  try {
    fn();
  } catch (e) {
    assert.ok(isOtaflashError(e), `not an OtaflashError: ${e}`);
    assert.is((e as { code: string }).code, code, (e as Error).message);
    return (e as Error).message;
  }
  assert.unreachable(`no ${code}`);
  return '';
}

test('a PEM signer given only the digest signs RSA-PSS and ECDSA P-256 blocks that verify', () => {
  const padded = signImageV2(unsigned, { keys: [pem('rsa3072-a')] }).subarray(0, 4096);
  for (const k of ['rsa3072-a', 'ecdsa256-a']) {
    const base = pemSigner(pem(k), pub(k), k);
    const digestOnly: Signer = { publicKey: base.publicKey, description: k, sign: (d) => base.sign(d) };
    const image = signImageV2(unsigned, { keys: [digestOnly] });
    assert.equal(image.subarray(0, 4096), padded, k);
    assert.ok(verifies(image, k), k);
  }
});

test('signBlock takes a PEM key or a signer; the key fields are the same either way', () => {
  const data = crypto.randomBytes(5000);
  const a = signBlock(data, pem('ecdsa384-a'));
  const b = signBlock(data, pemSigner(pem('ecdsa384-a'), pub('ecdsa384-a')));
  // Header, digest and key fields (up to the signature at 149 for P-384) are equal.
  assert.equal(a.subarray(0, 149), b.subarray(0, 149));
  assert.is(a.length, SB2_BLOCK_SIZE);
});

test('ecdsaDerToRaw: DER with leading zeros and short integers to fixed-width r||s; junk is null', () => {
  const der = Uint8Array.from([0x30, 0x08, 0x02, 0x02, 0x00, 0x80, 0x02, 0x02, 0x01, 0x02]);
  const raw = ecdsaDerToRaw(der, 4)!;
  assert.equal(Array.from(raw), [0, 0, 0, 0x80, 0, 0, 1, 2]);
  assert.is(ecdsaDerToRaw(Uint8Array.from([0x30, 0x03, 0x02, 0x01, 0x01]), 4), null);
  assert.is(ecdsaDerToRaw(Uint8Array.from([0x31, 0x00]), 4), null);
  assert.is(ecdsaDerToRaw(Uint8Array.from([0x30, 0x06, 0x02, 0x01, 0x81, 0x02, 0x01, 0x01]), 4), null, 'negative r');
});

const opensslCmd = (key: string, rsa: boolean) =>
  `openssl pkeyutl -sign -inkey '${keyPath(key)}'${rsa ? ' -pkeyopt rsa_padding_mode:pss -pkeyopt rsa_pss_saltlen:32 -pkeyopt digest:sha256 -pkeyopt rsa_mgf1_md:sha256' : ''}`;

test('--sign-cmd protocol: openssl pkeyutl as the external signer (ECDSA DER, RSA-PSS raw) makes blocks that verify', () => {
  if (!haveOpenssl) {
    console.log('  skipped: openssl is not installed');
    return;
  }
  for (const [k, rsa] of [['rsa3072-a', true], ['ecdsa256-a', false], ['ecdsa384-a', false], ['ecdsa192-a', false]] as const) {
    const image = signImageV2(unsigned, { keys: [commandSigner({ command: opensslCmd(k, rsa), publicKey: pub(k) })] });
    assert.ok(verifies(image, k), k);
  }
  // Two blocks: a PEM key then a command, in that order.
  const two = signImageV2(unsigned, { keys: [pem('rsa3072-b'), commandSigner({ command: opensslCmd('rsa3072-a', true), publicKey: pub('rsa3072-a') })] });
  assert.ok(verifies(two, 'rsa3072-a') && verifies(two, 'rsa3072-b'));
  // Secure Boot V1 through a command: a valid signature (not espsecure's deterministic one).
  const v1 = signImageV1(unsigned, commandSigner({ command: opensslCmd('sbv1-ecdsa256-a', false), publicKey: pub('sbv1-ecdsa256-a') }));
  const k1 = pub('sbv1-ecdsa256-a') as { x: Uint8Array; y: Uint8Array };
  assert.ok(verifyImageSignature(v1, { trust: { keyDigests: [], v1Keys: [{ x: k1.x, y: k1.y }] }, verifier: node, hashes: nodeHashes, version: 1 }).valid);
});

test('the command gets the digest on stdin and the algorithm in the environment', () => {
  const log = path.join(tmp, 'env.txt');
  const inFile = path.join(tmp, 'stdin.bin');
  const cmd = `cat > '${inFile}'; env | grep ^OTAFLASH_SIGN_ | sort > '${log}'; ${opensslCmd('ecdsa384-a', false)} -in '${inFile}'`;
  const image = signImageV2(unsigned, { keys: [commandSigner({ command: cmd, publicKey: pub('ecdsa384-a') })] });
  assert.ok(verifies(image, 'ecdsa384-a'));
  const signedLen = image.length - 4096;
  const digest = crypto.createHash('sha384').update(image.subarray(0, signedLen)).digest();
  assert.equal(new Uint8Array(fs.readFileSync(inFile)), new Uint8Array(digest));
  const env = fs.readFileSync(log, 'utf8');
  assert.match(env, 'OTAFLASH_SIGN_ALG=ecdsa-p384-sha384');
  assert.match(env, 'OTAFLASH_SIGN_HASH=sha384');
  assert.match(env, `OTAFLASH_SIGN_DIGEST_HEX=${digest.toString('hex')}`);
  assert.match(env, 'OTAFLASH_SIGN_KEY_TYPE=ecdsa384');
});

test('wrong signer answers are typed errors, never an image: garbage, wrong length, another key, failure, timeout', () => {
  const k = pub('ecdsa256-a');
  const run = (command: string, publicKey = k, timeoutMs?: number) => () => signImageV2(unsigned, { keys: [commandSigner({ command, publicKey, timeoutMs })] });
  // 64 random bytes: the right length, not a signature.
  throwsCode(run(`head -c 64 /dev/urandom`), 'SIGN_BAD_SIGNATURE');
  throwsCode(run(`printf 'not a signature'`), 'SIGN_BAD_SIGNATURE');
  throwsCode(run(`printf ''`), 'SIGN_BAD_SIGNATURE');
  throwsCode(run(`echo broken HSM >&2; exit 3`), 'SIGN_COMMAND_FAILED');
  throwsCode(run(`sleep 5`, k, 300), 'SIGN_COMMAND_FAILED');
  if (haveOpenssl) {
    // Signed by ecdsa256-b, claimed as ecdsa256-a.
    const m = throwsCode(run(opensslCmd('ecdsa256-b', false)), 'SIGN_BAD_SIGNATURE');
    assert.match(m, /does not verify with its public key/);
    // An RSA signer whose answer is PKCS#1 v1.5 instead of PSS.
    throwsCode(run(`openssl pkeyutl -sign -inkey '${keyPath('rsa3072-a')}' -pkeyopt digest:sha256`, pub('rsa3072-a')), 'SIGN_BAD_SIGNATURE');
  }
  throwsCode(() => commandSigner({ command: '  ', publicKey: k }), 'SIGN_BAD_ARGUMENT');
});

// --- PKCS#11 (SoftHSM2 + OpenSC pkcs11-tool) -----------------------------------------------------

const softhsm = findSoftHsmModule();
const haveP11 = softhsm !== null && spawnSync('pkcs11-tool', ['--version']).error === undefined && spawnSync('softhsm2-util', ['--version']).status === 0 && haveOpenssl;

function setUpToken(): { env: Record<string, string> } {
  const hsm = fs.mkdtempSync(path.join(tmp, 'hsm-'));
  fs.mkdirSync(path.join(hsm, 'tokens'));
  fs.writeFileSync(path.join(hsm, 'softhsm2.conf'), `directories.tokendir = ${hsm}/tokens\nobjectstore.backend = file\nlog.level = ERROR\n`);
  const env = { ...process.env, SOFTHSM2_CONF: path.join(hsm, 'softhsm2.conf') } as Record<string, string>;
  const sh = (cmd: string, args: string[]) => {
    const r = spawnSync(cmd, args, { env, encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: ${r.stderr}${r.stdout}`);
  };
  sh('softhsm2-util', ['--init-token', '--free', '--label', 'otaflash-test', '--pin', '1234', '--so-pin', '5678']);
  for (const [name, id] of [['ecdsa256-a', '01'], ['rsa3072-a', '02']]) {
    const p8 = path.join(hsm, `${name}.p8`);
    sh('openssl', ['pkcs8', '-topk8', '-nocrypt', '-in', keyPath(name), '-out', p8]);
    sh('softhsm2-util', ['--import', p8, '--token', 'otaflash-test', '--label', name, '--id', id, '--pin', '1234']);
  }
  return { env };
}

test('PKCS#11: SoftHSM2 through pkcs11-tool signs RSA-PSS and ECDSA P-256 blocks that verify (skips without softhsm2/opensc)', () => {
  if (!haveP11) {
    console.log('  skipped: SoftHSM2 and OpenSC pkcs11-tool are not installed (apt-get install softhsm2 opensc)');
    return;
  }
  const { env } = setUpToken();
  const saved = process.env.SOFTHSM2_CONF;
  process.env.SOFTHSM2_CONF = env.SOFTHSM2_CONF;
  try {
    for (const [k, id] of [['ecdsa256-a', '01'], ['rsa3072-a', '02']]) {
      const signer = pkcs11Signer({ module: softhsm!, id, tokenLabel: 'otaflash-test', pin: '1234', publicKey: pub(k) });
      const image = signImageV2(unsigned, { keys: [signer] });
      assert.ok(verifies(image, k), k);
    }
    // The wrong public key for the token's key: refused, nothing written.
    throwsCode(() => signImageV2(unsigned, { keys: [pkcs11Signer({ module: softhsm!, id: '01', tokenLabel: 'otaflash-test', pin: '1234', publicKey: pub('ecdsa256-b') })] }), 'SIGN_BAD_SIGNATURE');
    // A wrong PIN: the tool fails, a typed error says so.
    throwsCode(() => signImageV2(unsigned, { keys: [pkcs11Signer({ module: softhsm!, id: '01', tokenLabel: 'otaflash-test', pin: '0000', publicKey: pub('ecdsa256-a') })] }), 'SIGN_COMMAND_FAILED');
  } finally {
    if (saved === undefined) delete process.env.SOFTHSM2_CONF;
    else process.env.SOFTHSM2_CONF = saved;
  }
});

test.after(() => fs.rmSync(tmp, { recursive: true, force: true }));
test.run();
