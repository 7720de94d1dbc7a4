// Signers: where a Secure Boot signature comes from. A PEM private key on this host, an external
// command (an HSM's tool, a signing service's client), or a PKCS#11 token through OpenSC's
// pkcs11-tool. Every signer is given the digest to sign; what it returns is checked against its
// public key before any block is built, so a wrong or garbled answer is a typed error, never an image
// with a bad signature.
import { spawnSync } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { OtaflashError } from '../errors';
import { CURVE_BYTES } from '../formats/secure-boot-signature';
import { P256, bytesToBigInt, signDeterministic } from './rfc6979';
import type { SecureBootPublicKey } from './secure-boot-keys';

/** Which signature a signer must make, named as the `OTAFLASH_SIGN_ALG` variable spells it. */
export type SignAlgorithm = 'rsa-pss-sha256' | 'ecdsa-p192-sha256' | 'ecdsa-p256-sha256' | 'ecdsa-p384-sha384';

export interface Signer {
  /** The public half: fills the block's key fields and checks every signature returned. */
  readonly publicKey: SecureBootPublicKey;
  /** Says where signatures come from, for messages ('key.pem', 'command ...'). */
  readonly description: string;
  /**
   * Signs `digest` (SHA-256, or SHA-384 for P-384) of the signed bytes. Returns the RSA-PSS signature
   * (MGF1-SHA-256, salt 32; modulus-length bytes, big-endian) or the ECDSA r||s (each the curve's
   * length, big-endian). `data`, when given, is the bytes the digest is of, for signers that can sign
   * only whole messages.
   */
  sign(digest: Uint8Array, data?: Uint8Array): Uint8Array;
}

export function isSigner(v: unknown): v is Signer {
  return typeof v === 'object' && v !== null && !(v instanceof Uint8Array) && typeof (v as Signer).sign === 'function' && typeof (v as Signer).publicKey === 'object';
}

export function signAlgorithm(key: SecureBootPublicKey): SignAlgorithm {
  if (key.kind === 'rsa') return 'rsa-pss-sha256';
  return key.curve === 'P-192' ? 'ecdsa-p192-sha256' : key.curve === 'P-256' ? 'ecdsa-p256-sha256' : 'ecdsa-p384-sha384';
}

export function signHash(key: SecureBootPublicKey): 'sha256' | 'sha384' {
  return key.kind === 'ecdsa' && key.curve === 'P-384' ? 'sha384' : 'sha256';
}

/** Length in bytes of the raw signature a key makes (RSA: 384; ECDSA: r||s). */
export function rawSignatureLength(key: SecureBootPublicKey): number {
  return key.kind === 'rsa' ? key.key.n.length : 2 * CURVE_BYTES[key.curve];
}

// --- PEM keys on this host -----------------------------------------------------------------------

const PSS_SALT = 32;

function mgf1Sha256(seed: Uint8Array, length: number): Uint8Array {
  const out = new Uint8Array(length);
  for (let c = 0, at = 0; at < length; c++, at += 32) {
    const ctr = Buffer.alloc(4);
    ctr.writeUInt32BE(c);
    const block = crypto.createHash('sha256').update(seed).update(ctr).digest();
    out.set(block.subarray(0, Math.min(32, length - at)), at);
  }
  return out;
}

/** EMSA-PSS-ENCODE (RFC 8017 9.1.1), SHA-256 and MGF1-SHA-256, salt 32: for a digest-only RSA sign. */
function pssEncode(mHash: Uint8Array, modBits: number): Uint8Array {
  const emBits = modBits - 1;
  const emLen = Math.ceil(emBits / 8);
  const salt = crypto.randomBytes(PSS_SALT);
  const h = crypto.createHash('sha256').update(new Uint8Array(8)).update(mHash).update(salt).digest();
  const dbLen = emLen - 32 - 1;
  const db = new Uint8Array(dbLen);
  db[dbLen - PSS_SALT - 1] = 0x01;
  db.set(salt, dbLen - PSS_SALT);
  const mask = mgf1Sha256(h, dbLen);
  for (let i = 0; i < dbLen; i++) db[i] ^= mask[i];
  db[0] &= 0xff >> (8 * emLen - emBits);
  const em = new Uint8Array(emLen);
  em.set(db);
  em.set(h, dbLen);
  em[emLen - 1] = 0xbc;
  return em;
}

