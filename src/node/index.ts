// Node-only adapters. Importing this module makes the node:crypto hashes the default.
import { setDefaultHashes } from '../hash/portable';
import { nodeHashes } from './hash';
import { setChecksumXor } from '../formats/app-image-verify';
import { createWasmChecksumXor } from './image-checksum';

setDefaultHashes(nodeHashes);
// App image checksums through WebAssembly SIMD when the engine has it (plain JS otherwise).
setChecksumXor(createWasmChecksumXor());

export { nodeHashes } from './hash';
export { createNodeSignatureVerifier } from './signature-verifier';
export { secureBootPublicKey, secureBootKeyDigest, generateSecureBootKey, signImageV2, signImageV1, signBlock, rsaBlockKey, type SecureBootPublicKey, type SecureBootKeyType, type SignImageOptions } from './secure-boot-keys';
export { FileFlash, type FileFlashOptions } from './file-flash';
export { createWasmChecksumXor } from './image-checksum';
export { NodeFileStore, NodeJournal, journalBeside, fileFirmwareTarget, commitFileFirmware } from './file-store';
export { HttpTransport, TransientHttpError, applyManifestOverHttp, nodeSha1, nodeSha256, type HttpTransportOptions, type DownloadSink } from './http-transport';
export { createUpdateServer, type UpdateServer, type UpdateServerOptions, type ListeningAddress } from '../server/update-server';
