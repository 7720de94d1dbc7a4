import { OtaflashError, hex } from '../errors';
import { decodeImageHeader, looksLikeExtendedHeader } from '../formats/app-image-header';
import { chipIdFromName } from '../formats/chips';
import type { BlockDevice } from '../flash/types';
import { activeOtaSector, otaStateName, type OtaSelectEntry } from '../formats/otadata';
import { isOtaAppPartition, otadataPartition, otaSlotNumber, otaAppSlots, partitionRegion } from '../formats/partition-lookup';
import type { Partition, PartitionTable } from '../formats/partition-types';
import { decideBoot, applyBootWrites, type BootDecision, type BootOptions } from '../ota/bootloader';
import { OtaEngine, type OtaEngineOptions } from '../ota/engine';
import { inspectImage } from '../formats/app-image-verify';
import type { ImageReport } from '../formats/app-image-types';
import { chipName } from '../formats/chips';
import { nodeHashes } from '../node/hash';
import { type FlashImage, isErased, prefixErrors, printJson, readTableOf, tableOffsetFlag, withFlashImage } from './flash';
import { CliError, type CliIo, type Command, parseArgs, parseSize, readInput } from './io';
import { createProgress } from './progress';
import { bootDecisionJson } from './inspect';

// The OTA life cycle on a flash image file, one process per step, the way a device lives it one
// boot at a time: every command rebuilds its view from what is on flash.

function entryText(e: OtaSelectEntry): string {
  if (e.seq === 0xffffffff) return 'empty';
  return `seq ${e.seq}, ${otaStateName(e.state)}, crc ${hex(e.crc)}`;
}

function chipFlag(flags: Record<string, string | true>): number | undefined {
  const v = flags.chip;
  if (v === undefined) return undefined;
  const id = chipIdFromName(String(v));
  if (id === undefined) throw new CliError(`--chip '${v}' is not a chip name (examples: esp32, esp32c3, esp32s3)`);
  return id;
}

function bootOptionsFrom(flags: Record<string, string | true>): BootOptions {
  const opts: BootOptions = { rollback: flags.rollback === true, chip: chipFlag(flags) };
  const efuse = flags['efuse-secure-version'];
  if (efuse !== undefined && flags['anti-rollback'] !== true) throw new CliError('--efuse-secure-version is only used with --anti-rollback');
  if (flags['anti-rollback'] === true) {
    opts.antiRollback = true;
    if (efuse !== undefined && !/^\d{1,10}$/.test(String(efuse))) throw new CliError(`--efuse-secure-version '${String(efuse)}' is not a whole number`);
    opts.efuseSecureVersion = efuse !== undefined ? Number(efuse) : 0;
  }
  const bits = flags['efuse-secure-version-bits'];
  if (bits !== undefined) {
    if (flags['anti-rollback'] !== true) throw new CliError('--efuse-secure-version-bits is only used with --anti-rollback');
    if (!/^\d{1,2}$/.test(String(bits)) || Number(bits) < 1 || Number(bits) > 32) throw new CliError(`--efuse-secure-version-bits '${String(bits)}' must be a number of bits from 1 to 32`);
    opts.efuseSecureVersionBits = Number(bits);
  }
  return opts;
}

function oneFile(positional: string[], what = 'FILE (a flash image)'): string {
  if (positional.length !== 1) throw new CliError(`expected one ${what}`);
  return positional[0];
}

function requireOtadata(table: PartitionTable, file: string): Partition {
  const p = otadataPartition(table);
  if (!p) throw new OtaflashError('OTADATA_MISSING', `${file}: the partition table has no otadata partition (data, ota)`);
  return p;
}

/** ota_N by number, with an error listing the slots the table has. */
function slotByNumber(table: PartitionTable, n: number, file: string): Partition {
  const slots = otaAppSlots(table);
  const p = slots.find((s) => otaSlotNumber(s) === n);
  if (!p) {
    const have = slots.map((s) => otaSlotNumber(s)).join(', ');
    throw new CliError(`${file}: there is no OTA slot ${n} (the table has slots: ${have || 'none'})`);
  }
  return p;
}

