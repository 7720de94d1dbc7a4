// Node-only adapters. Importing this module makes the node:crypto hashes the default.
import { setDefaultHashes } from '../hash/portable';
import { nodeHashes } from './hash';

setDefaultHashes(nodeHashes);

export { nodeHashes } from './hash';
export { FileFlash, type FileFlashOptions } from './file-flash';
