/**
 * The fleet simulator: N simulated devices, each a real update agent over its own small MemoryFlash
 * (a real OTA engine, reboots through the bootloader model), run in-process against a real plan
 * server over loopback HTTP (or MQTT for messages, HTTP for downloads), with injected disconnects.
 * It measures what the service sustains: wall time, requests per second, p99 latency.
 *
 * Bounded: at most `concurrency` devices are alive at once (each holds 48 KiB of flash), every
 * device has a deadline, and everything listens and connects on 127.0.0.1 only.
 */
import { createHash } from 'node:crypto';
import * as http from 'node:http';
import { OtaflashError } from '../../errors';
import { UpdateAgent } from '../../agent/agent';
import { otaModuleInstaller } from '../../agent/ota-installer';
import type { AgentMessage, ServiceMessage } from '../../agent/types';
import { MemoryFlash } from '../../flash/memory';
import { RegionFlash } from '../../flash/region';
import { decodeAppDescription } from '../../formats/app-image-desc';
import { makeOtaEntry, OTA_STATE, writeOtaEntry } from '../../formats/otadata';
import type { Partition, PartitionTable } from '../../formats/partition-types';
import { simulateReboot } from '../../ota/bootloader';
import { OtaEngine } from '../../ota/engine';
import { nodeHashes } from '../../node/hash';
import { AgentHost, type AgentLink, type RangeFetcher } from '../../node/agent-host';
import type { PlanRecord, PlanStore } from './types';
import { createPlanHttpHandler, packageUrl } from './http';
import { PlanService } from './service';
import { startPlanMqttBridge, type PlanMqttBridge } from './mqtt';
import { MqttAgentLink } from '../../node/agent-mqtt';
import { connectAsync, type MqttClient } from 'mqtt';
import { createMonitorHandler } from './monitor';
import { sampleAppImage } from '../../formats/sample-app';

// ------------------------------------------------------------------------------------------------
// Sample firmware and the simulated device

export const SAMPLE_FROM = '1.0.0';
export const SAMPLE_TO = '2.0.0';

/** The sample firmware: `sampleAppImage` (src/formats/sample-app.ts) named 'fleet-sample'. */
export function sampleImage(version: string, size = 12 * 1024): Uint8Array {
  return sampleAppImage(version, size, nodeHashes, 'fleet-sample');
}

const SLOT = 0x4000;
/** nvs (the agent record), otadata, two 16 KiB OTA slots: 48 KiB a device. */
const TABLE: PartitionTable = {
  partitions: [
    { label: 'nvs', type: 1, subtype: 2, offset: 0x0, size: 0x2000, flags: 0 },
    { label: 'otadata', type: 1, subtype: 0, offset: 0x2000, size: 0x2000, flags: 0 },
    { label: 'ota_0', type: 0, subtype: 0x10, offset: 0x4000, size: SLOT, flags: 0 },
    { label: 'ota_1', type: 0, subtype: 0x11, offset: 0x4000 + SLOT, size: SLOT, flags: 0 },
  ],
  md5: null,
};

/** A device as shipped: `firmware` in ota_0, selected and confirmed; boots into whatever otadata says. */
export class SimDevice {
  readonly flash = new MemoryFlash({ size: 0x4000 + 2 * SLOT });
  booted: Partition | null = null;
  boots = 0;

  constructor(
    readonly id: string,
    firmware: Uint8Array,
    private readonly agentOptions: { checkIntervalMs?: number } = {},
  ) {
    if (firmware.length > SLOT) throw new OtaflashError('FLEET_BAD_ARGUMENT', `sample firmware of ${firmware.length} bytes does not fit the ${SLOT}-byte slot`);
    const ota0 = TABLE.partitions[2];
    this.flash.erase(ota0.offset, ota0.size);
    this.flash.write(ota0.offset, firmware);
    writeOtaEntry(new RegionFlash(this.flash, 0x2000, 0x2000), 0, makeOtaEntry(1, OTA_STATE.VALID, undefined, nodeHashes));
  }

  /** The version in the running image's app description ('' without one). */
  runningVersion(): string {
    if (!this.booted) return '';
    const head = new Uint8Array(32 + 256);
    this.flash.read(this.booted.offset, head);
    const d = decodeAppDescription(head.subarray(32));
    return d ? d.version : '';
  }