function slotFlag(flags: Record<string, string | true>): number | undefined {
  const v = flags.slot;
  if (v === undefined) return undefined;
  if (!/^\d+$/.test(String(v)) || Number(v) > 15) throw new CliError(`--slot '${v}' must be an OTA slot number 0..15`);
  return Number(v);
}

export function printBootDecision(io: CliIo, d: BootDecision, applied: boolean): void {
  io.stdout(d.boot ? `boots: ${d.label}${d.slot !== null ? ` (OTA slot ${d.slot})` : ''} at ${hex(d.boot.offset)}\n` : 'boots: nothing (no bootable app: the chip would reset and loop)\n');
  io.stdout(`why:   ${d.reason}\n`);
  if (d.entries) io.stdout(`otadata: sector 0: ${entryText(d.entries[0])}; sector 1: ${entryText(d.entries[1])}\n`);
  for (const t of d.tried) if (!t.ok) io.stdout(`skipped ${t.label}: ${t.error}\n`);
  for (const w of d.writes) {
    io.stdout(`bootloader ${applied ? 'wrote' : 'would write'}: sector ${w.sector} <- seq ${w.entry.seq} ${otaStateName(w.entry.state)} (${w.why})\n`);
  }
  if (!applied && d.writes.length > 0) io.stdout('(not applied: pass --apply to make these writes, as a real boot would)\n');
}

export const bootCommand: Command = {
  summary: 'what the ESP-IDF bootloader would boot from a flash image now, and why',
  help: `Usage: otaflash boot FILE [--rollback] [--apply]
                      [--anti-rollback [--efuse-secure-version N] [--efuse-secure-version-bits B]]
                      [--chip NAME] [--table-offset 0x8000] [--json]

Runs the model of ESP-IDF's second-stage bootloader over the flash image: reads otadata, picks
the app, verifies its image, falls back as the bootloader does. Read-only unless --apply.

  --rollback        the bootloader has CONFIG_BOOTLOADER_APP_ROLLBACK_ENABLE: NEW becomes
                    PENDING_VERIFY, an unconfirmed PENDING_VERIFY becomes ABORTED
  --apply           make the otadata writes the bootloader would make (simulates one reboot)
  --anti-rollback   CONFIG_BOOTLOADER_APP_ANTI_ROLLBACK, with the eFuse secure version N (default 0)
  --efuse-secure-version-bits B
                    width of the eFuse secure version field (CONFIG_BOOTLOADER_APP_SEC_VER_SIZE_EFUSE_FIELD);
                    a booted app above it does not raise the eFuse. Default: the chip's width
                    (32 ESP32, 4 ESP32-C2, 9 ESP32-C5, 16 others; 32 without --chip)
  --chip NAME       refuse images built for another chip
  --json            print the decision as JSON
Exit code 1 when nothing is bootable.`,
  run(argv, io) {
    const args = parseArgs(argv, { values: ['table-offset', 'chip', 'efuse-secure-version', 'efuse-secure-version-bits'], booleans: ['rollback', 'apply', 'anti-rollback', 'json'] });
    const file = oneFile(args.positional);
    return withFlashImage(file, (image) => {
      const table = readTableOf(image, tableOffsetFlag(args.flags));
      const decision = decideBoot(image.device, table, bootOptionsFrom(args.flags));
      const apply = args.flags.apply === true;
      if (apply) {
        applyBootWrites(image.device, table, decision);
        image.device.sync();
      }
      if (args.flags.json) printJson(io, bootDecisionJson(decision, apply));
      else printBootDecision(io, decision, apply);
      return decision.boot ? 0 : 1;
    }, args.flags.apply === true ? 'write' : 'read');
  },
};

