import { deflateRawSync } from 'node:zlib';
import { OtaflashError } from '../errors';
import { parseAppImage } from '../formats/app-image';
import { MeshSimulation, type MeshSimOptions, type MeshSummary } from '../mesh/sim';
import type { TopologyKind } from '../mesh/topology';
import { nodeHashes } from '../node/hash';
import { CliError, type CliIo, type Command, parseArgs, readInput } from './io';

// `otaflash mesh-sim`: a Wirepas-style mesh update (src/mesh), one run, summary on stdout.

const SPEC = {
  values: ['nodes', 'topology', 'loss', 'duplication', 'reordering', 'power-cuts', 'image', 'sinks', 'seed', 'bit-rate', 'chunk', 'share', 'timeout', 'max-seconds'],
  booleans: ['json'],
};

function intFlag(v: string | true | undefined, name: string, def: number, min: number, max: number): number {
  if (v === undefined) return def;
  if (!/^\d{1,9}$/.test(String(v)) || Number(v) < min || Number(v) > max) throw new CliError(`--${name} '${String(v)}' must be a whole number from ${min} to ${max}`);
  return Number(v);
}

function numFlag(v: string | true | undefined, name: string, def: number, min: number, max: number): number {
  if (v === undefined) return def;
  const n = Number(v);
  if (v === true || String(v).trim() === '' || !isFinite(n) || n < min || n > max) throw new CliError(`--${name} '${String(v)}' must be a number from ${min} to ${max}`);
  return n;
}

/** Devices that stored the update so far: a bar on a terminal, a line per quarter otherwise. */
function storedProgress(io: CliIo, total: number): { update(done: number, sim: number): void; finish(): void } {
  let nextLine = 0.25;
  let lastDraw = 0;
  let drawn = false;
  return {
    update(done, sim) {
      const f = total > 0 ? Math.min(1, done / total) : 1;
      if (io.isTTY) {
        const t = Date.now();
        if (t - lastDraw < 100 && done < total) return;
        lastDraw = t;
        drawn = true;
        const fill = Math.round(f * 30);
        io.stderr(`\rstored [${'#'.repeat(fill)}${'-'.repeat(30 - fill)}] ${done}/${total} devices, ${sim.toFixed(2)} s simulated\x1b[K`);
      } else if (f >= nextLine) {
        while (f >= nextLine) nextLine += 0.25;
        io.stderr(`stored: ${done}/${total} devices, ${sim.toFixed(2)} s simulated\n`);
      }
    },
    finish() {
      if (io.isTTY && drawn) io.stderr('\n');
    },
  };
}

function printSummary(io: CliIo, s: MeshSummary, topology: string, sinks: number): void {
  const ratio = s.propagationSeconds === null ? 'not all reachable devices stored it' : `${s.propagationSeconds.toFixed(3)} s, ${(s.propagationSeconds / s.lowerBoundSeconds).toFixed(2)}x the lower bound`;
  const lines = [
    `mesh: ${s.nodes} devices (${topology}, ${sinks} sink${sinks === 1 ? '' : 's'}, depth ${s.maxDepth}), ${s.reachable} reachable, scratchpad ${s.scratchpadBytes} bytes`,
    `propagation: ${ratio} (lower bound ${s.lowerBoundSeconds.toFixed(3)} s)`,
    `stored: ${s.stored}, command at ${s.commandSeconds === null ? 'never' : `${s.commandSeconds.toFixed(3)} s`}, updated: ${s.updated}/${s.nodes}`,
    `simulated: ${s.simulatedSeconds.toFixed(3)} s in ${s.wallSeconds.toFixed(2)} s wall (${Math.round((s.nodes * s.simulatedSeconds) / Math.max(s.wallSeconds, 1e-3))} device-seconds per second)`,
    `messages: ${s.messages}, flash writes: ${s.flashWrites}, erases: ${s.flashErases}, power cuts: ${s.powerCuts}`,
    `invariant violations: ${s.invariantViolations}${s.invariantViolations > 0 ? ` ${JSON.stringify(s.invariants.byRule)}` : ''}`,
  ];
  for (const e of s.invariants.examples) lines.push(`  ${e}`);
  io.stdout(lines.join('\n') + '\n');
}

