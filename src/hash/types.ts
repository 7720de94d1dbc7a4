/** An incremental hash: feed it chunks, then take the digest once. */
export interface IncrementalHash {
  update(data: Uint8Array): IncrementalHash;
  digest(): Uint8Array;
}

/**
 * The hashes otaflash needs, behind one small interface so the portable core can run with a pure-JS
 * implementation and Node can swap in node:crypto / zlib.
 */
export interface HashProvider {
  sha256(): IncrementalHash;
  md5(): IncrementalHash;
  /**
   * CRC-32 (reflected, polynomial 0xEDB88320) with zlib's chaining semantics:
   * crc32(b, crc32(a)) === crc32(concat(a, b)); `previous` defaults to 0. Returns an unsigned 32-bit number.
   */
  crc32(data: Uint8Array, previous?: number): number;
}
