/**
 * The OTA engine: choose a slot, stream an image into it, select it for boot, confirm or roll back,
 * resume after a power cut. All state lives on flash (otadata + the slot + the resume log described
 * in progress-record.ts), so `OtaEngine.open()` can rebuild the engine at any moment, for example
 * after every simulated reboot.
 *
 * Every otadata update is ordered so that at every instant at least one entry a real ESP-IDF
 * bootloader trusts points at a bootable slot we intend to boot (the old app until the new one is
 * committed, the new one after). The building block is otadata-commit.ts (kill, erase, program all
 * but the CRC, verify, program the CRC, verify: a sector holds either its old entry or an invalid
 * one, never a half-written trusted one). A = active sector, O = the other one.
 *
 *  - begin(): O is emptied (ESP-IDF's invalidate-inactive-slot, done whatever the rollback setting,
 *    because the resume log lives there) unless O is the only entry naming the running app. A is
 *    never touched, so the bootloader keeps booting the running app. If A names the very slot being
 *    overwritten (the device fell back to another app after that slot failed to verify), O is first
 *    set to the running app with a higher seq: only then is A's slot erased.
 *  - setBootPartition(p): the new entry goes to O, always (also when p is already active, where
 *    ESP-IDF v6 rewrites A in place and a cut between its erase and its write loses the entry). A
 *    keeps the old app in charge until O's CRC lands; from then on O wins (higher seq). Re-selecting
 *    the active slot writes O with the same seq (the idf_v5 rule); when O is sector 1, sector 0 still
 *    wins the tie, exactly as on ESP-IDF v5.
 *  - markValid(), running app still NEW/PENDING_VERIFY: A is rewritten in place with state VALID
 *    (kill, erase, body, CRC) and O, the previous app, is left alone. Until A's CRC lands the
 *    bootloader picks O: a cut before the confirmation is committed behaves as if markValid() had
 *    never been called (rollback, which the bootloader would do anyway), never as "no valid entry".
 *  - markValid(), running app already trusted (UNDEFINED with rollback off, or another bootable
 *    state): ESP-IDF rewrites A in place, and a cut between its erase and its write reverts a
 *    long-running app to the old one. Here O gets the running slot with state VALID and a seq that
 *    wins (the same seq if O is sector 0, which wins ties; seq + N otherwise, which maps to the same
 *    slot); A stays valid until then. Then A is rewritten to hold what O held before (the previous
 *    app, so rollbackPossible() stays true as on ESP-IDF), or a copy of the new entry; O wins
 *    throughout that second write.
 *  - setBootPartition(p) when no entry selects the running OTA app (blank or torn otadata, fallback
 *    boot): an entry for the running app is committed first (sector 0 seq slot+1 when otadata has no
 *    valid entry, as the bootloader's first write would be), so the new selection is never the only
 *    valid entry while the bootloader rewrites it NEW -> PENDING_VERIFY.
 *  - markInvalidAndRollback(): A is rewritten in place with state INVALID, like ESP-IDF. Here that is
 *    safe: from the kill step on, A is not trusted and the bootloader picks O (checked bootable by
 *    rollbackPossible()) or the factory app, which is exactly the rollback we want.
 *  - setBootPartition(factory): both sectors are erased, O first, so until the last erase the old
 *    selection stands.
 */
import { OtaflashError, hex, kindOf } from '../errors';
import type { BlockDevice } from '../flash/types';
import { defaultHashes } from '../hash/portable';
import type { HashProvider } from '../hash/types';
import {
  OTADATA_SECTOR_SIZE,
  OTA_SEQ_EMPTY,
  OTA_STATE,
  type OtaSector,
  type OtaSelectEntry,
  type SetBootVariant,
  activeOtaSector,
  isOtaEntryCrcOk,
  isOtaEntryValid,
  makeOtaEntry,
  nextBootSeqWrite,
  readOtadata,
  slotOfSeq,
  withOtaState,
} from '../formats/otadata';
import {
  factoryPartition,
  isOtaAppPartition,
  isPartition,
  isPartitionTable,
  otaAppCount,
  otaAppSlots,
  otaSlotNumber,
  otadataPartition,
  partitionRegion,
  testPartition,
} from '../formats/partition-lookup';
import { readPartitionTable } from '../formats/partition-table';
import { APP_SUBTYPE_FACTORY, PARTITION_TYPE_APP, type Partition, type PartitionTable } from '../formats/partition-types';
import { verifyImageOnDevice } from '../formats/app-image-verify';
import type { ImageVerdict } from '../formats/app-image-types';
import { verifyDeviceImageSignature, type SignatureCheckOptions } from '../formats/secure-boot-verify';
import { defaultSecureVersionBits } from '../formats/chips';
import { commitOtaEntry, eraseOtaSector, killOtaEntry } from './otadata-commit';
import { u32 } from '../formats/bytes';
import { roundUp } from './erase-plan';
import { RESUME_LOG_OFFSET, type ResumeState, readResumeLog, reopenResumeLog, startResumeLog } from './progress-record';
import { OtaWriter, type OtaWriteOptions, type WriterContext, checkWriteOptions } from './writer';

