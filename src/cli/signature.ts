// `otaflash image sign | image verify | key digest | key generate`: ESP Secure Boot signatures on the
// host, laid out as espsecure 5.3.1 does and checked as ESP-IDF's app-side code does.
import * as fs from 'node:fs';
import { createHash } from 'node:crypto';
import { OtaflashError } from '../errors';
import { chipIdFromName, chipName } from '../formats/chips';
import { inspectImage } from '../formats/app-image-verify';
import { SB1_BLOCK_SIZE, decodeSignatureV1 } from '../formats/secure-boot-signature';
import { verifyImageSignature, type SignatureVerdict } from '../formats/secure-boot-verify';
import { espsecureVerdict, type EspsecureKey, type EspsecureOutcome } from '../formats/secure-boot-espsecure';
import { nodeHashes, nodeSha384 } from '../node/hash';
import { createNodeSignatureVerifier } from '../node/signature-verifier';
import { generateSecureBootKey, secureBootKeyDigest, secureBootPublicKey, signImageV1, signImageV2, type SecureBootKeyType, type SecureBootPublicKey } from '../node/secure-boot-keys';
import { commandSigner, pkcs11Signer, type Signer } from '../node/signer';
import { CliError, type Command, parseArgs, readInput, writeOutput } from './io';

const hexOf = (b: Uint8Array) => Buffer.from(b).toString('hex');

function readText(path: string, what: string): string {
  return Buffer.from(readInput(path, what, 1 << 20)).toString('utf8');
}

function loadPublic(path: string): SecureBootPublicKey {
  try {
    return secureBootPublicKey(readText(path, 'key'));
  } catch (e) {
    if (e instanceof OtaflashError) throw new OtaflashError(e.code, `${path}: ${e.message}`, e.info as Record<string, unknown>);
    throw e;
  }
}

function espsecureKey(k: SecureBootPublicKey): EspsecureKey {
  return k.kind === 'rsa' ? { kind: 'rsa', n: k.key.n, e: k.key.e } : { kind: 'ecdsa', curve: k.curve, x: k.x, y: k.y };
}

/** `--key A.pem B.pem` and `--key A.pem --key B.pem` both mean two keys: collect them before parseArgs. */
function takeKeys(argv: string[]): { rest: string[]; keys: string[] } {
  const rest: string[] = [];
  const keys: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--key' || a === '--keyfile') {
      let j = i + 1;
      while (j < argv.length && !argv[j].startsWith('-')) keys.push(argv[j++]);
      if (j === i + 1) throw new CliError(`option ${a} needs a key file`);
      // The image is the first positional: `image sign --key K IMAGE` is ambiguous, so keys end at the
      // next option; with the image after --key, put it first.
      i = j - 1;
    } else if (a.startsWith('--key=')) keys.push(a.slice(6));
    else rest.push(a);
  }
  return { rest, keys };
}

