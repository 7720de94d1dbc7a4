// otaflash delta package | sign | verify: making delta packages (a patch per source image, maybe
// the full image), signing them (a detached signature over the index, docs/delta.md "Signed
// packages") and checking a package's signature on the host.
import { createHash } from 'node:crypto';
import { decodeAppDescription } from '../formats/app-image-desc';
import { createDeltaPatchDetailed, type DeltaCreateCompression } from '../delta/generate';
import { decodeDeltaPackageIndex, encodeDeltaPackage, isDeltaPackage, sha256Hex, signDeltaPackage } from '../delta/package';
import { checkDeltaPackageSignature } from '../delta/package-signature';
import { readKeyFiles, signDetached, trustFromKeys } from '../node/detached-sign';
import { createNodeSignatureVerifier } from '../node/signature-verifier';
import { nodeHashes, nodeSha384 } from '../node/hash';
import type { SignatureTrust } from '../formats/secure-boot-verify';
import { printJson, prefixErrors } from './flash';
import { CliError, type CliIo, type Command, parseArgs, readInput, writeOutput } from './io';
import { formatBytes } from './progress';

const sha256 = (b: Uint8Array) => new Uint8Array(createHash('sha256').update(b).digest());

/** The version an app image's esp_app_desc_t gives (right after the first segment header), or ''. */
function appVersion(image: Uint8Array): string {
  const d = image.length >= 32 + 256 && image[0] === 0xe9 ? decodeAppDescription(image.subarray(32, 32 + 256)) : null;
  return d ? d.version : '';
}

function outputFlag(flags: Record<string, string | true>, what: string): string {
  const out = flags.output ?? flags.o;
  if (typeof out !== 'string') throw new CliError(`${what} needs -o FILE (where to write the package)`);
  return out;
}

/** `--pubkey PUB.pem` and `--key-digest HEX` (each repeatable, `--revoked HEX` too) as trust; null when none given. */
export function trustFlags(lists: Record<string, string[]>): SignatureTrust | null {
  const pubs = lists.pubkey ?? [];
  const digests = lists['key-digest'] ?? [];
  if (pubs.length === 0 && digests.length === 0) {
    if ((lists.revoked ?? []).length > 0) throw new CliError('--revoked needs trusted keys (--pubkey or --key-digest) beside it');
    return null;
  }
  return trustFromKeys({ pubkeys: readKeyFiles(pubs), keyDigestsHex: digests, revokedHex: lists.revoked ?? [] });
}

const COMPRESSIONS: readonly DeltaCreateCompression[] = ['lzma', 'heatshrink', 'none'];

export const deltaPackageCommand: Command = {
  summary: 'make a delta package: patches from several old images to one new image, maybe signed',
  help: `Usage: otaflash delta package NEW [OLD ...] -o PKG [--full] [--sign KEY.pem ...]
                               [--compression lzma|heatshrink|none] [--json]

Makes a delta package (docs/delta.md): one detools sequential patch from each OLD image to NEW,
keyed by the old image's SHA-256, and with --full the whole NEW image for devices running none of
them. Versions come from the images' app descriptions. 'delta apply' and DeltaPackageUpdate pick
the patch for the running image.

  --output PKG (-o)  where to write the package
  --full             include the full new image (a fallback; at least one of OLD or --full)
  --sign KEY.pem     sign the package's index with this Secure Boot private key (RSA-3072 or
                     ECDSA); repeat for up to 3 keys. Devices configured with trusted keys refuse
                     unsigned packages
  --compression C    patch compression: lzma (default), heatshrink or none
  --json             print what was made as JSON`,
  run(argv: string[], io: CliIo): number {
    const normalised = argv.map((a) => (a === '-o' ? '--output' : a));
    const args = parseArgs(normalised, { values: ['output', 'compression'], booleans: ['full', 'json'], repeat: ['sign'] });
    if (args.positional.length < 1) throw new CliError('delta package needs NEW (and OLD images, or --full)');
    const out = outputFlag(args.flags, 'delta package');
    const full = args.flags.full === true;
    if (args.positional.length === 1 && !full) throw new CliError('delta package needs at least one OLD image, or --full');
    const compression = (args.flags.compression ?? 'lzma') as DeltaCreateCompression;
    if (!COMPRESSIONS.includes(compression)) throw new CliError(`--compression must be lzma, heatshrink or none, got '${String(compression)}'`);
    const keys = args.lists.sign ? readKeyFiles(args.lists.sign) : [];
    const [newPath, ...oldPaths] = args.positional;
    const nu = readInput(newPath, 'new image');
    const patches = oldPaths.map((p) => {
      const old = readInput(p, 'old image');
      io.stderr(`delta package: patch from ${p}...\n`);
      return { sourceSha256: sha256(old), sourceSize: old.length, sourceVersion: appVersion(old), patch: createDeltaPatchDetailed(old, nu, { compression }).patch };
    });
    const pkg = encodeDeltaPackage({
      targetVersion: appVersion(nu),
      targetSha256: sha256(nu),
      targetSize: nu.length,
      patches,
      fullImage: full ? nu : undefined,
      sign: keys.length > 0 ? (index) => signDetached(index, keys) : undefined,
    });
    writeOutput(out, pkg, io);
    const idx = decodeDeltaPackageIndex(pkg, pkg.length);
    if (args.flags.json) {
      printJson(io, {
        file: out,
        size: pkg.length,
        targetVersion: idx.targetVersion,
        targetSha256: sha256Hex(idx.targetSha256),
        fullImage: full,
        signed: idx.signature !== null,
        signatureBlocks: idx.signature ? idx.signature.length / 1216 : 0,
        patches: idx.patches.map((e, i) => ({ from: oldPaths[i], sourceVersion: e.sourceVersion, sourceSha256: sha256Hex(e.sourceSha256), patchSize: e.patchSize })),
      });
    } else {
      io.stdout(`${out}: ${pkg.length} bytes (${formatBytes(pkg.length)}), ${patches.length} patch(es)${full ? ' and the full image' : ''}, ${keys.length > 0 ? `signed with ${keys.length} key(s)` : 'unsigned'}\n`);
    }
    return 0;
  },
};

