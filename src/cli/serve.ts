import * as fs from 'node:fs';
import * as path from 'node:path';
import { createUpdateServer } from '../server/update-server';
import { readKeyFiles, trustFromKeys } from '../node/detached-sign';
import { createNodeSignatureVerifier } from '../node/signature-verifier';
import { nodeHashes, nodeSha384 } from '../node/hash';
import { openPlanStore } from '../server/plans/open-store';
import { createPlanHttpHandler } from '../server/plans/http';
import { createMonitorHandler } from '../server/plans/monitor';
import { startMqttForServe } from '../server/plans/mqtt';
import type { PlanStore } from '../server/plans/types';
import { isOtaflashError } from '../errors';
import { CliError, type CliIo, type Command, parseArgs } from './io';

function portFlag(v: string | true | undefined): number {
  if (v === undefined) return 8000;
  if (!/^\d{1,5}$/.test(String(v)) || Number(v) > 65535) throw new CliError(`--port '${String(v)}' is not a port number (0..65535; 0 picks a free one)`);
  return Number(v);
}

/** Resolves when the process gets SIGINT or SIGTERM (the handlers go again afterwards). */
function untilSignal(): Promise<string> {
  return new Promise((resolve) => {
    const stop = (sig: string) => {
      process.off('SIGINT', onInt);
      process.off('SIGTERM', onTerm);
      resolve(sig);
    };
    const onInt = () => stop('SIGINT');
    const onTerm = () => stop('SIGTERM');
    process.on('SIGINT', onInt);
    process.on('SIGTERM', onTerm);
  });
}

const SPEC = { values: ['port', 'host', 'public-url', 'db', 'mqtt'], booleans: ['pycom'], repeat: ['sign', 'plan-pubkey'] };