export interface OtaEngineOptions {
  /** The partition table; read from the device at `tableOffset` when absent. */
  table?: PartitionTable;
  tableOffset?: number;
  /** The app that is running; default: the partition esp_ota_get_boot_partition() names. */
  running?: Partition;
  /** The bootloader has CONFIG_BOOTLOADER_APP_ROLLBACK_ENABLE (default true): new selections are NEW. */
  rollback?: boolean;
  /** CONFIG_BOOTLOADER_APP_ANTI_ROLLBACK (default false). */
  antiRollback?: boolean;
  /** eFuse secure version (anti-rollback); at most efuseSecureVersionBits. */
  efuseSecureVersion?: number;
  /**
   * Width of the eFuse secure version field, 1..32 (CONFIG_BOOTLOADER_APP_SEC_VER_SIZE_EFUSE_FIELD,
   * capped by the chip's field). Default: the chip's width (defaultSecureVersionBits; 32 without
   * `chip`). A confirmed secure_version above it is not reported to onSecureVersionConfirmed:
   * esp_efuse_update_secure_version refuses it and the eFuse stays as it is.
   */
  efuseSecureVersionBits?: number;
  /**
   * With anti-rollback: called by markValid() once the confirmation is on flash, with the running
   * app's secure_version when it is above `efuseSecureVersion` and fits efuseSecureVersionBits. This is where a device burns the
   * eFuse (ESP-IDF raises it at the same point); the engine itself cannot write eFuses.
   */
  onSecureVersionConfirmed?: (secureVersion: number) => void;
  /** Chip id images must be built for (CHIP_IDS); unset accepts any. */
  chip?: number;
  /** Refuse images without an appended SHA-256 (default true). */
  requireHash?: boolean;
  hashes?: HashProvider;
  /** ESP-IDF generation whose set-boot rule to follow when the target is not the active slot. */
  variant?: SetBootVariant;
  /**
   * Signed updates (CONFIG_SECURE_SIGNED_APPS): when set, setBootPartition refuses (OTA_SIGNATURE_INVALID)
   * an image whose Secure Boot V2 signature does not verify with these trusted keys, before otadata
   * is touched. `chip` defaults to the engine's chip.
   */
  trust?: Omit<SignatureCheckOptions, 'imageLength' | 'version' | 'hashes'>;
}

/** An interrupted update found on flash. */
export interface PendingUpdate {
  readonly partition: Partition;
  /** Bytes the resumed writer will already have (the caller continues from here). */
  readonly written: number;
  readonly erased: number;
  readonly size: number | null;
  readonly erase: 'all' | 'sequential';
}

const APP_DESC_AT = 0x20;
const APP_DESC_MAGIC = 0xabcd5432;


function samePartition(a: Partition, b: Partition): boolean {
  return a.offset === b.offset && a.size === b.size && a.type === b.type && a.subtype === b.subtype;
}

export class OtaEngine {
  readonly device: BlockDevice;
  readonly table: PartitionTable;
  /** The running app, or null when the table has no app at all. */
  readonly running: Partition | null;
  readonly rollback: boolean;
  readonly antiRollback: boolean;
  private readonly opts: OtaEngineOptions;
  private readonly hashes: HashProvider;
  private readonly otadata: Partition | undefined;
  private readonly otaRegion: BlockDevice | null;
  private writer: OtaWriter | null = null;
  /** `running` came from otadata, not the caller: begin() checks once that the bootloader could have booted it. */
  private runningUnconfirmed: boolean;
  /**
   * Slots whose image this engine's writer verified from flash in end(), with that verdict (size,
   * SHA-256, app description): setBootPartition need not read them again. An entry is dropped when
   * the engine starts writing that slot again. Writes that bypass the engine cannot be seen; a new
   * engine (after a reboot) remembers nothing and verifies.
   */
  private readonly verified: { slot: Partition; verdict: ImageVerdict }[] = [];
  /** Why the bootloader and the app side would read this table's OTA slots differently, or null. */
  private readonly slotAmbiguity: string | null;

  private constructor(device: BlockDevice, table: PartitionTable, opts: OtaEngineOptions) {
    this.device = device;
    this.table = table;
    this.opts = opts;
    this.hashes = opts.hashes ?? defaultHashes();
    this.rollback = opts.rollback ?? true;
    this.antiRollback = opts.antiRollback ?? false;
    this.otadata = otadataPartition(table);
    this.otaRegion = this.otadata ? partitionRegion(device, this.otadata) : null;
    this.running = opts.running ?? this.bootPartition();
    this.runningUnconfirmed = opts.running === undefined && this.running !== null;
    this.slotAmbiguity = repeatedOtaSubtypes(table);
  }

  /**
   * Writes are refused on a table with repeated OTA app subtypes: the bootloader counts every
   * record and boots the last record of a subtype, while the app side (esp_partition_find_first,
   * esp_ota_get_app_partition_count) writes the first and counts subtypes, so an update would
   * land in a slot that never boots and ota_seq would name different slots on each side.
   */
  private checkWritableTable(op: string): void {
    if (this.slotAmbiguity !== null) throw new OtaflashError('OTA_TABLE_AMBIGUOUS', `${op}: ${this.slotAmbiguity}; refusing to write`);
  }

  /** Builds an engine from what is on the device now. */
  static open(device: BlockDevice, opts: OtaEngineOptions = {}): OtaEngine {
    checkEngineOptions(opts);
    const table = opts.table ?? readPartitionTable(device, opts.tableOffset);
    return new OtaEngine(device, table, opts);
  }

  private slotCount(): number {
    return otaAppCount(this.table);
  }

  /** The ota_N partition of slot t, if present. */
  private slotPartition(t: number): Partition | undefined {
    const slots = otaAppSlots(this.table);
    for (let i = 0; i < slots.length; i++) if (otaSlotNumber(slots[i]) === t) return slots[i];
    return undefined;
  }

