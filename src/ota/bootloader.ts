import { OtaflashError, hex, kindOf } from '../errors';
import { isBlockDevice } from '../flash/checks';
import { isPartitionTable } from '../formats/partition-lookup';
import { RegionFlash } from '../flash/region';
import type { BlockDevice } from '../flash/types';
import type { HashProvider } from '../hash/types';
import {
  OTADATA_SIZE,
  OTA_SEQ_EMPTY,
  OTA_STATE,
  activeOtaSector,
  isOtaEntryCrcOk,
  isOtaEntryInvalid,
  isOtaEntryValid,
  makeOtaEntry,
  otaStateName,
  readOtadata,
  withOtaState,
  writeOtaEntry,
  type OtaSector,
  type OtaSelectEntry,
} from '../formats/otadata';
import {
  APP_SUBTYPE_FACTORY,
  APP_SUBTYPE_OTA_0,
  APP_SUBTYPE_TEST,
  DATA_SUBTYPE_OTA,
  PARTITION_TYPE_APP,
  PARTITION_TYPE_DATA,
  type Partition,
  type PartitionTable,
} from '../formats/partition-types';
import { verifyImageOnDevice } from '../formats/app-image-verify';
import { verifyDeviceImageSignature, type SignatureCheckOptions } from '../formats/secure-boot-verify';
import { defaultSecureVersionBits } from '../formats/chips';
import { u32 } from '../formats/bytes';

/**
 * A model of ESP-IDF's second-stage bootloader choosing an app (docs/formats.md §4.7):
 * `bootloader_utility_get_selected_boot_partition` followed by `bootloader_utility_load_boot_image`.
 * decideBoot only reads; the otadata rewrites the real bootloader would make are returned as data
 * and applied by applyBootWrites, so a test can reboot a simulated device as often as it likes.
 */

export interface BootOptions {
  /** CONFIG_BOOTLOADER_APP_ROLLBACK_ENABLE. */
  rollback?: boolean;
  /** CONFIG_BOOTLOADER_APP_ANTI_ROLLBACK. */
  antiRollback?: boolean;
  /** The eFuse secure version before this boot (anti-rollback only). Default 0; at most efuseSecureVersionBits. */
  efuseSecureVersion?: number;
  /**
   * Width of the eFuse secure version field, 1..32 (CONFIG_BOOTLOADER_APP_SEC_VER_SIZE_EFUSE_FIELD,
   * capped by the chip's field). A booted app whose secure_version is above it does not raise the
   * eFuse: esp_efuse_update_secure_version refuses it and leaves the eFuse as it is. Default: the
   * chip's width (defaultSecureVersionBits: 32 ESP32, 4 ESP32-C2, 9 ESP32-C5, 16 the others; 32 when
   * `chip` is unset).
   */
  efuseSecureVersionBits?: number;
  /** Chip id the images must be built for (CHIP_IDS); unset: any. */
  chip?: number;
  hashes?: HashProvider;
  /** Verify each image before booting it, as the bootloader does. Default true. */
  verifyImages?: boolean;
  /**
   * Replaces the image check: return null when the app in `region` is bootable, else why not.
   * Only consulted when verifyImages is not false.
   */
  checkImage?: (region: BlockDevice, partition: Partition) => string | null;
  /**
   * Secure Boot V2 (the bootloader checks every app it loads): an app whose signature does not
   * verify with these trusted keys is skipped like any unbootable app, and the next one is tried.
   * Only with the built-in image check (not with checkImage). `chip` defaults to this `chip`.
   */
  trust?: Omit<SignatureCheckOptions, 'imageLength' | 'version' | 'hashes'>;
}

export interface BootWrite {
  sector: OtaSector;
  entry: OtaSelectEntry;
  /** Why the bootloader writes it. */
  why: string;
}

export interface BootAttempt {
  label: string;
  ok: boolean;
  /** Why it was skipped (failed verification, secure_version below the eFuse). */
  error?: string;
}