export const serveCommand: Command = {
  summary: 'serve a directory of versions as a Pycom-compatible update server',
  help: `Usage: otaflash serve DIR [--port 8000] [--host 127.0.0.1] [--public-url URL] [--pycom] [--db FILE|postgres://...|memory]
                     [--mqtt URL|embedded] [--sign KEY.pem ...] [--plan-pubkey PUB.pem ...]

Serves DIR the way Pycom's OTA_server.py does, without its holes: DIR holds one folder per version
(each the whole file system of the device, e.g. 1.0.1/flash/main.py) and firmware_<version>.bin
files. GET /manifest.json?current_ver=V answers what a device on V needs (null when nothing);
files are served by path, with ETag, Range and HEAD over HTTP/1.1, and as Pycom's client reads
them over HTTP/1.0. Paths leading outside DIR are refused. One log line per request on stderr;
SIGINT or SIGTERM stops it after the requests in flight.

  --port N          port to listen on (default 8000; 0 picks a free one)
  --host ADDR       address to listen on (default 127.0.0.1; 0.0.0.0 for every interface)
  --public-url URL  base of the URLs in manifests (default: from each request's Host header)
  --pycom           manifests with exactly Pycom's fields (no sha256, size, previous_version)
  --db SPEC         the upgrade plan service's database (README "Upgrade plans"): a SQLite file
                    (default DIR/.otaflash/plans.db, made at the first plan request), postgres://user:pw@host/db (several servers
                    may share it), or memory; packages are kept in DIR/.otaflash/packages
  --mqtt URL        also answer the plan messages over MQTT (topics otaflash/<device>/up and /down)
                    on the broker at URL (mqtt://host:1883), or on a broker started here on
                    127.0.0.1 with 'embedded' (its address is printed); downloads stay on HTTP
  --sign KEY.pem    sign every manifest with this Secure Boot private key (RSA-3072 or ECDSA; repeat
                    for up to 3 keys): a top-level "signature" field that Pycom's client ignores and
                    otaflash clients with trusted keys require (docs/manifest.md "Signed manifests")
  --plan-pubkey PUB.pem  refuse to create an upgrade plan unless it is signed by this key (repeat
                    for more; PLAN_UNSIGNED / PLAN_SIGNATURE_INVALID). Devices check plans with
                    their own keys anyway; this stops a mistake at the server (docs/plans.md)`,
  run(argv) {
    // Options are checked as by every command (a typo is named); running needs runAsync.
    parseArgs(argv, SPEC);
    throw new CliError('serve runs until stopped; it needs the asynchronous entry (otaflash from the shell)');
  },
  async runAsync(argv: string[], io: CliIo) {
    const args = parseArgs(argv, SPEC);
    if (args.positional.length !== 1) throw new CliError('expected one DIR (the directory of version folders)');
    const dir = args.positional[0];
    if (!fs.existsSync(dir) || !fs.statSync(dir).isDirectory()) throw new CliError(`'${dir}' is not a directory`);
    const port = portFlag(args.flags.port);
    const host = args.flags.host !== undefined ? String(args.flags.host) : '127.0.0.1';
    const dbSpec = args.flags.db !== undefined ? String(args.flags.db) : path.join(dir, '.otaflash', 'plans.db');
    // A named database is opened now, so a wrong one stops the start; the default is opened at the
    // first plan request, so serving a version tree alone writes nothing into DIR.
    let store: PlanStore | (() => Promise<PlanStore>) = () => openPlanStore(dbSpec);
    if (args.flags.db !== undefined) {
      try {
        store = await openPlanStore(dbSpec);
      } catch (e) {
        throw new CliError(`plan database: ${isOtaflashError(e) ? e.message : (e as Error).message}`);
      }
    }
    const planKeys = args.lists['plan-pubkey'] ?? [];
    const planTrust = planKeys.length > 0
      ? { trust: trustFromKeys({ pubkeys: readKeyFiles(planKeys) }), verifier: createNodeSignatureVerifier(), hashes: nodeHashes, sha384: nodeSha384 }
      : undefined;
    const plans = createPlanHttpHandler({
      store,
      planTrust,
      packagesDir: path.join(dir, '.otaflash', 'packages'),
      publicUrl: args.flags['public-url'] !== undefined ? String(args.flags['public-url']) : undefined,
      log: (line) => io.stderr(line + '\n'),
    });
    const signKeys = args.lists.sign ? readKeyFiles(args.lists.sign) : undefined;
    const srv = createUpdateServer({
      signKeys,
      // The upgrade monitor page (/monitor) beside the plan API whose /api/stats it shows.
      handlers: [createMonitorHandler({ store }), plans],
      root: dir,
      publicUrl: args.flags['public-url'] !== undefined ? String(args.flags['public-url']) : undefined,
      extras: args.flags.pycom !== true,
      log: (line) => io.stderr(line + '\n'),
    });
    let addr;
    try {
      addr = await srv.listen(port, host);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code ?? (e as Error).message;
      await plans.close();
      throw new CliError(`cannot listen on ${host}:${port}: ${code}`);
    }
    io.stdout(`serving ${dir} on ${addr.url} (manifests at ${addr.url}/manifest.json?current_ver=VERSION)\n`);
    io.stderr(`upgrade plans in ${dbSpec.replace(/\/\/([^:/@]*):[^@]*@/, '//$1:***@')}; API at ${addr.url}/api/, monitor at ${addr.url}/monitor (data at ${addr.url}/api/stats)\n`);
    let mqtt: { close(): Promise<void> } | null = null;
    if (args.flags.mqtt !== undefined) {
      try {
        const opened = typeof store === 'function' ? await store() : store;
        const base = args.flags['public-url'] !== undefined ? String(args.flags['public-url']) : addr.url;
        const m = await startMqttForServe(opened, String(args.flags.mqtt), base, (line) => io.stderr(line + '\n'));
        mqtt = m;
        io.stderr(`plan messages over MQTT on ${m.url} (topics otaflash/<device>/up and /down)\n`);
      } catch (e) {
        await srv.close();
        await plans.close();
        throw new CliError(`--mqtt: ${isOtaflashError(e) ? e.message : (e as Error).message}`);
      }
    }
    const sig = await untilSignal();
    io.stderr(`${sig}: stopping after the requests in flight\n`);
    if (mqtt) await mqtt.close();
    await srv.close();
    await plans.close();
    return 0;
  },
};
