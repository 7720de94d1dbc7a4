import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  createFleetPlan,
  createFleetPlanRemote,
  mqttFleetLinks,
  runFleet,
  startFleetMqttBridge,
  startLocalPlanServer,
  type FleetOptions,
  type FleetResult,
} from '../server/plans/fleet-sim';
import { startEmbeddedBroker, type EmbeddedBroker } from '../server/plans/mqtt';
import { openPlanStore } from '../server/plans/open-store';
import type { PlanStore } from '../server/plans/types';
import { CliError, type CliIo, type Command, parseArgs } from './io';

const SPEC = { values: ['devices', 'server', 'db', 'transport', 'mqtt', 'concurrency', 'disconnects', 'seed', 'timeout'], booleans: ['json'] };

function intFlag(v: string | true | undefined, name: string, def: number, min: number, max: number): number {
  if (v === undefined) return def;
  if (!/^\d{1,9}$/.test(String(v)) || Number(v) < min || Number(v) > max) throw new CliError(`--${name} '${String(v)}' must be a whole number from ${min} to ${max}`);
  return Number(v);
}

/** A device count bar on a terminal, a line every 10% otherwise. */
function deviceProgress(io: CliIo, total: number): { update(done: number): void; finish(): void } {
  let lastLine = -1;
  let lastDraw = 0;
  const draw = (done: number) => {
    const w = 30;
    const fill = Math.round((done / total) * w);
    io.stderr(`\r[${'#'.repeat(fill)}${'.'.repeat(w - fill)}] ${done}/${total} devices`);
  };
  return {
    update(done) {
      if (io.isTTY) {
        const now = Date.now();
        if (now - lastDraw >= 100 || done === total) {
          lastDraw = now;
          draw(done);
        }
        return;
      }
      const tenth = Math.floor((done * 10) / total);
      if (tenth > lastLine) {
        lastLine = tenth;
        io.stderr(`${done}/${total} devices done\n`);
      }
    },
    finish() {
      if (io.isTTY) io.stderr('\n');
    },
  };
}

