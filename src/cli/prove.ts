import { FAULT_MODES, type FaultMode } from '../flash/faults';
import { W25Q32JV, type ChipProfile } from '../flash/timing';
import { verifyImage } from '../formats/app-image-verify';
import { chipIdFromName } from '../formats/chips';
import { OtaflashError } from '../errors';
import type { PartitionTable } from '../formats/partition-types';
import { nodeHashes } from '../node/hash';
import { parseReplayId, proveScenario, replayCase, type ProveReport } from '../prove';
import { proveScenarios, type ProveLayout } from '../prove';
import { loadTableFile } from './flash';
import { CliError, type Command, parseArgs, parseSize, readInput } from './io';

/** Flash chips whose geometry the sweep can take (size, sector, block erase sizes). */
const CHIP_PROFILES: { [name: string]: ChipProfile } = { W25Q32JV };

function profileByName(name: string): ChipProfile {
  for (const k in CHIP_PROFILES) if (k.toLowerCase() === name.toLowerCase()) return CHIP_PROFILES[k];
  throw new CliError(`unknown --chip-profile '${name}'; known: ${Object.keys(CHIP_PROFILES).join(', ')}`);
}

function tableEnd(t: PartitionTable): number {
  let end = 0;
  for (const p of t.partitions) end = Math.max(end, p.offset + p.size);
  return end;
}

function pad(s: string | number, n: number, right: boolean): string {
  const t = String(s);
  return t.length >= n ? t : right ? ' '.repeat(n - t.length) + t : t + ' '.repeat(n - t.length);
}

function formatTable(rows: ProveReport[]): string {
  const head = ['scenario', 'operations', 'cut points', 'modes', 'depth-2 cuts', 'chain cuts', 'reboots', 'failures', 'time'];
  const w = [20, 10, 10, 5, 12, 10, 8, 8, 8];
  const line = (c: (string | number)[]) => c.map((x, i) => pad(x, w[i], i > 0)).join('  ');
  const out = [line(head), w.map((n) => '-'.repeat(n)).join('  ')];
  for (const r of rows) out.push(line([r.name, r.operations, r.cutPoints, r.faultModes, r.depth2Cuts, r.chainCuts, r.reboots, r.failures, `${(r.ms / 1000).toFixed(1)} s`]));
  return out.join('\n') + '\n';
}

