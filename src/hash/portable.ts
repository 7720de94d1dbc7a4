// The pure-JS hash provider of the portable core: the project's own MD5, SHA-256 and CRC-32 (ES2015,
// 32-bit integer arithmetic, no per-byte allocation, small tables). No Node APIs, no API later than
// ES2015, so it runs in QuickJS, JerryScript, Duktape and Espruino as built.
import { crc32 } from './crc32';
import { md5 } from './md5';
import { sha256 } from './sha256';
import type { HashProvider } from './types';

export { crc32 };

/** Pure-JS hashes: run anywhere (QuickJS, Espruino-class engines), no Node APIs. */
export const portableHashes: HashProvider = { sha256, md5, crc32 };

let current: HashProvider = portableHashes;

/** The provider used when a caller passes none. `otaflash/node` installs the node:crypto one. */
export function defaultHashes(): HashProvider {
  return current;
}

export function setDefaultHashes(provider: HashProvider): void {
  current = provider;
}
