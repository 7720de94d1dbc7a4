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
export { signDetached, trustFromKeys, readKeyFiles } from './detached-sign';
export { secureBootPublicKey, secureBootKeyDigest, generateSecureBootKey, signImageV2, signImageV1, signBlock, toSigner, rsaBlockKey, type SecureBootPublicKey, type SecureBootKeyType, type SignImageOptions } from './secure-boot-keys';
export { pemSigner, commandSigner, pkcs11Signer, pkcs11ToolCommand, isSigner, signAlgorithm, type Signer, type SignAlgorithm, type CommandSignerOptions, type Pkcs11SignerOptions } from './signer';
export { signDeterministic, rfc6979Nonces, P256 } from './rfc6979';
export { FileFlash, type FileFlashOptions } from './file-flash';
export { createWasmChecksumXor } from './image-checksum';
export { NodeFileStore, NodeJournal, journalBeside, fileFirmwareTarget, commitFileFirmware } from './file-store';
export { HttpTransport, TransientHttpError, applyManifestOverHttp, nodeSha1, nodeSha256, type HttpTransportOptions, type DownloadSink } from './http-transport';
export { createUpdateServer, type UpdateServer, type UpdateServerOptions, type ListeningAddress } from '../server/update-server';
// The plan server as a library (otaflash serve wraps these): the HTTP handler to mount on
// createUpdateServer's `handlers`, the stores (SQLite and PostgreSQL drivers load on first use), the
// service logic, and the agent's Node host over HTTP. MQTT lives in src/server/plans/mqtt.ts and is
// not re-exported here, so importing otaflash/node does not load an MQTT client.
export { createPlanHttpHandler, type PlanHttpOptions, type PlanHttpHandler } from '../server/plans/http';
export { openPlanStore } from '../server/plans/open-store';
export { PlanService, type PlanServiceOptions } from '../server/plans/service';
export { MemoryPlanStore } from '../server/plans/memory-store';
export type { PlanStore, PlanRecord, PackageRecord, DevicePlanRecord, PlanStats, UpgradeLogEntry } from '../server/plans/types';
export { AgentHttpHost, runAgentOverHttp } from './agent-http';
export { createMonitorHandler } from '../server/plans/monitor';
