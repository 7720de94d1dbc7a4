/**
 * One simulated device's flash side: a small MemoryFlash (otadata, two OTA slots, an image store),
 * behind a FaultyFlash whose next power cut is drawn from the device's own seeded generator. Every
 * flash-touching step goes through `guard()`: a cut makes it return null and leaves the device off
 * until `recover()` (new FaultyFlash over the surviving bytes, boot through the bootloader model,
 * reopen the store). The protocol (sim.ts) decides when to call what; this file decides how.
 */
import { OtaflashError, PowerLossError } from '../errors';
import { FAULT_MODES, FaultyFlash } from '../flash/faults';
import { MemoryFlash } from '../flash/memory';
import { RegionFlash } from '../flash/region';
import { randomBelow, seededRandom } from '../flash/rng';
import type { BlockDevice } from '../flash/types';
import { decodeAppDescription } from '../formats/app-image-desc';
import { makeOtaEntry, OTA_STATE, writeOtaEntry } from '../formats/otadata';
import type { Partition, PartitionTable } from '../formats/partition-types';
import { decodeScratchpadItem, parseScratchpad, verifyScratchpad, type ScratchpadSource } from '../formats/scratchpad';
import type { HashProvider } from '../hash/types';
import { simulateReboot } from '../ota/bootloader';
import { OtaEngine } from '../ota/engine';
import { ImageStore } from '../store/store';
import type { StoredImage } from '../store/types';
import { MESH_APP_AREA, MESH_KEYS, itemVersionOf } from './sample';

const SECTOR = 0x1000;
const OTADATA_SIZE = 0x2000;

function roundUp(n: number, m: number): number {
  return Math.ceil(n / m) * m;
}

/** Where things are on every device's flash. */
export interface MeshFlashPlan {
  readonly table: PartitionTable;
  readonly flashSize: number;
  readonly storeOffset: number;
  readonly storeSize: number;
}

/** otadata, two slots that fit `appMax`, and a store for two scratchpads of `scratchpadMax` (the installed one and the next). */
export function meshFlashPlan(appMax: number, scratchpadMax: number, chunkSize: number): MeshFlashPlan {
  const slot = roundUp(appMax, SECTOR);
  const imageSectors = roundUp(scratchpadMax + chunkSize, SECTOR) + SECTOR;
  const storeSize = 2 * imageSectors + SECTOR;
  const ota0 = OTADATA_SIZE;
  const table: PartitionTable = {
    partitions: [
      { label: 'otadata', type: 1, subtype: 0, offset: 0, size: OTADATA_SIZE, flags: 0 },
      { label: 'ota_0', type: 0, subtype: 0x10, offset: ota0, size: slot, flags: 0 },
      { label: 'ota_1', type: 0, subtype: 0x11, offset: ota0 + slot, size: slot, flags: 0 },
    ],
    md5: null,
  };
  return { table, flashSize: ota0 + 2 * slot + storeSize, storeOffset: ota0 + 2 * slot, storeSize };
}

export interface MeshDeviceOptions {
  readonly plan: MeshFlashPlan;
  /** The app every device ships with, in ota_0, selected and confirmed. */
  readonly factoryImage: Uint8Array;
  readonly hashes: HashProvider;
  /** Probability of a power cut at each flash write or erase (0: never). */
  readonly powerCutRate: number;
  readonly seed: number;
  /** Tests only: accept a stored scratchpad without the store's SHA-256 check or the CMAC/deflate verification. */
  readonly unsafeSkipVerify?: boolean;
}

export type ProcessOutcome = 'installed' | 'already-running' | 'refused' | 'cut';

/** Device-side flash totals, kept across power cuts (each cut replaces the MemoryFlash). */
export interface FlashTotals {
  writes: number;
  erases: number;
}

export class MeshDevice {
  private mem: MemoryFlash;
  private dev: BlockDevice;
  private faulty: FaultyFlash | null = null;
  private readonly rand: () => number;
  store: ImageStore | null = null;
  booted: Partition | null = null;
  /** The device is powered (false between a cut and recover()). */
  powered = true;
  powerCuts = 0;
  readonly totals: FlashTotals = { writes: 0, erases: 0 };

