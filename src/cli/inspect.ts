import { OtaflashError, hex } from '../errors';
import type { BlockDevice } from '../flash/types';
import { verifyImageOnDevice } from '../formats/app-image-verify';
import type { ImageVerdict } from '../formats/app-image-types';
import { chipName } from '../formats/chips';
import { activeOtaSector, isOtaEntryCrcOk, otaStateName, readOtadata, type OtaSelectEntry } from '../formats/otadata';
import { subtypeName, typeName } from '../formats/partition-keywords';
import { bootloaderOtaCount, otadataPartition, otaSlotNumber, partitionRegion } from '../formats/partition-lookup';
import { PARTITION_FLAG_ENCRYPTED, PARTITION_FLAG_READONLY, PARTITION_TYPE_APP, type Partition } from '../formats/partition-types';
import { bootIndexOfSeq, decideBoot, type BootDecision } from '../ota/bootloader';
import { isErased, partitionJson, printJson, readTableOf, tableOffsetFlag, withFlashImage } from './flash';
import { CliError, type Command, parseArgs } from './io';

// One screen about a flash image: the partition map, otadata, what each app slot holds, and what
// would boot. Read-only.

interface SlotInfo {
  label: string;
  slot: number | null;
  offset: number;
  size: number;
  status: 'empty' | 'valid' | 'invalid';
  error: string | null;
  chip: string | null;
  project: string | null;
  version: string | null;
  idfVersion: string | null;
  secureVersion: number | null;
  imageSize: number | null;
  sha256Valid: boolean | null;
  otaState: string | null;
}

function describeSlot(dev: BlockDevice, p: Partition, states: Map<number, string>): SlotInfo {
  const slot = otaSlotNumber(p);
  const info: SlotInfo = {
    label: p.label,
    slot: slot >= 0 ? slot : null,
    offset: p.offset,
    size: p.size,
    status: 'empty',
    error: null,
    chip: null,
    project: null,
    version: null,
    idfVersion: null,
    secureVersion: null,
    imageSize: null,
    sha256Valid: null,
    otaState: slot >= 0 && states.has(slot) ? states.get(slot)! : null,
  };
  if (p.offset + p.size > dev.size) {
    info.status = 'invalid';
    info.error = `partition ends at ${hex(p.offset + p.size)}, past the flash end ${hex(dev.size)}`;
    return info;
  }
  if (isErased(dev, p.offset, p.size)) return info;
  let v: ImageVerdict;
  try {
    v = verifyImageOnDevice(partitionRegion(dev, p), { maxSize: p.size });
  } catch (e) {
    if (!(e instanceof OtaflashError)) throw e;
    info.status = 'invalid';
    info.error = `${e.message} [${e.code}]`;
    return info;
  }
  info.status = 'valid';
  info.chip = chipName(v.chip);
  info.imageSize = v.size;
  info.sha256Valid = v.hashValid;
  if (v.appDesc) {
    info.project = v.appDesc.projectName;
    info.version = v.appDesc.version;
    info.idfVersion = v.appDesc.idfVersion;
    info.secureVersion = v.appDesc.secureVersion;
  }
  return info;
}

function entryLine(e: OtaSelectEntry, n: number): string {
  if (e.seq === 0xffffffff) return 'empty';
  const crc = isOtaEntryCrcOk(e) ? 'crc ok' : 'CRC BAD';
  // The bootloader's mapping: n counts every OTA record and may exceed 16.
  const slot = n > 0 ? ` -> ota_${bootIndexOfSeq(e.seq, n)}` : '';
  return `seq ${e.seq}${slot}, ${otaStateName(e.state)}, ${crc}`;
}

function flagsText(flags: number): string {
  const out: string[] = [];
  if (flags & PARTITION_FLAG_ENCRYPTED) out.push('encrypted');
  if (flags & PARTITION_FLAG_READONLY) out.push('readonly');
  const rest = flags & ~(PARTITION_FLAG_ENCRYPTED | PARTITION_FLAG_READONLY);
  if (rest) out.push(hex(rest));
  return out.join(':');
}

export function entryJson(e: OtaSelectEntry) {
  return { seq: e.seq, state: otaStateName(e.state), crc: e.crc };
}

export function bootDecisionJson(d: BootDecision, applied: boolean) {
  return {
    boot: d.label,
    slot: d.slot,
    offset: d.boot ? d.boot.offset : null,
    reason: d.reason,
    activeSector: d.activeSector,
    activeStateAfterBoot: d.activeStateAfterBoot === null ? null : otaStateName(d.activeStateAfterBoot),
    entries: d.entries ? d.entries.map(entryJson) : null,
    otaCount: d.otaCount,
    writes: d.writes.map((w) => ({ sector: w.sector, seq: w.entry.seq, state: otaStateName(w.entry.state), why: w.why })),
    tried: d.tried,
    efuseSecureVersionAfter: d.efuseSecureVersionAfter,
    applied,
  };
}

