// Secure Boot v2 signature sector: up to three 1216-byte blocks, each with a standard CRC-32.
import type { HashProvider } from '../hash/types';
import { u32 } from './bytes';
import { SIGNATURE_BLOCK_MAGIC, SIGNATURE_BLOCK_SIZE, SIGNATURE_MAX_BLOCKS, type SignatureBlock } from './app-image-types';

const CRC_OFFSET = 1196;

/**
 * Parses the signature blocks at the start of `sector` (found at image offset `offset`). Stops at the
 * first block without the 0xE7 magic; an empty result means "no signature sector here".
 * Verifying the signatures themselves is not done here.
 */
export function parseSignatureBlocks(sector: Uint8Array, offset: number, hashes: HashProvider): SignatureBlock[] {
  const out: SignatureBlock[] = [];
  for (let i = 0; i < SIGNATURE_MAX_BLOCKS; i++) {
    const at = i * SIGNATURE_BLOCK_SIZE;
    if (at + SIGNATURE_BLOCK_SIZE > sector.length || sector[at] !== SIGNATURE_BLOCK_MAGIC) break;
    const block = sector.subarray(at, at + SIGNATURE_BLOCK_SIZE);
    const crc = u32(block, CRC_OFFSET);
    const version = block[1];
    out.push({
      offset: offset + at,
      version,
      scheme: version === 2 ? 'rsa3072' : version === 3 ? 'ecdsa' : 'unknown',
      imageDigest: block.slice(4, 36),
      crc,
      // esp_rom_crc32_le(0, block, 1196) is plain CRC-32 with seed 0, unlike the otadata CRC.
      crcValid: hashes.crc32(block.subarray(0, CRC_OFFSET), 0) === crc,
      digestValid: null,
    });
  }
  return out;
}
