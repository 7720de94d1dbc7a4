/**
 * What a power-loss proof flow runs in: the scenario contract, the fenced and counting device, the
 * world (engine, reboot through the bootloader model) and the invariants checked at every boot.
 * The sweeps that drive it are in prove.ts.
 */
import { OtaflashError, hex } from '../errors';
import type { MemoryFlash, FlashSnapshot } from '../flash/memory';
import type { BlockDevice } from '../flash/types';
import type { HashProvider } from '../hash/types';
import { OTA_SEQ_EMPTY, OTA_STATE, isOtaEntryCrcOk, isOtaEntryValid, otaStateName, type OtaSelectEntry } from '../formats/otadata';
import { APP_SUBTYPE_FACTORY, PARTITION_TYPE_APP, type Partition, type PartitionTable } from '../formats/partition-types';
import { applyBootWrites, decideBoot, type BootDecision, type BootOptions } from '../ota/bootloader';
import { OtaEngine } from '../ota/engine';

// ---------------------------------------------------------------------------------------------
// Scenario contract

export interface ProveImage {
  /** Short name used in reports: 'old', 'new', 'third'. */
  readonly name: string;
  readonly bytes: Uint8Array;
}

/** The device a scenario starts from. */
export interface ProveSetup {
  /** Starting contents (the harness works on this device and restores it between cuts). */
  readonly device: MemoryFlash;
  readonly table: PartitionTable;
  /** Every image that may legitimately boot during the flow. */
  readonly images: readonly ProveImage[];
  /** Which image each app partition holds at the start, by label (for telling equal images apart). */
  readonly slots: { readonly [label: string]: string };
  /** Labels of the partitions the flow may change; anything else must stay byte-identical. */
  readonly writable: readonly string[];
}

/** What the device must look like once the flow (or the recovery after a cut) is done. */
export interface ProveGoal {
  /** The image the next boot must run. */
  readonly image: string;
  /** The otadata state the booting entry must have (for example VALID once confirmed). */
  readonly state?: number;
}

export interface ProveScenario {
  /** Unique key, `name@layout`, used in replay ids. */
  readonly key: string;
  readonly name: string;
  readonly layout: string;
  readonly summary: string;
  /** CONFIG_BOOTLOADER_APP_ROLLBACK_ENABLE for the bootloader model and the engine. */
  readonly rollback: boolean;
  readonly chip?: number;
  /** Secure Boot trust for the engine and the bootloader model (signed scenarios); unset: none. */
  readonly trust?: BootOptions['trust'];
  setup(): ProveSetup;
  /** The flow. Starts with the app the bootloader picks on the setup contents already running. */
  run(w: ProveWorld): void;
  /** After a cut the harness reboots once, then calls this: drive the engine to the goal. */
  recover(w: ProveWorld): void;
  readonly goal: ProveGoal;
  /**
   * A feature's own invariants (an image store's states, a delta's resume log), checked after the
   * clean run and after every recovery, once the boot goal holds. Throws ProveViolation.
   */
  check?(w: ProveWorld): void;
}

/** Things that happened, for the invariants. `at` counts flash operations from the start of the branch. */
export interface ProveEvent {
  readonly kind: 'boot' | 'write-start' | 'select-start' | 'select-done' | 'confirm-start' | 'confirm-done' | 'rollback-start' | 'rollback-done';
  readonly image: string;
  readonly at: number;
  /** write-start: the partition written. boot: the partition booted. rollback-start: where the rollback goes (rollbackTarget). */
  readonly slot?: string;
  /** boot: the state of the selecting entry after the bootloader's writes (null when not booted from an entry). */
  readonly state?: number | null;
  /** boot: the bootloader wrote the initial otadata entry itself. */
  readonly initialWrite?: boolean;
}

/** A broken invariant. `rule` is a stable name, the message says what was seen. */
export class ProveViolation extends Error {
  constructor(
    readonly rule: string,
    /** What was seen, without the rule name. */
    readonly detail: string,
  ) {
    super(`${rule}: ${detail}`);
    this.name = 'ProveViolation';
  }
}

// ---------------------------------------------------------------------------------------------
// The device seen by a flow: counts operations, fences them, optionally snapshots before each.

/** @internal One write or erase as a flow made it, for replaying it cut. */
export interface RecordedOp {
  readonly kind: 'write' | 'erase';
  readonly offset: number;
  /** write: a copy of the data; erase: null. */
  readonly data: Uint8Array | null;
  readonly length: number;
}

