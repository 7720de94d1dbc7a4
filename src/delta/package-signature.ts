// Signed delta packages on the device: the signature covers the index (bytes [0, H)), which holds
// the target image's size and SHA-256 and every source's SHA-256. It is checked as soon as the
// header has arrived, before a patch is chosen or a byte erased; the body is bound later, when the
// image it produced is hashed against the signed target SHA-256 (docs/delta.md, "Signed packages").
import { OtaflashError } from '../errors';
import { verifyDetachedSignature, type DetachedVerifyOptions } from '../formats/detached-signature';
import type { SignatureVerdict } from '../formats/secure-boot-verify';
import type { DeltaPackageIndex } from './package';

/** What a device that trusts keys passes: the trust, and optionally a verifier and a SHA-384. */
export type PackageSignatureOptions = DetachedVerifyOptions;

/** The verdict for a package's signature, or null when the package is unsigned. Never throws for a bad signature. */
export function checkDeltaPackageSignature(header: Uint8Array, index: DeltaPackageIndex, opts: PackageSignatureOptions): SignatureVerdict | null {
  if (!index.signature) return null;
  return verifyDetachedSignature(header.subarray(0, index.indexLength), index.signature, opts);
}

/**
 * Refuses an unsigned package (SIGNATURE_REQUIRED) and one whose signature does not verify with a
 * trusted key (DELTA_SIGNATURE_INVALID, with each block's reason); returns the verdict otherwise.
 */
export function requireDeltaPackageSignature(header: Uint8Array, index: DeltaPackageIndex, opts: PackageSignatureOptions): SignatureVerdict {
  const v = checkDeltaPackageSignature(header, index, opts);
  if (!v) throw new OtaflashError('SIGNATURE_REQUIRED', 'the delta package is not signed, and this device accepts only packages signed by a trusted key; nothing was written');
  if (!v.valid) {
    throw new OtaflashError('DELTA_SIGNATURE_INVALID', `the delta package's signature does not verify with a trusted key (${v.reason}); nothing was written`, {
      blocks: v.blocks.map((b) => ({ index: b.index, status: b.status, reason: b.reason })),
    });
  }
  return v;
}
