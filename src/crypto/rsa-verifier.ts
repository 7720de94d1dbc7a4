// The portable SignatureVerifier: RSA-PSS with the limb arithmetic in rsa.ts, no BigInt, no Node.
// ECDSA is not implemented portably yet: it throws SIGNATURE_UNSUPPORTED (the Node verifier has it).
import { OtaflashError } from '../errors';
import { defaultHashes } from '../hash/portable';
import type { HashProvider } from '../hash/types';
import type { SignatureVerifier } from '../formats/secure-boot-verify';
import { rsaPssVerify } from './rsa';

export function createPortableSignatureVerifier(hashes: HashProvider = defaultHashes()): SignatureVerifier {
  return {
    name: 'portable',
    rsaPss(n, e, signature, message) {
      return rsaPssVerify(n, e, signature, message.digest('sha256'), hashes);
    },
    ecdsa(curve) {
      throw new OtaflashError('SIGNATURE_UNSUPPORTED', `ECDSA ${curve} is not verified by the portable verifier (use the Node verifier)`, { curve });
    },
  };
}