/** @internal The device a flow sees: counts operations, fences them, optionally snapshots before each. */
export class ProveDevice implements BlockDevice {
  readonly size: number;
  readonly eraseSize: number;
  readonly writeSize: number;
  readonly eraseValue: number;
  readonly blockEraseSizes?: readonly number[];
  /** Operations that went through, counted from the start of the branch (`base` carried over). */
  ops: number;
  recording: { ops: RecordedOp[]; snaps: FlashSnapshot[] } | null = null;

  constructor(
    readonly mem: MemoryFlash,
    readonly target: BlockDevice,
    private readonly fence: readonly (readonly [number, number, string])[],
    base: number,
  ) {
    this.size = mem.size;
    this.eraseSize = mem.eraseSize;
    this.writeSize = mem.writeSize;
    this.eraseValue = mem.eraseValue;
    if (mem.blockEraseSizes) this.blockEraseSizes = mem.blockEraseSizes;
    this.ops = base;
  }

  private checkFence(kind: string, offset: number, length: number): void {
    const f = this.fence;
    for (let i = 0; i < f.length; i++) if (offset >= f[i][0] && offset + length <= f[i][1]) return;
    throw new ProveViolation('outside-write', `${kind} of ${length} bytes at ${hex(offset)} is outside every partition the flow may change`);
  }

  read(offset: number, into: Uint8Array): void {
    this.target.read(offset, into);
  }

  write(offset: number, data: Uint8Array): void {
    this.checkFence('write', offset, data.length);
    if (this.recording) {
      this.recording.snaps.push(this.mem.snapshot());
      this.recording.ops.push({ kind: 'write', offset, data: data.slice(), length: data.length });
    }
    this.target.write(offset, data);
    this.ops++;
  }

  erase(offset: number, length: number): void {
    this.checkFence('erase', offset, length);
    if (this.recording) {
      this.recording.snaps.push(this.mem.snapshot());
      this.recording.ops.push({ kind: 'erase', offset, data: null, length });
    }
    this.target.erase(offset, length);
    this.ops++;
  }

  sync(): void {
    this.target.sync();
  }
}

// ---------------------------------------------------------------------------------------------
// The world a flow runs in

export interface ProveContext {
  readonly scenario: ProveScenario;
  readonly table: PartitionTable;
  readonly images: readonly ProveImage[];
  readonly initialSlots: { readonly [label: string]: string };
  readonly hashes?: HashProvider;
  /** The setup had a valid otadata entry: from the first boot on, every boot must come from one. */
  readonly setupHadValidEntry: boolean;
  /** Counts every simulated boot across the run (for the report). */
  reboots: number;
}

const KNOWN_STATES: number[] = [OTA_STATE.NEW, OTA_STATE.PENDING_VERIFY, OTA_STATE.VALID, OTA_STATE.INVALID, OTA_STATE.ABORTED, OTA_STATE.UNDEFINED];

/**
 * What a flow sees: the device, the app that runs, the OTA engine over them, and a reboot that goes
 * through the bootloader model and checks every invariant. Scenarios call `mark()` around the
 * engine calls whose completion the invariants depend on.
 */
export class ProveWorld {
  readonly device: BlockDevice;
  readonly table: PartitionTable;
  /** The last boot (initially the boot the setup contents lead to). */
  boot: BootDecision;
  readonly events: ProveEvent[];
  private readonly dev: ProveDevice;

  /** @internal */
  constructor(
    readonly ctx: ProveContext,
    dev: ProveDevice,
    history: readonly ProveEvent[],
    boot: BootDecision | null,
  ) {
    this.dev = dev;
    this.device = dev;
    this.table = ctx.table;
    this.events = history.slice();
    this.boot = boot as BootDecision;
  }

  get rollback(): boolean {
    return this.ctx.scenario.rollback;
  }

  image(name: string): Uint8Array {
    const imgs = this.ctx.images;
    for (let i = 0; i < imgs.length; i++) if (imgs[i].name === name) return imgs[i].bytes;
    throw new OtaflashError('PROVE_BAD_SCENARIO', `scenario ${this.ctx.scenario.key} has no image named '${name}'`);
  }

  bootOptions(): BootOptions {
    const o: BootOptions = { rollback: this.rollback, hashes: this.ctx.hashes, chip: this.ctx.scenario.chip };
    if (this.ctx.scenario.trust) o.trust = this.ctx.scenario.trust;
    return o;
  }

