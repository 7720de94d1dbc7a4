// Signed manifests: a top-level "signature" field holding a detached signature (Secure Boot V2
// blocks, base64) over the manifest's canonical bytes: the manifest without that field, written as
// Pycom's server writes JSON (json.dumps(sort_keys=True, indent=4), pythonJsonDumps), in UTF-8.
// The client re-encodes what it parsed, so the signature covers exactly the value it acts on;
// Pycom's client ignores keys it does not know. docs/manifest.md "Signed manifests".
import { OtaflashError, kindOf } from '../errors';
import { decodeSignatureText, encodeSignatureText, verifyDetachedSignature, type DetachedVerifyOptions } from '../formats/detached-signature';
import type { SignatureVerdict } from '../formats/secure-boot-verify';
import { utf8Encode } from '../formats/utf8';
import { pythonJsonDumps, type JsonValue } from './python-json';

export const MANIFEST_SIGNATURE_FIELD = 'signature';

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** The bytes a manifest's signature covers: the manifest without "signature", as pythonJsonDumps writes it. */
export function manifestSignedBytes(manifest: unknown): Uint8Array {
  if (!isObject(manifest)) throw new OtaflashError('MANIFEST_INVALID', `only a manifest object can be signed, got ${kindOf(manifest)}`);
  const copy: Record<string, JsonValue> = {};
  for (const k in manifest) if (Object.prototype.hasOwnProperty.call(manifest, k) && k !== MANIFEST_SIGNATURE_FIELD) copy[k] = manifest[k] as JsonValue;
  return utf8Encode(pythonJsonDumps(copy));
}

/** A copy of the manifest with "signature" set to `sign(manifestSignedBytes(manifest))` in base64. */
export function signManifestValue(manifest: unknown, sign: (signed: Uint8Array) => Uint8Array): Record<string, unknown> {
  const bytes = manifestSignedBytes(manifest);
  const out: Record<string, unknown> = Object.assign({}, manifest as Record<string, unknown>);
  out[MANIFEST_SIGNATURE_FIELD] = encodeSignatureText(sign(bytes));
  return out;
}

/**
 * The verdict for a decoded manifest's signature; null when it has none (or is null). A signature
 * field that is not base64 of 1..3 blocks is MANIFEST_SIGNATURE_INVALID.
 */
export function checkManifestSignature(manifest: unknown, opts: DetachedVerifyOptions): SignatureVerdict | null {
  if (!isObject(manifest) || manifest[MANIFEST_SIGNATURE_FIELD] === undefined) return null;
  const text = manifest[MANIFEST_SIGNATURE_FIELD];
  let sig: Uint8Array;
  try {
    sig = decodeSignatureText(text as string);
    return verifyDetachedSignature(manifestSignedBytes(manifest), sig, opts);
  } catch (e) {
    if (e instanceof OtaflashError && (e.code === 'SIGNATURE_BAD_TEXT' || e.code === 'SIGNATURE_BAD_LENGTH' || e.code === 'SIGNATURE_EMPTY')) {
      throw new OtaflashError('MANIFEST_SIGNATURE_INVALID', `the manifest's signature field is not a signature: ${e.message} (nothing was written)`, { cause: e.code });
    }
    throw e;
  }
}

/**
 * With trusted keys: a manifest must carry a signature from one of them. A null manifest ("nothing
 * to do") needs none: it changes nothing. Unsigned: SIGNATURE_REQUIRED; not verifying:
 * MANIFEST_SIGNATURE_INVALID with each block's reason.
 */
export function requireManifestSignature(manifest: unknown, opts: DetachedVerifyOptions): SignatureVerdict | null {
  if (manifest === null) return null;
  const v = checkManifestSignature(manifest, opts);
  if (!v) throw new OtaflashError('SIGNATURE_REQUIRED', 'the manifest is not signed, and this device accepts only manifests signed by a trusted key (nothing was written)');
  if (!v.valid) {
    throw new OtaflashError('MANIFEST_SIGNATURE_INVALID', `the manifest's signature does not verify with a trusted key (${v.reason}); nothing was written`, {
      blocks: v.blocks.map((b) => ({ index: b.index, status: b.status, reason: b.reason })),
    });
  }
  return v;
}