  /** Power on: the bootloader model picks the slot (rolling back an unconfirmed one), the agent starts. */
  boot(now: number) {
    const d = simulateReboot(this.flash, TABLE, { rollback: true, hashes: nodeHashes });
    if (!d.boot) throw new OtaflashError('FLEET_NO_BOOT', `device ${this.id}: the bootloader found nothing to boot`);
    this.booted = d.boot;
    this.boots++;
    const running = d.boot;
    const agent = new UpdateAgent({
      deviceId: this.id,
      installers: { module: otaModuleInstaller({ engine: () => OtaEngine.open(this.flash, { table: TABLE, rollback: true, hashes: nodeHashes, running }), hashes: nodeHashes }) },
      recordRegion: new RegionFlash(this.flash, 0, 0x2000),
      // Checks only until the update: after the reboot a periodic check could overtake the report
      // still in flight, be offered the unfinished plan again, and decline it (the device already
      // runs the target), which the service would record over the success.
      checkIntervalMs: this.boots === 1 ? this.agentOptions.checkIntervalMs : 0,
      progressMs: 0,
      progressPercent: 50,
    });
    const version = this.runningVersion();
    // The sample firmware's self-test: it runs, so it passes.
    return { agent, start: { type: 'start' as const, now, versions: { app: version }, selfTestPassed: true } };
  }
}

// ------------------------------------------------------------------------------------------------
// Setting up the plan

export interface FleetPlanSetup {
  planId: string;
  packageId: string;
  from: Uint8Array;
  to: Uint8Array;
}

/** Stores the sample package (its bytes go to `writeFile(name, bytes)`) and an active plan for every device. */
export async function createFleetPlan(store: PlanStore, writeFile: (name: string, bytes: Uint8Array) => void, opts: { planId?: string; backoffMs?: number; retries?: number } = {}): Promise<FleetPlanSetup> {
  const from = sampleImage(SAMPLE_FROM);
  const to = sampleImage(SAMPLE_TO);
  const planId = opts.planId ?? `fleet-${Date.now().toString(36)}`;
  const packageId = `${planId}-app-${SAMPLE_TO}`;
  const file = `${packageId}.bin`;
  writeFile(file, to);
  await store.putPackage({ id: packageId, kind: 'full', size: to.length, sha256: createHash('sha256').update(to).digest('hex'), file });
  const plan: PlanRecord = {
    id: planId,
    name: `fleet-sim ${SAMPLE_FROM} -> ${SAMPLE_TO}`,
    components: [{ id: 'app', kind: 'module', source: SAMPLE_FROM, target: SAMPLE_TO, full: packageId }],
    strategy: { mode: 'silent', retries: opts.retries ?? 8, backoffMs: opts.backoffMs ?? 20 },
    scope: {},
    state: 'active',
    order: 0,
    createdAt: Date.now(),
  };
  await store.putPlan(plan);
  return { planId, packageId, from, to };
}

/** The same plan through a running server's admin API: upload the package, create, activate. */
export async function createFleetPlanRemote(server: string, opts: { planId?: string; backoffMs?: number; retries?: number } = {}): Promise<FleetPlanSetup> {
  const from = sampleImage(SAMPLE_FROM);
  const to = sampleImage(SAMPLE_TO);
  const planId = opts.planId ?? `fleet-${Date.now().toString(36)}`;
  const packageId = `${planId}-app-${SAMPLE_TO}`;
  const call = async (method: string, p: string, body: Uint8Array | string, type: string) => {
    const r = await fetch(new URL(p, server), { method, body, headers: { 'content-type': type } });
    const text = await r.text();
    if (r.status >= 300) throw new OtaflashError('FLEET_SERVER_REFUSED', `${method} ${p}: HTTP ${r.status} ${text.slice(0, 300)}`);
    return text;
  };
  await call('POST', `/api/packages?id=${encodeURIComponent(packageId)}&kind=full`, to, 'application/octet-stream');
  const spec = {
    id: planId,
    name: `fleet-sim ${SAMPLE_FROM} -> ${SAMPLE_TO}`,
    order: 0,
    components: [{ id: 'app', kind: 'module', source: SAMPLE_FROM, target: SAMPLE_TO, full: packageId }],
    strategy: { mode: 'silent', retries: opts.retries ?? 8, backoffMs: opts.backoffMs ?? 20 },
    scope: {},
  };
  await call('POST', '/api/plans', JSON.stringify(spec), 'application/json');
  await call('POST', `/api/plans/${encodeURIComponent(planId)}/activate`, '', 'application/json');
  return { planId, packageId, from, to };
}

// ------------------------------------------------------------------------------------------------
// Transports with injected disconnects