export const proveCommand: Command = {
  summary: 'cut power at every flash operation of every update flow on your partition table and images',
  help: `Usage: otaflash prove --table TABLE.csv|TABLE.bin --image NEW.bin [--old OLD.bin] [--third APP.bin]
                      [--chip-profile W25Q32JV] [--flash-size 4MB] [--chip NAME] [--chunk 4K]
                      [--scenario NAME] [--modes before,after,...] [--every N] [--depth2 N]
                      [--chains N] [--seed N] [--json] [--replay ID]

Runs the power-loss proof of 'npm run prove' on your layout: for each update flow (full update,
first boot + confirm, no confirm -> rollback, explicit rollback, resume, two updates in a row with
--third, blank otadata), the flow runs once cleanly, then power is cut at every flash write and
erase in every fault mode (before, after, torn-prefix, torn-bits, interrupted-erase); the device
reboots through a model of the ESP-IDF bootloader, every boot is checked (boots OLD or NEW byte for
byte, a confirmed app is never replaced, an unconfirmed one never kept, otadata stays readable),
then the engine recovers and the final state is checked. OLD defaults to NEW (a re-install).

  --chip-profile NAME  flash geometry (default W25Q32JV: 4 KiB sectors, 32/64 KiB blocks)
  --flash-size SIZE    chip size (default: the profile's, at least the table's end)
  --chip NAME          the ESP chip images must be built for (default: any)
  --every N            cut only at every N-th operation (plus the first and last 16); default 1
  --depth2 N           also N seeded second cuts during recoveries (default 0)
  --chains N           also N seeded chains of up to 5 cuts, each in the recovery from the last
  --replay ID          re-run one case from a failure line and narrate it
Exit code 1 when any invariant broke; each failure prints its replay id.`,
  run(argv, io) {
    const args = parseArgs(argv, {
      values: ['table', 'image', 'old', 'third', 'chip-profile', 'flash-size', 'chip', 'chunk', 'scenario', 'modes', 'every', 'depth2', 'chains', 'seed', 'replay'],
      booleans: ['json'],
    });
    if (args.positional.length > 0) throw new CliError(`unexpected argument '${args.positional[0]}'`);
    const f = args.flags;
    if (typeof f.table !== 'string') throw new CliError('--table TABLE.csv is required');
    if (typeof f.image !== 'string') throw new CliError('--image NEW.bin is required');
    const table = loadTableFile(f.table).table;
    const newImage = readInput(f.image, 'new app image');
    const oldImage = typeof f.old === 'string' ? readInput(f.old, 'old app image') : newImage;
    const third = typeof f.third === 'string' ? readInput(f.third, 'third app image') : undefined;
    const profile = profileByName(typeof f['chip-profile'] === 'string' ? f['chip-profile'] : 'W25Q32JV');
    let flashSize = typeof f['flash-size'] === 'string' ? parseSize(f['flash-size'], '--flash-size') : profile.size;
    if (f['flash-size'] === undefined) while (flashSize < tableEnd(table)) flashSize *= 2;
    if (flashSize < tableEnd(table)) throw new CliError(`--flash-size ${flashSize} is smaller than the table's end (${tableEnd(table)} bytes)`);
    let chip: number | undefined;
    if (typeof f.chip === 'string') {
      chip = chipIdFromName(f.chip);
      if (chip === undefined) throw new CliError(`unknown --chip '${f.chip}'`);
    }
    const num = (name: string, dflt: number): number => {
      const v = f[name];
      if (v === undefined) return dflt;
      if (typeof v !== 'string' || !/^[0-9]+$/.test(v)) throw new CliError(`--${name} needs a whole number, got '${String(v)}'`);
      return parseInt(v, 10);
    };
    const every = num('every', 1);
    // "Every 0th operation" means nothing; quietly sweeping every one would hide the typo.
    if (every < 1) throw new CliError('--every must be at least 1 (1 cuts at every operation)');
    const depth2 = num('depth2', 0);
    const chains = num('chains', 0);
    const seed = num('seed', 1);
    let modes: FaultMode[] = FAULT_MODES.slice();
    if (typeof f.modes === 'string') {
      modes = f.modes.split(',').map((m) => m.trim()) as FaultMode[];
      for (const m of modes) if (FAULT_MODES.indexOf(m) < 0) throw new CliError(`unknown fault mode '${m}'; known: ${FAULT_MODES.join(', ')}`);
    }
    // The proof needs images the engine accepts: an unusable one is the caller's input error, said once,
    // not a failure of every scenario.
    const checkImage = (path: string, bytes: Uint8Array) => {
      try {
        verifyImage(bytes, { hashes: nodeHashes, expectedChip: chip, requireHash: true });
      } catch (e) {
        if (e instanceof OtaflashError) throw new CliError(`${path} cannot be proved with: the OTA engine would refuse it (${e.message}) [${e.code}]`);
        throw e;
      }
    };
    checkImage(f.image, newImage);
    if (typeof f.old === 'string') checkImage(f.old, oldImage);
    if (typeof f.third === 'string' && third) checkImage(f.third, third);
    // A chunk of 0 bytes would never finish writing the image (the sweep would hang).
    const chunk = typeof f.chunk === 'string' ? parseSize(f.chunk, '--chunk') : 4096;
    if (chunk < 1 || chunk > 16 * 1024 * 1024) throw new CliError(`--chunk ${chunk} must be between 1 byte and 16 MiB`);
    const layout: ProveLayout = {
      name: 'user',
      table,
      flashSize,
      eraseSize: profile.sectorSize,
      blockEraseSizes: profile.blockErase.map((b) => b.size),
      images: { old: oldImage, new: newImage, third },
      chunk,
      chip,
      hashes: nodeHashes,
    };
    let scenarios = proveScenarios(layout);
    if (typeof f.scenario === 'string') {
      const want = f.scenario;
      scenarios = scenarios.filter((s) => s.name === want);
      if (scenarios.length === 0) throw new CliError(`unknown --scenario '${want}'; known: ${proveScenarios(layout).map((s) => s.name).join(', ')}`);
    }
    const base = argv.filter((a, i) => !(a === '--replay' || argv[i - 1] === '--replay' || a.startsWith('--replay=')));
    const replayCmd = (id: string) => `otaflash prove ${base.join(' ')} --replay ${id}`;

    if (typeof f.replay === 'string') {
      const id = parseReplayId(f.replay);
      const s = proveScenarios(layout).find((x) => x.key === id.key);
      if (!s) throw new CliError(`no scenario '${id.key}' on this layout`);
      const t = replayCase(s, id, { hashes: nodeHashes });
      // A cut at an operation the flow (or a recovery) never makes is a wrong id, not a failed proof.
      if (t.failure && t.failure.rule === 'replay') throw new CliError(`replay id '${f.replay}' does not fit this flow: ${t.failure.message}`);
      io.stdout(t.lines.join('\n') + '\n');
      return t.failure ? 1 : 0;
    }

    const reports: ProveReport[] = [];
    for (const s of scenarios) {
      const r = proveScenario(s, {
        hashes: nodeHashes,
        seed,
        modes,
        depth2,
        chains,
        now: () => performance.now(),
        untouchedEvery: flashSize > (1 << 20) ? 8 : 1,
        pick: every === 1 ? undefined : (k, n) => k < 16 || k >= n - 16 || k % every === 0,
      });
      reports.push(r);
      if (!f.json) io.stderr(`${s.name}: ${r.failures === 0 ? 'ok' : `${r.failures} failures`} (${r.cutPoints} cuts)\n`);
    }
    const failures = reports.reduce((a, r) => a + r.failures, 0);
    if (f.json) {
      io.stdout(
        JSON.stringify(
          {
            flashSize,
            chipProfile: profile.name,
            failures,
            scenarios: reports.map((r) => ({
              scenario: r.name, operations: r.operations, cutPoints: r.cutPoints, faultModes: r.faultModes, depth2Cuts: r.depth2Cuts, chains: r.chains, chainCuts: r.chainCuts,
              reboots: r.reboots, failures: r.failures, rules: r.rules, failureSamples: r.kept.slice(0, 10).map((x) => ({ id: x.id, rule: x.rule, message: x.message, replay: replayCmd(x.id) })),
            })),
          },
          null,
          1,
        ) + '\n',
      );
    } else {
      io.stdout(formatTable(reports));
      for (const r of reports) {
        for (const x of r.kept.slice(0, 3)) io.stdout(`FAIL ${r.name} cut ${x.k} ${x.mode}${x.k2 !== undefined ? ` then ${x.k2} ${x.mode2}` : ''}${x.later && x.later.length > 0 ? ` and ${x.later.length} more` : ''}: ${x.rule}: ${x.message}\n  replay: ${replayCmd(x.id)}\n`);
      }
      io.stdout(`${reports.length} scenarios, ${reports.reduce((a, r) => a + r.cutPoints, 0)} cuts, ${failures} failures\n`);
    }
    return failures === 0 ? 0 : 1;
  },
};