export interface BootDecision {
  /** The partition that boots, or null when nothing is bootable (the real chip resets and loops). */
  boot: Partition | null;
  label: string | null;
  /** OTA slot number (subtype - 0x10) of `boot`, or null for factory/test/none. */
  slot: number | null;
  reason: string;
  /** The otadata entry that selected the booted app, after the rollback rewrites; null when the boot did not come from an entry. */
  activeSector: OtaSector | null;
  /** `ota_state` of that entry once the bootloader's writes are done. */
  activeStateAfterBoot: number | null;
  /** Both entries as read, before any write; null without an otadata partition. */
  entries: [OtaSelectEntry, OtaSelectEntry] | null;
  /** The bootloader's N (app_count): every app record with subtype 0x10..0x1F in the table, duplicates included. */
  otaCount: number;
  /** otadata rewrites in the order the bootloader makes them. */
  writes: BootWrite[];
  /** Images tried in order, with the reason each failed one was skipped. */
  tried: BootAttempt[];
  /** Anti-rollback: the eFuse secure version after this boot (raised when a VALID entry or the initial write boots). null when anti-rollback is off. */
  efuseSecureVersionAfter: number | null;
}

const FACTORY_INDEX = -1;
const APP_DESC_OFFSET = 0x20;
const APP_DESC_MAGIC = 0xabcd5432;

/**
 * What the bootloader keeps from the partition table (`bootloader_state_t`), as
 * bootloader_utility_load_partition_table fills it: app_count counts every OTA app record, and a
 * record lands at ota[subtype & 0xF], so a later record with the same subtype replaces the earlier
 * one. A table can hold more than 16 such records (gen_esp32part allows repeated app subtypes);
 * app_count then exceeds the 16 entries of ota[].
 */
interface BootState {
  otadata: Partition | null;
  factory: Partition | null;
  test: Partition | null;
  ota: Array<Partition | null>;
  appCount: number;
}

function scanTable(table: PartitionTable): BootState {
  const s: BootState = { otadata: null, factory: null, test: null, ota: [], appCount: 0 };
  for (let i = 0; i < 16; i++) s.ota.push(null);
  const list = table.partitions;
  for (let i = 0; i < list.length; i++) {
    const p = list[i];
    if (p.type === PARTITION_TYPE_APP) {
      if (p.subtype === APP_SUBTYPE_FACTORY) s.factory = p;
      else if (p.subtype === APP_SUBTYPE_TEST) s.test = p;
      else if (p.subtype >= APP_SUBTYPE_OTA_0 && p.subtype < APP_SUBTYPE_OTA_0 + 16) {
        s.ota[p.subtype - APP_SUBTYPE_OTA_0] = p;
        s.appCount++;
      }
    } else if (p.type === PARTITION_TYPE_DATA && p.subtype === DATA_SUBTYPE_OTA) {
      s.otadata = p;
    }
  }
  return s;
}

/**
 * `index_to_partition`: -1 factory, 0..15 ota[index]; null where the table has none, and for an
 * index of 16 or more (reachable when app_count > 16), which ota[] cannot hold.
 */
function partitionAt(s: BootState, index: number): Partition | null {
  if (index === FACTORY_INDEX) return s.factory;
  return index >= 0 && index < 16 && index < s.appCount ? s.ota[index] : null;
}

/**
 * The bootloader's `(ota_seq - 1) % app_count` in uint32 arithmetic (seq 0 wraps to 0xFFFFFFFF).
 * Unlike the app side's slot count (1..16), app_count can be anything from 1 up, so this is not
 * otadata's slotOfSeq, which refuses counts above 16.
 */
export function bootIndexOfSeq(seq: number, appCount: number): number {
  return ((seq - 1) >>> 0) % appCount;
}

/** `secure_version` from the app description at image offset 0x20, or null without one (the magic decides). */
function readSecureVersion(device: BlockDevice, p: Partition): number | null {
  if (p.size < APP_DESC_OFFSET + 8 || p.offset + APP_DESC_OFFSET + 8 > device.size) return null;
  const b = new Uint8Array(8);
  device.read(p.offset + APP_DESC_OFFSET, b);
  return u32(b, 0) === APP_DESC_MAGIC ? u32(b, 4) : null;
}

/** "initial contents": the entry is blank or its CRC is wrong (docs/formats.md §4.7 step 4). */
function blankOrBadCrc(e: OtaSelectEntry, hashes?: HashProvider): boolean {
  return e.seq === OTA_SEQ_EMPTY || !isOtaEntryCrcOk(e, hashes);
}

