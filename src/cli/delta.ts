import { OtaflashError, hex } from '../errors';
import { decodeImageHeader, looksLikeExtendedHeader } from '../formats/app-image-header';
import { chipIdFromName } from '../formats/chips';
import type { BlockDevice } from '../flash/types';
import { otadataPartition, otaSlotNumber } from '../formats/partition-lookup';
import type { Partition } from '../formats/partition-types';
import type { ImageVerdict } from '../formats/app-image-types';
import { readDetoolsHeader } from '../formats/detools-patch';
import { OtaEngine } from '../ota/engine';
import { nodeHashes } from '../node/hash';
import { applyPatchToBytes } from '../delta/apply';
import { type DetoolsPatchInfo, detoolsPatchInfo } from '../delta/info';
import { DeltaUpdate } from '../delta/ota';
import { decodeDeltaPackageIndex, isDeltaPackage, sha256Hex } from '../delta/package';
import { DeltaPackageUpdate } from '../delta/package-update';
import { createNodeSignatureVerifier } from '../node/signature-verifier';
import { trustFlags } from './delta-package';
import { printJson, prefixErrors, readTableOf, tableOffsetFlag, withFlashImage } from './flash';
import { CliError, type Command, parseArgs, parseSize, readInput, writeOutput } from './io';
import { createProgress } from './progress';

// `otaflash delta apply | apply-file | info`: detools sequential patches (and delta packages) on
// flash image files and plain files. The generator is `delta create` (src/cli/delta-create.ts).

function chipFlag(flags: Record<string, string | true>): number | undefined {
  const v = flags.chip;
  if (v === undefined) return undefined;
  const id = chipIdFromName(String(v));
  if (id === undefined) throw new CliError(`--chip '${v}' is not a chip name (examples: esp32, esp32c3, esp32s3)`);
  return id;
}

/** chip_id of the image stored in `p`, or undefined when it holds no ESP32-family image. */
function chipOfStoredImage(dev: BlockDevice, p: Partition): number | undefined {
  if (p.size < 24 || p.offset + 24 > dev.size) return undefined;
  const h = new Uint8Array(24);
  dev.read(p.offset, h);
  if (h[0] !== 0xe9 || !looksLikeExtendedHeader(h)) return undefined;
  return decodeImageHeader(h, 'esp32').chipId;
}

const APPLY_HELP = `Usage: otaflash delta apply FILE PATCH [--slot N] [--chunk SIZE] [--max-dictionary SIZE]
                             [--resume] [--no-select] [--chip NAME] [--allow-no-hash]
                             [--no-rollback] [--table-offset 0x8000] [--json]
                             [--pubkey PUB.pem | --key-digest HEX ...] [--revoked HEX ...]

Applies PATCH to the flash image FILE through the OTA engine, as a device would: the old image is
the running app (the slot otadata selects), the new one is written into the next OTA slot with
erase-ahead, verification and the resume log, then that slot is selected for the next boot.

PATCH is a detools sequential patch (compression none, lzma, crle or heatshrink), or a delta
package (otaflash's container: several patches keyed by their source image's SHA-256, maybe the
full image); from a package the patch for the running image is chosen, and a package with none is
refused before anything is written. The patch is fed to the engine in chunks of --chunk bytes
(default 4K), never as a whole.

  --slot N              write OTA slot N (default: the slot after the running app)
  --max-dictionary SIZE refuse lzma patches whose dictionary is larger (what a small device can hold)
  --resume              continue an update interrupted by a power cut (same patch): bytes already
                        on flash are checked, not written again
  --no-select           write and verify only; leave otadata as it is
  --chip NAME           the chip the new image must be for (default: the running app's chip)
  --allow-no-hash       accept a new image without an appended SHA-256
  --no-rollback         the device runs without app rollback (the new entry is not marked NEW)
  --pubkey PUB.pem      trust this Secure Boot key (repeatable; or --key-digest HEX as eFuse holds
                        it, --revoked HEX): then only a delta package signed by a trusted key is
                        applied; an unsigned one, a bare patch or a bad signature is refused before
                        anything is written (docs/delta.md "Signed packages")
Exit code 1 when the new image fails verification (nothing is selected then).`;