const SIGN_HELP = `Usage: otaflash image sign IMAGE --key KEY.pem [KEY2.pem KEY3.pem] --out OUT [--append] [--version 1|2]
       otaflash image sign IMAGE --sign-cmd "CMD ..." --pubkey PUB.pem --out OUT [...]
       otaflash image sign IMAGE --pkcs11-module LIB.so --pkcs11-id HEX [--pkcs11-token LABEL] --pubkey PUB.pem --out OUT [...]

Signs IMAGE for ESP Secure Boot, laid out exactly as 'espsecure sign-data':
  V2 (default): pads the image with 0xFF to a 4 KiB boundary and adds a 4 KiB signature sector with
  one block per key (RSA-3072, ECDSA P-192, P-256 or P-384; up to three). RSA-PSS and ECDSA
  signatures are randomized, so only the signature bytes differ from espsecure's.
  V1 (ESP32): appends 68 bytes (version word 0, ECDSA P-256 r and s big-endian). With a PEM key the
  nonce is RFC 6979's, as espsecure's, so the file equals espsecure's byte for byte.

  --key FILE...         private key(s) in PEM; several after one --key, or --key repeated
  --sign-cmd CMD        an external signer (HSM tool, signing service), run with /bin/sh -c for each
                        signature; repeatable, each paired with the next --pubkey. It gets the digest
                        (32 raw bytes, 48 for P-384) on stdin and OTAFLASH_SIGN_ALG
                        (rsa-pss-sha256 | ecdsa-p256-sha256 | ecdsa-p192-sha256 | ecdsa-p384-sha384),
                        OTAFLASH_SIGN_HASH, OTAFLASH_SIGN_DIGEST_HEX, OTAFLASH_SIGN_KEY_TYPE and, for
                        RSA, OTAFLASH_SIGN_SALT_LEN=32 in its environment; it writes the signature to
                        stdout (RSA-PSS: 384 raw bytes; ECDSA: raw r||s or DER) and exits 0.
  --pkcs11-module LIB   sign on a PKCS#11 token through OpenSC's pkcs11-tool (mechanism ECDSA, or
  --pkcs11-id HEX       RSA-PKCS-PSS with SHA-256, MGF1-SHA256, salt 32); the key is chosen by its
  --pkcs11-token LABEL  CKA_ID (and the token by label); the PIN is read from OTAFLASH_PKCS11_PIN
  --pubkey FILE         the public key of each external signer (fills the block's key fields); every
                        signature returned is verified with it before anything is written
  --out OUT             the signed file
  --append              keep the blocks already in IMAGE's last sector and add after them (IMAGE's
                        length must be a multiple of 4096, as espsecure --append-signatures requires)
  --version 1|2         Secure Boot version (default 2)
Blocks are made in this order: --key files, then --sign-cmd signers, then the PKCS#11 key.
Keys stay on this host. Exit 0 when written, 2 on bad input or when a signer fails or answers with a
signature that does not verify.`;

function externalSigners(args: { flags: Record<string, string | true>; lists: Record<string, string[]> }): Signer[] {
  const cmds = args.lists['sign-cmd'] ?? [];
  const pubPaths = args.lists.pubkey ?? [];
  const module = args.flags['pkcs11-module'];
  const id = args.flags['pkcs11-id'];
  const token = args.flags['pkcs11-token'];
  const wantPkcs11 = module !== undefined || id !== undefined || token !== undefined;
  if (wantPkcs11 && (typeof module !== 'string' || typeof id !== 'string')) throw new CliError('PKCS#11 signing needs both --pkcs11-module LIB and --pkcs11-id HEX');
  const needed = cmds.length + (wantPkcs11 ? 1 : 0);
  if (pubPaths.length !== needed) {
    throw new CliError(`${needed === 0 ? '--pubkey is only for --sign-cmd or --pkcs11-module' : `give one --pubkey per external signer: ${needed} signer(s), ${pubPaths.length} --pubkey`}`);
  }
  const pubs = pubPaths.map(loadPublic);
  const signers: Signer[] = cmds.map((command, i) => commandSigner({ command, publicKey: pubs[i] }));
  if (wantPkcs11) {
    signers.push(pkcs11Signer({ module: module as string, id: id as string, tokenLabel: typeof token === 'string' ? token : undefined, publicKey: pubs[pubs.length - 1] }));
  }
  return signers;
}

export const imageSignCommand: Command = {
  summary: 'sign an image for ESP Secure Boot (V2 blocks or V1), laid out as espsecure sign-data',
  help: SIGN_HELP,
  run(argv, io) {
    const { rest, keys } = takeKeys(argv);
    // 'key' is taken by takeKeys() above; listed here so the unknown-option message names it.
    const args = parseArgs(rest, { values: ['out', 'version', 'o', 'key', 'pkcs11-module', 'pkcs11-id', 'pkcs11-token'], booleans: ['append'], repeat: ['sign-cmd', 'pubkey'] });
    if (args.positional.length !== 1) throw new CliError('expected one IMAGE');
    const out = (args.flags.out ?? args.flags.o) as string | undefined;
    if (typeof out !== 'string') throw new CliError('--out OUT is required');
    const version = args.flags.version === undefined ? '2' : String(args.flags.version);
    if (version !== '1' && version !== '2') throw new CliError(`--version must be 1 or 2, got '${version}'`);
    const external = externalSigners(args);
    if (keys.length === 0 && external.length === 0) throw new CliError('--key KEY.pem (or --sign-cmd / --pkcs11-module with --pubkey) is required');
    const image = readInput(args.positional[0], 'image');
    const signers: (string | Signer)[] = [...keys.map((k) => readText(k, 'key')), ...external];
    let signed: Uint8Array;
    if (version === '1') {
      if (signers.length !== 1) throw new CliError('Secure Boot V1 signs with exactly one key');
      if (args.flags.append) throw new CliError('--append is for Secure Boot V2');
      signed = signImageV1(image, signers[0]);
    } else {
      signed = signImageV2(image, { keys: signers, append: args.flags.append === true, hashes: nodeHashes });
    }
    writeOutput(out, signed, io);
    io.stderr(`signed ${args.positional[0]} with ${signers.length} key(s) (Secure Boot V${version}): ${out}, ${signed.length} bytes\n`);
    return 0;
  },
};

