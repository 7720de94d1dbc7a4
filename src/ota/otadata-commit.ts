// Power-cut-aware otadata sector updates. The entry format is formats/otadata.ts; this module only
// decides the ORDER of flash operations so that an interrupted update never yields an entry the
// bootloader would trust but we did not intend.
//
// Two hazards shape it:
//  - The CRC covers only ota_seq, so a torn program of ota_state is invisible to the bootloader
//    (docs/formats.md §4.1, §4.4). We therefore program the entry in two steps: first everything except the CRC
//    word (the CRC stays erased, 0xFFFFFFFF, which matches no seq but 0 and we never write seq 0),
//    read it back, and only then program the CRC. A valid CRC on flash thus proves the state landed.
//  - A torn erase can leave the old bytes partly in place. If the old entry had a good CRC and an
//    INVALID/ABORTED state, erasing some state bits back to 1 would turn it into a bootable entry
//    (maybe with the highest seq). So before erasing a sector whose entry has a good CRC we first
//    "kill" it by programming its CRC word to zero (only clears bits, so no erase is needed); the
//    erase that follows can then not resurrect it.
import { OtaflashError, hex } from '../errors';
import type { BlockDevice } from '../flash/types';
import type { HashProvider } from '../hash/types';
import {
  OTADATA_SECTOR_SIZE,
  OTA_ENTRY_SIZE,
  OTA_SEQ_EMPTY,
  type OtaSector,
  type OtaSelectEntry,
  decodeOtaEntry,
  encodeOtaEntry,
  isOtaEntryCrcOk,
} from '../formats/otadata';

const CRC_AT = 0x1c;

/** Programs `bytes` at sector offset `at`, padded out to whole write units with the bytes already on flash. */
export function programInSector(region: BlockDevice, sector: OtaSector, at: number, bytes: Uint8Array): void {
  const w = Math.max(1, region.writeSize);
  const base = sector * OTADATA_SECTOR_SIZE;
  const start = Math.floor(at / w) * w;
  const end = Math.ceil((at + bytes.length) / w) * w;
  let data = bytes;
  if (start !== at || end !== at + bytes.length) {
    // Re-programming a byte with its current value is a no-op on NOR, so widen with what is there.
    data = new Uint8Array(end - start);
    region.read(base + start, data);
    data.set(bytes, at - start);
  }
  region.write(base + start, data);
}

function verifyBytes(region: BlockDevice, sector: OtaSector, at: number, want: Uint8Array): void {
  const back = new Uint8Array(want.length);
  const base = sector * OTADATA_SECTOR_SIZE;
  region.read(base + at, back);
  for (let i = 0; i < want.length; i++) {
    if (back[i] !== want[i]) {
      throw new OtaflashError(
        'OTADATA_VERIFY_FAILED',
        `otadata sector ${sector}: byte ${hex(base + at + i)} reads ${hex(back[i])} after writing ${hex(want[i])}`,
        { sector, offset: base + at + i },
      );
    }
  }
}

/** Reads the entry of one sector. */
export function readSectorEntry(region: BlockDevice, sector: OtaSector): OtaSelectEntry {
  const buf = new Uint8Array(OTA_ENTRY_SIZE);
  region.read(sector * OTADATA_SECTOR_SIZE, buf);
  return decodeOtaEntry(buf);
}

function sectorIsErased(region: BlockDevice, sector: OtaSector): boolean {
  const buf = new Uint8Array(OTADATA_SECTOR_SIZE);
  region.read(sector * OTADATA_SECTOR_SIZE, buf);
  const v = region.eraseValue;
  for (let i = 0; i < buf.length; i++) if (buf[i] !== v) return false;
  return true;
}

/**
 * Makes the sector's entry untrustworthy without an erase: its CRC word is programmed to 0 (or, for
 * the rare seq whose CRC is 0, the seq word is), so it can never be read as valid again.
 */
export function killOtaEntry(region: BlockDevice, sector: OtaSector, hashes?: HashProvider): void {
  const e = readSectorEntry(region, sector);
  if (e.seq === OTA_SEQ_EMPTY || !isOtaEntryCrcOk(e, hashes)) return;
  const zero = new Uint8Array(4);
  // crc(seq) === 0 would survive a zeroed CRC; zeroing seq instead gives seq 0, whose CRC is 0xFFFFFFFF.
  const at = e.crc === 0 ? 0 : CRC_AT;
  programInSector(region, sector, at, zero);
  region.sync();
  verifyBytes(region, sector, at, zero);
}

/** Kill (if needed) then erase one otadata sector; skipped when the sector already reads erased. */
export function eraseOtaSector(region: BlockDevice, sector: OtaSector, hashes?: HashProvider): void {
  if (sectorIsErased(region, sector)) return;
  killOtaEntry(region, sector, hashes);
  region.erase(sector * OTADATA_SECTOR_SIZE, OTADATA_SECTOR_SIZE);
  region.sync();
  // The programs that follow assume an erased sector; a chip that failed to erase would otherwise
  // surface as a confusing verify failure of the entry (or, on a lenient driver, a wrong entry).
  if (!sectorIsErased(region, sector)) {
    throw new OtaflashError('OTADATA_VERIFY_FAILED', `otadata sector ${sector} does not read erased after erasing it`, { sector });
  }
}

/**
 * Replaces the entry of one sector: kill, erase, program all but the CRC, verify, program the CRC,
 * verify. At every instant the sector either holds its old entry, or an entry that is not valid.
 */
export function commitOtaEntry(region: BlockDevice, sector: OtaSector, entry: OtaSelectEntry, hashes?: HashProvider): void {
  if (region.eraseSize > OTADATA_SECTOR_SIZE || OTADATA_SECTOR_SIZE % region.eraseSize !== 0) {
    throw new OtaflashError('OTADATA_BAD_GEOMETRY', `otadata needs an erase size dividing ${hex(OTADATA_SECTOR_SIZE)}, the device erases ${hex(region.eraseSize)}`, { eraseSize: region.eraseSize });
  }
  const bytes = encodeOtaEntry(entry);
  eraseOtaSector(region, sector, hashes);
  // Everything but the CRC first (the CRC bytes stay erased), then the CRC alone. With program
  // units wider than 4 bytes the CRC shares its unit with the state: that unit is programmed twice,
  // the second time with the state bytes it already holds, so however the CRC program tears it
  // cannot leave a good CRC over a state that never landed (as the kill step, this relies on NOR
  // allowing a unit to be programmed again with bits only cleared).
  const body = bytes.subarray(0, CRC_AT);
  programInSector(region, sector, 0, body);
  region.sync();
  verifyBytes(region, sector, 0, body);
  programInSector(region, sector, CRC_AT, bytes.subarray(CRC_AT));
  region.sync();
  verifyBytes(region, sector, 0, bytes);
}