export const otadataEraseCommand: Command = {
  summary: 'erase the otadata partition of a flash image (boot falls back to factory or ota_0)',
  help: `Usage: otaflash otadata erase FILE [--table-offset 0x8000] [--json]

Erases both otadata sectors, like otatool.py erase_otadata: the bootloader then starts the factory
app, or ota_0 when there is no factory app.`,
  run(argv, io) {
    const args = parseArgs(argv, { values: ['table-offset'], booleans: ['json'] });
    const file = oneFile(args.positional);
    return withFlashImage(file, (image) => {
      const table = readTableOf(image, tableOffsetFlag(args.flags));
      const p = requireOtadata(table, file);
      const region = partitionRegion(image.device, p);
      region.erase(0, p.size - (p.size % image.device.eraseSize));
      image.device.sync();
      if (args.flags.json) printJson(io, { erased: p.label, offset: p.offset, size: p.size });
      else io.stdout(`erased otadata '${p.label}' (${p.size} bytes at ${hex(p.offset)})\n`);
      return 0;
    });
  },
};

// --- commands that go through the OTA engine ---------------------------------------------------

/** Runs an engine step, naming the flash file in its errors (the engine knows only a device). */

function openEngine(
  image: FlashImage,
  flags: Record<string, string | true>,
  chip = chipFlag(flags),
  extra: OtaEngineOptions = {},
  // Read as inspect and boot do, so an erased or broken table is reported as such, with the file,
  // rather than as a table that merely lacks OTA slots or otadata.
  table = readTableOf(image, tableOffsetFlag(flags)),
): OtaEngine {
  // Say which file: the engine knows only a device.
  return prefixErrors(image.path, () =>
    OtaEngine.open(image.device, { table, rollback: flags['no-rollback'] !== true, chip, requireHash: flags['allow-no-hash'] !== true, ...extra }),
  );
}

/** chip_id from the header of the image in `p`, or undefined when it holds no ESP32-family image. */
function chipOfStoredImage(dev: BlockDevice, p: Partition): number | undefined {
  if (p.size < 24 || p.offset + 24 > dev.size) return undefined;
  const h = new Uint8Array(24);
  dev.read(p.offset, h);
  if (h[0] !== 0xe9 || !looksLikeExtendedHeader(h)) return undefined;
  return decodeImageHeader(h, 'esp32').chipId;
}


/**
 * Like the device, which refuses images built for another chip (esp_image_verify compares chip_id
 * with the chip it runs on): without --chip, the running app's chip is the one to match.
 */
function openEngineMatchingChip(image: FlashImage, flags: Record<string, string | true>, extra: OtaEngineOptions = {}): { engine: OtaEngine; chip: number | undefined; from: string } {
  const explicit = chipFlag(flags);
  const table = readTableOf(image, tableOffsetFlag(flags));
  // A flash image file runs nothing: the app otadata selects stands for the running one, whether or
  // not its slot holds a bootable image (the engine's guard against guessing is for devices).
  const running = openEngine(image, flags, explicit, extra, table).running;
  const known: OtaEngineOptions = running && extra.running === undefined ? { ...extra, running } : extra;
  const chip = explicit ?? (running ? chipOfStoredImage(image.device, running) : undefined);
  const from = explicit !== undefined ? '--chip' : chip === undefined ? 'any (no running app image to match)' : `the running app ${running!.label}`;
  return { engine: openEngine(image, flags, chip, known, table), chip, from };
}

/** What `update --json` says about an image that failed verification: the error and what was read. */
function failedUpdateJson(error: OtaflashError, target: Partition, bytes: number, report: ImageReport | null) {
  const d = report ? report.appDesc : null;
  const h = report ? report.header : null;
  return {
    error: { code: error.code, message: error.message },
    slot: otaSlotNumber(target),
    label: target.label,
    offset: target.offset,
    bytes,
    chip: h ? chipName(h.chipId) : null,
    version: d ? d.version : null,
    project: d ? d.projectName : null,
    secureVersion: d ? d.secureVersion : null,
    checksumValid: report ? report.checksumValid : null,
    sha256Valid: report ? report.hashValid : null,
    selected: false,
  };
}