function errorText(e: unknown): string {
  if (e instanceof OtaflashError) return `${e.code}: ${e.message}`;
  return e instanceof Error ? e.message : String(e);
}

function checkBootArguments(device: BlockDevice, table: PartitionTable, opts: BootOptions): void {
  if (!isBlockDevice(device)) throw new OtaflashError('BOOT_BAD_OPTION', `the bootloader needs a block device, got ${kindOf(device)}`);
  if (!isPartitionTable(table)) throw new OtaflashError('BOOT_BAD_OPTION', `the bootloader needs a partition table ({ partitions: [...] }), got ${kindOf(table)}`);
  if (opts === null || typeof opts !== 'object') throw new OtaflashError('BOOT_BAD_OPTION', `boot options must be an object, got ${opts === null ? 'null' : typeof opts}`);
  if (opts.chip !== undefined && !(typeof opts.chip === 'number' && opts.chip % 1 === 0)) {
    throw new OtaflashError('BOOT_BAD_OPTION', `chip ${JSON.stringify(opts.chip)} must be a chip id number such as CHIP_IDS.esp32`);
  }
  const bits = opts.efuseSecureVersionBits;
  if (bits !== undefined && !(typeof bits === 'number' && bits >= 1 && bits <= 32 && bits === Math.floor(bits))) {
    throw new OtaflashError('BOOT_BAD_OPTION', `efuseSecureVersionBits ${JSON.stringify(bits)} must be a whole number of bits from 1 to 32`);
  }
  if (opts.checkImage !== undefined && typeof opts.checkImage !== 'function') {
    throw new OtaflashError('BOOT_BAD_OPTION', `checkImage must be a function, got ${typeof opts.checkImage}`);
  }
}

