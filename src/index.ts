// The portable core: no Node APIs. Each module re-exported here has one job.
export * from './errors';
export * from './flash/types';
export * from './hash/types';
export { portableHashes, defaultHashes, setDefaultHashes, crc32 } from './hash/portable';
export { hostHashes, type HostHashOptions, type NativeHash, type NativeIncrementalHash, type NativeDigest } from './hash/host';
// SHA-384 for ECDSA P-384 Secure Boot signatures (the signature checks' `sha384` option).
export { sha384, sha512 } from './hash/sha512';
export * from './flash/checks';
export { RegionFlash } from './flash/region';
export { MemoryFlash, FlashSnapshot, type MemoryFlashOptions, type ProgramMode } from './flash/memory';
export * from './flash/stats';
export * from './flash/timing';
export * from './flash/faults';
export * from './flash/contract';
export { seededRandom } from './flash/rng';
export * from './formats/partition-types';
export * from './formats/partition-table';
export * from './formats/partition-lookup';
export * from './formats/partition-csv';
export * from './formats/partition-verify';
export { typeName as partitionTypeName, subtypeName as partitionSubtypeName, extendSubtypeKeywords, type SubtypeKeywordTables } from './formats/partition-keywords';
export { utf8Encode, utf8Decode, utf8DecodeLossy } from './formats/utf8';
export * from './formats/otadata';
export { decideBoot, applyBootWrites, simulateReboot, type BootOptions, type BootDecision, type BootWrite, type BootAttempt } from './ota/bootloader';
export * from './formats/chips';
export * from './formats/app-image-types';
export { decodeImageHeader, encodeImageHeader, flashModeName, flashSizeName, chipRevisionName } from './formats/app-image-header';
export { decodeAppDescription, encodeAppDescription, decodeBootloaderDescription } from './formats/app-image-desc';
export { parseSignatureBlocks } from './formats/app-image-signature';
export * from './formats/secure-boot-signature';
export * from './formats/secure-boot-verify';
export { createPortableSignatureVerifier } from './crypto/rsa-verifier';
export * from './formats/detached-signature';
export { rsaPublic, rsaPssVerify } from './crypto/rsa';
export { createImageVerifier, verifyImage, inspectImage, verifyImageOnDevice, setChecksumXor, xorInto, type ChecksumXor } from './formats/app-image-verify';
export { parseAppImage, buildAppImage, type AppImage, type AppImageParts, type AppImageSegment } from './formats/app-image';
export { OtaEngine, type OtaEngineOptions, type PendingUpdate } from './ota/engine';
export { OtaWriter, type OtaWriteOptions, type OtaProgress } from './ota/writer';
export { RESUME_MAGIC, RESUME_LOG_OFFSET, readResumeLog, type ResumeHeader, type ResumeState } from './ota/progress-record';
export * from './store/index';
export * from './mesh/index';
export {
  proveScenario,
  replayCase,
  deviceAfterCut,
  formatReplayId,
  parseReplayId,
  ProveWorld,
  ProveViolation,
  type ProveScenario,
  type ProveSetup,
  type ProveGoal,
  type ProveImage,
  type ProveEvent,
  type ProveOptions,
  type ProveReport,
  type ProveFailure,
  type ReplayId,
  type ReplayTrace,
} from './prove';
export { proveScenarios, otaScenarios, PROVE_FEATURES, type ProveLayout, type ProveFeature } from './prove';
export { AesCmac, aesCmac, equalTags } from './crypto/cmac';
export { AesCtr, type CounterOrder } from './crypto/ctr';
export { expandAes128Key, aes128EncryptBlock, type Aes128Key } from './crypto/aes128';
export { inflateRaw, type InflateInput, type InflateOptions, type InflateResult } from './formats/scratchpad-inflate';
export * from './formats/scratchpad';
export * from './formats/scratchpad-seq';
export { createScratchpad, setScratchpadSeq, SCRATCHPAD_MAX_ITEM_CONTENT, type CreateScratchpadOptions, type ScratchpadItemInput } from './formats/scratchpad-create';
export { parseIntelHex, intelHexImage, type IntelHexRange } from './formats/scratchpad-ihex';
export { crc16CcittFalse } from './formats/scratchpad-crc';
// Delta patch generator (host side: holds both images; not in the device bundle).
export { createDeltaPatch, createDeltaPatchDetailed, type DeltaCreateOptions, type DeltaCreateResult, type DeltaCreateCompression } from './delta/generate';
export { encodeLzmaAlone, LZMA_DEFAULT_DICTIONARY, type LzmaEncodeOptions } from './delta/encode-lzma';
export { encodeHeatshrink, type HeatshrinkEncodeOptions } from './delta/encode-heatshrink';
// Delta apply: detools patch header and info, the streaming decoders, the sequential apply, the OTA
// glue (DeltaUpdate), the delta package and its streaming install.
export * from './formats/detools-patch';
export { LzmaDecoder, decodeLzmaAloneHeader, type LzmaDecoderOptions, type LzmaAloneHeader } from './delta/lzma-decoder';
export { HeatshrinkDecoder, checkHeatshrinkParams, type HeatshrinkParams } from './delta/heatshrink-decoder';
export { CrleDecoder } from './delta/crle-decoder';
export type { ByteSink, StreamDecoder } from './delta/stream';
export { SequentialPatchMachine, type OldImage, type SequentialStats } from './delta/sequential';
export { PatchApplier, applyPatchToBytes, oldImageFromBytes, type PatchApplyOptions } from './delta/apply';
export { detoolsPatchInfo, pythonRound1, type DetoolsPatchInfo, type SequentialPatchInfo, type InPlacePatchInfo, type InPlaceSegmentInfo, type Ratio } from './delta/info';
export { DeltaUpdate, oldImageFromDevice, type DeltaWriteOptions } from './delta/ota';
export * from './delta/package';
export { DeltaPackageUpdate, type DeltaPackageUpdateOptions } from './delta/package-update';
export * from './delta/package-signature';
export { UpdateAgent, type AgentOptions, type AgentPhase, type AgentState } from './agent/agent';
export { otaModuleInstaller, type OtaInstallerOptions } from './agent/ota-installer';
export { readAgentRecord, writeAgentRecord, AGENT_RECORD_MAGIC, type StoredRecord } from './agent/record';
export { checkPlan } from './agent/plan';
export { checkPlanSignature, verifyPlanStatement, planStatement, planStatementBytes, PLAN_STATEMENT_FORMAT, type PlanTrustOptions, type PlanStatementSource } from './agent/plan-signature';
export { canonicalJson, canonicalJsonBytes } from './formats/canonical-json';
export type { AgentAction, AgentEvent, AgentMessage, ServiceMessage, Plan, PlanComponent, PackageRef, Strategy, ComponentKind, ComponentInstaller, PlanSignature, PlanStatement, PlanStatementComponent, SignedPackage } from './agent/types';
// File-set updates (Pycom manifests): version ordering, manifest generation and checking, the
// journaled apply/recover/rollback over a FileStore, a power-cutting memory store.
export { parseLooseVersion, compareLooseVersions, highestVersion, isPlainVersion, checkPlainVersion, type LooseComponent } from './manifest/loose-version';
export { pythonJsonDumps, pythonJsonString, type JsonValue } from './manifest/python-json';
export { selectUpdate, buildManifest, generateManifest, isVersionName, firmwareVersionOf, encodeUrlPath, IGNORED_FILE_NAMES, type UpdateSelection, type SelectInput, type BuildInput, type GenerateInput } from './manifest/generate';
export type { Manifest as FileSetManifest, ManifestFileEntry, ManifestFirmware, TreeFile, FileTree, FirmwareFile } from './manifest/types';
export { parseManifest, parseManifestBytes, storePathOf, urlPathOf, versionFileText, parseVersionFileText, VERSION_FILE, DEFAULT_DEVICE_VERSION, type ParsedManifest, type ManifestDownload, type ManifestFirmwareDownload } from './manifest/parse';
export { manifestSignedBytes, signManifestValue, checkManifestSignature, requireManifestSignature, MANIFEST_SIGNATURE_FIELD } from './manifest/signature';
export { parentOf, type FileStore, type FileStat, type JournalStore } from './manifest/file-store';
export { MemoryFileStore, type MemoryFileStoreOptions } from './manifest/memory-file-store';
export { FlashLogFileStore } from './manifest/flash-log-file-store';
export { loadJournal, type JournalRecord, type JournalState } from './manifest/journal';
export {
  FileSetUpdate,
  applyManifest,
  recover as recoverFileSet,
  rollback as rollbackFileSet,
  followFirmware,
  readDeviceVersion,
  type ApplyOptions,
  type ApplyResult,
  type FirmwareTarget,
  type FetchRequest,
  type SyncTransport,
  type RecoverOptions,
  type RecoverResult,
} from './manifest/apply';
export { otaFirmwareTarget, commitOtaFirmware } from './manifest/ota-firmware';
export { storeInstaller, type StoreInstallerOptions } from './agent/store-installer';
