/**
 * The OTA building blocks every power-loss scenario uses (the layout, the factory device, and what
 * the firmware does: install, confirm, roll back, converge after a reset). The OTA scenarios are in
 * scenarios-ota.ts; other features' scenario files build on the same blocks.
 *
 * The update flows the power-loss proof sweeps, built on any layout: a partition table with
 * otadata and at least two OTA slots, a flash geometry, and real app images. Each flow drives the
 * real OtaEngine; each recovery is what a device's firmware would do after an unexpected reset
 * (resume the interrupted download if it is the one it wants, else start it again; confirm itself
 * once it runs; reboot an unconfirmed app it does not want).
 */
import { OtaflashError } from '../errors';
import { MemoryFlash } from '../flash/memory';
import type { HashProvider } from '../hash/types';
import { OTA_STATE, makeOtaEntry, writeOtaEntry } from '../formats/otadata';
import { factoryPartition, otaAppSlots, otadataPartition, partitionRegion } from '../formats/partition-lookup';
import { PARTITION_TABLE_OFFSET, encodePartitionTable } from '../formats/partition-table';
import type { Partition, PartitionTable } from '../formats/partition-types';
import { decideBoot, applyBootWrites, type BootOptions } from '../ota/bootloader';
import { OtaEngine } from '../ota/engine';
import { ProveViolation, type ProveGoal, type ProveImage, type ProveScenario, type ProveSetup, type ProveWorld } from './world';

export interface ProveLayout {
  /** Short name used in scenario keys ('esp32-4MB', 'small'). */
  readonly name: string;
  readonly table: PartitionTable;
  readonly flashSize: number;
  readonly eraseSize?: number;
  readonly writeSize?: number;
  readonly blockEraseSizes?: readonly number[];
  /** The running firmware, the update, and (for two updates in a row) the one after. */
  readonly images: { readonly old: Uint8Array; readonly new: Uint8Array; readonly third?: Uint8Array };
  /** Bytes per write() call, as a download would deliver them. Default 4096. */
  readonly chunk?: number;
  /** Chip id the engine and bootloader require (CHIP_IDS); unset accepts any. */
  readonly chip?: number;
  readonly hashes?: HashProvider;
  /** Secure Boot trust (keys and a verifier): the engine and the bootloader model check signatures. */
  readonly trust?: BootOptions['trust'];
  /** Signs a delta package's index with a trusted key (host side, made with the layout): signed package scenarios. */
  readonly signPackage?: (index: Uint8Array) => Uint8Array;
}

export type Erase = 'all' | 'sequential';

export function slotsOf(layout: ProveLayout): Partition[] {
  const slots = otaAppSlots(layout.table);
  if (slots.length < 2 || !otadataPartition(layout.table)) {
    throw new OtaflashError('PROVE_BAD_LAYOUT', `layout ${layout.name}: the table needs an otadata partition and at least two OTA app slots (it has ${slots.length})`);
  }
  return slots;
}

export function program(dev: MemoryFlash, p: Partition, bytes: Uint8Array): void {
  if (bytes.length > p.size) throw new OtaflashError('PROVE_BAD_LAYOUT', `image of ${bytes.length} bytes does not fit in ${p.label} (${p.size} bytes)`);
  dev.erase(p.offset, Math.ceil(bytes.length / dev.eraseSize) * dev.eraseSize);
  const w = dev.writeSize;
  const padded = bytes.length % w === 0 ? bytes : new Uint8Array(Math.ceil(bytes.length / w) * w).fill(dev.eraseValue);
  if (padded !== bytes) padded.set(bytes);
  dev.write(p.offset, padded);
}

/**
 * A device as it leaves the factory and first boots: table at 0x8000, the old image in ota_0 (and
 * in the factory partition, if any). `selected`: otadata names ota_0 (seq 1); else it is blank.
 */
