// The portable SignatureVerifier: RSA-PSS and ECDSA with the limb arithmetic of bignum.ts, no BigInt,
// no Node. P-384 needs a SHA-384 (the check's `sha384` option); without one its blocks report
// SIGNATURE_UNSUPPORTED.
import { defaultHashes } from '../hash/portable';
import type { HashProvider } from '../hash/types';
import type { SignatureVerifier } from '../formats/secure-boot-verify';
import { rsaPssVerify } from './rsa';
import { ecdsaVerify } from './ecdsa';

export function createPortableSignatureVerifier(hashes: HashProvider = defaultHashes()): SignatureVerifier {
  return {
    name: 'portable',
    rsaPss(n, e, signature, message) {
      return rsaPssVerify(n, e, signature, message.digest('sha256'), hashes);
    },
    ecdsa(curve, x, y, r, s, message) {
      return ecdsaVerify(curve, x, y, r, s, message.digest(curve === 'P-384' ? 'sha384' : 'sha256'));
    },
  };
}