function verdictJson(v: ImageVerdict) {
  const d = v.appDesc;
  return { chip: v.chipName, version: d ? d.version : null, project: d ? d.projectName : null, secureVersion: d ? d.secureVersion : null, sha256Valid: v.hashValid };
}

export const deltaApplyCommand: Command = {
  summary: 'apply a detools patch (or delta package) to the running app of a flash image, into the next OTA slot',
  help: APPLY_HELP,
  run(argv, io) {
    const args = parseArgs(argv, {
      values: ['slot', 'chunk', 'table-offset', 'chip', 'max-dictionary'],
      booleans: ['no-select', 'allow-no-hash', 'no-rollback', 'json', 'resume'],
      repeat: ['pubkey', 'key-digest', 'revoked'],
    });
    const trust = prefixErrors('trusted keys', () => trustFlags(args.lists));
    if (args.positional.length !== 2) throw new CliError('expected FILE (a flash image) and PATCH (a detools patch or delta package)');
    const [file, patchFile] = args.positional;
    const chunkSize = args.flags.chunk !== undefined ? parseSize(String(args.flags.chunk), '--chunk') : 4096;
    if (chunkSize < 1 || chunkSize > 16 * 1024 * 1024) throw new CliError(`--chunk ${chunkSize} must be between 1 byte and 16 MiB`);
    const maxDictionary = args.flags['max-dictionary'] !== undefined ? parseSize(String(args.flags['max-dictionary']), '--max-dictionary') : undefined;
    const slotText = args.flags.slot;
    if (slotText !== undefined && (!/^\d+$/.test(String(slotText)) || Number(slotText) > 15)) throw new CliError(`--slot '${slotText}' must be an OTA slot number 0..15`);
    const patch = readInput(patchFile, 'patch');
    if (patch.length === 0) throw new CliError(`patch '${patchFile}' is empty`);
    const isPackage = isDeltaPackage(patch);
    if (trust && !isPackage) {
      throw new OtaflashError('SIGNATURE_REQUIRED', `${patchFile}: a bare detools patch carries no signature, and trusted keys were given: only a signed delta package is applied (nothing was written)`);
    }
    // The header says how big the new image is (for the progress bar); a bad header fails here,
    // before the flash image is even opened.
    const total = isPackage ? prefixErrors(patchFile, () => decodeDeltaPackageIndex(patch, patch.length)).targetSize : prefixErrors(patchFile, () => readDetoolsHeader(patch)).toSize;
    return withFlashImage(file, (image) => {
      const table = readTableOf(image, tableOffsetFlag(args.flags));
      const base = { table, rollback: args.flags['no-rollback'] !== true, requireHash: args.flags['allow-no-hash'] !== true, hashes: nodeHashes };
      // A flash image file runs nothing: the app otadata selects stands for the running one.
      const running = prefixErrors(file, () => OtaEngine.open(image.device, base)).running;
      if (!running) throw new OtaflashError('DELTA_NO_RUNNING_APP', `${file}: the partition table has no app partition, so there is no old image to patch`);
      const chip = chipFlag(args.flags) ?? chipOfStoredImage(image.device, running);
      const engine = prefixErrors(file, () => OtaEngine.open(image.device, { ...base, running, chip }));
      let slot: Partition | undefined;
      if (slotText !== undefined) {
        slot = engine.table.partitions.find((p) => p.type === 0 && p.subtype === 0x10 + Number(slotText));
        if (!slot) throw new CliError(`${file}: there is no OTA slot ${slotText}`);
      }
      const select = args.flags['no-select'] !== true;
      if (select && !otadataPartition(engine.table)) {
        throw new CliError(`${file}: the partition table has no otadata (data/ota) partition, so no slot can be selected for boot (pass --no-select to only write and verify)`);
      }
      const resume = args.flags.resume === true;
      const pending = resume ? engine.pendingUpdate() : null;
      const into = pending ? pending.partition : (slot ?? prefixErrors(file, () => engine.nextUpdatePartition()));
      const progress = createProgress(io, { label: `delta ${running.label} -> ${into.label}`, total: patch.length });
      // A checkpoint fsyncs the file; every 64 KiB keeps a file update fast (as `update` does).
      const opts = { slot, maxDictionary, resume, checkpointBytes: 65536 };
      let verdict: ImageVerdict;
      let target: Partition;
      let chosen: Record<string, unknown> | null = null;
      try {
        if (isPackage) {
          const u = prefixErrors(file, () => new DeltaPackageUpdate(engine, Object.assign({ hashes: nodeHashes }, opts, trust ? { trust, verifier: createNodeSignatureVerifier(nodeHashes) } : {})));
          for (let at = 0; at < patch.length; at += chunkSize) {
            prefixErrors(file, () => u.push(patch.subarray(at, Math.min(at + chunkSize, patch.length))));
            progress.update(Math.min(at + chunkSize, patch.length));
          }
          verdict = prefixErrors(file, () => u.finish());
          const c = u.choice!;
          target = u.deltaUpdate ? u.deltaUpdate.partition : (slot ?? engine.nextUpdatePartition());
          chosen = c.kind === 'patch' ? { kind: 'patch', sourceVersion: c.entry.sourceVersion, sourceSha256: sha256Hex(c.entry.sourceSha256), patchSize: c.entry.patchSize } : { kind: 'full' };
          if (u.signatureVerdict) chosen.signature = { valid: u.signatureVerdict.valid, reason: u.signatureVerdict.reason };
        } else {
          const u = prefixErrors(file, () => new DeltaUpdate(engine, opts));
          for (let at = 0; at < patch.length; at += chunkSize) {
            prefixErrors(file, () => u.push(patch.subarray(at, Math.min(at + chunkSize, patch.length))));
            progress.update(Math.min(at + chunkSize, patch.length));
          }
          verdict = prefixErrors(file, () => u.finish());
          target = u.partition;
        }
      } catch (e) {
        progress.abandon();
        image.device.sync();
        if (e instanceof OtaflashError && e.code.indexOf('IMAGE_') === 0) {
          if (args.flags.json) printJson(io, { error: { code: e.code, message: e.message }, selected: false });
          io.stderr(`otaflash delta apply: the new image failed verification: ${e.message} [${e.code}]; nothing was selected\n`);
          return 1;
        }
        if (e instanceof OtaflashError && (e.code === 'SIGNATURE_REQUIRED' || e.code === 'DELTA_SIGNATURE_INVALID')) {
          if (args.flags.json) printJson(io, { error: { code: e.code, message: e.message }, selected: false, written: false });
          io.stderr(`otaflash delta apply: refused: ${e.message} [${e.code}]\n`);
          return 1;
        }
        throw e;
      }
      progress.finish();
      if (select) prefixErrors(file, () => engine.setBootPartition(target));
      image.device.sync();
      const result = {
        from: running.label,
        slot: otaSlotNumber(target),
        label: target.label,
        offset: target.offset,
        patch: isPackage ? 'package' : readDetoolsHeader(patch).compression,
        patchBytes: patch.length,
        bytes: total,
        ...(chosen ? { chosen } : {}),
        ...verdictJson(verdict),
        selected: select,
      };
      if (args.flags.json) printJson(io, result);
      else {
        const what = chosen ? (chosen.kind === 'patch' ? `the patch for source ${String(chosen.sourceVersion) || '(no version)'} from package ${patchFile}` : `the full image from package ${patchFile}`) : `${patchFile} (${result.patch}, ${patch.length} bytes)`;
        io.stdout(`applied ${what} to ${running.label}: wrote ${total} bytes into ${target.label} (OTA slot ${result.slot}, ${hex(target.offset)})\n`);
        const d = verdict.appDesc;
        io.stdout(`image: ${verdict.chipName}${d ? `, ${d.projectName} ${d.version}` : ''}, checksum ok, SHA-256 ${verdict.hashValid === null ? 'not appended' : 'ok'}\n`);
        io.stdout(select ? `selected ${target.label} for the next boot\n` : 'not selected (--no-select)\n');
      }
      return 0;
    });
  },
};