export function baseDevice(layout: ProveLayout, rollback: boolean, selected: boolean, oldInOta0 = true): { dev: MemoryFlash; images: ProveImage[]; slots: { [label: string]: string } } {
  const slots = slotsOf(layout);
  const dev = new MemoryFlash({
    size: layout.flashSize,
    eraseSize: layout.eraseSize,
    writeSize: layout.writeSize,
    blockEraseSizes: layout.blockEraseSizes,
    mode: 'strict',
  });
  const tableBytes = encodePartitionTable(layout.table, { hashes: layout.hashes });
  dev.write(PARTITION_TABLE_OFFSET, tableBytes);
  const slotImages: { [label: string]: string } = {};
  if (oldInOta0) {
    program(dev, slots[0], layout.images.old);
    slotImages[slots[0].label] = 'old';
  }
  const f = factoryPartition(layout.table);
  if (f) {
    program(dev, f, layout.images.old);
    slotImages[f.label] = 'old';
  }
  if (selected) {
    const od = partitionRegion(dev, otadataPartition(layout.table)!);
    writeOtaEntry(od, 0, makeOtaEntry(1, rollback ? OTA_STATE.VALID : OTA_STATE.UNDEFINED, undefined, layout.hashes));
  }
  const images: ProveImage[] = [
    { name: 'old', bytes: layout.images.old },
    { name: 'new', bytes: layout.images.new },
  ];
  if (layout.images.third) images.push({ name: 'third', bytes: layout.images.third });
  return { dev, images, slots: slotImages };
}

// --------------------------------------------------------------------------------------------
// What the firmware does (flow steps and recovery), shared by the scenarios

export function chunkOf(layout: ProveLayout): number {
  const c = layout.chunk ?? 4096;
  // A chunk of 0 (or NaN) would never advance the download loop.
  if (!(typeof c === 'number' && c >= 1 && c === Math.floor(c))) {
    throw new OtaflashError('PROVE_BAD_LAYOUT', `layout ${layout.name}: chunk ${String(c)} is not a positive whole number of bytes`);
  }
  return c;
}

export function lastWriteStart(w: ProveWorld): { image: string; slot: string } | null {
  for (let i = w.events.length - 1; i >= 0; i--) {
    const e = w.events[i];
    if (e.kind === 'write-start') return { image: e.image, slot: e.slot as string };
  }
  return null;
}

export function writeFrom(wr: { offset: number; write(c: Uint8Array): void }, bytes: Uint8Array, chunk: number, upTo = bytes.length): void {
  for (let off = wr.offset; off < upTo; off += chunk) wr.write(bytes.subarray(off, Math.min(off + chunk, upTo)));
}

/**
 * Downloads `name` into the next slot and selects it. With `resume`, an interrupted download of the
 * same image is continued where the resume log says (an error there is a failure of the proof, not
 * something to paper over by starting again).
 */
export function install(w: ProveWorld, layout: ProveLayout, name: string, erase: Erase, resume: boolean): void {
  const bytes = w.image(name);
  const e = w.engine();
  const pending = e.pendingUpdate();
  const last = lastWriteStart(w);
  let wr;
  // The firmware knows what it was downloading; the log's declared size must agree too (the last
  // write-start may be a begin() the cut stopped before it replaced an older log).
  if (resume && pending && last && last.image === name && last.slot === pending.partition.label && pending.size === bytes.length) {
    wr = e.resume();
  } else {
    const target = e.nextUpdatePartition();
    w.mark('write-start', name, target.label);
    wr = e.begin(target, { size: bytes.length, erase });
  }
  writeFrom(wr, bytes, chunkOf(layout));
  wr.end();
  w.mark('select-start', name);
  e.setBootPartition(wr.partition);
  w.mark('select-done', name);
}

export function confirm(w: ProveWorld): void {
  const name = w.running as string;
  w.mark('confirm-start', name);
  w.engine().markValid();
  w.mark('confirm-done', name);
}

export function rollBack(w: ProveWorld): void {
  const name = w.running as string;
  const target = w.engine().rollbackTarget();
  w.mark('rollback-start', name, target ? target.label : undefined);
  w.engine().markInvalidAndRollback();
  w.mark('rollback-done', name);
}