export function decideBoot(device: BlockDevice, table: PartitionTable, opts: BootOptions = {}): BootDecision {
  checkBootArguments(device, table, opts);
  const hashes = opts.hashes;
  const rollback = opts.rollback === true;
  const antiRollback = opts.antiRollback === true;
  const verify = opts.verifyImages !== false;
  let efuse = opts.efuseSecureVersion ?? 0;
  if (antiRollback && !(typeof efuse === 'number' && efuse >= 0 && efuse <= 0xffffffff && efuse === Math.floor(efuse))) {
    throw new OtaflashError('BOOT_BAD_OPTION', `efuseSecureVersion ${efuse} is not an unsigned 32-bit integer`);
  }
  const efuseBits = opts.efuseSecureVersionBits ?? defaultSecureVersionBits(opts.chip);
  if (antiRollback && efuse > efuseBits) {
    // The chip reads the version as the count of set bits in the field: it cannot exceed the width.
    throw new OtaflashError('BOOT_BAD_OPTION', `efuseSecureVersion ${efuse} does not fit a ${efuseBits}-bit eFuse field (efuseSecureVersionBits)`);
  }
  const s = scanTable(table);
  const writes: BootWrite[] = [];
  const tried: BootAttempt[] = [];

  // check_anti_rollback: an app counts only if its description says secure_version >= eFuse.
  const secureVersionOk = (p: Partition | null): boolean => {
    if (!antiRollback) return true;
    if (p === null) return false;
    const v = readSecureVersion(device, p);
    return v !== null && v >= efuse;
  };
  // update_anti_rollback: the eFuse only goes up, and esp_efuse_update_secure_version refuses
  // (ESP_ERR_INVALID_ARG, eFuse untouched) a version wider than the field; the app boots anyway.
  const raiseEfuse = (p: Partition | null): void => {
    if (!antiRollback || p === null) return;
    const v = readSecureVersion(device, p);
    if (v !== null && v > efuse && v <= efuseBits) efuse = v;
  };
  const imageProblem = (p: Partition): string | null => {
    if (!secureVersionOk(p)) {
      const v = readSecureVersion(device, p);
      return v === null ? 'no app description, so no secure_version (anti-rollback)' : `secure_version ${v} is below the eFuse value ${efuse}`;
    }
    if (!verify) return null;
    let region: RegionFlash;
    try {
      region = new RegionFlash(device, p.offset, p.size, p.label);
    } catch (e) {
      return errorText(e);
    }
    if (opts.checkImage) return opts.checkImage(region, p);
    try {
      const verdict = verifyImageOnDevice(region, { hashes, expectedChip: opts.chip, maxSize: p.size, flashOffset: p.offset });
      if (opts.trust) {
        const sig = verifyDeviceImageSignature(region, { ...opts.trust, chip: opts.trust.chip ?? opts.chip, hashes, imageLength: verdict.size });
        if (!sig.valid) return `Secure Boot signature does not verify: ${sig.reason}`;
      }
      return null;
    } catch (e) {
      if (e instanceof OtaflashError) return errorText(e);
      throw e;
    }
  };

  let entries: [OtaSelectEntry, OtaSelectEntry] | null = null;
  let cur: OtaSelectEntry[] = [];
  let start = FACTORY_INDEX;
  let initialContents = false;
  let active: OtaSector | -1 = -1;
  let reason = '';

  if (s.otadata === null) {
    reason = 'no otadata partition: factory first, then the OTA slots from ota_0';
  } else {
    if (s.otadata.size < OTADATA_SIZE) {
      // read_otadata fails, the bootloader resets: a boot loop.
      return {
        boot: null, label: null, slot: null, activeSector: null, activeStateAfterBoot: null, entries: null, otaCount: s.appCount, writes, tried,
        reason: `otadata partition '${s.otadata.label}' is ${hex(s.otadata.size)} bytes, below ${hex(OTADATA_SIZE)}: the bootloader resets`,
        efuseSecureVersionAfter: antiRollback ? efuse : null,
      };
    }
    entries = readOtadata(new RegionFlash(device, s.otadata.offset, s.otadata.size, s.otadata.label));
    cur = [entries[0], entries[1]];
    if (rollback) {
      // Every PENDING_VERIFY entry was booted once and never confirmed: abort it, CRC or not.
      for (let i = 0; i < 2; i++) {
        if (cur[i].state === OTA_STATE.PENDING_VERIFY) {
          cur[i] = withOtaState(cur[i], OTA_STATE.ABORTED);
          writes.push({ sector: i as OtaSector, entry: cur[i], why: 'PENDING_VERIFY seen at boot: the app never confirmed it' });
        }
      }
    }
    const pair = [cur[0], cur[1]] as const;
    let selectFromEntries = false;
    if (!antiRollback) {
      if ((isOtaEntryInvalid(cur[0]) && isOtaEntryInvalid(cur[1])) || s.appCount === 0) {
        if (s.factory !== null) {
          reason = s.appCount === 0 ? 'no OTA app partitions: factory' : 'both otadata entries invalid (blank, INVALID or ABORTED): factory';
        } else {
          start = 0;
          initialContents = blankOrBadCrc(cur[0], hashes) && blankOrBadCrc(cur[1], hashes);
          reason = 'both otadata entries invalid and no factory app: ota_0';
        }
      } else {
        active = activeOtaSector(pair, hashes);
        selectFromEntries = true;
      }
    } else if (blankOrBadCrc(cur[0], hashes) && blankOrBadCrc(cur[1], hashes)) {
      initialContents = true;
      reason = 'otadata in initial state (anti-rollback): factory if present, then the OTA slots from ota_0';
    } else {
      const acceptable = (e: OtaSelectEntry): boolean =>
        // An index of 16 or more reads past ota[] in the C code; no app description is found there.
        isOtaEntryValid(e, hashes) && s.appCount > 0 && secureVersionOk(partitionAt(s, bootIndexOfSeq(e.seq, s.appCount)));
      active = activeOtaSector(pair, hashes, [acceptable(cur[0]), acceptable(cur[1])]);
      selectFromEntries = true;
    }
    if (selectFromEntries) {
      if (active !== -1) {
        start = bootIndexOfSeq(cur[active].seq, s.appCount);
        reason = `otadata sector ${active} (seq ${cur[active].seq}, ${otaStateName(cur[active].state)}) selects ota_${start}`;
        if (start >= 16) reason += ` (index ${start} of ${s.appCount} OTA records: past the 16 slots the bootloader keeps)`;
        if (rollback && cur[active].state === OTA_STATE.NEW) {
          cur[active] = withOtaState(cur[active], OTA_STATE.PENDING_VERIFY);
          writes.push({ sector: active, entry: cur[active], why: 'NEW selected for its first boot: now PENDING_VERIFY until the app confirms it' });
        }
        if (antiRollback && cur[active].state === OTA_STATE.VALID) raiseEfuse(partitionAt(s, start));
      } else {
        // With anti-rollback an entry can be intact but name an image below the eFuse secure version.
        const why = antiRollback && (isOtaEntryValid(cur[0], hashes) || isOtaEntryValid(cur[1], hashes))
          ? 'no acceptable otadata entry (bad CRCs, or images below the eFuse secure version)'
          : 'no valid otadata entry (bad CRCs)';
        reason = s.factory !== null ? `${why}: factory` : `${why} and no factory: trying every OTA slot from ota_0`;
      }
    }
  }

  // bootloader_utility_load_boot_image: from the start index down to factory, then upward, then test.
  let booted: Partition | null = null;
  let bootedIndex = -2;
  const attempt = (index: number, p: Partition): boolean => {
    const problem = imageProblem(p);
    tried.push(problem === null ? { label: p.label, ok: true } : { label: p.label, ok: false, error: problem });
    if (problem !== null) return false;
    booted = p;
    bootedIndex = index;
    return true;
  };
  let done = false;
  for (let i = start; i >= FACTORY_INDEX && !done; i--) {
    const p = partitionAt(s, i);
    if (p !== null) done = attempt(i, p);
  }
  for (let i = start + 1; i < s.appCount && !done; i++) {
    const p = partitionAt(s, i);
    if (p !== null) done = attempt(i, p);
  }
  if (!done && s.test !== null) done = attempt(-2, s.test);

  if (done && bootedIndex >= 0 && initialContents) {
    // set_actual_ota_seq: the bootloader writes otadata itself once an OTA slot loads from blank otadata.
    const entry = makeOtaEntry(bootedIndex + 1, OTA_STATE.VALID, undefined, hashes);
    writes.push({ sector: 0, entry, why: `otadata in initial state: ota_${bootedIndex} booted, so sector 0 gets seq ${bootedIndex + 1} VALID` });
    raiseEfuse(partitionAt(s, bootedIndex));
  }

  const bootP = booted as Partition | null;
  const fromEntry = active !== -1 && bootP !== null && bootedIndex === start;
  if (bootP === null) reason += '; no bootable app found: the chip resets';
  else if (tried.length > 1) reason += `; fell back to ${bootP.label} after ${tried.length - 1} unbootable image(s)`;
  return {
    boot: bootP,
    label: bootP === null ? null : bootP.label,
    slot: bootP !== null && bootedIndex >= 0 ? bootedIndex : null,
    reason,
    activeSector: fromEntry ? (active as OtaSector) : null,
    activeStateAfterBoot: fromEntry ? cur[active as OtaSector].state : null,
    entries,
    otaCount: s.appCount,
    writes,
    tried,
    efuseSecureVersionAfter: antiRollback ? efuse : null,
  };
}