export const updateCommand: Command = {
  summary: 'write an app image into the next OTA slot of a flash image (verify, then select it)',
  help: `Usage: otaflash update FILE APP.bin [--slot N] [--chunk SIZE] [--no-select] [--chip NAME]
                        [--allow-no-hash] [--no-rollback] [--table-offset 0x8000] [--json]

Streams APP.bin through the OTA engine as a device would receive it: erases ahead, writes in
chunks of --chunk bytes (default 4K), verifies the image (checksum, SHA-256, chip, fits), then
selects the slot in otadata so the next boot starts it (state NEW with rollback, the default).
Shows a progress bar (bytes, rate, ETA) on a terminal and plain lines otherwise (on stderr).

  --slot N          write OTA slot N (default: the slot after the running app, as ESP-IDF picks)
  --chip NAME       the chip the image must be for (default: the chip of the running app's image)
  --no-select       write and verify only; leave otadata as it is
  --allow-no-hash   accept an image without an appended SHA-256
  --no-rollback     the device runs without app rollback (the new entry is not marked NEW)
Exit code 1 when the image fails verification (nothing is selected then).`,
  run(argv, io) {
    const args = parseArgs(argv, {
      values: ['slot', 'chunk', 'table-offset', 'chip'],
      booleans: ['no-select', 'allow-no-hash', 'no-rollback', 'json'],
    });
    if (args.positional.length !== 2) throw new CliError('expected FILE (a flash image) and APP.bin (the new app image)');
    const [file, appFile] = args.positional;
    const chunkSize = args.flags.chunk !== undefined ? parseSize(String(args.flags.chunk), '--chunk') : 4096;
    if (chunkSize < 1 || chunkSize > 16 * 1024 * 1024) throw new CliError(`--chunk ${chunkSize} must be between 1 byte and 16 MiB`);
    const slot = slotFlag(args.flags);
    const app = readInput(appFile, 'app image');
    if (app.length === 0) throw new CliError(`app image '${appFile}' is empty`);
    return withFlashImage(file, (image) => {
      const { engine, chip, from } = openEngineMatchingChip(image, args.flags);
      const target = slot !== undefined ? slotByNumber(engine.table, slot, file) : prefixErrors(file, () => engine.nextUpdatePartition());
      // Selecting needs otadata: refuse before writing a slot that could never be selected.
      if (args.flags['no-select'] !== true && !otadataPartition(engine.table)) {
        throw new CliError(`${file}: the partition table has no otadata (data/ota) partition, so no slot can be selected for boot (pass --no-select to only write and verify)`);
      }
      if (app.length > target.size) {
        throw new OtaflashError('OTA_IMAGE_TOO_LARGE', `${appFile} is ${app.length} bytes (${hex(app.length)}), larger than ${target.label} (${hex(target.size)} bytes at ${hex(target.offset)})`);
      }
      // The whole image is at hand, so check it before touching the flash: a refused update then
      // leaves the file exactly as it was (the engine verifies again while streaming).
      const report = inspectImage(app, { hashes: nodeHashes, expectedChip: chip, maxSize: target.size, requireHash: args.flags['allow-no-hash'] !== true });
      if (!report.header) throw new OtaflashError(report.error ? report.error.code : 'IMAGE_TRUNCATED', `${appFile} is not an app image: ${report.error ? report.error.message : 'no header'}`);
      if (report.error) {
        // A script reading --json gets the verdict on stdout too, not just an exit code.
        if (args.flags.json) printJson(io, failedUpdateJson(report.error, target, app.length, report));
        io.stderr(`otaflash update: ${appFile} failed verification: ${report.error.message} [${report.error.code}]; ${file} was not changed\n`);
        return 1;
      }
      const progress = createProgress(io, { label: `update ${target.label}`, total: app.length });
      let verdict;
      try {
        // A checkpoint fsyncs the file; one per 64 KiB instead of per 4 KiB sector keeps a file update
        // fast (about 50 ms/MiB less) and still bounds what a resume re-sends.
        const writer = prefixErrors(file, () => engine.begin(target, { size: app.length, checkpointBytes: 65536 }));
        for (let at = 0; at < app.length; at += chunkSize) {
          writer.write(app.subarray(at, Math.min(at + chunkSize, app.length)));
          progress.update(Math.min(at + chunkSize, app.length));
        }
        verdict = writer.end();
      } catch (e) {
        progress.abandon();
        if (e instanceof OtaflashError && e.code.indexOf('IMAGE_') === 0) {
          if (args.flags.json) printJson(io, failedUpdateJson(e, target, app.length, report));
          io.stderr(`otaflash update: ${appFile} failed verification: ${e.message} [${e.code}]; slot '${target.label}' was not selected\n`);
          return 1;
        }
        throw e;
      }
      progress.finish();
      const select = args.flags['no-select'] !== true;
      if (select) engine.setBootPartition(target);
      image.device.sync();
      const d = verdict.appDesc;
      const result = {
        slot: otaSlotNumber(target),
        label: target.label,
        offset: target.offset,
        bytes: app.length,
        chip: verdict.chipName,
        version: d ? d.version : null,
        project: d ? d.projectName : null,
        secureVersion: d ? d.secureVersion : null,
        sha256Valid: verdict.hashValid,
        selected: select,
      };
      if (args.flags.json) printJson(io, result);
      else {
        io.stdout(`wrote ${app.length} bytes of ${appFile} into ${target.label} (OTA slot ${result.slot}, ${hex(target.offset)})\n`);
        io.stdout(`image: ${verdict.chipName}${d ? `, ${d.projectName} ${d.version}` : ''}, checksum ok, SHA-256 ${verdict.hashValid === null ? 'not appended' : 'ok'}${chip !== undefined ? ` (chip checked against ${from})` : ''}\n`);
        io.stdout(select ? `selected ${target.label} for the next boot\n` : 'not selected (--no-select)\n');
      }
      return 0;
    });
  },
};