  constructor(
    readonly id: number,
    private readonly o: MeshDeviceOptions,
  ) {
    this.rand = seededRandom((o.seed ^ Math.imul(id + 1, 0x85ebca6b)) >>> 0);
    const mem = new MemoryFlash({ size: o.plan.flashSize, eraseSize: SECTOR });
    const ota0 = o.plan.table.partitions[1];
    if (o.factoryImage.length > ota0.size) throw new OtaflashError('MESH_BAD_ARGUMENT', `the factory image of ${o.factoryImage.length} bytes does not fit the ${ota0.size}-byte slot`);
    mem.erase(0, mem.size);
    mem.write(ota0.offset, o.factoryImage);
    writeOtaEntry(new RegionFlash(mem, 0, OTADATA_SIZE), 0, makeOtaEntry(1, OTA_STATE.VALID, undefined, o.hashes));
    mem.stats.writes = 0;
    mem.stats.erases = 0;
    this.mem = mem;
    this.dev = this.armPower(mem);
  }

  /** The next cut: a geometric number of operations from now, a random fault mode. */
  private armPower(mem: MemoryFlash): BlockDevice {
    const p = this.o.powerCutRate;
    if (!(p > 0)) {
      this.faulty = null;
      return mem;
    }
    const u = this.rand();
    const cutAt = Math.floor(Math.log(1 - u) / Math.log(1 - Math.min(p, 0.999999)));
    this.faulty = new FaultyFlash(mem, { cutAt, mode: FAULT_MODES[randomBelow(this.rand, FAULT_MODES.length)], seed: randomBelow(this.rand, 0x7fffffff) });
    return this.faulty;
  }

  /** Runs a flash step; a power cut turns the device off and yields null. Other errors propagate. */
  guard<T>(step: () => T): T | null {
    if (!this.powered) return null;
    try {
      return step();
    } catch (e) {
      if (e instanceof PowerLossError) {
        this.cut();
        return null;
      }
      throw e;
    }
  }

  private cut(): void {
    this.powered = false;
    this.powerCuts++;
    this.store = null;
    this.booted = null;
  }

  /** Flash writes and erases so far, cuts included. */
  flashCounts(): FlashTotals {
    return { writes: this.totals.writes + this.mem.stats.writes, erases: this.totals.erases + this.mem.stats.erases };
  }

  /**
   * Power on (after a cut, or the planned reboot after an install): the bootloader model picks the
   * slot, a new app is confirmed (it runs, so its self-test passes), the store is reopened. False
   * when a cut struck again on the way (call it again later).
   */
  boot(): boolean {
    if (this.faulty && this.faulty.tripped) {
      this.totals.writes += this.mem.stats.writes;
      this.totals.erases += this.mem.stats.erases;
      this.mem = this.faulty.reboot();
      this.dev = this.armPower(this.mem);
    }
    this.powered = true;
    const ok = this.guard(() => {
      const table = this.o.plan.table;
      const d = simulateReboot(this.dev, table, { rollback: true, hashes: this.o.hashes });
      // Nothing bootable: the device is dead (the simulation counts it as a bad boot and leaves it off).
      if (!d.boot) return true;
      this.booted = d.boot;
      if (d.activeStateAfterBoot === OTA_STATE.PENDING_VERIFY) {
        OtaEngine.open(this.dev, { table, rollback: true, running: d.boot, hashes: this.o.hashes }).markValid();
      }
      this.store = ImageStore.open(new RegionFlash(this.dev, this.o.plan.storeOffset, this.o.plan.storeSize), { hashes: this.o.hashes });
      return true;
    });
    return ok === true;
  }

  /** Plain shutdown and restart without a cut (the planned reboot): same flash, new RAM. */
  shutdown(): void {
    this.powered = false;
    this.store = null;
    this.booted = null;
  }

  /** The bytes of the running app's slot, `length` of them (for the simulation's own checks). */
  readRunning(length: number): Uint8Array | null {
    if (!this.booted) return null;
    const out = new Uint8Array(Math.min(length, this.booted.size));
    this.mem.read(this.booted.offset, out);
    return out;
  }