  /** A fresh engine over the device, told which app runs (as the running firmware knows). */
  engine(): OtaEngine {
    return OtaEngine.open(this.device, {
      table: this.table,
      running: this.boot && this.boot.boot ? this.boot.boot : undefined,
      rollback: this.rollback,
      chip: this.ctx.scenario.chip,
      hashes: this.ctx.hashes,
      trust: this.ctx.scenario.trust,
    });
  }

  mark(kind: ProveEvent['kind'], image: string, slot?: string): void {
    this.events.push(slot === undefined ? { kind, image, at: this.dev.ops } : { kind, image, at: this.dev.ops, slot });
  }

  /** Name of the image the running app's partition holds. */
  get running(): string | null {
    return this.boot && this.boot.boot ? this.identify(this.boot.boot, this.events) : null;
  }

  /** State the running app's entry had once the bootloader was done (null: not booted from an entry). */
  get runningState(): number | null {
    return this.boot ? this.boot.activeStateAfterBoot : null;
  }

  /**
   * Which known image `p` holds, byte for byte over the image's length; when several match (old and
   * new may be the same file), the one last written to that partition wins.
   */
  identify(p: Partition, history: readonly ProveEvent[]): string | null {
    const imgs = this.ctx.images;
    let expected: string | undefined = this.ctx.initialSlots[p.label];
    for (let i = 0; i < history.length; i++) if (history[i].kind === 'write-start' && history[i].slot === p.label) expected = history[i].image;
    let first: string | null = null;
    for (let i = 0; i < imgs.length; i++) {
      const b = imgs[i].bytes;
      if (b.length > p.size || !sameBytes(this.device, p.offset, b)) continue;
      if (imgs[i].name === expected) return expected;
      if (first === null) first = imgs[i].name;
    }
    return first;
  }

  /** Power-cycles the device: the bootloader model decides, makes its otadata writes, the app starts. Every invariant is checked. */
  reboot(): BootDecision {
    this.ctx.reboots++;
    const d = decideBoot(this.device, this.table, this.bootOptions());
    applyBootWrites(this.device, this.table, d);
    this.boot = d;
    const image = d.boot ? this.identify(d.boot, this.events) : null;
    checkBoot(this.ctx, this.device, d, image, this.events);
    // Only the bootloader's initial-contents write makes a VALID entry (its rollback writes make
    // PENDING_VERIFY or ABORTED ones).
    let initialWrite = false;
    for (let i = 0; i < d.writes.length; i++) if (d.activeSector === null && d.writes[i].entry.state === OTA_STATE.VALID) initialWrite = true;
    this.events.push({ kind: 'boot', image: image as string, at: this.dev.ops, slot: d.label as string, state: d.activeStateAfterBoot, initialWrite });
    return d;
  }
}

function sameBytes(dev: BlockDevice, offset: number, want: Uint8Array): boolean {
  const have = new Uint8Array(want.length);
  dev.read(offset, have);
  return equalBytes(have, 0, want, 0, want.length);
}

/** Byte equality of two ranges, a word at a time where both are 4-aligned (images are hundreds of KB). */
export function equalBytes(a: Uint8Array, ai: number, b: Uint8Array, bi: number, n: number): boolean {
  let i = 0;
  if (((a.byteOffset + ai) & 3) === 0 && ((b.byteOffset + bi) & 3) === 0 && n >= 16) {
    const wa = new Uint32Array(a.buffer, a.byteOffset + ai, n >>> 2);
    const wb = new Uint32Array(b.buffer, b.byteOffset + bi, n >>> 2);
    for (let w = 0; w < wa.length; w++) if (wa[w] !== wb[w]) return false;
    i = wa.length << 2;
  }
  for (; i < n; i++) if (a[ai + i] !== b[bi + i]) return false;
  return true;
}

function lastIndex(h: readonly ProveEvent[], pred: (e: ProveEvent) => boolean, from = h.length - 1): number {
  for (let i = from; i >= 0; i--) if (pred(h[i])) return i;
  return -1;
}

function entryText(e: OtaSelectEntry): string {
  return e.seq === OTA_SEQ_EMPTY ? 'blank' : `seq ${e.seq} ${otaStateName(e.state)}`;
}

