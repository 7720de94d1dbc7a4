// Entry of the device bundle (IIFE, global OtaFlash): what a device runtime needs to update itself,
// and nothing that only tests and hosts use (contract suite, fault injection, timing model, proofs),
// because QuickJS-class engines keep every function's source text on the heap.
export * from './errors';
export * from './flash/types';
export * from './hash/types';
export { portableHashes, defaultHashes, setDefaultHashes, crc32 } from './hash/portable';
export { hostHashes, type HostHashOptions, type NativeHash, type NativeIncrementalHash, type NativeDigest } from './hash/host';
// SHA-384 for ECDSA P-384 Secure Boot signatures (the signature checks' `sha384` option).
export { sha384, sha512 } from './hash/sha512';
export * from './flash/checks';
export { RegionFlash } from './flash/region';
export { MemoryFlash, type MemoryFlashOptions, type ProgramMode } from './flash/memory';
export { EspruinoFlash, type EspruinoFlashModule, type EspruinoFlashOptions, type EspruinoFlashPage } from './flash/espruino-flash';
export * from './formats/partition-types';
export * from './formats/partition-table';
export * from './formats/partition-lookup';
export * from './formats/partition-csv';
export * from './formats/partition-verify';
export { utf8Encode, utf8Decode } from './formats/utf8';
export * from './formats/otadata';
export * from './formats/chips';
export * from './formats/app-image-types';
export { createImageVerifier, verifyImage, inspectImage, verifyImageOnDevice } from './formats/app-image-verify';
export { parseAppImage, buildAppImage } from './formats/app-image';
// Secure Boot signature checks (portable RSA-PSS, no BigInt) for signed updates.
export { decodeSignatureSector, decodeSignatureBlock, signatureSectorOffset } from './formats/secure-boot-signature';
export { verifyImageSignature, verifyDeviceImageSignature, chipSignatureLimits, isTrustedDigest } from './formats/secure-boot-verify';
export { createPortableSignatureVerifier } from './crypto/rsa-verifier';
export { verifyDetachedSignature, verifyDetachedSignatureDigest, streamedMessage, encodeSignatureText, decodeSignatureText } from './formats/detached-signature';
export { decideBoot, applyBootWrites, simulateReboot } from './ota/bootloader';
export { OtaEngine } from './ota/engine';
export { OtaWriter } from './ota/writer';
export { readResumeLog } from './ota/progress-record';
export { ImageStore, installImage, StoreDownload } from './store/index';
// Wirepas scratchpads: parse, verify and process on the device; creating one is a host job (a device
// has no deflate encoder and never needs one), so createScratchpad stays out of this bundle.
export {
  parseScratchpad, readScratchpadHeader, verifyScratchpad, verifyScratchpadCmac, computeScratchpadCmac, processScratchpad, extractScratchpad,
  decodeScratchpadItem, scratchpadBytes, parseScratchpadKeys, scratchpadInfoJson, SCRATCHPAD_TAG,
} from './formats/scratchpad';
export { isNewerScratchpadSeq, nextScratchpadSeq, isSinkScratchpadSeq } from './formats/scratchpad-seq';
// Delta apply on the device: the streaming decoders and sequential apply, the OTA glue, packages.
export { decodeDetoolsHeader, checkApplicable } from './formats/detools-patch';
export { LzmaDecoder } from './delta/lzma-decoder';
export { HeatshrinkDecoder } from './delta/heatshrink-decoder';
export { PatchApplier, applyPatchToBytes, oldImageFromBytes } from './delta/apply';
export { DeltaUpdate, oldImageFromDevice } from './delta/ota';
export { isDeltaPackage, decodeDeltaPackageIndex, deltaPackageIndexLength, deltaPackageHeaderNeed, choosePackageBlob } from './delta/package';
export { checkDeltaPackageSignature, requireDeltaPackageSignature } from './delta/package-signature';
export { DeltaPackageUpdate } from './delta/package-update';
// The update agent (sans-I/O: the runtime feeds events and carries out actions) and its OTA installer.
export { UpdateAgent } from './agent/agent';
export { otaModuleInstaller } from './agent/ota-installer';
export { readAgentRecord, writeAgentRecord } from './agent/record';
export { checkPlan } from './agent/plan';
export { checkPlanSignature } from './agent/plan-signature';
export { storeInstaller } from './agent/store-installer';