const VERIFY_HELP = `Usage: otaflash image verify IMAGE [--pubkey PUB.pem ...] [--key-digest HEX ...] [--revoked HEX ...]
                             [--chip CHIP|auto] [--scheme rsa|ecdsa] [--curve P-256] [--json]

Verifies IMAGE's Secure Boot signature as ESP-IDF's app-side check does: the signature sector is
found from the parsed image length (padded to 4 KiB); each block is skipped when its magic/CRC,
scheme, curve or key digest is wrong; the image is valid when one block from a trusted, unrevoked
key verifies with the key embedded in it. Secure Boot V1 (ESP32) is recognised from the image and
checked against --pubkey.

  --pubkey FILE     a trusted public (or private) key; repeatable
  --key-digest HEX  a trusted key digest as eFuse holds it (64 hex digits, or 32 for ESP32-C2); repeatable
  --revoked HEX     a revoked key digest; repeatable
  --chip CHIP|auto  apply that chip's limits (blocks read, schemes, curves); 'auto' takes the chip
                    from the image header. Without it every scheme espsecure supports is accepted.
  --scheme, --curve the project's configured scheme and ECDSA curve (ESP-IDF builds use one)
  --json            machine-readable result
Also says, per --pubkey, when 'espsecure verify-signature' 5.3.1 would answer differently.
Exit 0 only for a valid signature from a trusted key; 1 when not valid; 2 on bad input.`;

function parseDigest(h: string): Uint8Array {
  const t = h.trim().toLowerCase();
  if (!/^[0-9a-f]+$/.test(t) || (t.length !== 64 && t.length !== 32)) throw new CliError(`--key-digest '${h}' must be 64 hex digits (or 32 for ESP32-C2's 128-bit digest)`);
  return new Uint8Array(Buffer.from(t, 'hex'));
}

function verdictJson(v: SignatureVerdict, file: string, espsecure: { key: string; answer: EspsecureOutcome; agrees: boolean }[]) {
  return {
    file,
    version: v.version,
    valid: v.valid,
    reason: v.reason,
    chip: v.chip === undefined ? null : chipName(v.chip),
    imageLength: v.imageLength,
    signatureOffset: v.signatureOffset,
    verifiedBlock: v.verifiedBlock,
    blocks: v.blocks.map((b) => ({
      index: b.index,
      offset: b.offset,
      status: b.status,
      reason: b.reason,
      version: b.block ? b.block.version : null,
      keyDigest: b.keyDigest ? hexOf(b.keyDigest) : null,
      storedDigestMatches: b.storedDigestMatches,
    })),
    espsecure,
  };
}