/** xorshift32: the same seed gives the same disconnects. */
export function seededRandom(seed: number): () => number {
  let x = seed >>> 0 || 0x2545f491;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 4294967296;
  };
}

export interface FleetCounters {
  requests: number;
  /** Requests cut on purpose (the simulated disconnects). */
  injected: number;
  /** Requests that failed for any other reason. */
  errors: number;
  /** Of `requests`, the downloads (GET with Range); the rest are device messages. */
  downloads: number;
  latenciesMs: number[];
}

/** POST /api/device/message with the agent's JSON; `cut()` true: the connection drops before the answer. */
export function httpMessageLink(base: string, agent: http.Agent, counters: FleetCounters, cut: () => boolean): AgentLink {
  const url = new URL('/api/device/message', base);
  return {
    request(message: AgentMessage): Promise<ServiceMessage> {
      const body = JSON.stringify(message);
      const t0 = performance.now();
      counters.requests++;
      const drop = cut();
      return new Promise<ServiceMessage>((resolve, reject) => {
        const req = http.request(url, { method: 'POST', agent, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } }, (res) => {
          const parts: Buffer[] = [];
          res.on('data', (b: Buffer) => parts.push(b));
          res.on('end', () => {
            counters.latenciesMs.push(performance.now() - t0);
            const text = Buffer.concat(parts).toString('utf8');
            if (res.statusCode !== 200) {
              counters.errors++;
              reject(new OtaflashError('FLEET_HTTP_STATUS', `POST ${url.pathname}: HTTP ${res.statusCode} ${text.slice(0, 200)}`));
              return;
            }
            try {
              resolve(JSON.parse(text) as ServiceMessage);
            } catch (e) {
              counters.errors++;
              reject(new OtaflashError('FLEET_BAD_ANSWER', `POST ${url.pathname}: the answer is not JSON`));
            }
          });
          res.on('error', reject);
        });
        req.on('error', (e) => {
          if (!drop) counters.errors++;
          reject(e);
        });
        if (drop) {
          // The device loses its connection right after sending: the service may or may not have acted on it.
          counters.injected++;
          req.end(body, () => req.destroy(new OtaflashError('FLEET_INJECTED_DISCONNECT', 'simulated disconnect after sending')));
        } else req.end(body);
      });
    },
  };
}

/** HTTP GET with Range; `cut()` true: half of the first chunk arrives, then the connection drops. */
export function httpFleetFetcher(agent: http.Agent, counters: FleetCounters, cut: () => boolean): RangeFetcher {
  return (url, from, onData) =>
    new Promise<void>((resolve, reject) => {
      const t0 = performance.now();
      counters.requests++;
      counters.downloads++;
      const drop = cut();
      if (drop) counters.injected++;
      const headers: http.OutgoingHttpHeaders = from > 0 ? { range: `bytes=${from}-` } : {};
      let settled = false;
      const fail = (e: unknown) => {
        if (settled) return;
        settled = true;
        reject(e);
      };
      const req = http.get(url, { agent, headers }, (res) => {
        const ok = from > 0 ? res.statusCode === 206 : res.statusCode === 200;
        if (!ok) {
          counters.errors++;
          res.resume();
          fail(new OtaflashError('FLEET_HTTP_STATUS', `GET ${url} from ${from}: HTTP ${res.statusCode}`));
          return;
        }
        res.on('data', (b: Buffer) => {
          if (settled) return;
          const chunk = new Uint8Array(b.buffer, b.byteOffset, b.length);
          if (drop) {
            onData(chunk.subarray(0, chunk.length >> 1));
            req.destroy();
            fail(new OtaflashError('FLEET_INJECTED_DISCONNECT', 'simulated disconnect during the download'));
            return;
          }
          onData(chunk);
        });
        res.on('end', () => {
          if (settled) return;
          settled = true;
          counters.latenciesMs.push(performance.now() - t0);
          resolve();
        });
        res.on('error', fail);
      });
      req.on('error', (e) => {
        if (!drop && !settled) counters.errors++;
        fail(e);
      });
    });
}

// ------------------------------------------------------------------------------------------------
// Running the fleet

