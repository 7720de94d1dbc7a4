/**
 * The plan service over MQTT: the same messages as POST /api/device/message, on topics per device.
 *
 *   otaflash/<deviceId>/up     device -> service  { "id": "<request id>", "message": AgentMessage }
 *   otaflash/<deviceId>/down   service -> device  { "id": "<same id>", "message": ServiceMessage }
 *                                                 { "id": "<same id>", "error": { "code", "message" } }
 *                                                 { "type": "check-now" }   (a push: ask the service now)
 *
 * QoS 1 both ways, not retained. The id is the device's own (unique per boot, any string up to 64
 * characters); the answer repeats it, so a device matches answers to requests and drops answers to
 * requests of an earlier boot. The `deviceId` inside a message must equal the topic's: a device
 * speaks only for itself (a broker ACL on otaflash/<clientId>/# makes that binding real).
 * Downloads stay on HTTP (GET /packages/<id> with Range): a broker is no place for firmware bytes.
 *
 * Several servers on one database can share the devices' messages through a shared
 * subscription (`shareGroup`: $share/<group>/otaflash/+/up), so each message is handled once.
 */
import * as net from 'node:net';
import { connectAsync, type IClientOptions, type MqttClient } from 'mqtt';
import { OtaflashError, isOtaflashError } from '../../errors';
import type { AgentMessage, ServiceMessage } from '../../agent/types';
import type { PlanStore } from './types';
import { PlanService } from './service';
import { packageUrl } from './http';

export const MQTT_PREFIX = 'otaflash';

/** The device's publish topic. */
export function upTopic(deviceId: string, prefix = MQTT_PREFIX): string {
  return `${prefix}/${checkTopicLevel(deviceId)}/up`;
}

/** The device's subscribe topic. */
export function downTopic(deviceId: string, prefix = MQTT_PREFIX): string {
  return `${prefix}/${checkTopicLevel(deviceId)}/down`;
}

