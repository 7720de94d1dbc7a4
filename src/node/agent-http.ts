/**
 * The update agent's host for Node: carries out the agent's actions over HTTP with the global
 * `fetch` (send: POST /api/device/message; fetch: GET with `Range: bytes=FROM-`, fed to the agent
 * in chunks as they arrive; wake-at: a timer) and hands reboots, permission requests and "ready to
 * switch" to the application's callbacks. The agent stays sans-I/O; this is the one place where its
 * requests meet sockets and clocks.
 *
 * Everything the agent is fed goes through `feed`, one event at a time, so the synchronous agent
 * never sees two events at once even while several requests are in flight.
 */
import type { UpdateAgent } from '../agent/agent';
import type { AgentAction, AgentEvent, AgentMessage, ServiceMessage } from '../agent/types';

export interface AgentHttpOptions {
  /** The plan service, `http://host:port` (its POST /api/device/message). */
  serverUrl: string;
  /** The agent asked to reboot (its state is on flash): restart the device. Called once the messages sent before are delivered; the host is stopped by then. */
  onReboot(): void;
  /** The plan is in 'ask' mode: answer later with `host.feed({ type: 'permit', ... })`. */
  onAskPermission?(planId: string, components: string[]): void;
  /** Every component is staged; with autoSwitch off, call `host.feed({ type: 'activate', ... })` when ready. */
  onReadyToSwitch?(planId: string): void;
  /** The agent's log lines. */
  onLog?(text: string): void;
  /** Every action, before it is carried out (for tests and progress displays). */
  onAction?(a: AgentAction): void;
  /** An event the agent refused (a thrown error); the host stops after it. */
  onError?(e: unknown): void;
  /** Largest `data` event fed to the agent (default 4096: a flash sector). */
  chunkSize?: number;
  /** Per request, ms (default 30000). */
  timeoutMs?: number;
  now?: () => number;
  /** Headers added to every request (an API key, a device certificate id). */
  headers?: Record<string, string>;
}

/** setTimeout's longest delay; a later wake is re-armed when this one fires. */
const MAX_TIMER_MS = 0x7fffffff;

export class AgentHttpHost {
  private readonly base: string;
  private readonly inflight = new Set<AbortController>();
  private timer: ReturnType<typeof setTimeout> | null = null;
  private stopped = false;
  private busy = 0;
  private idleWaiters: (() => void)[] = [];
  private sending: Promise<void> = Promise.resolve();
  private rebooting = false;

  constructor(
    readonly agent: UpdateAgent,
    private readonly opts: AgentHttpOptions,
  ) {
    this.base = opts.serverUrl.replace(/\/+$/, '');
  }

  private now(): number {
    return this.opts.now ? this.opts.now() : Date.now();
  }

  /** Boots the agent: feed once after every (simulated) boot, with the versions that run. */
  start(versions: { [component: string]: string }, selfTestPassed?: boolean): void {
    const ev: AgentEvent = { type: 'start', now: this.now(), versions };
    if (selfTestPassed !== undefined) (ev as { selfTestPassed?: boolean }).selfTestPassed = selfTestPassed;
    this.feed(ev);
  }

  /** Asks the service now (Harmony's one-call trigger, or a "check now" pushed from outside). */
  checkNow(): void {
    this.feed({ type: 'check-now', now: this.now() });
  }

  /** Feeds one event and carries out what the agent answers. */
  feed(ev: AgentEvent): void {
    if (this.stopped || this.rebooting) return;
    let actions: AgentAction[];
    try {
      actions = this.agent.handle(ev);
    } catch (e) {
      this.stop();
      if (this.opts.onError) this.opts.onError(e);
      else throw e;
      return;
    }
    for (const a of actions) {
      if (this.stopped) return;
      if (this.opts.onAction) this.opts.onAction(a);
      this.run(a);
    }
  }