  private defaultPartition(): Partition | null {
    return factoryPartition(this.table) ?? otaAppSlots(this.table)[0] ?? testPartition(this.table) ?? null;
  }

  /** Both otadata entries as on flash now (throws OTA_NO_OTADATA without an otadata partition). */
  entries(): [OtaSelectEntry, OtaSelectEntry] {
    return readOtadata(this.requireOtadata());
  }

  private requireOtadata(): BlockDevice {
    if (!this.otaRegion) throw new OtaflashError('OTA_NO_OTADATA', 'the partition table has no otadata (data/ota) partition');
    return this.otaRegion;
  }

  /** What esp_ota_get_boot_partition() says: the slot of the active entry, else the default app. */
  bootPartition(): Partition | null {
    if (!this.otaRegion) return this.defaultPartition();
    const n = this.slotCount();
    const e = readOtadata(this.otaRegion);
    const active = activeOtaSector(e, this.hashes);
    if (n === 0 || active === -1) return this.defaultPartition();
    return this.slotPartition(slotOfSeq(e[active].seq, n)) ?? this.defaultPartition();
  }

  /** ESP-IDF's esp_ota_get_next_update_partition: the OTA slot after `start` (default: running), wrapping. */
  nextUpdatePartition(start: Partition | null = this.running): Partition {
    if (start !== null) checkPartitionArg('nextUpdatePartition', start);
    const slots = otaAppSlots(this.table);
    if (slots.length === 0) throw new OtaflashError('OTA_NO_SLOT', 'the partition table has no OTA app partition (ota_0..ota_15)');
    if (start && isOtaAppPartition(start)) {
      for (let i = 0; i < slots.length; i++) {
        if (samePartition(slots[i], start)) return slots[(i + 1) % slots.length];
      }
    }
    return slots[0];
  }

  /** esp_ota_get_state_partition: the state of the first entry (sector 0 first) that maps to p's slot with a good CRC; null if none. */
  slotState(p: Partition): number | null {
    checkPartitionArg('slotState', p);
    if (!isOtaAppPartition(p)) throw new OtaflashError('OTA_BAD_SLOT', `${p.label} is not an OTA app partition, it has no otadata state`);
    if (!this.otaRegion) return null;
    const n = this.slotCount();
    const t = otaSlotNumber(p);
    if (n === 0 || t >= n) return null;
    const e = readOtadata(this.otaRegion);
    for (let s = 0; s < 2; s++) {
      if (e[s].seq !== OTA_SEQ_EMPTY && isOtaEntryCrcOk(e[s], this.hashes) && slotOfSeq(e[s].seq, n) === t) return e[s].state;
    }
    return null;
  }

  private checkInTable(p: Partition, op: string): Partition {
    checkPartitionArg(op, p);
    const list = this.table.partitions;
    for (let i = 0; i < list.length; i++) if (samePartition(list[i], p)) return list[i];
    throw new OtaflashError('OTA_NOT_FOUND', `partition ${p.label} at ${hex(p.offset)} is not in the partition table`);
  }

  /** secure_version of the image in a partition, read from its app description (null without one). */
  private storedSecureVersion(p: Partition): number | null {
    if (p.size < APP_DESC_AT + 8) return null;
    const b = new Uint8Array(8);
    this.device.read(p.offset + APP_DESC_AT, b);
    return u32(b, 0) === APP_DESC_MAGIC ? u32(b, 4) : null;
  }

  private secureVersionFloor(): number | null {
    if (!this.antiRollback) return null;
    let floor = this.opts.efuseSecureVersion ?? 0;
    if (this.running) {
      const v = this.storedSecureVersion(this.running);
      if (v !== null && v > floor) floor = v;
    }
    return floor;
  }

  /** The `trust` check of setBootPartition: a signature that does not verify stops it before otadata. */
  private checkSignature(p: Partition, verdict: ImageVerdict | null): void {
    const trust = this.opts.trust!;
    const v = verifyDeviceImageSignature(partitionRegion(this.device, p), {
      ...trust,
      chip: trust.chip ?? this.opts.chip,
      hashes: this.hashes,
      imageLength: verdict ? verdict.size : undefined,
    });
    if (!v.valid) {
      throw new OtaflashError('OTA_SIGNATURE_INVALID', `${p.label}: the image's Secure Boot signature does not verify (${v.reason}); boot partition left as it was`, { label: p.label, reason: v.reason, signatureOffset: v.signatureOffset });
    }
  }

  private verifySlot(p: Partition, requireHash = this.opts.requireHash ?? true): ImageVerdict {
    return verifyImageOnDevice(partitionRegion(this.device, p), { hashes: this.hashes, expectedChip: this.opts.chip, maxSize: p.size, flashOffset: p.offset, requireHash });
  }

  private checkNoWriter(op: string): void {
    if (this.writer && this.writer.isOpen) {
      throw new OtaflashError('OTA_ALREADY_IN_PROGRESS', `${op}: an update of ${this.writer.partition.label} is in progress; end() or abort() it first`);
    }
  }

  /**
   * Without `running` from the caller, the running app is taken to be the one otadata selects.
   * If that image does not boot, the bootloader booted another app (its fallback), which may be
   * the very slot about to be erased: refuse when the target holds a bootable image rather than
   * guess. Costs one verification of the selected image, once per engine.
   */
  private checkRunningKnown(target: Partition): void {
    if (!this.runningUnconfirmed || !this.running) return;
    if (this.bootable(this.running)) {
      this.runningUnconfirmed = false;
      return;
    }
    if (this.bootable(target)) {
      throw new OtaflashError(
        'OTA_RUNNING_UNKNOWN',
        `otadata selects ${this.running.label}, but its image does not verify, so the bootloader booted another app, maybe the one in ${target.label}; refusing to erase it. Pass { running } to OtaEngine.open (or { running: decideBoot(device, table).boot })`,
      );
    }
  }

