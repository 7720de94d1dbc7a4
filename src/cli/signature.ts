// `otaflash image sign | image verify | key digest | key generate`: ESP Secure Boot signatures on the
// host, laid out as espsecure 5.3.1 does and checked as ESP-IDF's app-side code does.
import * as fs from 'node:fs';
import { createHash } from 'node:crypto';
import { OtaflashError } from '../errors';
import type { IncrementalHash } from '../hash/types';
import { chipIdFromName, chipName } from '../formats/chips';
import { inspectImage } from '../formats/app-image-verify';
import { verifyImageSignature, type SignatureVerdict } from '../formats/secure-boot-verify';
import { espsecureVerdict, type EspsecureKey, type EspsecureOutcome } from '../formats/secure-boot-espsecure';
import { nodeHashes } from '../node/hash';
import { createNodeSignatureVerifier } from '../node/signature-verifier';
import { generateSecureBootKey, secureBootKeyDigest, secureBootPublicKey, signImageV1, signImageV2, type SecureBootKeyType, type SecureBootPublicKey } from '../node/secure-boot-keys';
import { CliError, type Command, parseArgs, readInput, writeOutput } from './io';

const sha384 = (): IncrementalHash => {
  const h = createHash('sha384');
  const api: IncrementalHash = {
    update(d) {
      h.update(d);
      return api;
    },
    digest: () => new Uint8Array(h.digest()),
  };
  return api;
};

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

Signs IMAGE for ESP Secure Boot, laid out exactly as 'espsecure sign-data':
  V2 (default): pads the image with 0xFF to a 4 KiB boundary and adds a 4 KiB signature sector with
  one block per key (RSA-3072, ECDSA P-192, P-256 or P-384; up to three). RSA-PSS and ECDSA
  signatures are randomized, so only the signature bytes differ from espsecure's.
  V1 (ESP32): appends 68 bytes (version word 0, ECDSA P-256 r and s big-endian). espsecure signs V1
  deterministically (RFC 6979); ours uses a random nonce, so r and s differ but verify the same.

  --key FILE...  private key(s) in PEM; several after one --key, or --key repeated
  --out OUT      the signed file
  --append       keep the blocks already in IMAGE's last sector and add after them (IMAGE's length
                 must be a multiple of 4096, as espsecure --append-signatures requires)
  --version 1|2  Secure Boot version (default 2)
Keys stay on this host. Exit 0 when written, 2 on bad input.`;

export const imageSignCommand: Command = {
  summary: 'sign an image for ESP Secure Boot (V2 blocks or V1), laid out as espsecure sign-data',
  help: SIGN_HELP,
  run(argv, io) {
    const { rest, keys } = takeKeys(argv);
    // 'key' is taken by takeKeys() above; listed here so the unknown-option message names it.
    const args = parseArgs(rest, { values: ['out', 'version', 'o', 'key'], booleans: ['append'] });
    if (args.positional.length !== 1) throw new CliError('expected one IMAGE');
    if (keys.length === 0) throw new CliError('--key KEY.pem is required');
    const out = (args.flags.out ?? args.flags.o) as string | undefined;
    if (typeof out !== 'string') throw new CliError('--out OUT is required');
    const version = args.flags.version === undefined ? '2' : String(args.flags.version);
    if (version !== '1' && version !== '2') throw new CliError(`--version must be 1 or 2, got '${version}'`);
    const image = readInput(args.positional[0], 'image');
    const pems = keys.map((k) => readText(k, 'key'));
    let signed: Uint8Array;
    if (version === '1') {
      if (pems.length !== 1) throw new CliError('Secure Boot V1 signs with exactly one key');
      if (args.flags.append) throw new CliError('--append is for Secure Boot V2');
      signed = signImageV1(image, pems[0]);
    } else {
      signed = signImageV2(image, { keys: pems, append: args.flags.append === true, hashes: nodeHashes });
    }
    writeOutput(out, signed, io);
    io.stderr(`signed ${args.positional[0]} with ${keys.length} key(s) (Secure Boot V${version}): ${out}, ${signed.length} bytes\n`);
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
      sha384,
      chip,
      scheme: scheme as 'rsa' | 'ecdsa' | undefined,
      curve: curve as 'P-256' | undefined,
    });
    // espsecure's answer per public key (V2 only): it knows no digests, chips or revocation.
    const espsecure = v.version === 2
      ? pubs.map((k, i) => {
          const answer = espsecureVerdict(bytes, espsecureKey(k), verifier, nodeHashes, sha384);
          const ours = verifyImageSignature(bytes, { trust: { keyDigests: [secureBootKeyDigest(k, nodeHashes)] }, verifier, hashes: nodeHashes, sha384, chip });
          return { key: pubPaths[i], answer, agrees: (answer.outcome === 'valid') === ours.valid };
        })
      : [];
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