/** Performs the otadata rewrites of a decision, in order, each verified after writing. */
export function applyBootWrites(device: BlockDevice, table: PartitionTable, decision: BootDecision): void {
  checkBootArguments(device, table, {});
  if (decision === null || typeof decision !== 'object' || !Array.isArray(decision.writes)) {
    throw new OtaflashError('BOOT_BAD_OPTION', `applyBootWrites needs a decision from decideBoot, got ${decision === null ? 'null' : typeof decision}`);
  }
  if (decision.writes.length === 0) return;
  const otadata = scanTable(table).otadata;
  if (otadata === null) {
    throw new OtaflashError('BOOT_NO_OTADATA', 'the boot decision has otadata writes but the partition table has no otadata partition');
  }
  const region = new RegionFlash(device, otadata.offset, otadata.size, otadata.label);
  for (let i = 0; i < decision.writes.length; i++) writeOtaEntry(region, decision.writes[i].sector, decision.writes[i].entry);
}

/** One reboot of a simulated device: decide what boots, then make the bootloader's otadata writes. */
export function simulateReboot(device: BlockDevice, table: PartitionTable, opts: BootOptions = {}): BootDecision {
  const decision = decideBoot(device, table, opts);
  applyBootWrites(device, table, decision);
  return decision;
}
