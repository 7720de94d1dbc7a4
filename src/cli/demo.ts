import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { hex } from '../errors';
import { buildAppImage } from '../formats/app-image';
import type { AppDescription } from '../formats/app-image-types';
import { CHIP_IDS } from '../formats/chips';
import { otaStateName } from '../formats/otadata';
import { parsePartitionCsv } from '../formats/partition-csv';
import { findPartition, partitionRegion } from '../formats/partition-lookup';
import { encodePartitionTable, readPartitionTable } from '../formats/partition-table';
import { simulateReboot, type BootDecision } from '../ota/bootloader';
import { OtaEngine } from '../ota/engine';
import { FileFlash } from '../node/file-flash';
import { eraseAndWrite } from './flash';
import { inspectCommand } from './inspect';
import { CliError, type CliIo, type Command, parseArgs } from './io';
import { createProgress } from './progress';

// `npm start`: the whole life of an OTA update on a flash image file, one step at a time, with the
// same library calls a device or a host tool would make.

const DEMO_TABLE = `# Name,   Type, SubType, Offset,  Size
nvs,      data, nvs,     0x9000,  0x4000
otadata,  data, ota,     0xd000,  0x2000
phy_init, data, phy,     0xf000,  0x1000
ota_0,    app,  ota_0,   0x10000, 1M
ota_1,    app,  ota_1,   ,        1M
`;

/**
 * The repository's test fixtures, present in a clone (not in the npm package, which ships no
 * fixtures), so a developer's demo runs on a real ESP-IDF build pair.
 */
function fixturesDir(): string | null {
  const here = path.dirname(fileURLToPath(import.meta.url));
  // src/cli/demo.ts and dist/cli/main.js are both two levels below the repository root.
  const dir = path.resolve(here, '../../test/fixtures');
  return fs.existsSync(dir) ? dir : null;
}

function syntheticApp(version: string): Uint8Array {
  const desc: AppDescription = {
    secureVersion: 0, version, projectName: 'otaflash-demo', time: '12:00:00', date: 'Jan  1 2026', idfVersion: 'v5.2.2',
    elfSha256: new Uint8Array(32), minEfuseBlkRevFull: 0, maxEfuseBlkRevFull: 0, mmuPageSizeLog2: 16, spiFlashMode: 0,
  };
  const code = new Uint8Array(96 * 1024);
  for (let i = 0; i < code.length; i++) code[i] = (i * 31 + version.length) & 0xff;
  return buildAppImage({
    chip: CHIP_IDS.esp32s3,
    entry: 0x40375000,
    segments: [
      { loadAddress: 0x3c020020, data: new Uint8Array(256) },
      { loadAddress: 0x42000020, data: code },
    ],
    appDesc: desc,
    hashAppended: true,
    // The code segment is flash-mapped: elf2image-style padding puts it at its page offset.
    alignMapped: 'pad',
  });
}