  /** The bootloader's test of an image: an appended hash is checked when present, not required. */
  private bootable(p: Partition): boolean {
    return this.verifies(p, false, false);
  }

  private checkRunningConfirmed(op: string): void {
    if (!this.rollback || !this.running || !isOtaAppPartition(this.running)) return;
    if (this.slotState(this.running) === OTA_STATE.PENDING_VERIFY) {
      throw new OtaflashError('OTA_ROLLBACK_INVALID_STATE', `${op}: the running app ${this.running.label} is still PENDING_VERIFY; markValid() it (or roll back) before starting another update`);
    }
  }

  /**
   * Starts writing an image into `slot` (default nextUpdatePartition()). Erases per `opts.erase`;
   * with a step budget, nothing is erased here: call writer.eraseStep() (or just write()).
   */
  begin(slot?: Partition, opts: OtaWriteOptions = {}): OtaWriter {
    this.checkNoWriter('begin');
    this.checkWritableTable('begin');
    checkOptionsArg('begin', opts);
    const target = this.checkInTable(slot ?? this.nextUpdatePartition(), 'begin');
    if (!isOtaAppPartition(target)) {
      throw new OtaflashError('OTA_BAD_SLOT', `${target.label} (type ${target.type}, subtype ${hex(target.subtype)}) is not an OTA app slot; only ota_0..ota_15 can be updated`);
    }
    if (this.running && samePartition(target, this.running)) {
      throw new OtaflashError('OTA_PARTITION_CONFLICT', `${target.label} is the running app; it cannot be overwritten`);
    }
    this.checkRunningKnown(target);
    this.checkRunningConfirmed('begin');
    const mode = opts.erase ?? 'all';
    if (mode !== 'all' && mode !== 'sequential') throw new OtaflashError('OTA_BAD_ARGUMENT', `erase must be 'all' or 'sequential', got '${mode}'`);
    checkWriteOptions(opts);
    let size: number | null = null;
    if (opts.size !== undefined && opts.size !== 0) {
      if (!(opts.size > 0 && opts.size === Math.floor(opts.size))) throw new OtaflashError('OTA_BAD_ARGUMENT', `size ${opts.size} is not a positive integer`);
      if (opts.size > target.size) {
        throw new OtaflashError('OTA_IMAGE_TOO_LARGE', `image of ${hex(opts.size)} bytes does not fit in ${target.label} (${hex(target.size)} bytes)`, { size: opts.size, slotSize: target.size });
      }
      size = opts.size;
    }
    const region = partitionRegion(this.device, target);
    const es = region.eraseSize;
    const eraseLimit = Math.min(roundUp(size ?? target.size, es), Math.floor(target.size / es) * es);
    const log = this.prepareOtadataForWrite(target, {
      eraseMode: mode,
      subtype: target.subtype,
      slotOffset: target.offset,
      slotSize: target.size,
      size,
      eraseLimit,
      eraseBudget: opts.maxEraseBytesPerStep ?? null,
    });
    const w = this.makeWriter(target, region, opts, log, eraseLimit, size, 0, 0, 0);
    if (mode === 'all' && opts.maxEraseBytesPerStep === undefined && opts.maxEraseMsPerStep === undefined) w.eraseStep(Infinity);
    return w;
  }

  private makeWriter(
    target: Partition,
    region: BlockDevice,
    opts: OtaWriteOptions,
    log: WriterContext['log'],
    eraseLimit: number,
    size: number | null,
    written: number,
    erased: number,
    dirtyEnd: number,
  ): OtaWriter {
    const ctx: WriterContext = {
      slot: target,
      region,
      hashes: this.hashes,
      chip: this.opts.chip,
      requireHash: this.opts.requireHash ?? true,
      secureVersionFloor: this.secureVersionFloor(),
      log,
      eraseLimit,
      size,
      written,
      erased,
      dirtyEnd,
      onClose: (wr, verdict) => {
        if (this.writer === wr) this.writer = null;
        if (verdict) this.verified.push({ slot: target, verdict });
      },
    };
    // Drop any earlier verification of this slot: its bytes are about to change.
    this.forgetVerified(target);
    const w = new OtaWriter(ctx, opts);
    this.writer = w;
    return w;
  }

  private forgetVerified(slot: Partition): void {
    for (let i = this.verified.length - 1; i >= 0; i--) if (samePartition(this.verified[i].slot, slot)) this.verified.splice(i, 1);
  }

  /** The verdict this engine's writer gave `slot` in end(), if nothing has been written to it since. */
  private rememberedVerdict(slot: Partition): ImageVerdict | null {
    for (let i = 0; i < this.verified.length; i++) if (samePartition(this.verified[i].slot, slot)) return this.verified[i].verdict;
    return null;
  }

