// Entry of the slim device build (IIFE, global OtaFlash): only what a device needs to take an update
// from a stream: block devices, the binary partition table, otadata, streaming image verification,
// the A/B engine with resume, the bootloader model and the hashes. No CSV parser, inspectors, delta,
// store or agent: those come as add-on modules (src/device-*.ts) that extend the same global, so a
// device that does not use them pays neither their bytes nor, on Espruino, their variables.
export * from './errors';
export * from './flash/types';
export * from './hash/types';
export { portableHashes, defaultHashes, setDefaultHashes, crc32 } from './hash/portable';
// a runtime's native SHA-256/MD5 (ESP32's peripheral, Espruino's crypto) in place of the JS ones
export { hostHashes, type HostHashOptions, type NativeHash, type NativeIncrementalHash, type NativeDigest } from './hash/host';
export * from './flash/checks';
export { RegionFlash } from './flash/region';
export { MemoryFlash, type MemoryFlashOptions, type ProgramMode } from './flash/memory';
export { EspruinoFlash, type EspruinoFlashModule, type EspruinoFlashOptions, type EspruinoFlashPage } from './flash/espruino-flash';
export * from './formats/partition-types';
export * from './formats/partition-table';
export * from './formats/partition-lookup';
export * from './formats/otadata';
export * from './formats/chips';
export * from './formats/app-image-types';
export { createImageVerifier, verifyImageOnDevice } from './formats/app-image-verify';
// The one builder kept: an app image made in the engine is how the engine scenario (and a device
// self-test) produces an update without carrying a binary in the script.
export { buildAppImage } from './formats/app-image';
// Secure Boot signature blocks and the engine's trust check (the engine calls them; the verifiers, RSA
// and ECDSA arithmetic, are the signature add-on)
export { decodeSignatureSector, decodeSignatureBlock, signatureSectorOffset, SB2_BLOCK_SIZE, SB2_MAX_BLOCKS, SB2_SECTOR_SIZE } from './formats/secure-boot-signature';
export {
  verifyDeviceImageSignature, verifyImageSignature, chipSignatureLimits, isTrustedDigest, checkSignatureSector, messageFromBytes,
} from './formats/secure-boot-verify';
export { decideBoot, applyBootWrites, simulateReboot } from './ota/bootloader';
export { OtaEngine } from './ota/engine';
export { OtaWriter } from './ota/writer';
export { readResumeLog } from './ota/progress-record';