/** A path as a POSIX shell reads it back, so the printed commands can be pasted as they are. */
function shellQuote(text: string): string {
  return /^[A-Za-z0-9_\/.,:=+@%-]+$/.test(text) ? text : `'${text.replace(/'/g, `'\\''`)}'`;
}

function bootLine(d: BootDecision): string {
  const state = d.activeStateAfterBoot === null ? '' : `, state ${otaStateName(d.activeStateAfterBoot)}`;
  const writes = d.writes.map((w) => `sector ${w.sector} <- seq ${w.entry.seq} ${otaStateName(w.entry.state)}`).join('; ');
  return `boots ${d.label ?? 'nothing'}${state} (${d.reason})${writes ? `\n     bootloader wrote otadata: ${writes}` : ''}`;
}

export const demoCommand: Command = {
  summary: 'create a flash image, lay out a partition table, run an update, print what happened',
  help: `Usage: otaflash demo [--dir DIR] [--force]

A guided tour on a 4 MiB flash image file in DIR (default: a new temporary folder):
  1. create the image (erased) and write a partition table with two OTA slots and otadata
  2. flash the first app into ota_0, as esptool would, and boot it through the bootloader model
  3. stream the new app into ota_1 through the OTA engine (verify, select)
  4. reboot: the bootloader starts the new app, PENDING_VERIFY
  5. the app confirms itself: VALID
  6. reboot again, then inspect the image
The apps are a real ESP32-S3 hello_world pair (old build -> new build) from the repository's
test/fixtures when run from a clone, else two images built with buildAppImage. An existing DIR/flash.bin is kept unless --force.`,
  run(argv, io: CliIo) {
    const args = parseArgs(argv, { values: ['dir'], booleans: ['force'] });
    if (args.positional.length > 0) throw new CliError(`unexpected argument '${args.positional[0]}'`);
    let dir: string;
    try {
      dir = typeof args.flags.dir === 'string' ? args.flags.dir : fs.mkdtempSync(path.join(os.tmpdir(), 'otaflash-demo-'));
      fs.mkdirSync(dir, { recursive: true });
    } catch (e) {
      throw new CliError(`cannot use demo folder: ${(e as Error).message}`);
    }
    const file = path.join(dir, 'flash.bin');
    // The tour starts from erased flash: an image someone made there would be silently lost.
    if (fs.existsSync(file) && args.flags.force !== true) throw new CliError(`'${file}' exists; pass --force to overwrite it, or pick another --dir`);
    const say = (s: string) => io.stdout(s + '\n');

    const fixtures = fixturesDir();
    const pair = fixtures ? path.join(fixtures, 'firmware-pairs', 'esp32s3-hello-world-app') : null;
    let oldApp: Uint8Array;
    let newApp: Uint8Array;
    if (pair && fs.existsSync(path.join(pair, 'old.bin')) && fs.existsSync(path.join(pair, 'new.bin'))) {
      oldApp = new Uint8Array(fs.readFileSync(path.join(pair, 'old.bin')));
      newApp = new Uint8Array(fs.readFileSync(path.join(pair, 'new.bin')));
      say(`apps: ESP32-S3 hello_world, old and new build, from ${pair}`);
    } else {
      oldApp = syntheticApp('v1.0.0');
      newApp = syntheticApp('v2.0.0');
      say('apps: two images built with buildAppImage (no real build pair in this installation)');
    }

    say(`\n1. create ${file}: 4 MiB of erased flash, partition table at 0x8000`);
    const dev = new FileFlash(file, { size: 4 * 1024 * 1024, create: 'always' });
    try {
      const table0 = parsePartitionCsv(DEMO_TABLE);
      eraseAndWrite(dev, 0x8000, encodePartitionTable(table0, { md5: true }), 'partition table');
      const table = readPartitionTable(dev, 0x8000);
      for (const p of table.partitions) say(`     ${p.label.padEnd(9)} ${hex(p.offset).padStart(9)}  ${hex(p.size).padStart(9)}`);

      say(`\n2. flash the first app (${oldApp.length} bytes) into ota_0, as esptool would, and power on`);
      eraseAndWrite(partitionRegion(dev, findPartition(table, 'ota_0')!), 0, oldApp, 'ota_0');
      say(`     ${bootLine(simulateReboot(dev, table, { rollback: true }))}`);

      const engine = OtaEngine.open(dev, { rollback: true });
      const target = engine.nextUpdatePartition();
      say(`\n3. the running app (${engine.running ? engine.running.label : 'none'}) receives an update of ${newApp.length} bytes: the engine writes ${target.label}`);
      const progress = createProgress(io, { label: `     ${target.label}`, total: newApp.length });
      const writer = engine.begin(target, { size: newApp.length, erase: 'sequential' });
      for (let at = 0; at < newApp.length; at += 4096) {
        writer.write(newApp.subarray(at, Math.min(at + 4096, newApp.length)));
        progress.update(Math.min(at + 4096, newApp.length));
      }
      const verdict = writer.end();
      progress.finish();
      const d = verdict.appDesc;
      say(`     verified: ${verdict.chipName}, ${d ? `${d.projectName} ${d.version}, IDF ${d.idfVersion}` : 'no app description'}, checksum ok, SHA-256 ${verdict.hashValid ? 'ok' : 'not appended'}`);
      engine.setBootPartition(target);
      const selected = OtaEngine.open(dev, { rollback: true }).slotState(target);
      say(`     selected ${target.label} for the next boot (otadata state ${selected === null ? '-' : otaStateName(selected)})`);

      say('\n4. reboot');
      say(`     ${bootLine(simulateReboot(dev, table, { rollback: true }))}`);

      say('\n5. the new app checks itself and confirms (esp_ota_mark_app_valid_cancel_rollback)');
      const running = OtaEngine.open(dev, { rollback: true });
      running.markValid();
      const state = running.slotState(target);
      say(`     ${target.label} is now ${state === null ? '-' : otaStateName(state)}; rollback to ${findPartition(table, 'ota_0') ? 'ota_0' : 'factory'} still possible: ${running.rollbackPossible()}`);

      say('\n6. reboot again');
      say(`     ${bootLine(simulateReboot(dev, table, { rollback: true }))}`);
      dev.sync();
    } finally {
      dev.close();
    }

    const shown = shellQuote(file);
    say(`\n$ otaflash inspect ${shown}`);
    const rc = inspectCommand.run([file], io);
    say(`\nNext: otaflash update ${shown} APP.bin, otaflash boot ${shown} --rollback --apply, otaflash confirm ${shown}`);
    return rc;
  },
};