export const confirmCommand: Command = {
  summary: 'mark the running app of a flash image valid (cancels the pending rollback)',
  help: `Usage: otaflash confirm FILE [--table-offset 0x8000] [--json]

What esp_ota_mark_app_valid_cancel_rollback does on the device: the app the bootloader started
(PENDING_VERIFY after 'otaflash boot --rollback --apply') becomes VALID.`,
  run(argv, io) {
    const args = parseArgs(argv, { values: ['table-offset'], booleans: ['json'] });
    const file = oneFile(args.positional);
    return withFlashImage(file, (image) => {
      const engine = openEngine(image, args.flags);
      prefixErrors(file, () => engine.markValid());
      image.device.sync();
      const running = engine.running!;
      const state = engine.slotState(running);
      const stateName = state === null ? 'no otadata entry' : otaStateName(state);
      if (args.flags.json) printJson(io, { confirmed: running.label, state: stateName });
      else io.stdout(`confirmed ${running.label}: ${stateName}\n`);
      return 0;
    });
  },
};

export const rollbackCommand: Command = {
  summary: 'mark the running app of a flash image invalid and select the previous one',
  help: `Usage: otaflash rollback FILE [--table-offset 0x8000] [--json]

What esp_ota_mark_app_invalid_rollback does on the device: the running app's entry becomes
INVALID and the previous valid app is selected for the next boot.`,
  run(argv, io) {
    const args = parseArgs(argv, { values: ['table-offset'], booleans: ['json'] });
    const file = oneFile(args.positional);
    return withFlashImage(file, (image) => {
      const engine = openEngine(image, args.flags);
      const entries = prefixErrors(file, () => engine.entries());
      const from = engine.running;
      if (!from) throw new OtaflashError('OTA_NO_SLOT', `${file}: the partition table has no app partition`);
      // The engine's refusal speaks of the other otadata entry and the factory app, which misleads
      // when the factory (or default) app is itself what runs: say that instead.
      if (!isOtaAppPartition(from) || activeOtaSector(entries) === -1) {
        throw new OtaflashError('OTA_ROLLBACK_FAILED', `${file}: the running app is ${from.label}${isOtaAppPartition(from) ? ' (otadata selects no OTA slot)' : ''}; there is nothing to roll back to`);
      }
      prefixErrors(file, () => engine.markInvalidAndRollback());
      image.device.sync();
      const running = engine.running!;
      // What esp_ota_get_boot_partition says now, read back from flash by a fresh engine.
      const next = openEngine(image, args.flags, undefined, {}, engine.table).bootPartition();
      const label = next ? next.label : null;
      if (args.flags.json) printJson(io, { invalidated: running.label, next: label });
      else io.stdout(`marked ${running.label} invalid; the next boot starts ${label ?? 'no app'}\n`);
      return 0;
    });
  },
};