export const deltaApplyFileCommand: Command = {
  summary: 'apply a detools sequential patch to a file (toolchains): OLD + PATCH -> NEW',
  help: `Usage: otaflash delta apply-file OLD PATCH --output NEW (or -o NEW) [--max-dictionary SIZE] [--json]

Applies a detools sequential patch (compression none, lzma, crle or heatshrink) to the file OLD
and writes the result to NEW, checked to be exactly the size the patch declares. Same decoder and
checks as on a device; no flash image involved.`,
  run(argv, io) {
    const args = parseArgs(argv, { values: ['o', 'output', 'max-dictionary'], booleans: ['json'] });
    if (args.positional.length !== 2) throw new CliError('expected OLD and PATCH');
    const out = args.flags.o ?? args.flags.output;
    if (out === undefined || out === true) throw new CliError('-o NEW (the output file) is required');
    const [oldFile, patchFile] = args.positional;
    const maxDictionary = args.flags['max-dictionary'] !== undefined ? parseSize(String(args.flags['max-dictionary']), '--max-dictionary') : undefined;
    const old = readInput(oldFile, 'old image');
    const patch = readInput(patchFile, 'patch');
    if (isDeltaPackage(patch)) throw new CliError(`${patchFile} is a delta package; apply-file takes a single detools patch (use 'delta apply' on a flash image, or extract the patch)`);
    const result = prefixErrors(patchFile, () => applyPatchToBytes(old, patch, { maxDictionary }));
    writeOutput(String(out), result, io);
    const h = readDetoolsHeader(patch);
    if (args.flags.json) printJson(io, { old: old.length, patch: patch.length, compression: h.compression, new: result.length, output: out });
    else if (out !== '-') io.stdout(`wrote ${result.length} bytes to ${String(out)} (${h.compression} patch of ${patch.length} bytes applied to ${old.length} bytes)\n`);
    return 0;
  },
};