  /**
   * Gets otadata ready for overwriting `target` and starts the resume log. Returns the log handle,
   * or null when there is no otadata or no room for a log.
   */
  private prepareOtadataForWrite(target: Partition, header: Parameters<typeof startResumeLog>[2]): WriterContext['log'] {
    const region = this.otaRegion;
    if (!region) return null;
    const n = this.slotCount();
    let e = readOtadata(region);
    let active = activeOtaSector(e, this.hashes);
    const runningSlot = this.running ? otaSlotNumber(this.running) : -1;
    if (n > 0 && active !== -1 && slotOfSeq(e[active].seq, n) === otaSlotNumber(target)) {
      // The bootloader's choice is the slot we are about to erase (we run as its fallback). Point
      // otadata at what runs before destroying the selected image.
      if (runningSlot >= 0 && runningSlot < n) {
        const w = nextBootSeqWrite(e, runningSlot, n, 'idf_v5', this.hashes);
        const other: OtaSector = active === 0 ? 1 : 0;
        const seq = w.sector === other ? w.seq : this.winningSeq(e, active, runningSlot, n);
        commitOtaEntry(region, other, makeOtaEntry(seq, this.rollback ? OTA_STATE.VALID : OTA_STATE.UNDEFINED, e[other].seqLabel, this.hashes), this.hashes);
      } else {
        // Running the factory (or test) app: select it the ESP-IDF way, by erasing otadata.
        eraseOtaSector(region, active === 0 ? 1 : 0, this.hashes);
        eraseOtaSector(region, active, this.hashes);
      }
      e = readOtadata(region);
      active = activeOtaSector(e, this.hashes);
    }
    // A bootloader that finds no active entry writes sector 0 itself, so the log then goes to sector 1.
    const sector: OtaSector = active === 0 ? 1 : 0;
    const logSector: OtaSector = active === -1 ? 1 : sector;
    const old = e[logSector];
    const namesRunning = n > 0 && runningSlot >= 0 && isOtaEntryValid(old, this.hashes) && slotOfSeq(old.seq, n) === runningSlot;
    const activeNamesRunning = active !== -1 && slotOfSeq(e[active].seq, n) === runningSlot;
    if (namesRunning && !activeNamesRunning) {
      // Keep the only entry naming the running app (ESP-IDF keeps it too); log only if its tail is clean.
      if (!this.logAreaErased(region, logSector)) return null;
    } else {
      eraseOtaSector(region, logSector, this.hashes);
    }
    return startResumeLog(region, logSector, header, this.hashes);
  }

  /** A seq for `slot` above the active entry's seq (so the other sector wins whatever its index). */
  private winningSeq(e: readonly OtaSelectEntry[], active: number, slot: number, n: number): number {
    const cur = e[active].seq;
    let seq = cur + 1;
    while (slotOfSeq(seq, n) !== slot) seq++;
    if (seq >= OTA_SEQ_EMPTY) throw new OtaflashError('OTADATA_SEQ_OVERFLOW', `the next ota_seq after ${hex(cur)} does not fit in 32 bits`);
    return seq;
  }

  private logAreaErased(region: BlockDevice, sector: OtaSector): boolean {
    const buf = new Uint8Array(OTADATA_SECTOR_SIZE - RESUME_LOG_OFFSET);
    region.read(sector * OTADATA_SECTOR_SIZE + RESUME_LOG_OFFSET, buf);
    for (let i = 0; i < buf.length; i++) if (buf[i] !== region.eraseValue) return false;
    return true;
  }

  private findResumeLog(): ResumeState | null {
    const region = this.otaRegion;
    if (!region) return null;
    const a = readResumeLog(region, 0, this.hashes);
    const b = readResumeLog(region, 1, this.hashes);
    return b ?? a;
  }

  private resumeTarget(r: ResumeState): Partition | null {
    const list = this.table.partitions;
    for (let i = 0; i < list.length; i++) {
      const p = list[i];
      if (p.offset === r.header.slotOffset && p.size === r.header.slotSize && p.subtype === r.header.subtype && isOtaAppPartition(p)) return p;
    }
    return null;
  }

  /** The interrupted update on flash, if any (and if it still fits the partition table and the running app). */
  pendingUpdate(): PendingUpdate | null {
    const r = this.findResumeLog();
    if (!r) return null;
    const p = this.resumeTarget(r);
    if (!p || (this.running && samePartition(p, this.running))) return null;
    return { partition: p, written: r.written, erased: r.erased, size: r.header.size, erase: r.header.eraseMode };
  }

  /**
   * Continues the update an earlier engine left unfinished (power cut, reset). Nothing already on
   * flash is erased or re-sent: the writer's `offset` says where the caller's data continues. The
   * written prefix is read back once into the verifier, so end() still judges every byte.
   */
  resume(opts: Omit<OtaWriteOptions, 'size' | 'erase'> = {}): OtaWriter {
    this.checkNoWriter('resume');
    this.checkWritableTable('resume');
    checkOptionsArg('resume', opts);
    const r = this.findResumeLog();
    const p = r ? this.resumeTarget(r) : null;
    if (!r || !p) throw new OtaflashError('OTA_NOTHING_TO_RESUME', r ? 'the interrupted update was for a partition no longer in the table' : 'no interrupted update is recorded on this device');
    if (this.running && samePartition(p, this.running)) throw new OtaflashError('OTA_PARTITION_CONFLICT', `the interrupted update was for ${p.label}, which is now the running app`);
    this.checkRunningConfirmed('resume');
    checkWriteOptions(opts);
    const region = partitionRegion(this.device, p);
    // Bytes programmed after the last checkpoint may sit between it and the erased end.
    let dirtyEnd = r.written;
    if (r.erased > r.written) {
      const buf = new Uint8Array(r.erased - r.written);
      region.read(r.written, buf);
      for (let i = buf.length - 1; i >= 0; i--) {
        if (buf[i] !== region.eraseValue) {
          dirtyEnd = r.written + i + 1;
          break;
        }
      }
    }
    const log = reopenResumeLog(this.otaRegion!, r);
    // The erase budget is kept across the reset (as a power of two), so a resumed download stays
    // within the watchdog budget the caller chose unless it passes another one.
    const merged: OtaWriteOptions = { erase: r.header.eraseMode, size: r.header.size ?? undefined };
    if (r.header.eraseBudget) merged.maxEraseBytesPerStep = r.header.eraseBudget;
    for (const k in opts) (merged as Record<string, unknown>)[k] = (opts as Record<string, unknown>)[k];
    return this.makeWriter(p, region, merged, log, r.header.eraseLimit, r.header.size, r.written, r.erased, dirtyEnd);
  }

