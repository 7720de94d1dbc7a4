/**
 * A Node host for the sans-I/O update agent: it feeds the agent events and carries out the actions
 * it returns, with the message transport left to a `link` (HTTP, MQTT) and downloads done over
 * HTTP GET with a Range header. Timers are setTimeout; a `reboot` action calls the caller's `boot`,
 * which returns the agent of the "new" firmware (on a real device the process would restart).
 */
import * as http from 'node:http';
import { OtaflashError } from '../errors';
import type { UpdateAgent } from '../agent/agent';
import type { AgentAction, AgentEvent, AgentMessage, ServiceMessage } from '../agent/types';

/** How the agent's messages reach the plan service. */
export interface AgentLink {
  /** Sends one message and resolves with the answer; rejects when it could not be delivered or answered. */
  request(message: AgentMessage): Promise<ServiceMessage>;
}

/** Streams `url` from byte `from`; calls `onData` per chunk; resolves at the end, rejects on any failure. */
export type RangeFetcher = (url: string, from: number, onData: (chunk: Uint8Array) => void) => Promise<void>;

export interface AgentHostOptions {
  link: AgentLink;
  fetch?: RangeFetcher;
  /** Starts (or restarts after a reboot) the firmware: the agent and its start event. */
  boot(): { agent: UpdateAgent; start: Extract<AgentEvent, { type: 'start' }> };
  /** Every action the agent returns, before the host carries it out (progress bars, logs, tests). */
  onAction?(action: AgentAction): void;
  /** Every message sent, with its answer or the error that lost it. */
  onSent?(message: AgentMessage, answer: ServiceMessage | null, error: unknown): void;
  /** Asked when the agent wants the application's permission ('ask' mode); default: allow. */
  permit?(planId: string): boolean;
  now?(): number;
}

/** Node's keep-alive HTTP GET with a Range header, as the agent's `fetch` action asks. */
export function httpRangeFetcher(agent?: http.Agent): RangeFetcher {
  return (url, from, onData) =>
    new Promise<void>((resolve, reject) => {
      const headers: http.OutgoingHttpHeaders = from > 0 ? { range: `bytes=${from}-` } : {};
      const req = http.get(url, { agent, headers }, (res) => {
        const ok = from > 0 ? res.statusCode === 206 : res.statusCode === 200 || res.statusCode === 206;
        if (!ok) {
          res.resume();
          reject(new OtaflashError('AGENT_HTTP_STATUS', `GET ${url} from ${from}: HTTP ${res.statusCode}`));
          return;
        }
        res.on('data', (b: Buffer) => onData(new Uint8Array(b.buffer, b.byteOffset, b.length)));
        res.on('end', () => resolve());
        res.on('error', reject);
        res.on('aborted', () => reject(new OtaflashError('AGENT_HTTP_ABORTED', `GET ${url}: the connection closed mid-body`)));
      });
      req.on('error', reject);
    });
}

export class AgentHost {
  private agent: UpdateAgent | null = null;
  /** Bumped at every boot: answers and data for an earlier boot are dropped, as a reset would lose them. */
  private generation = 0;
  private timer: NodeJS.Timeout | null = null;
  private stopped = false;
  readonly fetcher: RangeFetcher;

  constructor(private readonly opts: AgentHostOptions) {
    this.fetcher = opts.fetch ?? httpRangeFetcher();
  }

  private now(): number {
    return this.opts.now ? this.opts.now() : Date.now();
  }

  /** Boots the firmware and feeds the agent its start event. */
  start(): void {
    this.stopped = false;
    this.generation++;
    const { agent, start } = this.opts.boot();
    this.agent = agent;
    this.feed(start);
  }

  /** Stops timers; answers still in flight are dropped. */
  stop(): void {
    this.stopped = true;
    this.generation++;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  get currentAgent(): UpdateAgent | null {
    return this.agent;
  }

  /** Feeds one event (the application's: check-now, readings, permit, activate) and runs the actions. */
  feed(ev: AgentEvent): void {
    if (this.stopped || !this.agent) return;
    this.run(this.agent.handle(ev));
  }

  private run(actions: AgentAction[]): void {
    const gen = this.generation;
    for (const a of actions) {
      if (this.opts.onAction) this.opts.onAction(a);
      switch (a.type) {
        case 'send':
          this.send(gen, a.id, a.message);
          break;
        case 'fetch':
          this.fetch(gen, a.id, a.url, a.from);
          break;
        case 'wake-at': {
          if (this.timer) clearTimeout(this.timer);
          const delay = Math.max(0, Math.min(a.at - this.now(), 0x7fffffff));
          this.timer = setTimeout(() => {
            this.timer = null;
            if (gen === this.generation) this.feed({ type: 'tick', now: Math.max(this.now(), a.at) });
          }, delay);
          break;
        }
        case 'ask-permission': {
          const allow = this.opts.permit ? this.opts.permit(a.planId) : true;
          setImmediate(() => gen === this.generation && this.feed({ type: 'permit', now: this.now(), allow }));
          break;
        }
        case 'reboot':
          // The reset: timers and transfers of this boot end; what is on flash stays.
          if (this.timer) clearTimeout(this.timer);
          this.timer = null;
          this.generation++;
          setImmediate(() => !this.stopped && this.start());
          return;
        case 'ready-to-switch':
        case 'log':
          break;
      }
    }
  }

  private send(gen: number, id: number, message: AgentMessage): void {
    this.opts.link.request(message).then(
      (answer) => {
        if (this.opts.onSent) this.opts.onSent(message, answer, null);
        if (gen === this.generation) this.feed({ type: 'response', now: this.now(), id, message: answer });
      },
      (e: unknown) => {
        if (this.opts.onSent) this.opts.onSent(message, null, e);
        if (gen === this.generation) this.feed({ type: 'request-failed', now: this.now(), id, error: e instanceof Error ? e.message : String(e) });
      },
    );
  }

  private fetch(gen: number, id: number, url: string, from: number): void {
    this.fetcher(url, from, (chunk) => {
      if (gen === this.generation) this.feed({ type: 'data', now: this.now(), id, bytes: chunk });
    }).then(
      () => gen === this.generation && this.feed({ type: 'fetch-done', now: this.now(), id }),
      (e: unknown) => gen === this.generation && this.feed({ type: 'request-failed', now: this.now(), id, error: e instanceof Error ? e.message : String(e) }),
    );
  }
}