export const imageVerifyCommand: Command = {
  summary: 'verify an image\'s Secure Boot signature as ESP-IDF does (trusted keys or eFuse digests)',
  help: VERIFY_HELP,
  run(argv, io) {
    const args = parseArgs(argv, { values: ['chip', 'scheme', 'curve'], booleans: ['json'], repeat: ['pubkey', 'key-digest', 'revoked'] });
    if (args.positional.length !== 1) throw new CliError('expected one IMAGE');
    const file = args.positional[0];
    const bytes = readInput(file, 'image');
    const pubPaths = args.lists.pubkey ?? [];
    const pubs = pubPaths.map(loadPublic);
    const digests = (args.lists['key-digest'] ?? []).map(parseDigest).concat(pubs.map((k) => secureBootKeyDigest(k, nodeHashes)));
    const revoked = (args.lists.revoked ?? []).map(parseDigest);
    if (digests.length === 0) throw new CliError('give at least one trusted key: --pubkey PUB.pem or --key-digest HEX');
    let chip: number | undefined;
    if (typeof args.flags.chip === 'string') {
      if (args.flags.chip === 'auto') {
        const r = inspectImage(bytes, { hashes: nodeHashes });
        if (!r.header || r.header.format !== 'esp32') throw new CliError('--chip auto: the image has no ESP32-family header to take the chip from');
        chip = r.header.chipId;
      } else {
        chip = chipIdFromName(args.flags.chip);
        if (chip === undefined) throw new CliError(`--chip: unknown chip '${args.flags.chip}' (examples: esp32, esp32c3, esp32s3, auto)`);
      }
    }
    const scheme = args.flags.scheme as string | undefined;
    if (scheme !== undefined && scheme !== 'rsa' && scheme !== 'ecdsa') throw new CliError(`--scheme must be rsa or ecdsa, got '${scheme}'`);
    const curve = args.flags.curve as string | undefined;
    if (curve !== undefined && curve !== 'P-192' && curve !== 'P-256' && curve !== 'P-384') throw new CliError(`--curve must be P-192, P-256 or P-384, got '${curve}'`);
    const verifier = createNodeSignatureVerifier(nodeHashes);
    const v1Keys = pubs.filter((k) => k.kind === 'ecdsa' && k.curve === 'P-256').map((k) => ({ x: (k as { x: Uint8Array }).x, y: (k as { y: Uint8Array }).y }));
    const v = verifyImageSignature(bytes, {
      trust: { keyDigests: digests, revokedDigests: revoked, v1Keys },
      verifier,
      hashes: nodeHashes,
      sha384: nodeSha384,
      chip,
      scheme: scheme as 'rsa' | 'ecdsa' | undefined,
      curve: curve as 'P-256' | undefined,
    });
    // espsecure's answer per public key: it knows no digests, chips or revocation.
    const espsecure = v.version === 2
      ? pubs.map((k, i) => {
          const answer = espsecureVerdict(bytes, espsecureKey(k), verifier, nodeHashes, nodeSha384);
          const ours = verifyImageSignature(bytes, { trust: { keyDigests: [secureBootKeyDigest(k, nodeHashes)] }, verifier, hashes: nodeHashes, sha384: nodeSha384, chip });
          return { key: pubPaths[i], answer, agrees: (answer.outcome === 'valid') === ours.valid };
        })
      : pubs.flatMap((k, i) => {
          if (k.kind !== 'ecdsa' || k.curve !== 'P-256') return [];
          const answer = espsecureV1Verdict(bytes, k, verifier);
          const ours = verifyImageSignature(bytes, { trust: { keyDigests: [], v1Keys: [{ x: k.x, y: k.y }] }, verifier, hashes: nodeHashes, chip, version: 1, imageLength: v.imageLength });
          return [{ key: pubPaths[i], answer, agrees: (answer.outcome === 'valid') === ours.valid }];
        });
    if (args.flags.json) {
      io.stdout(JSON.stringify(verdictJson(v, file, espsecure), null, 2) + '\n');
    } else {
      const lines = [`${file}: Secure Boot V${v.version}${v.version === 2 ? `, signature sector at 0x${v.signatureOffset.toString(16)}` : `, signature at 0x${v.signatureOffset.toString(16)}`}${chip !== undefined ? `, ${chipName(chip)} limits` : ''}`];
      for (const b of v.blocks) lines.push(`  block ${b.index} @0x${b.offset.toString(16)}: ${b.status}: ${b.reason}${b.storedDigestMatches === false ? ' (stored image digest differs)' : ''}`);
      lines.push(`result: ${v.valid ? 'VALID' : 'INVALID'}: ${v.reason}`);
      for (const e of espsecure) {
        if (!e.agrees) lines.push(`note: espsecure verify-signature with ${e.key} would say ${e.answer.outcome}: ${e.answer.reason}`);
      }
      io.stdout(lines.join('\n') + '\n');
    }
    return v.valid ? 0 : 1;
  },
};

