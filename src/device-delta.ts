// Add-on of the slim device build (dist/device/otaflash-delta.js, after otaflash-core.js and
// otaflash-signature.js): delta updates on the device: the streaming decoders, sequential patch apply,
// the OTA glue and delta packages (signed ones checked with the signature add-on's code).
export { decodeDetoolsHeader, checkApplicable } from './formats/detools-patch';
export { LzmaDecoder } from './delta/lzma-decoder';
export { HeatshrinkDecoder } from './delta/heatshrink-decoder';
export { PatchApplier, applyPatchToBytes, oldImageFromBytes } from './delta/apply';
export { DeltaUpdate, oldImageFromDevice } from './delta/ota';
export { isDeltaPackage, decodeDeltaPackageIndex, deltaPackageIndexLength, deltaPackageHeaderNeed, choosePackageBlob } from './delta/package';
export { checkDeltaPackageSignature, requireDeltaPackageSignature } from './delta/package-signature';
export { DeltaPackageUpdate } from './delta/package-update';
