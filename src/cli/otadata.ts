import { hex } from '../errors';
import { MemoryFlash } from '../flash/memory';
import {
  OTADATA_SIZE,
  activeOtaSector,
  decodeOtadata,
  isOtaEntryCrcOk,
  isOtaEntryValid,
  otaStateName,
} from '../formats/otadata';
import type { Partition, PartitionTable } from '../formats/partition-types';
import { decideBoot } from '../ota/bootloader';
import { CliError, type Command, parseArgs, readInput } from './io';

const HELP = `Usage: otaflash otadata show FILE --slots N [--factory] [--rollback] [--json]

FILE is an 8 KiB (0x2000) otadata partition image. Prints both entries (seq, state, CRC check,
ESP-IDF validity), the active sector as ESP-IDF picks it from the file, and what an ESP-IDF
bootloader would boot with N OTA slots (ota_0..ota_<N-1>), with or without a factory app and
with rollback (CONFIG_BOOTLOADER_APP_ROLLBACK_ENABLE) on or off, assuming every app image is
bootable, plus the otadata writes that bootloader would make.

  --slots N     number of OTA app slots, 1..16 (required)
  --factory     the partition table also has a factory app
  --rollback    the bootloader was built with rollback enabled
  --json        print { entries, activeSector, boot, bootloaderWrites } as JSON`;

/** A partition table holding just what the bootloader looks at: otadata, factory?, ota_0..ota_<n-1>. */
function modelTable(slots: number, factory: boolean): PartitionTable {
  const parts: Partition[] = [{ label: 'otadata', type: 1, subtype: 0, offset: 0, size: OTADATA_SIZE, flags: 0 }];
  let at = OTADATA_SIZE;
  if (factory) {
    parts.push({ label: 'factory', type: 0, subtype: 0, offset: at, size: 0x1000, flags: 0 });
    at += 0x1000;
  }
  for (let i = 0; i < slots; i++) {
    parts.push({ label: `ota_${i}`, type: 0, subtype: 0x10 + i, offset: at, size: 0x1000, flags: 0 });
    at += 0x1000;
  }
  return { partitions: parts, md5: null };
}

export const otadataShowCommand: Command = {
  summary: 'decode an otadata image and predict what an ESP-IDF bootloader boots',
  help: HELP,
  run(argv, io) {
    const args = parseArgs(argv, { values: ['slots'], booleans: ['factory', 'rollback', 'json'] });
    if (args.positional.length !== 1) throw new CliError('expected one FILE (an 8 KiB otadata image)');
    const slotsText = args.flags.slots;
    if (typeof slotsText !== 'string') throw new CliError('--slots N is required (the number of OTA app slots, 1..16)');
    if (!/^\d+$/.test(slotsText) || Number(slotsText) < 1 || Number(slotsText) > 16) {
      throw new CliError(`--slots: '${slotsText}' is not a slot count from 1 to 16`);
    }
    const slots = Number(slotsText);
    const factory = args.flags.factory === true;
    const rollback = args.flags.rollback === true;
    const file = args.positional[0];
    const bytes = readInput(file, 'otadata image');
    const entries = decodeOtadata(bytes);

    const table = modelTable(slots, factory);
    const last = table.partitions[table.partitions.length - 1];
    const device = new MemoryFlash({ size: last.offset + last.size, blockEraseSizes: [] });
    device.write(0, bytes);
    const decision = decideBoot(device, table, { rollback, verifyImages: false });
    const active = activeOtaSector(entries);

    const report = {
      entries: entries.map((e, sector) => ({ sector, seq: e.seq, state: otaStateName(e.state), crcOk: isOtaEntryCrcOk(e), valid: isOtaEntryValid(e) })),
      activeSector: active === -1 ? null : active,
      boot: decision.label,
      bootloaderWrites: decision.writes.map((w) => ({ sector: w.sector, seq: w.entry.seq, state: otaStateName(w.entry.state) })),
    };
    if (args.flags.json) {
      io.stdout(JSON.stringify(report, null, 2) + '\n');
      return 0;
    }
    const lines: string[] = [];
    for (let i = 0; i < 2; i++) {
      const e = entries[i];
      const seq = e.seq === 0xffffffff ? 'empty (0xffffffff)' : String(e.seq);
      const crc = isOtaEntryCrcOk(e) ? 'crc ok' : `crc BAD (stored ${hex(e.crc)})`;
      lines.push(`sector ${i} @${hex(i * 0x1000)}: seq ${seq}, state ${otaStateName(e.state)}, ${crc}, ${isOtaEntryValid(e) ? 'valid' : 'not valid'}`);
    }
    lines.push(active === -1 ? 'active entry: none' : `active entry: sector ${active} (seq ${entries[active].seq} -> ota_${((entries[active].seq - 1) >>> 0) % slots})`);
    lines.push(`bootloader (${slots} OTA slot${slots === 1 ? '' : 's'}, ${factory ? 'factory app' : 'no factory app'}, rollback ${rollback ? 'on' : 'off'}) boots: ${decision.label ?? 'nothing'}`);
    lines.push(`  because ${decision.reason}`);
    if (decision.writes.length === 0) lines.push('  otadata writes: none');
    for (const w of decision.writes) lines.push(`  writes sector ${w.sector}: seq ${w.entry.seq}, state ${otaStateName(w.entry.state)} (${w.why})`);
    io.stdout(lines.join('\n') + '\n');
    return 0;
  },
};