function pad(s: string, n: number): string {
  return s.length >= n ? s : s + ' '.repeat(n - s.length);
}

export const inspectCommand: Command = {
  summary: 'one screen about a flash image: partitions, otadata, the app in each slot, what boots',
  help: `Usage: otaflash inspect FILE [--rollback] [--table-offset 0x8000] [--json]

Prints the partition map, both otadata entries (and the slot each selects), for every app
partition the image it holds (chip, project, version, valid or not), and what the bootloader
would boot next (--rollback: as a bootloader with app rollback enabled). Read-only.`,
  run(argv, io) {
    const args = parseArgs(argv, { values: ['table-offset'], booleans: ['json', 'rollback'] });
    if (args.positional.length !== 1) throw new CliError('expected one FILE (a flash image)');
    const file = args.positional[0];
    const tableOffset = tableOffsetFlag(args.flags);
    return withFlashImage(file, (image) => {
      const dev = image.device;
      const table = readTableOf(image, tableOffset);
      const n = bootloaderOtaCount(table);
      const otadata = otadataPartition(table);
      let entries: [OtaSelectEntry, OtaSelectEntry] | null = null;
      let active: number = -1;
      const states = new Map<number, string>();
      if (otadata && otadata.offset + otadata.size <= dev.size && otadata.size >= 0x2000) {
        entries = readOtadata(partitionRegion(dev, otadata));
        active = activeOtaSector(entries);
        // The state shown beside a slot is that of the newest entry selecting it.
        const order = entries[0].seq >= entries[1].seq ? [1, 0] : [0, 1];
        for (const i of order) {
          const e = entries[i];
          if (e.seq !== 0xffffffff && n > 0) states.set(bootIndexOfSeq(e.seq, n), otaStateName(e.state));
        }
      }
      const apps = table.partitions.filter((p) => p.type === PARTITION_TYPE_APP).map((p) => describeSlot(dev, p, states));
      const decision = decideBoot(dev, table, { rollback: args.flags.rollback === true });

      if (args.flags.json) {
        printJson(io, {
          file,
          size: dev.size,
          tableOffset,
          md5: table.md5 !== null,
          partitions: table.partitions.map(partitionJson),
          otadata: otadata && entries ? { label: otadata.label, offset: otadata.offset, activeSector: active === -1 ? null : active, entries: entries.map((e) => ({ seq: e.seq, state: otaStateName(e.state), crc: e.crc, crcOk: isOtaEntryCrcOk(e) })) } : null,
          apps,
          nextBoot: bootDecisionJson(decision, false),
        });
        return 0;
      }
      const out: string[] = [];
      out.push(`${file}: ${dev.size} bytes (${hex(dev.size)}), partition table at ${hex(tableOffset)}, ${table.partitions.length} partitions, ${table.md5 ? 'MD5 ok' : 'no MD5 record'}`);
      out.push('');
      out.push(`  ${pad('label', 17)}${pad('type', 8)}${pad('subtype', 10)}${pad('offset', 11)}${pad('size', 11)}flags`);
      for (const p of table.partitions) {
        out.push(`  ${pad(p.label, 17)}${pad(typeName(p.type), 8)}${pad(subtypeName(p.type, p.subtype), 10)}${pad(hex(p.offset), 11)}${pad(hex(p.size), 11)}${flagsText(p.flags)}`);
      }
      out.push('');
      if (!otadata) out.push('otadata: none (the bootloader starts the factory app, else ota_0)');
      else if (!entries) out.push(`otadata '${otadata.label}': unreadable (must be 0x2000 bytes inside the flash)`);
      else {
        out.push(`otadata '${otadata.label}' at ${hex(otadata.offset)}: active sector ${active === -1 ? 'none' : active}`);
        out.push(`  sector 0: ${entryLine(entries[0], n)}`);
        out.push(`  sector 1: ${entryLine(entries[1], n)}`);
      }
      out.push('');
      out.push('apps:');
      for (const a of apps) {
        const head = `  ${pad(a.label, 17)}${pad(hex(a.offset), 11)}`;
        if (a.status === 'empty') out.push(`${head}empty`);
        else if (a.status === 'invalid') out.push(`${head}INVALID: ${a.error}`);
        else {
          const what = a.project !== null ? `${a.project} ${a.version} (IDF ${a.idfVersion}, secure_version ${a.secureVersion})` : 'no app description';
          out.push(`${head}${a.chip}, ${what}, ${a.imageSize} bytes, SHA-256 ${a.sha256Valid === null ? 'not appended' : 'ok'}${a.otaState ? `, otadata ${a.otaState}` : ''}`);
        }
      }
      out.push('');
      out.push(decision.boot ? `next boot: ${decision.label} (${decision.reason})` : `next boot: nothing bootable (${decision.reason})`);
      io.stdout(out.map((l) => l.replace(/\s+$/, '')).join('\n') + '\n');
      return 0;
    }, 'read');
  },
};