export interface FleetOptions {
  devices: number;
  /** Base URL of the plan server (HTTP: messages unless `link` is given, and downloads). */
  server: string;
  /** Several servers sharing one database: device i talks to servers[i % n] (overrides `server`). */
  servers?: string[];
  /** Makes the message link of one device (MQTT); default HTTP to `server`. Called once per device. */
  link?: (deviceId: string, counters: FleetCounters, cut: () => boolean) => Promise<AgentLink & { close?(): void | Promise<void> }>;
  /** Devices alive at once. Default 256. */
  concurrency?: number;
  /** Share of check, confirm and download requests cut on purpose. Default 0.05. */
  disconnectRate?: number;
  seed?: number;
  /** A device that has not reported by then counts as failed. Default 60 s. */
  deviceTimeoutMs?: number;
  /** Device ids are `${prefix}${i}`. */
  prefix?: string;
  onProgress?(done: number, total: number): void;
  /** Pause of each worker before its next device (spreads a small run out over time, for watching it). */
  startGapMs?: number;
}

export interface FleetResult {
  devices: number;
  succeeded: number;
  failed: number;
  /** Requests the agents had to make again after a disconnect (injected or not). */
  retries: number;
  wallSeconds: number;
  requests: number;
  /** Of `requests`, the downloads. */
  downloads: number;
  requestsPerSecond: number;
  p99Ms: number;
  /** Why devices failed, by reason. */
  failures: { [reason: string]: number };
}

export function percentile(values: number[], p: number): number {
  if (values.length === 0) return 0;
  const s = Float64Array.from(values).sort();
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)];
}

/** Runs the fleet to the end: every device reports success or failure, or times out. */
export async function runFleet(opts: FleetOptions): Promise<FleetResult> {
  const total = opts.devices;
  if (!Number.isInteger(total) || total < 1) throw new OtaflashError('FLEET_BAD_ARGUMENT', `devices must be a positive integer, got ${total}`);
  const concurrency = Math.max(1, Math.min(opts.concurrency ?? 256, total));
  const rate = opts.disconnectRate ?? 0.05;
  const random = seededRandom(opts.seed ?? 1);
  const counters: FleetCounters = { requests: 0, injected: 0, errors: 0, downloads: 0, latenciesMs: [] };
  const httpAgent = new http.Agent({ keepAlive: true, maxSockets: 64 });
  const from = sampleImage(SAMPLE_FROM);
  const timeoutMs = opts.deviceTimeoutMs ?? 60000;
  const prefix = opts.prefix ?? 'sim-';
  let next = 0;
  let done = 0;
  let succeeded = 0;
  let retries = 0;
  const failures: { [reason: string]: number } = {};
  const fail = (why: string) => {
    failures[why] = (failures[why] ?? 0) + 1;
  };
  const t0 = performance.now();

  const runOne = async (i: number): Promise<void> => {
    const id = `${prefix}${i}`;
    // Check, confirm and download fail on purpose now and then; progress and reports do not, because
    // the agent leaves those to the next boot and a simulated device has no next boot.
    const cut = () => random() < rate;
    const server = opts.servers && opts.servers.length > 0 ? opts.servers[i % opts.servers.length] : opts.server;
    const link: AgentLink & { close?(): void | Promise<void> } = opts.link ? await opts.link(id, counters, cut) : httpMessageLink(server, httpAgent, counters, cut);
    const reliable = opts.link ? link : httpMessageLink(server, httpAgent, counters, () => false);
    const device = new SimDevice(id, from, { checkIntervalMs: 50 });
    let fetches = 0;
    await new Promise<void>((resolve) => {
      let finished = false;
      const finish = (ok: boolean, why?: string) => {
        if (finished) return;
        finished = true;
        clearTimeout(deadline);
        host.stop();
        if (ok) succeeded++;
        else fail(why ?? 'unknown');
        resolve();
      };
      const host = new AgentHost({
        link: {
          request: (m) => {
            if (m.type === 'check' || m.type === 'confirm') return link.request(m);
            // Progress and report go out without injected cuts.
            return reliable.request(m);
          },
        },
        fetch: httpFleetFetcher(httpAgent, counters, cut),
        boot: () => device.boot(Date.now()),
        onAction: (a) => {
          if (a.type === 'fetch' && fetches++ > 0) retries++;
        },
        onSent: (m, answer, error) => {
          // A lost check or confirmation is sent again after the check interval.
          if (error && (m.type === 'check' || m.type === 'confirm')) retries++;
          if (m.type === 'report') {
            if (error) finish(false, 'report lost');
            else if (m.state === 'succeeded') finish(true);
            else finish(false, m.error ?? 'failed');
          } else if (m.type === 'confirm' && m.accept === false && !error) finish(false, `declined: ${m.reason ?? ''}`);
        },
      });
      const deadline = setTimeout(() => finish(false, 'timeout'), timeoutMs);
      // Power-on: with a check interval the agent checks at once, and again 50 ms after a lost request.
      host.start();
    });
    if (link.close) await link.close();
    done++;
    if (opts.onProgress) opts.onProgress(done, total);
  };

  const worker = async () => {
    while (next < total) {
      if (opts.startGapMs) await new Promise((r) => setTimeout(r, opts.startGapMs));
      if (next < total) await runOne(next++);
    }
  };
  const workers: Promise<void>[] = [];
  for (let w = 0; w < concurrency; w++) workers.push(worker());
  await Promise.all(workers);
  httpAgent.destroy();
  const wallSeconds = (performance.now() - t0) / 1000;
  return {
    devices: total,
    succeeded,
    failed: total - succeeded,
    retries,
    wallSeconds: round(wallSeconds, 3),
    requests: counters.requests,
    downloads: counters.downloads,
    requestsPerSecond: Math.round(counters.requests / wallSeconds),
    p99Ms: round(percentile(counters.latenciesMs, 99), 2),
    failures,
  };
}

