import * as fs from 'node:fs';
import { OtaflashError, isOtaflashError } from '../errors';
import { followFirmware, readDeviceVersion, recover, rollback, type ApplyResult, type FirmwareTarget, type RecoverResult } from '../manifest/apply';
import { VERSION_FILE, parseManifestBytes } from '../manifest/parse';
import { commitOtaFirmware, otaFirmwareTarget } from '../manifest/ota-firmware';
import { OtaEngine } from '../ota/engine';
import { NodeFileStore, commitFileFirmware, fileFirmwareTarget, journalBeside } from '../node/file-store';
import { HttpTransport, applyManifestOverHttp } from '../node/http-transport';
import { PARTITION_TABLE_OFFSET } from '../formats/partition-table';
import { type FlashImage, openFlashImage, prefixErrors, printJson, readTableOf } from './flash';
import { CliError, type CliIo, type Command, parseArgs } from './io';
import { createProgress } from './progress';
import { trustFlags } from './delta-package';

function deviceDir(flags: Record<string, string | true>): string {
  const dir = flags.device;
  if (dir === undefined || dir === true) throw new CliError('--device DIR is required (the device\'s file system: DIR holds flash/)');
  const d = String(dir);
  if (!fs.existsSync(d) || !fs.statSync(d).isDirectory()) throw new CliError(`--device '${d}' is not a directory`);
  return d;
}

function recoveredLine(dir: string, r: RecoverResult): string | null {
  if (r.action === 'none') return null;
  const what = r.action === 'abandoned' ? 'an interrupted download was cleaned up' : r.action === 'completed' ? 'an interrupted switch was finished' : 'an interrupted rollback was finished';
  return `${dir}: ${what} (now at ${r.version ?? 'its version before'})${r.firmwarePending ? '; its firmware commit could not be redone without the same --firmware-out/--flash' : ''}`;
}

/** Counts without the version file, which every update writes. */
function summary(r: ApplyResult): string {
  const files = (list: string[]) => list.filter((p) => p !== VERSION_FILE).length;
  return `${files(r.added)} added, ${files(r.replaced)} replaced, ${r.deleted.length} deleted`;
}

const SPEC = { values: ['device', 'firmware-out', 'flash', 'attempts'], booleans: ['rollback', 'json'], repeat: ['pubkey', 'key-digest', 'revoked'] };