  /** The running app's version string ('' when unknown). */
  runningVersion(): string {
    const head = this.readRunning(32 + 256);
    if (!head) return '';
    const d = decodeAppDescription(head.subarray(32));
    return d ? d.version : '';
  }

  /** A stored image's bytes as a scratchpad source (read where it lies in the store). */
  source(img: StoredImage): ScratchpadSource {
    const store = this.store!;
    return { size: img.size, read: (offset: number, into: Uint8Array) => store.readImage(img.id, offset, into) };
  }

  /**
   * Does the running app carry the version of the scratchpad's app item? An image marked installed
   * while the old app runs means the new one was rolled back (for example a cut between the boot
   * and its confirmation): the device installs it again.
   */
  runsItemOf(img: StoredImage): boolean {
    try {
      const info = parseScratchpad(this.source(img));
      const item = info.items.find((it) => it.areaId === MESH_APP_AREA);
      if (!item) return true;
      const running = itemVersionOf(this.runningVersion());
      return running[0] === item.version[0] && running[1] === item.version[1] && running[2] === item.version[2];
    } catch (e) {
      if (e instanceof OtaflashError) return true; // nothing installable in it: nothing to redo
      throw e;
    }
  }

  /** complete() with the SHA-256 read back; the unsafe test mode trusts the bitmap alone. */
  completeImage(id: number): StoredImage | null {
    return this.guard(() => {
      const store = this.store!;
      if (this.o.unsafeSkipVerify) {
        // Marks it verified against its own expected digest: nothing is read back.
        store.startHash(id);
        return store.finishHash(id, store.get(id)!.sha256);
      }
      try {
        return store.complete(id);
      } catch (e) {
        if (e instanceof OtaflashError && e.code === 'STORE_HASH_MISMATCH') return store.get(id);
        throw e;
      }
    });
  }

  /**
   * Processes a verified scratchpad: the durable 'installing' mark first (so a cut mid-way
   * resumes processing, the command is not lost with the RAM), then the whole scratchpad verified
   * (structure, CRC, CMAC, every item inflated into nothing), then the app item decoded straight
   * into the OTA engine's writer, the new slot selected for boot, 'installed' marked. The caller
   * then reboots the device.
   */
  process(img: StoredImage): ProcessOutcome {
    const r = this.guard((): ProcessOutcome => {
      const store = this.store!;
      if (img.state !== 'installing') store.mark(img.id, 'installing');
      const src = this.source(img);
      let info;
      try {
        info = parseScratchpad(src);
        if (!this.o.unsafeSkipVerify) verifyScratchpad(src, MESH_KEYS, { maxContentOf: () => this.o.plan.table.partitions[1].size });
      } catch (e) {
        if (e instanceof OtaflashError && e.code.indexOf('SCRATCHPAD_') === 0) {
          store.mark(img.id, 'failed');
          return 'refused';
        }
        throw e;
      }
      const item = info.items.find((it) => it.areaId === MESH_APP_AREA);
      if (!item) {
        store.mark(img.id, 'failed');
        return 'refused';
      }
      // A cut after the new slot was selected but before 'installed' was marked boots the new app:
      // processing again would only rewrite the old slot with the same image.
      const running = itemVersionOf(this.runningVersion());
      if (running[0] === item.version[0] && running[1] === item.version[1] && running[2] === item.version[2]) {
        store.mark(img.id, 'installed');
        return 'already-running';
      }
      const table = this.o.plan.table;
      const engine = OtaEngine.open(this.dev, { table, rollback: true, running: this.booted!, hashes: this.o.hashes });
      const writer = engine.begin();
      try {
        decodeScratchpadItem(src, info, item, MESH_KEYS.encrypt, (piece) => writer.write(piece), { maxContent: engine.nextUpdatePartition().size });
        writer.end(); // throws IMAGE_* when the app image does not verify
      } catch (e) {
        if (e instanceof PowerLossError) throw e;
        if (writer.isOpen) writer.abort();
        if (e instanceof OtaflashError) {
          store.mark(img.id, 'failed');
          return 'refused';
        }
        throw e;
      }
      const target = engine.nextUpdatePartition();
      engine.setBootPartition(target);
      store.mark(img.id, 'installed');
      return 'installed';
    });
    return r === null ? 'cut' : r;
  }
}