export const MAX_ROUNDS = 6;

/**
 * From whatever boots after a reset to `goal`: confirm the goal image once it runs (rollback on),
 * confirm an unconfirmed other image first (its self-test passed; the engine refuses a new download
 * while the running app is PENDING_VERIFY, as ESP-IDF does), else download and select the goal.
 */
export function converge(w: ProveWorld, layout: ProveLayout, goal: string, erase: Erase, resume: boolean): void {
  for (let round = 0; round < MAX_ROUNDS; round++) {
    const cur = w.running;
    const pending = w.rollback && w.runningState === OTA_STATE.PENDING_VERIFY;
    if (cur === goal) {
      if (pending) confirm(w);
      return;
    }
    if (pending) confirm(w);
    install(w, layout, goal, erase, resume);
    if (!w.rollback) return;
    w.reboot();
  }
  throw new ProveViolation('no-progress', `recovery did not reach ${goal} in ${MAX_ROUNDS} rounds (running ${w.running})`);
}

// --------------------------------------------------------------------------------------------
// Scenarios

export function scenario(
  layout: ProveLayout,
  name: string,
  summary: string,
  rollback: boolean,
  goal: ProveGoal,
  setup: () => ProveSetup,
  run: (w: ProveWorld) => void,
  recover: (w: ProveWorld) => void,
): ProveScenario {
  const s: ProveScenario = { key: `${name}@${layout.name}`, name, layout: layout.name, summary, rollback, chip: layout.chip, goal, setup, run, recover };
  return layout.trust ? { ...s, trust: layout.trust } : s;
}

/** otadata plus the OTA slots (by index) the flow and its recovery may write: the running app's slot is not one of them. */
export function writableOf(layout: ProveLayout, slots: readonly number[]): string[] {
  const s = slotsOf(layout);
  const out = [otadataPartition(layout.table)!.label];
  for (let i = 0; i < slots.length; i++) out.push(s[slots[i]].label);
  return out;
}

/** Runs `steps` on a setup device outside the proof (no cuts): the state a scenario starts from. */
export function prepared(layout: ProveLayout, rollback: boolean, writable: readonly number[], steps: (dev: MemoryFlash, engine: () => OtaEngine, reboot: () => void) => void): ProveSetup {
  const base = baseDevice(layout, rollback, true);
  const dev = base.dev;
  let running: Partition | undefined = decideBoot(dev, layout.table, { rollback, hashes: layout.hashes, chip: layout.chip }).boot ?? undefined;
  const engine = () => OtaEngine.open(dev, { table: layout.table, running, rollback, chip: layout.chip, hashes: layout.hashes });
  const reboot = () => {
    const d = decideBoot(dev, layout.table, { rollback, hashes: layout.hashes, chip: layout.chip });
    applyBootWrites(dev, layout.table, d);
    running = d.boot ?? undefined;
  };
  steps(dev, engine, reboot);
  const slots = { ...base.slots };
  const s = slotsOf(layout);
  slots[s[1].label] = 'new';
  return { device: dev, table: layout.table, images: base.images, slots, writable: writableOf(layout, writable) };
}

export function installNew(layout: ProveLayout, engine: () => OtaEngine): void {
  const e = engine();
  const wr = e.begin(undefined, { size: layout.images.new.length });
  writeFrom(wr, layout.images.new, chunkOf(layout));
  wr.end();
  e.setBootPartition(wr.partition);
}

/** Recovery of the rollback flows: ask for the rollback and reboot until the old app runs. */
export function rollBackUntilOld(w: ProveWorld): void {
  for (let i = 0; i < MAX_ROUNDS && w.running !== 'old'; i++) {
    rollBack(w);
    w.reboot();
  }
  if (w.running !== 'old') throw new ProveViolation('no-progress', `${w.running} still boots after ${MAX_ROUNDS} rollbacks`);
}