export const otadataSwitchCommand: Command = {
  summary: 'select OTA slot N for the next boot of a flash image (like otatool switch_ota_partition)',
  help: `Usage: otaflash otadata switch FILE --slot N [--rollback] [--allow-no-hash] [--chip NAME]
                                [--table-offset 0x8000] [--json]

Writes otadata so that the bootloader starts ota_N, after checking that the image in ota_N is valid
and built for chip NAME (default: the chip of the running app's image). Like otatool.py
switch_ota_partition, the new entry has no rollback state (ota_state 0xFFFFFFFF, UNDEFINED), and
its sequence number and sector are the ones otatool writes.

  --rollback        select as esp_ota_set_boot_partition does on a device with app rollback
                    enabled: the entry is NEW, so the next boot must be confirmed ('otaflash confirm')
  --allow-no-hash   accept an image without an appended SHA-256
  --chip NAME       the chip the image must be for
Exit code 1 when the image in ota_N fails verification (otadata is not changed then).`,
  run(argv, io) {
    const args = parseArgs(argv, { values: ['table-offset', 'slot', 'chip'], booleans: ['rollback', 'allow-no-hash', 'json'] });
    const file = oneFile(args.positional);
    const slot = slotFlag(args.flags);
    if (slot === undefined) throw new CliError('--slot N is required');
    const rollback = args.flags.rollback === true;
    // otatool writes no ota_state and picks the sector by ESP-IDF v5's rule; --rollback is the
    // device's own esp_ota_set_boot_partition.
    const extra: OtaEngineOptions = rollback ? { rollback: true } : { rollback: false, variant: 'idf_v5' };
    return withFlashImage(file, (image) => {
      const { engine } = openEngineMatchingChip(image, args.flags, extra);
      const target = slotByNumber(engine.table, slot, file);
      try {
        engine.setBootPartition(target);
      } catch (e) {
        // The engine's image errors name a byte offset; say in which file and slot it is.
        if (e instanceof OtaflashError && e.code.indexOf('IMAGE_') === 0) {
          const message = `${file}: the image in ${target.label} is not valid: ${e.message}`;
          // Like update: no app image at all (an erased slot) is a wrong --slot, exit 2; an image
          // that fails verification is a verdict, exit 1.
          if (e.code === 'IMAGE_BAD_MAGIC') throw new OtaflashError(e.code, `${message}${isErased(image.device, target.offset, target.size) ? ` (${target.label} is erased)` : ''}`, e.info as Record<string, unknown>);
          if (args.flags.json) printJson(io, { error: { code: e.code, message }, selected: null, slot });
          io.stderr(`otaflash otadata switch: ${message} [${e.code}]; otadata was not changed\n`);
          return 1;
        }
        throw e;
      }
      image.device.sync();
      if (args.flags.json) printJson(io, { selected: target.label, slot });
      else io.stdout(`selected ${target.label} (OTA slot ${slot}) for the next boot\n`);
      return 0;
    });
  },
};