  /** Stops everything this host started: timers and requests in flight (a reset loses them too). */
  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    for (const c of this.inflight) c.abort();
    this.inflight.clear();
  }

  get isStopped(): boolean {
    return this.stopped;
  }

  /** Resolves when no request of this host is in flight (timers aside). */
  settled(): Promise<void> {
    if (this.busy === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private run(a: AgentAction): void {
    switch (a.type) {
      case 'send': {
        // One message at a time, in the agent's order: progress must not overtake progress, nor a
        // report the progress before it.
        const { id, message } = a;
        const next = this.sending.then(() => (this.stopped ? undefined : this.send(id, message)));
        this.sending = next.catch(() => {});
        this.track(next);
        break;
      }
      case 'fetch':
        this.track(this.download(a.id, a.url, a.from));
        break;
      case 'wake-at':
        this.wakeAt(a.at);
        break;
      case 'reboot': {
        // Messages the agent sent before asking to reboot (the last progress) go out first, as a
        // device flushes its network before restarting; nothing else is fed to this agent.
        this.rebooting = true;
        if (this.timer) clearTimeout(this.timer);
        this.timer = null;
        const flushed = this.sending;
        void flushed.then(() => {
          this.stop();
          this.opts.onReboot();
        });
        break;
      }
      case 'ask-permission':
        if (this.opts.onAskPermission) this.opts.onAskPermission(a.planId, a.components);
        break;
      case 'ready-to-switch':
        if (this.opts.onReadyToSwitch) this.opts.onReadyToSwitch(a.planId);
        break;
      case 'log':
        if (this.opts.onLog) this.opts.onLog(a.text);
        break;
    }
  }

  private track(p: Promise<void>): void {
    this.busy++;
    p.then(
      () => this.untrack(),
      (e) => {
        this.untrack();
        if (this.opts.onError) this.opts.onError(e);
      },
    );
  }

  private untrack(): void {
    this.busy--;
    if (this.busy === 0) {
      const w = this.idleWaiters;
      this.idleWaiters = [];
      for (const f of w) f();
    }
  }

  private wakeAt(at: number): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    if (!(at < Infinity)) return;
    const delay = Math.max(0, at - this.now());
    this.timer = setTimeout(
      () => {
        this.timer = null;
        if (this.now() >= at) this.feed({ type: 'tick', now: this.now() });
        else this.wakeAt(at);
      },
      Math.min(delay, MAX_TIMER_MS),
    );
  }

  private controller(): AbortController {
    const c = new AbortController();
    this.inflight.add(c);
    return c;
  }

  private async send(id: number, message: AgentMessage): Promise<void> {
    const c = this.controller();
    const t = setTimeout(() => c.abort(), this.opts.timeoutMs ?? 30000);
    let answer: ServiceMessage;
    try {
      const res = await fetch(this.base + '/api/device/message', {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...this.opts.headers },
        body: JSON.stringify(message),
        signal: c.signal,
      });
      const body = await res.text();
      if (res.status !== 200) {
        let why = `HTTP ${res.status}`;
        try {
          const e = JSON.parse(body) as { error?: string; message?: string };
          if (e.error) why += ` ${e.error}: ${e.message ?? ''}`;
        } catch {
          // not JSON: the status says enough
        }
        throw new Error(why);
      }
      answer = JSON.parse(body) as ServiceMessage;
    } catch (e) {
      if (this.stopped) return;
      this.feed({ type: 'request-failed', now: this.now(), id, error: errorText(e) });
      return;
    } finally {
      clearTimeout(t);
      this.inflight.delete(c);
    }
    this.feed({ type: 'response', now: this.now(), id, message: answer });
  }

  private async download(id: number, url: string, from: number): Promise<void> {
    const c = this.controller();
    const limit = this.opts.timeoutMs ?? 30000;
    // The timeout covers silence, not the whole transfer: it restarts with every chunk.
    let t = setTimeout(() => c.abort(), limit);
    const size = this.opts.chunkSize ?? 4096;
    try {
      const target = /^https?:\/\//.test(url) ? url : this.base + (url.charAt(0) === '/' ? url : '/' + url);
      const headers: Record<string, string> = { ...this.opts.headers };
      if (from > 0) headers.range = `bytes=${from}-`;
      const res = await fetch(target, { headers, signal: c.signal });
      if (res.status !== 200 && res.status !== 206) {
        await res.body?.cancel();
        throw new Error(`GET ${url}: HTTP ${res.status}`);
      }
      // A server that ignored the range sends from byte 0: skip what the flash already holds.
      let skip = res.status === 200 ? from : 0;
      if (res.status === 206 && !new RegExp(`^bytes ${from}-`).test(res.headers.get('content-range') ?? '')) throw new Error(`GET ${url}: the server answered another range (${res.headers.get('content-range')})`);
      if (!res.body) throw new Error(`GET ${url}: no body`);
      const reader = res.body.getReader();
      for (;;) {
        const r = await reader.read();
        if (r.done) break;
        clearTimeout(t);
        t = setTimeout(() => c.abort(), limit);
        if (this.stopped) return;
        let b = r.value;
        if (skip > 0) {
          const n = Math.min(skip, b.length);
          b = b.subarray(n);
          skip -= n;
        }
        for (let at = 0; at < b.length && !this.stopped; at += size) {
          this.feed({ type: 'data', now: this.now(), id, bytes: b.subarray(at, Math.min(at + size, b.length)) });
        }
      }
    } catch (e) {
      if (this.stopped) return;
      this.feed({ type: 'request-failed', now: this.now(), id, error: errorText(e) });
      return;
    } finally {
      clearTimeout(t);
      this.inflight.delete(c);
    }
    if (!this.stopped) this.feed({ type: 'fetch-done', now: this.now(), id });
  }
}

function errorText(e: unknown): string {
  if (e instanceof Error) {
    const cause = (e as { cause?: { code?: string; message?: string } }).cause;
    return cause && (cause.code || cause.message) ? `${e.message} (${cause.code ?? cause.message})` : e.message;
  }
  return String(e);
}

/** Convenience: a host over `agent`, started with `versions`. */
export function runAgentOverHttp(agent: UpdateAgent, opts: AgentHttpOptions & { versions: { [component: string]: string }; selfTestPassed?: boolean }): AgentHttpHost {
  const host = new AgentHttpHost(agent, opts);
  host.start(opts.versions, opts.selfTestPassed);
  return host;
}
