// Add-on of the slim device build (dist/device/otaflash-signature.js, after otaflash-core.js): the
// portable signature verifier (RSA-PSS and ECDSA without BigInt) and detached signatures. Decoding
// signature blocks and checking an image against trusted digests are in the core (the engine does it);
// a device that verifies signatures needs this add-on for the verifier it passes as `trust.verifier`.
export { createPortableSignatureVerifier } from './crypto/rsa-verifier';
export { verifyDetachedSignature, verifyDetachedSignatureDigest, streamedMessage, encodeSignatureText, decodeSignatureText } from './formats/detached-signature';
// SHA-384 for ECDSA P-384 signatures (the signature checks' `sha384` option)
export { sha384, sha512 } from './hash/sha512';