  /**
   * Selects `p` for the next boot (esp_ota_set_boot_partition): verifies its image (skipped when
   * this engine has just verified it while writing, unless `verify: true`), then writes otadata as
   * described at the top of this file.
   */
  setBootPartition(p: Partition, opts: { verify?: boolean } = {}): void {
    this.checkNoWriter('setBootPartition');
    this.checkWritableTable('setBootPartition');
    checkOptionsArg('setBootPartition', opts);
    const part = this.checkInTable(p, 'setBootPartition');
    if (part.type !== PARTITION_TYPE_APP) throw new OtaflashError('OTA_BAD_SLOT', `${part.label} is not an app partition`);
    const region = this.requireOtadata();
    // The slot this engine has just written and verified from flash is not hashed a second time.
    const remembered = opts.verify === true ? null : this.rememberedVerdict(part);
    const verdict = remembered ?? this.verifySlot(part);
    if (this.opts.trust) this.checkSignature(part, verdict);
    if (part.subtype === APP_SUBTYPE_FACTORY) {
      const e = readOtadata(region);
      const active = activeOtaSector(e, this.hashes);
      const first: OtaSector = active === 0 ? 1 : 0;
      eraseOtaSector(region, first, this.hashes);
      eraseOtaSector(region, first === 0 ? 1 : 0, this.hashes);
      return;
    }
    if (!isOtaAppPartition(part)) throw new OtaflashError('OTA_BAD_SLOT', `${part.label} is neither the factory app nor an OTA slot`);
    if (this.antiRollback) {
      const v = verdict.appDesc ? verdict.appDesc.secureVersion : 0;
      const efuse = this.opts.efuseSecureVersion ?? 0;
      if (v < efuse) throw new OtaflashError('OTA_SMALL_SEC_VER', `${part.label} has secure_version ${v}, below the eFuse value ${efuse}`, { secureVersion: v, efuse });
    }
    const n = this.slotCount();
    const t = otaSlotNumber(part);
    if (t >= n) throw new OtaflashError('OTA_BAD_SLOT', `${part.label} is slot ${t}, but the app side counts ${n} contiguous OTA slots (ota_0..ota_${n - 1})`);
    this.selectRunningFirst(region, n, t);
    const e = readOtadata(region);
    const active = activeOtaSector(e, this.hashes);
    let w = nextBootSeqWrite(e, t, n, this.opts.variant ?? 'idf_v6', this.hashes);
    if (active !== -1 && w.sector === active) w = nextBootSeqWrite(e, t, n, 'idf_v5', this.hashes);
    const state = this.rollback ? OTA_STATE.NEW : OTA_STATE.UNDEFINED;
    commitOtaEntry(region, w.sector, makeOtaEntry(w.seq, state, e[w.sector].seqLabel, this.hashes), this.hashes);
  }

  /**
   * When no entry selects the running OTA app (blank or torn otadata, or a fallback boot), commit
   * one for it before selecting another slot. Otherwise the new selection would be the only valid
   * entry, and a cut inside the bootloader's in-place NEW -> PENDING_VERIFY rewrite of it would
   * leave otadata empty, so the blank default (ota_0: maybe the unconfirmed new app) would boot.
   */
  private selectRunningFirst(region: BlockDevice, n: number, target: number): void {
    const r = this.running;
    if (!r || !isOtaAppPartition(r)) return;
    const rs = otaSlotNumber(r);
    if (rs >= n || rs === target) return;
    const e = readOtadata(region);
    const active = activeOtaSector(e, this.hashes);
    if (active !== -1 && slotOfSeq(e[active].seq, n) === rs) return;
    const state = this.rollback ? OTA_STATE.VALID : OTA_STATE.UNDEFINED;
    if (active === -1) {
      // What the bootloader's own first write would have been.
      commitOtaEntry(region, 0, makeOtaEntry(rs + 1, state, e[0].seqLabel, this.hashes), this.hashes);
      return;
    }
    const other: OtaSector = active === 0 ? 1 : 0;
    commitOtaEntry(region, other, makeOtaEntry(this.winningSeq(e, active, rs, n), state, e[other].seqLabel, this.hashes), this.hashes);
  }

  /** The active entry, checked to be the running app's (markValid / markInvalid need that). */
  private activeRunning(op: string): { e: [OtaSelectEntry, OtaSelectEntry]; active: OtaSector; n: number } {
    const region = this.requireOtadata();
    const n = this.slotCount();
    const e = readOtadata(region);
    const active = activeOtaSector(e, this.hashes);
    if (n === 0 || active === -1 || !this.running || !isOtaAppPartition(this.running)) {
      throw new OtaflashError('OTA_RUNNING_FACTORY', `${op}: otadata selects no OTA slot (the running firmware is the factory/default app)`);
    }
    if (slotOfSeq(e[active].seq, n) !== otaSlotNumber(this.running)) {
      throw new OtaflashError('OTA_SELECT_INFO_INVALID', `${op}: otadata selects ota_${slotOfSeq(e[active].seq, n)}, not the running app ${this.running.label}`);
    }
    return { e, active, n };
  }