/** A device id must be one topic level: no '/', '+', '#' or NUL, 1-128 characters. */
export function checkTopicLevel(deviceId: string): string {
  if (typeof deviceId !== 'string' || deviceId.length === 0 || deviceId.length > 128 || /[/+#\u0000]/.test(deviceId)) {
    throw new OtaflashError('MQTT_BAD_DEVICE_ID', `device id ${JSON.stringify(String(deviceId).slice(0, 40))} cannot be an MQTT topic level (1-128 characters, no / + # or NUL)`);
  }
  return deviceId;
}

export type DownMessage = { id: string; message: ServiceMessage } | { id: string; error: { code: string; message: string } } | { type: 'check-now' };

export interface UpMessage {
  id: string;
  message: AgentMessage;
}

export interface PlanMqttBridgeOptions {
  /** The transport-free service (PlanService) or anything with its `handle`. */
  service: { handle(msg: AgentMessage): Promise<ServiceMessage> };
  /** Broker URL (mqtt://127.0.0.1:1883); or give a connected `client`. */
  url?: string;
  client?: MqttClient;
  clientOptions?: IClientOptions;
  prefix?: string;
  /** MQTT 5 shared-subscription group for several servers (the broker must support it). */
  shareGroup?: string;
  /** Faults of ours and malformed publishes, one line each (default: stderr). */
  log?: (line: string) => void;
}

export interface PlanMqttBridge {
  readonly client: MqttClient;
  /** Messages handled (answered with a message or an error). */
  readonly handled: number;
  /** Pushes "check now" to one device. */
  checkNow(deviceId: string): Promise<void>;
  /** Unsubscribes; ends the client when the bridge connected it. */
  close(): Promise<void>;
}

const ID_RE = /^[\x21-\x7e]{1,64}$/;

export async function startPlanMqttBridge(opts: PlanMqttBridgeOptions): Promise<PlanMqttBridge> {
  if (!opts || !opts.service || typeof opts.service.handle !== 'function') throw new OtaflashError('MQTT_OPTIONS', 'startPlanMqttBridge needs { service } with a handle(msg) method');
  if (!opts.client && typeof opts.url !== 'string') throw new OtaflashError('MQTT_OPTIONS', 'startPlanMqttBridge needs a broker url or a connected client');
  const prefix = opts.prefix ?? MQTT_PREFIX;
  if (/[/+#]/.test(prefix) || prefix === '') throw new OtaflashError('MQTT_OPTIONS', `prefix '${prefix}' must be one topic level`);
  const log = opts.log ?? ((line: string) => void process.stderr.write(line + '\n'));
  const owned = !opts.client;
  const client = opts.client ?? (await connectAsync(opts.url as string, { clean: true, clientId: `otaflash-plans-${Math.random().toString(36).slice(2, 10)}`, ...opts.clientOptions }));
  const filter = `${prefix}/+/up`;
  const subscription = opts.shareGroup ? `$share/${opts.shareGroup}/${filter}` : filter;
  let handled = 0;

  const answer = (deviceId: string, down: DownMessage) => {
    client.publish(`${prefix}/${deviceId}/down`, JSON.stringify(down), { qos: 1 }, (e) => {
      if (e) log(`${new Date().toISOString()} mqtt: answer to ${deviceId} not published: ${e.message}`);
    });
  };

  const onMessage = (topic: string, payload: Buffer) => {
    const parts = topic.split('/');
    if (parts.length !== 3 || parts[0] !== prefix || parts[2] !== 'up') return;
    const deviceId = parts[1];
    let up: UpMessage;
    try {
      up = JSON.parse(payload.toString('utf8')) as UpMessage;
    } catch {
      log(`${new Date().toISOString()} mqtt: ${topic}: payload is not JSON (${payload.length} bytes), dropped`);
      return;
    }
    if (!up || typeof up !== 'object' || typeof up.id !== 'string' || !ID_RE.test(up.id)) {
      // Without an id there is nobody to answer: drop, but say so.
      log(`${new Date().toISOString()} mqtt: ${topic}: no request id (1-64 printable characters), dropped`);
      return;
    }
    const m = up.message as AgentMessage | undefined;
    if (!m || typeof m !== 'object' || m.deviceId !== deviceId) {
      handled++;
      answer(deviceId, { id: up.id, error: { code: 'PLAN_BAD_MESSAGE', message: `the message's deviceId must be the topic's (${deviceId})` } });
      return;
    }
    opts.service.handle(m).then(
      (message) => {
        handled++;
        answer(deviceId, { id: up.id, message });
      },
      (e: unknown) => {
        handled++;
        if (isOtaflashError(e)) answer(deviceId, { id: up.id, error: { code: e.code, message: e.message } });
        else {
          log(`${new Date().toISOString()} mqtt: error on ${topic}: ${(e as Error)?.message ?? String(e)}`);
          answer(deviceId, { id: up.id, error: { code: 'INTERNAL', message: 'internal server error (see the server log)' } });
        }
      },
    );
  };
  client.on('message', onMessage);
  await client.subscribeAsync(subscription, { qos: 1 });

  return {
    client,
    get handled() {
      return handled;
    },
    async checkNow(deviceId: string) {
      await client.publishAsync(downTopic(deviceId, prefix), JSON.stringify({ type: 'check-now' } satisfies DownMessage), { qos: 1 });
    },
    async close() {
      client.removeListener('message', onMessage);
      if (client.connected) await client.unsubscribeAsync(subscription).catch(() => undefined);
      if (owned) await client.endAsync();
    },
  };
}

export interface EmbeddedBroker {
  /** mqtt://127.0.0.1:<port> */
  readonly url: string;
  close(): Promise<void>;
}

/** An aedes broker on 127.0.0.1 (an ephemeral port unless given), for when no broker is configured. */
export async function startEmbeddedBroker(opts: { port?: number } = {}): Promise<EmbeddedBroker> {
  // Loaded here: a device-side user of the topic helpers does not need the broker.
  const { Aedes } = await import('aedes');
  const broker = await Aedes.createBroker();
  const server = net.createServer(broker.handle);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, '127.0.0.1', 2048, () => resolve());
  });
  const port = (server.address() as net.AddressInfo).port;
  const sockets = new Set<net.Socket>();
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  return {
    url: `mqtt://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => broker.close(() => resolve()));
      }),
  };
}

/**
 * What `otaflash serve --mqtt` runs: the plan service of `store` on the broker at `spec` (a URL,
 * or 'embedded' for an aedes broker on 127.0.0.1), package URLs on the HTTP server at `httpBase`.
 */
export async function startMqttForServe(store: PlanStore, spec: string, httpBase: string, log?: (line: string) => void): Promise<{ url: string; close(): Promise<void> }> {
  if (spec !== 'embedded' && !/^mqtts?:\/\/[^\s/]+\/?$/.test(spec)) throw new OtaflashError('MQTT_OPTIONS', `'${spec}' is not a broker URL (mqtt://host:port) or 'embedded'`);
  const broker = spec === 'embedded' ? await startEmbeddedBroker() : null;
  const url = broker ? broker.url : spec;
  let bridge: PlanMqttBridge;
  try {
    const service = new PlanService(store, { packageUrl: (p) => packageUrl(httpBase, p) });
    bridge = await startPlanMqttBridge({ service, url, log, clientOptions: { connectTimeout: 5000, reconnectPeriod: 1000 } });
  } catch (e) {
    if (broker) await broker.close();
    throw e;
  }
  return {
    url,
    async close() {
      await bridge.close();
      if (broker) await broker.close();
    },
  };
}