function sizeText(n: number | null): string {
  return n === null ? '-' : `${n} bytes`;
}

function ratioText(r: number | 'inf'): string {
  return `${r}`;
}

function printInfo(io: { stdout(s: string): void }, info: DetoolsPatchInfo): void {
  const line = (k: string, v: string) => io.stdout(`${(k + ':').padEnd(20)}${v}\n`);
  const diffExtra = (d: { numberOfDiffs: number; totalDiffSize: number; averageDiffSize: number | null; medianDiffSize: number | null; numberOfExtras: number; totalExtraSize: number; averageExtraSize: number | null; medianExtraSize: number | null }) => {
    io.stdout('\n');
    line('Number of diffs', String(d.numberOfDiffs));
    line('Total diff size', sizeText(d.totalDiffSize));
    line('Average diff size', sizeText(d.averageDiffSize));
    line('Median diff size', sizeText(d.medianDiffSize));
    io.stdout('\n');
    line('Number of extras', String(d.numberOfExtras));
    line('Total extra size', sizeText(d.totalExtraSize));
    line('Average extra size', sizeText(d.averageExtraSize));
    line('Median extra size', sizeText(d.medianExtraSize));
  };
  if (info.type === 'sequential') {
    line('Type', 'sequential');
    line('Patch size', sizeText(info.patchSize));
    line('To size', sizeText(info.toSize));
    line('Patch/to ratio', `${ratioText(info.patchToRatio)} % (lower is better)`);
    line('Diff/extra ratio', `${ratioText(info.diffExtraRatio)} % (higher is better)`);
    line('Size/data ratio', `${ratioText(info.sizeDataRatio)} % (lower is better)`);
    line('Compression', info.compression);
    if (info.heatshrinkWindowSz2 !== undefined) {
      line('Window sz2', String(info.heatshrinkWindowSz2));
      line('Lookahead sz2', String(info.heatshrinkLookaheadSz2));
    }
    line('Data format size', sizeText(info.dataFormatSize));
    diffExtra(info);
    return;
  }
  line('Type', 'in-place');
  line('Patch size', sizeText(info.patchSize));
  line('Memory size', sizeText(info.memorySize));
  line('Segment size', sizeText(info.segmentSize));
  line('From shift size', sizeText(info.fromShiftSize));
  line('From size', sizeText(info.fromSize));
  line('To size', sizeText(info.toSize));
  line('Patch/to ratio', `${ratioText(info.patchToRatio)} % (lower is better)`);
  line('Number of segments', String(info.numberOfSegments));
  line('Compression', info.compression);
  for (const s of info.segments) {
    io.stdout(`\n------------------- Segment ${s.segment} -------------------\n\n`);
    line('From range', `${s.fromRange[0]} bytes - ${s.fromRange[1]} bytes`);
    line('To range', `${s.toRange[0]} bytes - ${s.toRange[1]} bytes`);
    line('Diff/extra ratio', `${ratioText(s.diffExtraRatio)} % (higher is better)`);
    line('Size/data ratio', `${ratioText(s.sizeDataRatio)} % (lower is better)`);
    line('Data format size', sizeText(s.dataFormatSize));
    diffExtra(s);
  }
}