  /** Confirms the running app (esp_ota_mark_app_valid_cancel_rollback), power-cut safe. */
  markValid(): void {
    this.checkNoWriter('markValid');
    this.checkWritableTable('markValid');
    const { e, active, n } = this.activeRunning('markValid');
    if (e[active].state === OTA_STATE.VALID) return;
    const region = this.otaRegion!;
    const other: OtaSector = active === 0 ? 1 : 0;
    if (e[active].state === OTA_STATE.PENDING_VERIFY || e[active].state === OTA_STATE.NEW) {
      // Unconfirmed: a cut before the confirmation lands must behave as "never confirmed", i.e.
      // roll back to O. So O (the previous app) stays untouched and A is rewritten in place; from
      // its kill step until its CRC lands the bootloader picks O, exactly the rollback it would
      // have done anyway at the next boot.
      commitOtaEntry(region, active, withOtaState(e[active], OTA_STATE.VALID), this.hashes);
      this.reportConfirmedSecureVersion();
      return;
    }
    const cur = e[active].seq;
    const runningSlot = otaSlotNumber(this.running!);
    // Sector 0 wins ties, so there the same seq is enough; sector 1 needs the next seq of this slot.
    const seq = other === 0 ? cur : cur + n;
    if (seq >= OTA_SEQ_EMPTY) throw new OtaflashError('OTADATA_SEQ_OVERFLOW', `the next ota_seq after ${hex(cur)} does not fit in 32 bits`);
    const confirmed = makeOtaEntry(seq, OTA_STATE.VALID, e[other].seqLabel, this.hashes);
    const previous = e[other];
    commitOtaEntry(region, other, confirmed, this.hashes);
    const keep = previous.seq !== OTA_SEQ_EMPTY && isOtaEntryCrcOk(previous, this.hashes) && slotOfSeq(previous.seq, n) !== runningSlot;
    // Put the previous app's entry back into A so a later rollback still has a target. Without one
    // (the previous app was factory), A's old entry for this slot is retired instead: a second
    // entry naming the running slot would survive a later rollback and boot it again.
    if (keep) commitOtaEntry(region, active, previous, this.hashes);
    else killOtaEntry(region, active, this.hashes);
    this.reportConfirmedSecureVersion();
  }

  private reportConfirmedSecureVersion(): void {
    const report = this.opts.onSecureVersionConfirmed;
    if (!this.antiRollback || !report || !this.running) return;
    const v = this.storedSecureVersion(this.running);
    // esp_efuse_update_secure_version refuses a version wider than the field and burns nothing.
    const bits = this.opts.efuseSecureVersionBits ?? defaultSecureVersionBits(this.opts.chip);
    if (v !== null && v > (this.opts.efuseSecureVersion ?? 0) && v <= bits) report(v);
  }

  /**
   * esp_ota_check_rollback_is_possible: the other entry is valid and its slot holds a verifiable
   * image (with an acceptable secure_version), or, without anti-rollback, a factory app verifies.
   */
  rollbackPossible(): boolean {
    return this.rollbackTarget() !== null;
  }

  /**
   * Where markInvalidAndRollback() would send the next boot: the app of the other otadata entry
   * when it is valid, names another slot and verifies; when the other entry is not valid (without
   * anti-rollback) a verifying factory app, which the bootloader falls back to; else null. As
   * esp_ota_check_rollback_is_possible: a valid other entry whose image fails does not make factory
   * the target, because the bootloader would try that slot, fail, and fall back through the OTA
   * slots (the rejected app among them) before it reached factory.
   */
  rollbackTarget(): Partition | null {
    if (!this.otaRegion) return null;
    const n = this.slotCount();
    const e = readOtadata(this.otaRegion);
    const active = activeOtaSector(e, this.hashes);
    if (active === -1 || n === 0) return null;
    const o = e[active === 0 ? 1 : 0];
    // A second entry for the running slot is not a target: markInvalidAndRollback retires it.
    if (isOtaEntryValid(o, this.hashes) && slotOfSeq(o.seq, n) !== slotOfSeq(e[active].seq, n)) {
      const p = this.slotPartition(slotOfSeq(o.seq, n));
      return p && this.verifies(p, true) ? p : null;
    }
    const f = factoryPartition(this.table);
    return !this.antiRollback && f !== undefined && this.verifies(f, false) ? f : null;
  }

  private verifies(p: Partition, checkSecureVersion: boolean, requireHash?: boolean): boolean {
    try {
      const v = this.verifySlot(p, requireHash);
      if (checkSecureVersion && this.antiRollback) {
        const sv = v.appDesc ? v.appDesc.secureVersion : 0;
        if (sv < (this.opts.efuseSecureVersion ?? 0)) return false;
      }
      return true;
    } catch (err) {
      if (err instanceof OtaflashError && err.code.indexOf('IMAGE_') === 0) return false;
      throw err;
    }
  }