export const deltaSignCommand: Command = {
  summary: 'sign a delta package (replacing any signature it has)',
  help: `Usage: otaflash delta sign PKG --key KEY.pem [--key KEY2.pem ...] -o OUT

Adds a detached signature (1 to 3 Secure Boot V2 blocks, one per key) over the package's index,
which holds the target image's size and SHA-256. A signature already there is replaced; the
patches and the full image stay byte for byte.

  --key KEY.pem      a Secure Boot private key (RSA-3072 or ECDSA); repeat for up to 3 blocks
  --output OUT (-o)  where to write the signed package ('-' for stdout)`,
  run(argv, io) {
    const normalised = argv.map((a) => (a === '-o' ? '--output' : a));
    const args = parseArgs(normalised, { values: ['output'], repeat: ['key'] });
    if (args.positional.length !== 1) throw new CliError('delta sign needs one PKG');
    const out = outputFlag(args.flags, 'delta sign');
    const keyFiles = args.lists.key ?? [];
    if (keyFiles.length === 0) throw new CliError('delta sign needs --key KEY.pem (a Secure Boot private key)');
    const keys = readKeyFiles(keyFiles);
    const file = args.positional[0];
    const pkg = readInput(file, 'package');
    if (!isDeltaPackage(pkg)) throw new CliError(`${file} is not a delta package (no "ODPK" magic)`);
    const signed = prefixErrors(file, () => signDeltaPackage(pkg, (index) => signDetached(index, keys)));
    writeOutput(out, signed, io);
    if (out !== '-') io.stdout(`${out}: ${signed.length} bytes, signed with ${keys.length} key(s)\n`);
    return 0;
  },
};

export const deltaVerifyCommand: Command = {
  summary: 'check a delta package\'s signature against trusted keys',
  help: `Usage: otaflash delta verify PKG (--pubkey PUB.pem | --key-digest HEX) ... [--revoked HEX ...] [--json]

Checks the package's index (CRC, layout) and its signature as a device configured with these
trusted keys would, before writing anything: valid when one block from a trusted, unrevoked key
verifies. Key digests are what 'otaflash key digest' prints and eFuse holds. The patches are not
checked here: on a device the image they make is held to the signed target SHA-256.

Exit status: 0 valid, 1 unsigned or not verifying, 2 unusable input.`,
  run(argv, io) {
    const args = parseArgs(argv, { booleans: ['json'], repeat: ['pubkey', 'key-digest', 'revoked'] });
    if (args.positional.length !== 1) throw new CliError('delta verify needs one PKG');
    const trust = prefixErrors('trusted keys', () => trustFlags(args.lists));
    if (!trust) throw new CliError('delta verify needs trusted keys: --pubkey PUB.pem or --key-digest HEX');
    const file = args.positional[0];
    const pkg = readInput(file, 'package');
    const idx = prefixErrors(file, () => decodeDeltaPackageIndex(pkg, pkg.length));
    const v = checkDeltaPackageSignature(pkg, idx, { trust, verifier: createNodeSignatureVerifier(nodeHashes), hashes: nodeHashes, sha384: nodeSha384 });
    const valid = v !== null && v.valid;
    if (args.flags.json) {
      printJson(io, {
        file,
        signed: v !== null,
        valid,
        reason: v ? v.reason : 'not signed',
        targetVersion: idx.targetVersion,
        targetSha256: sha256Hex(idx.targetSha256),
        blocks: v ? v.blocks.map((b) => ({ index: b.index, status: b.status, reason: b.reason, keyDigest: b.keyDigest ? sha256Hex(b.keyDigest) : null })) : [],
      });
    } else if (!v) io.stdout(`${file}: not signed\n`);
    else {
      io.stdout(`${file}: signature ${valid ? 'valid' : 'NOT valid'}: ${v.reason}\n`);
      for (const b of v.blocks) io.stdout(`  block ${b.index}: ${b.status}${b.keyDigest ? ` (key digest ${sha256Hex(b.keyDigest)})` : ''}\n`);
    }
    return valid ? 0 : 1;
  },
};