function round(v: number, digits: number): number {
  const m = Math.pow(10, digits);
  return Math.round(v * m) / m;
}

// ------------------------------------------------------------------------------------------------
// The in-process server

export interface LocalPlanServer {
  url: string;
  server: http.Server;
  close(): Promise<void>;
}

/** The plan API, package downloads and /monitor on 127.0.0.1 (an ephemeral port unless given). */
export async function startLocalPlanServer(opts: { store: PlanStore; packagesDir: string; port?: number; log?: (line: string) => void }): Promise<LocalPlanServer> {
  const plans = createPlanHttpHandler({ store: opts.store, packagesDir: opts.packagesDir, log: opts.log });
  const monitor = createMonitorHandler({ store: opts.store });
  const server = http.createServer((req, res) => {
    void (async () => {
      try {
        if (await monitor(req, res)) return;
        if (await plans(req, res)) return;
        res.writeHead(404, { 'Content-Type': 'application/json' });
        res.end(JSON.stringify({ error: 'HTTP_NOT_FOUND', message: 'nothing here; try /monitor' }));
      } catch (e) {
        if (!res.headersSent) res.writeHead(500);
        res.end();
      }
    })();
  });
  // Loopback keep-alive from hundreds of agents: more sockets than the default backlog allows.
  server.keepAliveTimeout = 10000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, '127.0.0.1', 511 * 4, () => resolve());
  });
  const port = (server.address() as { port: number }).port;
  return {
    url: `http://127.0.0.1:${port}`,
    server,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

// ------------------------------------------------------------------------------------------------
// MQTT

/** The plan service on a broker, with package URLs pointing at the HTTP server `httpUrl`. */
export function startFleetMqttBridge(store: PlanStore, brokerUrl: string, httpUrl: string): Promise<PlanMqttBridge> {
  const service = new PlanService(store, { packageUrl: (p) => packageUrl(httpUrl, p) });
  return startPlanMqttBridge({ service, url: brokerUrl });
}

/**
 * Device links over MQTT for runFleet: a few client connections carry every device's topics (as a
 * gateway would). A cut check or confirmation is published and then given up on, as when the
 * connection drops before the answer.
 */
export async function mqttFleetLinks(brokerUrl: string, clients = 8): Promise<{ link: NonNullable<FleetOptions['link']>; close(): Promise<void> }> {
  const pool: MqttClient[] = [];
  const nonce = Math.random().toString(36).slice(2, 8);
  for (let i = 0; i < clients; i++) pool.push(await connectAsync(brokerUrl, { clientId: `otaflash-fleet-${nonce}-${i}` }));
  let k = 0;
  return {
    link: async (deviceId, counters, cut) => {
      const l = await MqttAgentLink.open(pool[k++ % pool.length], deviceId, { timeoutMs: 15000 });
      return {
        request(m: AgentMessage): Promise<ServiceMessage> {
          counters.requests++;
          const t0 = performance.now();
          if ((m.type === 'check' || m.type === 'confirm') && cut()) {
            counters.injected++;
            l.request(m).catch(() => undefined);
            return Promise.reject(new OtaflashError('FLEET_INJECTED_DISCONNECT', 'simulated disconnect after publishing'));
          }
          return l.request(m).then(
            (a) => {
              counters.latenciesMs.push(performance.now() - t0);
              return a;
            },
            (e: unknown) => {
              counters.errors++;
              throw e;
            },
          );
        },
        close: () => l.close(),
      };
    },
    close: async () => {
      for (const c of pool) await c.endAsync();
    },
  };
}