export const deltaInfoCommand: Command = {
  summary: 'what a detools patch (or delta package) holds: type, compression, sizes, diffs and extras',
  help: `Usage: otaflash delta info PATCH [--json]

Prints what 'detools patch_info --no-human' prints for a detools patch (sequential or in-place;
compression none, lzma, crle or heatshrink): type, patch and new-image sizes and their ratio, the
number, total, average and median sizes of the diff and extra blocks. The whole patch is decoded,
so a damaged one is reported. For a delta package: its target and the source of each patch, then
the info of each patch.`,
  run(argv, io) {
    const args = parseArgs(argv, { booleans: ['json'] });
    if (args.positional.length !== 1) throw new CliError('expected one PATCH');
    const file = args.positional[0];
    const patch = readInput(file, 'patch');
    if (isDeltaPackage(patch)) {
      const idx = prefixErrors(file, () => decodeDeltaPackageIndex(patch, patch.length));
      const patches = idx.patches.map((e) => ({
        sourceVersion: e.sourceVersion,
        sourceSize: e.sourceSize,
        sourceSha256: sha256Hex(e.sourceSha256),
        offset: e.offset,
        patchSize: e.patchSize,
        info: prefixErrors(`${file} patch for ${e.sourceVersion || sha256Hex(e.sourceSha256).slice(0, 16)}`, () => detoolsPatchInfo(patch.subarray(e.offset, e.offset + e.patchSize))),
      }));
      const json = { type: 'delta-package', size: patch.length, targetVersion: idx.targetVersion, targetSize: idx.targetSize, targetSha256: sha256Hex(idx.targetSha256), fullImage: idx.fullImageOffset !== null, signatureBlocks: idx.signature ? idx.signature.length / 1216 : 0, patches };
      if (args.flags.json) printJson(io, json);
      else {
        io.stdout(`delta package: ${patch.length} bytes, target ${idx.targetVersion || '(no version)'} (${idx.targetSize} bytes, SHA-256 ${json.targetSha256})${json.fullImage ? ', full image included' : ''}, ${json.signatureBlocks > 0 ? `signed (${json.signatureBlocks} block${json.signatureBlocks > 1 ? 's' : ''}; check with delta verify)` : 'unsigned'}\n`);
        for (const p of patches) {
          io.stdout(`\npatch for source ${p.sourceVersion || '(no version)'} (${p.sourceSize} bytes, SHA-256 ${p.sourceSha256}), ${p.patchSize} bytes at ${p.offset}:\n`);
          printInfo(io, p.info);
        }
      }
      return 0;
    }
    const info = prefixErrors(file, () => detoolsPatchInfo(patch));
    if (args.flags.json) printJson(io, info);
    else printInfo(io, info);
    return 0;
  },
};