export const pullCommand: Command = {
  summary: 'update a device directory from an update server (Pycom manifests), with rollback',
  help: `Usage: otaflash pull URL --device DIR [--firmware-out FILE | --flash FLASH.bin] [--pubkey PUB.pem ...] [--json]
       otaflash pull --rollback --device DIR [--json]

Asks the server at URL (otaflash serve, or Pycom's OTA_server.py) for the manifest of the
device's version (DIR/flash/OTA_VERSION.py; 1.0.0 without one), downloads each file to PATH.new
while checking its SHA-1 (and SHA-256 when given), then switches the set over under a journal
kept beside DIR: after a power cut the next pull (or --rollback) first finishes or undoes it, so
DIR holds the whole old set or the whole new set. Replaced files stay as PATH.bak and deleted ones
as PATH.bak_del (Pycom's names), which --rollback puts back.

  --device DIR        the device's file system (its '/', holding flash/)
  --firmware-out FILE write the manifest's firmware to FILE once its SHA-1 matches (any firmware)
  --flash FLASH.bin   write the firmware into the next OTA slot of an ESP flash image (verified as
                      an app image, selected in the same switch as the files)
  --attempts N        download attempts per file (default 5)
  --pubkey PUB.pem    trust manifests signed by this key (repeatable); with it or --key-digest an
                      unsigned or wrongly signed manifest is refused before anything is downloaded
  --key-digest HEX    trust the key with this SHA-256 digest (as eFuse holds it; repeatable)
  --revoked HEX       a key digest no longer trusted (repeatable)
  --rollback          put back the file set from before the last update (firmware untouched)
  --json              print the result as JSON on stdout
Exit code 1 when a download fails its hash or the firmware is not a valid app image (nothing is
switched then).`,
  run(argv) {
    // Options are checked as by every command (a typo is named); running needs runAsync.
    parseArgs(argv, SPEC);
    throw new CliError('pull needs the asynchronous entry (otaflash from the shell)');
  },
  async runAsync(argv: string[], io: CliIo) {
    const args = parseArgs(argv, SPEC);
    const trust = trustFlags(args.lists);
    const dir = deviceDir(args.flags);
    const store = new NodeFileStore(dir);
    const journal = journalBeside(dir);
    const json = args.flags.json === true;
    const fwOut = args.flags['firmware-out'] !== undefined ? String(args.flags['firmware-out']) : undefined;
    const flashFile = args.flags.flash !== undefined ? String(args.flags.flash) : undefined;
    if (fwOut !== undefined && flashFile !== undefined) throw new CliError('give --firmware-out or --flash, not both');
    let attempts = 5;
    if (args.flags.attempts !== undefined) {
      if (!/^\d{1,3}$/.test(String(args.flags.attempts)) || Number(args.flags.attempts) < 1) throw new CliError(`--attempts '${String(args.flags.attempts)}' is not a number from 1 to 999`);
      attempts = Number(args.flags.attempts);
    }

    let image: FlashImage | null = null;
    try {
      let engine: OtaEngine | null = null;
      if (flashFile !== undefined) {
        image = openFlashImage(flashFile);
        const img = image;
        engine = prefixErrors(flashFile, () => OtaEngine.open(img.device, { table: readTableOf(img, PARTITION_TABLE_OFFSET) }));
      }
      const commitFirmware = (d: string) => (d.indexOf('file:') === 0 ? commitFileFirmware(d) : engine !== null ? commitOtaFirmware(engine, d) : undefined);
      const recovered = recover(store, journal, { commitFirmware: fwOut !== undefined || engine !== null ? commitFirmware : undefined });
      const note = recoveredLine(dir, recovered);
      if (note !== null) io.stderr(note + '\n');
      if (engine !== null) {
        // The files go with the firmware they were committed with: if the bootloader (or `otaflash
        // rollback`) has left that slot, the file set is rolled back to match.
        const selected = engine.bootPartition();
        const followed = followFirmware(store, journal, (d) => selected !== null && d === 'ota:' + selected.label);
        if (followed !== null) io.stderr(`${dir}: the firmware of ${followed.version} is no longer selected for boot, so its files were rolled back (now at ${readDeviceVersion(store)})\n`);
      }

      if (args.flags.rollback === true) {
        if (args.positional.length !== 0) throw new CliError('--rollback takes no URL');
        const r = rollback(store, journal);
        const back = readDeviceVersion(store);
        if (json) printJson(io, { rolledBack: true, from: r.version, to: back, restored: r.replaced, removed: r.added, undeleted: r.deleted });
        else io.stdout(`${dir}: rolled back from ${r.version} to ${back} (${r.replaced.length} restored, ${r.added.length} removed, ${r.deleted.length} undeleted)${r.firmware ? '; the firmware is not rolled back by this command' : ''}\n`);
        return 0;
      }

      if (args.positional.length !== 1) throw new CliError('expected one URL (the update server, e.g. http://192.168.1.144:8000)');
      const transport = new HttpTransport(args.positional[0]);
      const version = readDeviceVersion(store);
      const body = await transport.getBody(transport.manifestPath(version));
      const parsed = parseManifestBytes(body);
      if (parsed === null) {
        if (json) printJson(io, { updated: false, version });
        else io.stdout(`${dir}: already on the latest version (${version})\n`);
        return 0;
      }
      let firmware: FirmwareTarget | undefined;
      if (parsed.firmware !== null) {
        if (fwOut !== undefined) firmware = fileFirmwareTarget(fwOut);
        else if (engine !== null) firmware = otaFirmwareTarget(engine);
        else throw new CliError(`the update to ${parsed.version} carries a firmware; pass --firmware-out FILE or --flash FLASH.bin (nothing was written)`);
      }
      let total = 0;
      for (const f of parsed.files) total += f.size ?? 0;
      if (parsed.firmware !== null) total += parsed.firmware.size ?? 0;
      // Pycom's server gives no sizes: then there is no fraction to draw, only the result line.
      const progress = total > 0 ? createProgress(io, { label: `pull ${version} -> ${parsed.version}`, total }) : { update: () => undefined, finish: () => undefined, abandon: () => undefined };
      let result: ApplyResult | null;
      try {
        result = await applyManifestOverHttp(JSON.parse(Buffer.from(body).toString('utf8')), store, transport, { journal, firmware, attempts, trust: trust ?? undefined, onProgress: (done) => progress.update(done) });
        progress.finish();
      } catch (e) {
        progress.abandon();
        if (isOtaflashError(e) && (e.code === 'FILESET_HASH_MISMATCH' || e.code === 'SIGNATURE_REQUIRED' || e.code === 'MANIFEST_SIGNATURE_INVALID' || e.code === 'OTA_VALIDATE_FAILED' || e.code.indexOf('IMAGE_') === 0)) {
          if (json) printJson(io, { updated: false, version, error: { code: e.code, message: e.message } });
          io.stderr(`otaflash pull: ${e.message} [${e.code}]; ${dir} was not changed\n`);
          return 1;
        }
        throw e;
      }
      const r = result!;
      const fwNote = r.firmware ? (fwOut !== undefined ? `; firmware written to ${fwOut}` : `; firmware written to ${firmware!.description.slice(4)} and selected for the next boot`) : '';
      if (json) printJson(io, { updated: true, from: version, to: r.version, added: r.added, replaced: r.replaced, deleted: r.deleted, firmware: r.firmware ? (fwOut ?? firmware!.description) : null });
      else io.stdout(`${dir}: updated from ${version} to ${r.version} (${summary(r)})${fwNote}\n`);
      return 0;
    } catch (e) {
      if (e instanceof OtaflashError && e.code === 'FILE_IO') throw new CliError(e.message);
      throw e;
    } finally {
      if (image !== null) image.close();
    }
  },
};