function loadPrivateKey(pem: string | Uint8Array): crypto.KeyObject {
  try {
    return crypto.createPrivateKey(typeof pem === 'string' ? pem : Buffer.from(pem));
  } catch (e) {
    throw new OtaflashError('KEY_BAD_FORMAT', `not a PEM private key: ${(e as Error).message}`);
  }
}

/**
 * A signer over a PEM private key held on this host. With the signed bytes at hand it signs them
 * with node:crypto (RSA-PSS salt 32, ECDSA with a random nonce); with only a digest, RSA is encoded
 * here and raised with the raw private operation, and ECDSA P-256 uses the RFC 6979 nonce.
 */
export function pemSigner(keyPem: string | Uint8Array, publicKey: SecureBootPublicKey, description = 'PEM key'): Signer {
  const priv = loadPrivateKey(keyPem);
  return {
    publicKey,
    description,
    sign(digest, data) {
      if (publicKey.kind === 'rsa') {
        if (data) return new Uint8Array(crypto.sign('sha256', data, { key: priv, padding: crypto.constants.RSA_PKCS1_PSS_PADDING, saltLength: PSS_SALT }));
        const em = pssEncode(digest, publicKey.key.n.length * 8);
        const padded = new Uint8Array(publicKey.key.n.length);
        padded.set(em, padded.length - em.length);
        return new Uint8Array(crypto.privateEncrypt({ key: priv, padding: crypto.constants.RSA_NO_PADDING }, padded));
      }
      if (data) return new Uint8Array(crypto.sign(signHash(publicKey), data, { key: priv, dsaEncoding: 'ieee-p1363' }));
      if (publicKey.curve !== 'P-256') {
        throw new OtaflashError('SIGNATURE_UNSUPPORTED', `signing a bare ${publicKey.curve} digest with a PEM key is not supported; pass the signed bytes`, { curve: publicKey.curve });
      }
      const d = bytesToBigInt(new Uint8Array(Buffer.from(priv.export({ format: 'jwk' }).d!, 'base64url')));
      const sig = signDeterministic(P256, d, digest);
      return concat(sig.r, sig.s);
    },
  };
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

// --- What an external signer returns -----------------------------------------------------------

/** ECDSA-Sig-Value (SEQUENCE { INTEGER r, INTEGER s }) to r||s, or null when it is not one. */
export function ecdsaDerToRaw(der: Uint8Array, len: number): Uint8Array | null {
  let at = 0;
  const readLen = (): number | null => {
    if (at >= der.length) return null;
    const b = der[at++];
    if (b < 0x80) return b;
    if (b === 0x81 && at < der.length && der[at] >= 0x80) return der[at++];
    return null;
  };
  if (der[at++] !== 0x30) return null;
  const seqLen = readLen();
  if (seqLen === null || at + seqLen !== der.length) return null;
  const ints: Uint8Array[] = [];
  for (let i = 0; i < 2; i++) {
    if (der[at++] !== 0x02) return null;
    const n = readLen();
    if (n === null || n === 0 || at + n > der.length) return null;
    let v = der.subarray(at, at + n);
    at += n;
    if (v[0] & 0x80) return null; // negative
    while (v.length > 1 && v[0] === 0) v = v.subarray(1);
    if (v.length > len) return null;
    ints.push(v);
  }
  if (at !== der.length) return null;
  const out = new Uint8Array(2 * len);
  out.set(ints[0], len - ints[0].length);
  out.set(ints[1], 2 * len - ints[1].length);
  return out;
}

/**
 * The signature an external signer wrote, as raw bytes of the block's form: RSA exactly the modulus
 * length; ECDSA r||s of exactly 2·len bytes, or DER (what OpenSSL and most HSM tools write).
 */
export function normaliseSignature(out: Uint8Array, key: SecureBootPublicKey, from: string): Uint8Array {
  const want = rawSignatureLength(key);
  if (out.length === want) return out;
  if (key.kind === 'ecdsa') {
    const raw = ecdsaDerToRaw(out, CURVE_BYTES[key.curve]);
    if (raw) return raw;
  }
  throw new OtaflashError('SIGN_BAD_SIGNATURE', `${from} returned ${out.length} bytes; a ${signAlgorithm(key)} signature is ${want} raw bytes${key.kind === 'ecdsa' ? ' (r||s) or DER' : ''}`, { got: out.length, want });
}

// --- An external command ----------------------------------------------------------------------

export interface CommandSignerOptions {
  /** A shell command line (run with /bin/sh -c). */
  readonly command: string;
  readonly publicKey: SecureBootPublicKey;
  /** Milliseconds before the command is killed (default 120 s: an HSM may ask for a PIN pad or a touch). */
  readonly timeoutMs?: number;
  /** Extra environment for the command. */
  readonly env?: Record<string, string>;
}

/**
 * A signer that runs a command for each signature. The protocol (docs/secure-boot.md, "External
 * signers"): the digest, raw bytes (32, or 48 for P-384), on standard input; OTAFLASH_SIGN_ALG,
 * OTAFLASH_SIGN_HASH, OTAFLASH_SIGN_DIGEST_HEX, OTAFLASH_SIGN_KEY_TYPE (and OTAFLASH_SIGN_SALT_LEN for
 * RSA) in the environment; the signature, raw bytes, on standard output; exit status 0.
 */
export function commandSigner(opts: CommandSignerOptions): Signer {
  const { command, publicKey } = opts;
  if (typeof command !== 'string' || command.trim() === '') throw new OtaflashError('SIGN_BAD_ARGUMENT', 'the sign command is empty');
  const description = `sign command ${JSON.stringify(command)}`;
  return {
    publicKey,
    description,
    sign(digest) {
      const env: Record<string, string> = {
        ...process.env as Record<string, string>,
        ...opts.env,
        OTAFLASH_SIGN_ALG: signAlgorithm(publicKey),
        OTAFLASH_SIGN_HASH: signHash(publicKey),
        OTAFLASH_SIGN_DIGEST_HEX: Buffer.from(digest).toString('hex'),
        OTAFLASH_SIGN_KEY_TYPE: publicKey.type,
      };
      if (publicKey.kind === 'rsa') env.OTAFLASH_SIGN_SALT_LEN = String(PSS_SALT);
      const r = spawnSync('/bin/sh', ['-c', command], { input: Buffer.from(digest), env, timeout: opts.timeoutMs ?? 120000, maxBuffer: 1 << 16 });
      // EPIPE: the command exited without reading the digest (it may use OTAFLASH_SIGN_DIGEST_HEX);
      // its exit status and output still decide.
      const code = r.error ? (r.error as NodeJS.ErrnoException).code : undefined;
      if (r.error && code !== 'EPIPE') throw new OtaflashError('SIGN_COMMAND_FAILED', `${description} could not run: ${r.error.message}`, { command });
      const stderr = r.stderr ? r.stderr.toString('utf8').trim().slice(0, 2000) : '';
      if (r.signal) throw new OtaflashError('SIGN_COMMAND_FAILED', `${description} was ended by ${r.signal}${stderr ? `: ${stderr}` : ''}`, { command, signal: r.signal });
      if (r.status !== 0) throw new OtaflashError('SIGN_COMMAND_FAILED', `${description} exited with status ${r.status}${stderr ? `: ${stderr}` : ''}`, { command, status: r.status });
      return normaliseSignature(new Uint8Array(r.stdout), publicKey, description);
    },
  };
}

// --- PKCS#11 through OpenSC's pkcs11-tool -----------------------------------------------------

export interface Pkcs11SignerOptions {
  /** The PKCS#11 module (e.g. /usr/lib/softhsm/libsofthsm2.so, or an HSM vendor's library). */
  readonly module: string;
  /**
   * The private key's CKA_ID, hex. Required: pkcs11-tool 0.23 with SoftHSM2 fails ECDSA signing
   * (C_SignUpdate, CKR_OPERATION_NOT_INITIALIZED) when the key is chosen by label alone.
   */
  readonly id: string;
  /** The key's CKA_LABEL, to narrow the choice further. */
  readonly label?: string;
  /** The token's label; without it, pkcs11-tool's first slot with a token. */
  readonly tokenLabel?: string;
  /** The user PIN; without it, OTAFLASH_PKCS11_PIN from the environment. */
  readonly pin?: string;
  readonly publicKey: SecureBootPublicKey;
  /** pkcs11-tool's path (default: found on PATH). */
  readonly tool?: string;
}

function shellQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/**
 * The pkcs11-tool command line that signs a digest read from standard input, as `--sign-cmd` runs
 * it: mechanism ECDSA (the token returns r||s), or RSA-PKCS-PSS with SHA-256, MGF1-SHA256 and salt 32
 * (the token applies PSS to the digest it is given). The PIN stays in the environment
 * (OTAFLASH_PKCS11_PIN, read by pkcs11-tool's `--pin env:NAME`, OpenSC 0.21 and later), never on a
 * command line where `ps` would show it.
 */
export function pkcs11ToolCommand(opts: Omit<Pkcs11SignerOptions, 'pin' | 'publicKey'> & { rsa: boolean }): string {
  if (!opts.id || !/^([0-9a-fA-F]{2})+$/.test(opts.id)) throw new OtaflashError('SIGN_BAD_ARGUMENT', `a PKCS#11 key id is hex bytes (CKA_ID), got ${JSON.stringify(opts.id)}`);
  const args = [opts.tool ?? 'pkcs11-tool', '--module', opts.module];
  if (opts.tokenLabel) args.push('--token-label', opts.tokenLabel);
  args.push('--id', opts.id);
  if (opts.label) args.push('--label', opts.label);
  args.push('--sign');
  if (opts.rsa) args.push('--mechanism', 'RSA-PKCS-PSS', '--hash-algorithm', 'SHA256', '--mgf', 'MGF1-SHA256', '--salt-len', String(PSS_SALT));
  else args.push('--mechanism', 'ECDSA');
  // pkcs11-tool talks on stdout too ("Using slot ..."): the signature goes through a private file.
  return `d=$(mktemp -d) && trap 'rm -rf "$d"' EXIT && cat > "$d/in" && ${args.map(shellQuote).join(' ')} --login --pin env:OTAFLASH_PKCS11_PIN --input-file "$d/in" --output-file "$d/out" >&2 && cat "$d/out"`;
}

/** A signer on a PKCS#11 token, through pkcs11-tool (Debian's opensc) and the command protocol. */
export function pkcs11Signer(opts: Pkcs11SignerOptions): Signer {
  const pin = opts.pin ?? process.env.OTAFLASH_PKCS11_PIN;
  if (!pin) throw new OtaflashError('SIGN_BAD_ARGUMENT', 'a PKCS#11 signer needs the user PIN (pin option or OTAFLASH_PKCS11_PIN)');
  if (!fs.existsSync(opts.module)) throw new OtaflashError('SIGN_BAD_ARGUMENT', `PKCS#11 module ${opts.module} does not exist`, { module: opts.module });
  const command = pkcs11ToolCommand({ ...opts, rsa: opts.publicKey.kind === 'rsa' });
  const inner = commandSigner({ command, publicKey: opts.publicKey, env: { OTAFLASH_PKCS11_PIN: pin } });
  return { publicKey: opts.publicKey, description: `PKCS#11 key id ${opts.id} in ${path.basename(opts.module)}`, sign: (d) => inner.sign(d) };
}

/** Where Debian's packages put SoftHSM2's module and pkcs11-tool (tests, docs). */
export function findSoftHsmModule(): string | null {
  const candidates = ['/usr/lib/softhsm/libsofthsm2.so', `/usr/lib/${os.arch() === 'arm64' ? 'aarch64' : 'x86_64'}-linux-gnu/softhsm/libsofthsm2.so`];
  return candidates.find((p) => fs.existsSync(p)) ?? null;
}
