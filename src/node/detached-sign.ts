// Host-side detached signing: one Secure Boot V2 block per key over the payload bytes, laid end to
// end (docs/signatures.md). The blocks are made by signBlock, the same code that signs app images,
// so the keys, key digests and external signers are the Secure Boot ones.
import * as fs from 'node:fs';
import { OtaflashError, kindOf } from '../errors';
import { SB2_BLOCK_SIZE, SB2_MAX_BLOCKS } from '../formats/secure-boot-signature';
import type { SignatureTrust } from '../formats/secure-boot-verify';
import { secureBootKeyDigest, secureBootPublicKey, signBlock } from './secure-boot-keys';
import { nodeHashes } from './hash';
import type { Signer } from './signer';

/**
 * A detached signature: 1..3 blocks of 1216 bytes, one per key, in order: a private key (PEM text or
 * bytes) or a Signer (an HSM through a command or PKCS#11, src/node/signer.ts), as for images.
 */
export function signDetached(payload: Uint8Array, keyPems: readonly (string | Uint8Array | Signer)[]): Uint8Array {
  if (!(payload instanceof Uint8Array)) throw new OtaflashError('SIGNATURE_BAD_ARGUMENT', `the payload to sign must be a Uint8Array, got ${kindOf(payload)}`);
  if (!Array.isArray(keyPems) || keyPems.length === 0) throw new OtaflashError('SIGN_NO_KEY', 'a detached signature needs at least one key');
  if (keyPems.length > SB2_MAX_BLOCKS) {
    throw new OtaflashError('SIGN_TOO_MANY_BLOCKS', `a detached signature holds up to ${SB2_MAX_BLOCKS} blocks, got ${keyPems.length} keys`, { keys: keyPems.length });
  }
  const out = new Uint8Array(keyPems.length * SB2_BLOCK_SIZE);
  keyPems.forEach((k, i) => out.set(signBlock(payload, k, nodeHashes), i * SB2_BLOCK_SIZE));
  return out;
}

/** Reads PEM key files (private keys to sign with). */
export function readKeyFiles(paths: readonly string[]): string[] {
  return paths.map((p) => {
    try {
      return fs.readFileSync(p, 'utf8');
    } catch (e) {
      throw new OtaflashError('KEY_NOT_FOUND', `cannot read key file ${p}: ${(e as Error).message}`, { path: p });
    }
  });
}

/**
 * Trust built on the host from public (or private) key PEMs and/or key digests in hex (as
 * `otaflash key digest` prints them and eFuse holds them).
 */
export function trustFromKeys(opts: { pubkeys?: readonly (string | Uint8Array)[]; keyDigestsHex?: readonly string[]; revokedHex?: readonly string[] }): SignatureTrust {
  const keyDigests: Uint8Array[] = [];
  for (const pem of opts.pubkeys || []) keyDigests.push(secureBootKeyDigest(secureBootPublicKey(pem), nodeHashes));
  for (const h of opts.keyDigestsHex || []) keyDigests.push(digestFromHex(h));
  return { keyDigests, revokedDigests: (opts.revokedHex || []).map(digestFromHex) };
}

function digestFromHex(h: string): Uint8Array {
  const t = String(h).trim().toLowerCase();
  if (!/^([0-9a-f]{64}|[0-9a-f]{32})$/.test(t)) throw new OtaflashError('SIGNATURE_BAD_ARGUMENT', `a key digest is 64 hex digits (32 for ESP32-C2), got ${JSON.stringify(h)}`);
  return new Uint8Array(Buffer.from(t, 'hex'));
}
