// The portable core: no Node APIs. Each module re-exported here has one job.
export * from './errors';
export * from './flash/types';
export * from './hash/types';
export { portableHashes, defaultHashes, setDefaultHashes, crc32 } from './hash/portable';
export * from './flash/checks';
export { RegionFlash } from './flash/region';
export { MemoryFlash, type MemoryFlashOptions, type ProgramMode } from './flash/memory';
export * from './formats/partition-types';
export * from './formats/partition-table';
export * from './formats/partition-lookup';
export { typeName as partitionTypeName, subtypeName as partitionSubtypeName } from './formats/partition-keywords';
export { utf8Encode, utf8Decode, utf8DecodeLossy } from './formats/utf8';
export * from './formats/otadata';
