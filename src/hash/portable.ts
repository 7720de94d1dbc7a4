import { sha256 as nobleSha256 } from '@noble/hashes/sha2.js';
import { md5 as nobleMd5 } from '@noble/hashes/legacy.js';
import CRC32 from 'crc-32';
import type { HashProvider, IncrementalHash } from './types';

function wrap(h: { update(d: Uint8Array): unknown; digest(): Uint8Array }): IncrementalHash {
  const api: IncrementalHash = {
    update(data: Uint8Array) {
      h.update(data);
      return api;
    },
    digest() {
      return h.digest();
    },
  };
  return api;
}

export function crc32(data: Uint8Array, previous = 0): number {
  return CRC32.buf(data, previous | 0) >>> 0;
}

/** Pure-JS hashes: run anywhere (QuickJS, Espruino-class engines), no Node APIs. */
export const portableHashes: HashProvider = {
  sha256: () => wrap(nobleSha256.create()),
  md5: () => wrap(nobleMd5.create()),
  crc32,
};

let current: HashProvider = portableHashes;

/** The provider used when a caller passes none. `otaflash/node` installs the node:crypto one. */
export function defaultHashes(): HashProvider {
  return current;
}

export function setDefaultHashes(provider: HashProvider): void {
  current = provider;
}