export const meshSimCommand: Command = {
  summary: 'simulate a Wirepas-style scratchpad update spreading through a mesh of devices',
  help: `Usage: otaflash mesh-sim --nodes N [--topology grid|line|random] [--loss 0.1] [--image APP.bin]
                         [--sinks N] [--seed N] [--json]

A deterministic discrete-event simulation (docs/mesh.md): the sinks are given a scratchpad with a
newer seq (each in the seed's order: stack stopped, upload, started), the chunks spread neighbour
to neighbour over lossy links, each device (its own 64-100 KiB flash: otadata, two OTA slots, an
image store) stores them, loses power at random flash operations and recovers, reports "stored";
the sink sends the update command, the devices verify the scratchpad (CRC, CMAC), install the app
through the OTA engine and reboot through the bootloader model. Invariants are checked throughout;
exit status 1 when one broke. Without --image, a built-in 8 KiB sample app (1.0.0 -> 2.0.0).

  --nodes N         devices, sinks included (1..100000)
  --topology T      grid (default; a lone sink at the centre), line, random (geometric, mean degree 8)
  --sinks N         sinks (default 1)
  --loss R          share of receptions lost, 0..0.9 (default 0)
  --duplication R   share of receptions delivered twice (default 0)
  --reordering R    share of receptions delayed by up to 4 chunk times (default 0)
  --power-cuts P    probability of a power cut at each flash write or erase (default 0.002)
  --image APP.bin   the new app image (ESP32 app image; its app description's version is used)
  --bit-rate B      link bit rate (default 100000)
  --chunk BYTES     scratchpad bytes per chunk (default 256)
  --share R         share of devices the sink waits for before the command (default 1)
  --timeout S       seconds after which the command goes out anyway (default 120)
  --max-seconds S   simulated seconds after which the run stops (default 3600)
  --seed N          (default 1)
  --json            one JSON line: {nodes, updated, invariantViolations, simulatedSeconds,
                    lowerBoundSeconds, messages, flashWrites, flashErases, powerCuts, wallSeconds, ...}`,
  run(argv: string[], io: CliIo): number {
    const args = parseArgs(argv, SPEC);
    if (args.positional.length > 0) throw new CliError(`unexpected argument '${args.positional[0]}'`);
    if (args.flags.nodes === undefined) throw new CliError('--nodes N is required');
    const nodes = intFlag(args.flags.nodes, 'nodes', 0, 1, 100000);
    const topology = String(args.flags.topology ?? 'grid');
    if (topology !== 'grid' && topology !== 'line' && topology !== 'random') throw new CliError(`--topology must be grid, line or random, not '${topology}'`);
    const sinks = intFlag(args.flags.sinks, 'sinks', 1, 1, nodes);
    const opts: MeshSimOptions = {
      nodes,
      topology: topology as TopologyKind,
      sinks,
      seed: intFlag(args.flags.seed, 'seed', 1, 0, 0x7fffffff),
      loss: numFlag(args.flags.loss, 'loss', 0, 0, 0.9),
      duplication: numFlag(args.flags.duplication, 'duplication', 0, 0, 0.9),
      reordering: numFlag(args.flags.reordering, 'reordering', 0, 0, 0.9),
      powerCutRate: numFlag(args.flags['power-cuts'], 'power-cuts', 0.002, 0, 0.1),
      bitRate: numFlag(args.flags['bit-rate'], 'bit-rate', 100000, 1000, 1e9),
      chunkSize: intFlag(args.flags.chunk, 'chunk', 256, 16, 4096),
      share: numFlag(args.flags.share, 'share', 1, 0, 1),
      commandTimeoutSeconds: numFlag(args.flags.timeout, 'timeout', 120, 0, 1e6),
      maxSimSeconds: numFlag(args.flags['max-seconds'], 'max-seconds', 3600, 1, 1e7),
      hashes: nodeHashes,
      deflateRaw: (b) => new Uint8Array(deflateRawSync(b, { level: 9 })),
    };
    if (args.flags.image !== undefined) {
      const image = readInput(String(args.flags.image), 'image');
      let version: string;
      try {
        const parsed = parseAppImage(image, { hashes: nodeHashes });
        version = parsed.appDesc ? parsed.appDesc.version : '';
      } catch (e) {
        if (e instanceof OtaflashError) throw new CliError(`--image ${String(args.flags.image)}: not an app image: ${e.message}`);
        throw e;
      }
      opts.image = image;
      opts.imageVersion = version;
    }
    let progress: ReturnType<typeof storedProgress> | null = null;
    if (!args.flags.json) opts.onProgress = (done, total, sim) => progress?.update(done, sim);
    let sim: MeshSimulation;
    try {
      sim = new MeshSimulation(opts);
    } catch (e) {
      if (e instanceof OtaflashError && (e.code === 'MESH_BAD_ARGUMENT' || e.code === 'MESH_TOO_LARGE')) throw new CliError(e.message);
      throw e;
    }
    if (!args.flags.json) progress = storedProgress(io, sim.topo.reachable);
    const s = sim.run();
    progress?.finish();
    if (args.flags.json) {
      const { invariants, ...rest } = s;
      io.stdout(JSON.stringify({ ...rest, violations: invariants.byRule }) + '\n');
    } else printSummary(io, s, topology, sinks);
    return s.invariantViolations > 0 ? 1 : 0;
  },
};
