/**
 * The update agent's messages over MQTT (topics in src/server/plans/mqtt.ts): a link that publishes
 * each request on otaflash/<deviceId>/up and waits for the answer with the same id on
 * otaflash/<deviceId>/down, and turns a pushed { type: 'check-now' } into the agent's check-now
 * event. Downloads stay on HTTP with Range (AgentHost's fetcher).
 *
 * One MQTT client may carry several devices' links (a gateway, or the fleet simulator): messages
 * are dispatched by topic through one listener per client.
 */
import { connectAsync, type IClientOptions, type MqttClient } from 'mqtt';
import { OtaflashError } from '../errors';
import type { AgentMessage, ServiceMessage } from '../agent/types';
import { downTopic, upTopic, MQTT_PREFIX, type DownMessage } from '../server/plans/mqtt';
import { AgentHost, type AgentHostOptions, type AgentLink } from './agent-host';

export interface MqttAgentLinkOptions {
  prefix?: string;
  /** No answer within this many ms: the request fails (default 30000). */
  timeoutMs?: number;
}

type Dispatch = Map<string, (payload: Buffer) => void>;
const dispatchers = new WeakMap<MqttClient, Dispatch>();

function dispatcherOf(client: MqttClient): Dispatch {
  let d = dispatchers.get(client);
  if (!d) {
    const map: Dispatch = new Map();
    client.on('message', (topic: string, payload: Buffer) => {
      const f = map.get(topic);
      if (f) f(payload);
    });
    dispatchers.set(client, map);
    d = map;
  }
  return d;
}

export class MqttAgentLink implements AgentLink {
  /** Called when the service pushes "check now". */
  onCheckNow: (() => void) | null = null;
  private readonly waiting = new Map<string, { resolve(m: ServiceMessage): void; reject(e: Error): void; timer: NodeJS.Timeout }>();
  // Ids unique per boot: an answer meant for a request of an earlier boot matches nothing.
  private readonly nonce = Math.random().toString(36).slice(2, 10);
  private next = 1;
  private readonly up: string;
  private readonly down: string;
  private closed = false;

  private constructor(
    readonly client: MqttClient,
    readonly deviceId: string,
    private readonly opts: MqttAgentLinkOptions,
  ) {
    this.up = upTopic(deviceId, opts.prefix ?? MQTT_PREFIX);
    this.down = downTopic(deviceId, opts.prefix ?? MQTT_PREFIX);
  }

  /** Subscribes to the device's down topic on a connected client. */
  static async open(client: MqttClient, deviceId: string, opts: MqttAgentLinkOptions = {}): Promise<MqttAgentLink> {
    const link = new MqttAgentLink(client, deviceId, opts);
    const d = dispatcherOf(client);
    if (d.has(link.down)) throw new OtaflashError('MQTT_LINK_EXISTS', `device ${deviceId} already has a link on this client`);
    d.set(link.down, (p) => link.onDown(p));
    await client.subscribeAsync(link.down, { qos: 1 });
    return link;
  }

  private onDown(payload: Buffer): void {
    let m: DownMessage;
    try {
      m = JSON.parse(payload.toString('utf8')) as DownMessage;
    } catch {
      return; // not ours to answer; a device ignores what it cannot read
    }
    if (!m || typeof m !== 'object') return;
    if ('type' in m && m.type === 'check-now') {
      if (this.onCheckNow) this.onCheckNow();
      return;
    }
    const id = (m as { id?: unknown }).id;
    if (typeof id !== 'string') return;
    const w = this.waiting.get(id);
    if (!w) return;
    this.waiting.delete(id);
    clearTimeout(w.timer);
    if ('error' in m && m.error) w.reject(new OtaflashError(typeof m.error.code === 'string' ? m.error.code : 'MQTT_ERROR', `service: ${String(m.error.message)}`));
    else if ('message' in m && m.message && typeof m.message === 'object') w.resolve(m.message);
    else w.reject(new OtaflashError('MQTT_BAD_ANSWER', `answer ${id} has neither message nor error`));
  }

  request(message: AgentMessage): Promise<ServiceMessage> {
    if (this.closed) return Promise.reject(new OtaflashError('MQTT_LINK_CLOSED', `the link of ${this.deviceId} is closed`));
    const id = `${this.nonce}-${this.next++}`;
    return new Promise<ServiceMessage>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting.delete(id);
        reject(new OtaflashError('MQTT_TIMEOUT', `no answer to ${message.type} within ${this.opts.timeoutMs ?? 30000} ms`));
      }, this.opts.timeoutMs ?? 30000);
      this.waiting.set(id, { resolve, reject, timer });
      this.client.publish(this.up, JSON.stringify({ id, message }), { qos: 1 }, (e) => {
        if (!e) return;
        const w = this.waiting.get(id);
        if (!w) return;
        this.waiting.delete(id);
        clearTimeout(w.timer);
        reject(e);
      });
    });
  }

  /** Fails what is still waiting and unsubscribes. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const [, w] of this.waiting) {
      clearTimeout(w.timer);
      w.reject(new OtaflashError('MQTT_LINK_CLOSED', `the link of ${this.deviceId} closed`));
    }
    this.waiting.clear();
    dispatcherOf(this.client).delete(this.down);
    if (this.client.connected) await this.client.unsubscribeAsync(this.down).catch(() => undefined);
  }
}

export interface MqttAgentOptions extends Omit<AgentHostOptions, 'link'> {
  /** Broker URL; or a connected `client` shared with other links. */
  url?: string;
  client?: MqttClient;
  clientOptions?: IClientOptions;
  deviceId: string;
  prefix?: string;
  timeoutMs?: number;
}

/**
 * A device's agent over MQTT: connects (unless given a client), opens the link, starts the host;
 * a pushed "check now" becomes the agent's check-now event.
 */
export async function startMqttAgent(opts: MqttAgentOptions): Promise<{ host: AgentHost; link: MqttAgentLink; close(): Promise<void> }> {
  if (!opts.client && typeof opts.url !== 'string') throw new OtaflashError('MQTT_OPTIONS', 'startMqttAgent needs a broker url or a connected client');
  const owned = !opts.client;
  const client = opts.client ?? (await connectAsync(opts.url as string, { clientId: `otaflash-dev-${opts.deviceId}`, ...opts.clientOptions }));
  const link = await MqttAgentLink.open(client, opts.deviceId, { prefix: opts.prefix, timeoutMs: opts.timeoutMs });
  const host = new AgentHost({ ...opts, link });
  link.onCheckNow = () => host.feed({ type: 'check-now', now: opts.now ? opts.now() : Date.now() });
  host.start();
  return {
    host,
    link,
    async close() {
      host.stop();
      await link.close();
      if (owned) await client.endAsync();
    },
  };
}