export const fleetSimCommand: Command = {
  summary: 'simulate a fleet of devices running an upgrade plan against a plan server',
  help: `Usage: otaflash fleet-sim --devices N [--server URL | --db FILE] [--transport http|mqtt] [--mqtt URL] [--json]
                          [--concurrency 256] [--disconnects 0.05] [--seed 1] [--timeout 60]

Creates a plan (a full package from the built-in sample image 1.0.0 to 2.0.0, 12 KiB) and runs N
simulated devices in this process, each a real update agent over its own 48 KiB flash (OTA engine,
bootloader model, reboot, self-test, version report), against a real server on loopback:
--server URL (the plan is created through its admin API), or else a server started here on
127.0.0.1 over --db FILE (SQLite; default a temporary one, removed afterwards; a later
\`otaflash serve DIR --db FILE\` shows the run on /monitor and /api/stats). Some checks,
confirmations and downloads are cut on purpose (--disconnects, a share); the agents retry.
Prints {devices, succeeded, failed, retries, wallSeconds, requestsPerSecond, p99Ms, serverRssMb}
(serverRssMb: this process when the server runs here, devices included; null with --server).
Exit status 1 when a device failed.

  --transport mqtt  device messages over MQTT (topics otaflash/<id>/up and /down), downloads
                    over HTTP; --mqtt URL names the broker, else an embedded one is started here.
                    Needs the server here (the bridge runs beside it), not --server.
  --concurrency N   devices alive at once (default 256)
  --disconnects R   share of requests cut, 0..0.5 (default 0.05)
  --timeout S       a device that has not reported after S seconds counts as failed (default 60)`,
  run(argv) {
    parseArgs(argv, SPEC);
    throw new CliError('fleet-sim waits on the network; it needs the asynchronous entry (otaflash from the shell)');
  },
  async runAsync(argv: string[], io: CliIo) {
    const args = parseArgs(argv, SPEC);
    if (args.positional.length > 0) throw new CliError(`unexpected argument '${args.positional[0]}'`);
    if (args.flags.devices === undefined) throw new CliError('--devices N is required');
    const devices = intFlag(args.flags.devices, 'devices', 0, 1, 1000000);
    const concurrency = intFlag(args.flags.concurrency, 'concurrency', 256, 1, 10000);
    const seed = intFlag(args.flags.seed, 'seed', 1, 0, 0x7fffffff);
    const timeoutS = intFlag(args.flags.timeout, 'timeout', 60, 1, 3600);
    const d = args.flags.disconnects;
    const disconnectRate = d === undefined ? 0.05 : Number(d);
    if (d !== undefined && (!/^\d*\.?\d+$/.test(String(d)) || !(disconnectRate <= 0.5))) throw new CliError(`--disconnects '${String(d)}' must be a share from 0 to 0.5`);
    const transport = args.flags.transport === undefined ? 'http' : String(args.flags.transport);
    if (transport !== 'http' && transport !== 'mqtt') throw new CliError(`--transport must be http or mqtt, not '${transport}'`);
    const server = args.flags.server === undefined ? null : String(args.flags.server);
    if (server !== null && !/^http:\/\/(127\.0\.0\.1|localhost|\[::1\])(:\d+)?\/?$/.test(server)) throw new CliError(`--server '${server}' must be http://127.0.0.1:PORT (the simulator stays on loopback)`);
    if (server !== null && args.flags.db !== undefined) throw new CliError('--server and --db exclude each other (the database is the server\'s)');
    if (server !== null && transport === 'mqtt') throw new CliError('--transport mqtt needs the server here (the MQTT bridge runs beside it); leave out --server');
    const mqttUrl = args.flags.mqtt === undefined ? null : String(args.flags.mqtt);
    if (mqttUrl !== null && transport !== 'mqtt') throw new CliError('--mqtt goes with --transport mqtt');
    if (mqttUrl !== null && !/^mqtts?:\/\/(127\.0\.0\.1|localhost|\[::1\])(:\d+)?\/?$/.test(mqttUrl)) throw new CliError(`--mqtt '${mqttUrl}' must be mqtt://127.0.0.1:PORT`);

    const cleanup: (() => Promise<void> | void)[] = [];
    try {
      let base: string;
      let planId: string;
      let store: PlanStore | null = null;
      const planName = `fleet-${Date.now().toString(36)}`;
      if (server !== null) {
        base = server.replace(/\/+$/, '');
        planId = (await createFleetPlanRemote(base, { planId: planName })).planId;
      } else {
        const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'otaflash-fleet-'));
        cleanup.push(() => fs.rmSync(tmp, { recursive: true, force: true }));
        const dbPath = args.flags.db === undefined ? path.join(tmp, 'plans.db') : String(args.flags.db);
        const st = await openPlanStore(dbPath);
        store = st;
        cleanup.push(() => st.close());
        const packagesDir = path.join(tmp, 'packages');
        fs.mkdirSync(packagesDir);
        const srv = await startLocalPlanServer({ store: st, packagesDir, log: (l) => io.stderr(l + '\n') });
        cleanup.push(() => srv.close());
        base = srv.url;
        planId = (await createFleetPlan(st, (n, b) => fs.writeFileSync(path.join(packagesDir, n), b), { planId: planName })).planId;
        io.stderr(`plan ${planId} on ${base} (monitor: ${base}/monitor), database ${args.flags.db === undefined ? 'temporary' : dbPath}\n`);
      }
      const opts: FleetOptions = { devices, server: base, concurrency, disconnectRate, seed, deviceTimeoutMs: timeoutS * 1000, prefix: `${planId}-dev-` };
      if (transport === 'mqtt') {
        let url = mqttUrl;
        if (url === null) {
          const broker: EmbeddedBroker = await startEmbeddedBroker();
          cleanup.push(() => broker.close());
          url = broker.url;
        }
        const bridge = await startFleetMqttBridge(store as PlanStore, url, base);
        cleanup.push(() => bridge.close());
        const links = await mqttFleetLinks(url);
        cleanup.push(() => links.close());
        opts.link = links.link;
      }
      const bar = deviceProgress(io, devices);
      opts.onProgress = (done) => bar.update(done);
      let result: FleetResult;
      try {
        result = await runFleet(opts);
      } finally {
        bar.finish();
      }
      const out = {
        devices: result.devices,
        succeeded: result.succeeded,
        failed: result.failed,
        retries: result.retries,
        wallSeconds: result.wallSeconds,
        requestsPerSecond: result.requestsPerSecond,
        p99Ms: result.p99Ms,
        serverRssMb: server === null ? Math.round(process.memoryUsage().rss / 1048576) : null,
        requests: result.requests,
        transport,
        planId,
        failures: result.failures,
      };
      if (args.flags.json) io.stdout(JSON.stringify(out) + '\n');
      else {
        io.stdout(
          `${out.devices} devices: ${out.succeeded} succeeded, ${out.failed} failed, ${out.retries} retries\n` +
            `${out.wallSeconds} s wall, ${out.requests} requests (${out.requestsPerSecond}/s), p99 ${out.p99Ms} ms` +
            (out.serverRssMb === null ? '\n' : `, RSS ${out.serverRssMb} MiB (server and devices in this process)\n`),
        );
        for (const k of Object.keys(out.failures)) io.stdout(`  failed: ${k}: ${out.failures[k]}\n`);
      }
      return out.failed === 0 ? 0 : 1;
    } finally {
      for (let i = cleanup.length - 1; i >= 0; i--) {
        try {
          await cleanup[i]();
        } catch {
          // Closing down: nothing left to tell the user that would change the result.
        }
      }
    }
  },
};