/** The invariants of one boot, given what happened before it. */
function checkBoot(ctx: ProveContext, dev: BlockDevice, d: BootDecision, image: string | null, h: readonly ProveEvent[]): void {
  if (d.boot === null) throw new ProveViolation('brick', `nothing boots (${d.reason})`);
  if (image === null) {
    throw new ProveViolation('unknown-image', `boots ${d.boot.label}, whose bytes match none of ${ctx.images.map((i) => i.name).join('/')} (${d.reason})`);
  }
  // otadata readable by ESP-IDF rules: a CRC-valid entry must carry a state the bootloader knows.
  if (d.entries) {
    for (let s = 0; s < 2; s++) {
      const e = d.entries[s];
      if (e.seq !== OTA_SEQ_EMPTY && isOtaEntryCrcOk(e, ctx.hashes) && KNOWN_STATES.indexOf(e.state) < 0) {
        throw new ProveViolation('otadata-unreadable', `sector ${s} holds seq ${e.seq} with a good CRC and the unknown state ${hex(e.state)}: a torn state the bootloader trusts`);
      }
    }
  }
  // A confirmed image is never replaced, unless a new selection or a rollback was started since.
  const c = lastIndex(h, (e) => e.kind === 'confirm-done');
  if (c >= 0) {
    const confirmed = h[c].image;
    const released = lastIndex(h, (e) => (e.kind === 'select-start' && e.image !== confirmed) || e.kind === 'rollback-start') > c;
    if (!released && image !== confirmed) throw new ProveViolation('confirmed-replaced', `${confirmed} was confirmed (markValid returned), yet ${image} boots from ${d.boot.label}`);
  }
  // A rolled-back image does not come back unless selected again.
  const r = lastIndex(h, (e) => e.kind === 'rollback-done');
  if (r >= 0 && h[r].image === image && lastIndex(h, (e) => e.kind === 'select-start' && e.image === image) < r) {
    throw new ProveViolation('rolled-back-returned', `${image} was rolled back (markInvalidAndRollback returned), yet it boots again from ${d.boot.label}`);
  }
  // With rollback on, an image booted PENDING_VERIFY boots again only once its confirmation landed.
  if (ctx.scenario.rollback) {
    const p = lastIndex(h, (e) => e.kind === 'boot' && e.image === image && e.state === OTA_STATE.PENDING_VERIFY);
    if (p >= 0 && lastIndex(h, (e) => e.kind === 'select-start' && e.image === image) < p && d.activeStateAfterBoot !== OTA_STATE.VALID) {
      throw new ProveViolation(
        'unconfirmed-kept',
        `${image} already booted once PENDING_VERIFY and was never confirmed, yet boots again from ${d.boot.label} (state ${d.activeStateAfterBoot === null ? 'none' : otaStateName(d.activeStateAfterBoot)})`,
      );
    }
  }
  // Checked last, so the rules above name the worse outcome first. Once otadata has held a valid entry, each boot must come from the active entry, not a fallback.
  let live = ctx.setupHadValidEntry;
  for (let i = 0; i < h.length && !live; i++) live = h[i].kind === 'select-done' || (h[i].kind === 'boot' && h[i].initialWrite === true);
  // ESP-IDF's own default: blank otadata boots the factory app. Where the setup ran the factory app
  // from blank otadata and nothing was confirmed since, landing there again is the designed fallback.
  let factoryDefault = !ctx.setupHadValidEntry && d.boot.type === PARTITION_TYPE_APP && d.boot.subtype === APP_SUBTYPE_FACTORY;
  for (let i = 0; i < h.length && factoryDefault; i++) if (h[i].kind === 'confirm-done') factoryDefault = false;
  // A rollback whose target is the factory app gets there by the bootloader's fallback once no
  // entry is valid: that is its designed end, as long as nothing was selected since it started.
  const rb = lastIndex(h, (e) => e.kind === 'rollback-start');
  const rollbackToFactory = rb >= 0 && h[rb].slot === d.boot.label && d.boot.type === PARTITION_TYPE_APP && d.boot.subtype === APP_SUBTYPE_FACTORY && lastIndex(h, (e) => e.kind === 'select-start') < rb;
  if (live && !factoryDefault && !rollbackToFactory && d.entries && d.activeSector === null) {
    const ents = d.entries;
    const anyValid = isOtaEntryValid(ents[0], ctx.hashes) || isOtaEntryValid(ents[1], ctx.hashes);
    throw new ProveViolation(
      anyValid ? 'fallback' : 'no-valid-entry',
      `booted ${d.boot.label} (${image}) but not from the active otadata entry [${entryText(ents[0])} | ${entryText(ents[1])}]: ${d.reason}`,
    );
  }
}