  /**
   * Marks the running app INVALID so the next boot rolls back (esp_ota_mark_app_invalid_rollback;
   * the caller reboots). OTA_ROLLBACK_FAILED when there is nothing to roll back to.
   */
  markInvalidAndRollback(): void {
    this.checkNoWriter('markInvalidAndRollback');
    this.checkWritableTable('markInvalidAndRollback');
    if (!this.rollbackPossible()) throw new OtaflashError('OTA_ROLLBACK_FAILED', 'nothing to roll back to: the other otadata entry names an app that does not verify (the bootloader would fall back through the OTA slots, this one included), or there is neither a valid other entry nor a verifying factory app');
    const { e, active, n } = this.activeRunning('markInvalidAndRollback');
    const other: OtaSector = active === 0 ? 1 : 0;
    // Another valid entry for the running slot (left by an older otaflash or a torn erase) would be
    // the bootloader's next choice: retire it first, so no instant boots the rejected app "validly".
    if (isOtaEntryValid(e[other], this.hashes) && slotOfSeq(e[other].seq, n) === slotOfSeq(e[active].seq, n)) killOtaEntry(this.otaRegion!, other, this.hashes);
    commitOtaEntry(this.otaRegion!, active, withOtaState(e[active], OTA_STATE.INVALID), this.hashes);
  }
}

/** A caller's partition argument must at least look like a Partition (JS callers pass anything). */
function checkPartitionArg(op: string, p: unknown): void {
  // Type and subtype too: the engine classifies slots by them.
  if (!isPartition(p) || typeof p.type !== 'number' || typeof p.subtype !== 'number') {
    throw new OtaflashError('OTA_BAD_ARGUMENT', `${op}: expected a partition from the table (with label, type, subtype, offset, size), got ${kindOf(p)}`);
  }
}

function checkOptionsArg(op: string, opts: unknown): void {
  if (opts === null || typeof opts !== 'object') throw new OtaflashError('OTA_BAD_ARGUMENT', `${op}: options must be an object, got ${kindOf(opts)}`);
}

/** Options from plain JS: a wrong type would otherwise be a TypeError deep inside, or silently truthy ('no' as rollback). */
function checkEngineOptions(opts: unknown): void {
  checkOptionsArg('OtaEngine.open', opts);
  const o = opts as Record<string, unknown>;
  const bad = (what: string): never => {
    throw new OtaflashError('OTA_BAD_ARGUMENT', `OtaEngine.open: ${what}`);
  };
  for (const k of ['rollback', 'antiRollback', 'requireHash']) {
    if (o[k] !== undefined && typeof o[k] !== 'boolean') bad(`${k} must be true or false, got ${typeof o[k] === 'string' ? `'${String(o[k])}'` : typeof o[k]}`);
  }
  for (const k of ['efuseSecureVersion', 'chip', 'tableOffset']) {
    const v = o[k];
    if (v !== undefined && !(typeof v === 'number' && v >= 0 && v === Math.floor(v) && v <= 0xffffffff)) bad(`${k} must be a whole number, got ${typeof v === 'string' ? `'${v}'` : String(v)}`);
  }
  const bits = o.efuseSecureVersionBits;
  if (bits !== undefined && !(typeof bits === 'number' && bits >= 1 && bits <= 32 && bits === Math.floor(bits))) bad(`efuseSecureVersionBits must be a whole number of bits from 1 to 32, got ${String(bits)}`);
  const width = typeof bits === 'number' ? bits : defaultSecureVersionBits(typeof o.chip === 'number' ? o.chip : undefined);
  if (o.antiRollback === true && typeof o.efuseSecureVersion === 'number' && o.efuseSecureVersion > width) {
    bad(`efuseSecureVersion ${o.efuseSecureVersion} does not fit a ${width}-bit eFuse field (efuseSecureVersionBits)`);
  }
  if (o.table !== undefined && !isPartitionTable(o.table)) bad('table must be a partition table ({ partitions: [...] }), for example from readPartitionTable()');
  const h = o.hashes as Record<string, unknown> | undefined;
  if (h !== undefined && (h === null || typeof h !== 'object' || typeof h.sha256 !== 'function' || typeof h.md5 !== 'function' || typeof h.crc32 !== 'function')) {
    bad('hashes must be a HashProvider (sha256(), md5(), crc32()), such as portableHashes or nodeHashes');
  }
  if (o.running !== undefined) checkPartitionArg('OtaEngine.open running', o.running);
  if (o.variant !== undefined && o.variant !== 'idf_v5' && o.variant !== 'idf_v6') bad(`variant must be 'idf_v5' or 'idf_v6', got ${String(o.variant)}`);
  if (o.onSecureVersionConfirmed !== undefined && typeof o.onSecureVersionConfirmed !== 'function') bad('onSecureVersionConfirmed must be a function');
}

/** A description of the repeated OTA app subtypes in `table`, or null when each appears once. */
function repeatedOtaSubtypes(table: PartitionTable): string | null {
  const seen: number[] = [];
  const repeated: string[] = [];
  let records = 0;
  for (let i = 0; i < table.partitions.length; i++) {
    const p = table.partitions[i];
    if (!isOtaAppPartition(p)) continue;
    records++;
    const slot = otaSlotNumber(p);
    if (seen.indexOf(slot) >= 0 && repeated.indexOf(`ota_${slot}`) < 0) repeated.push(`ota_${slot}`);
    seen.push(slot);
  }
  if (repeated.length === 0) return null;
  return `the partition table repeats OTA app subtype${repeated.length > 1 ? 's' : ''} ${repeated.join(', ')}: the bootloader counts ${records} OTA slots and boots the last record of each subtype, the app side counts ${otaAppCount(table)} and writes the first`;
}