/**
 * What `espsecure verify-signature --version 1` 5.3.1 answers: it takes the file's last 68 bytes as
 * the signature (version word, r, s) and everything before them as the image, where ESP-IDF puts the
 * signature right after the parsed image; the two differ when bytes follow the signature.
 */
function espsecureV1Verdict(bytes: Uint8Array, k: SecureBootPublicKey & { kind: 'ecdsa' }, verifier: ReturnType<typeof createNodeSignatureVerifier>): EspsecureOutcome {
  if (bytes.length < SB1_BLOCK_SIZE) return { outcome: 'rejected', reason: `file shorter than the ${SB1_BLOCK_SIZE}-byte V1 signature` };
  const at = bytes.length - SB1_BLOCK_SIZE;
  const sig = decodeSignatureV1(bytes, at);
  if (sig.versionWord !== 0) return { outcome: 'rejected', reason: `signature block has version ${sig.versionWord} (the last 68 bytes of the file)` };
  const data = bytes.subarray(0, at);
  const ok = verifier.ecdsa('P-256', k.x, k.y, sig.r, sig.s, { bytes: data, digest: () => new Uint8Array(createHash('sha256').update(data).digest()) });
  return (ok ? { outcome: 'valid', reason: `signature over the first ${at} bytes is valid` } : { outcome: 'rejected', reason: `signature (the last 68 bytes) is not valid over the first ${at} bytes` });
}

const DIGEST_HELP = `Usage: otaflash key digest PUB.pem [--json]

Prints the Secure Boot V2 key digest eFuse holds for a public (or private) key: SHA-256 of the key
fields of a signature block (as 'espsecure digest-sbv2-public-key'). ESP32-C2 keeps its first 128 bits.`;

export const keyDigestCommand: Command = {
  summary: 'print the Secure Boot V2 key digest (what eFuse holds) of a PEM key',
  help: DIGEST_HELP,
  run(argv, io) {
    const args = parseArgs(argv, { booleans: ['json'] });
    if (args.positional.length !== 1) throw new CliError('expected one key file');
    const k = loadPublic(args.positional[0]);
    const d = hexOf(secureBootKeyDigest(k, nodeHashes));
    if (args.flags.json) io.stdout(JSON.stringify({ key: args.positional[0], type: k.type, digest: d, esp32c2Digest128: d.slice(0, 32) }, null, 2) + '\n');
    else io.stdout(d + '\n');
    return 0;
  },
};

const GENERATE_HELP = `Usage: otaflash key generate --type rsa3072|ecdsa256|ecdsa384|ecdsa192 --out KEY.pem (or -o KEY.pem)

Writes a new private key (PKCS#8 PEM) for tests and demos. Keep production keys in an HSM.`;

export const keyGenerateCommand: Command = {
  summary: 'generate a Secure Boot signing key (RSA-3072 or ECDSA) for tests',
  help: GENERATE_HELP,
  run(argv, io) {
    const args = parseArgs(argv, { values: ['type', 'o', 'out'] });
    const type = args.flags.type;
    const out = (args.flags.o ?? args.flags.out) as string | undefined;
    if (typeof type !== 'string' || ['rsa3072', 'ecdsa192', 'ecdsa256', 'ecdsa384'].indexOf(type) < 0) throw new CliError('--type must be rsa3072, ecdsa256, ecdsa384 or ecdsa192');
    if (typeof out !== 'string') throw new CliError('-o KEY.pem is required');
    if (args.positional.length > 0) throw new CliError(`unexpected argument '${args.positional[0]}'`);
    if (fs.existsSync(out)) throw new CliError(`${out} exists; not overwriting a key`);
    writeOutput(out, generateSecureBootKey(type as SecureBootKeyType), io);
    io.stderr(`wrote ${type} key ${out}\n`);
    return 0;
  },
};
