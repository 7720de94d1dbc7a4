/**
 * The device update agent: a state machine with no I/O of its own. The host feeds it events (the
 * clock, service answers, downloaded bytes, battery and signal readings, the application's
 * permission) and carries out the actions it returns (send a message, fetch a URL from byte N,
 * wake it at time T, reboot). Flash work happens inside, synchronously, through the component
 * installers, like every other part of the portable core.
 *
 * What must survive a reset is kept in the agent record (record.ts): the plan, the phase, which
 * component is being downloaded, retries used. Bytes already downloaded are not: the installer
 * knows what is safely on flash (the OTA engine's resume log), and the download continues there.
 * The record is written at phase changes only, never per chunk.
 */
import { OtaflashError, kindOf } from '../errors';
import type { BlockDevice } from '../flash/types';
import { readAgentRecord, writeAgentRecord, type StoredRecord } from './record';
import { checkPlan } from './plan';
import { checkPlanSignature, withoutSignature } from './plan-signature';
import type { SignatureTrust, SignatureVerifier } from '../formats/secure-boot-verify';
import type { IncrementalHash, HashProvider } from '../hash/types';
import type { AgentAction, AgentEvent, AgentMessage, ComponentInstaller, ComponentKind, Plan, PlanComponent, ServiceMessage } from './types';

export type AgentPhase = 'idle' | 'waiting' | 'asking' | 'confirming' | 'downloading' | 'staged' | 'switching';

/** The part of the agent's state that lives on flash. */
export interface AgentState {
  readonly v: 1;
  phase: AgentPhase;
  plan: Plan | null;
  urls: { [component: string]: string } | null;
  /** The component being downloaded (index into plan.components). */
  index: number;
  /** Failed attempts of that component so far. */
  failures: number;
  /** When the agent next acts on its own (a periodic check, a retry, a re-check of conditions). */
  nextAt: number;
}

/** What the record holds: the state, and the reports the service has not acknowledged yet. */
interface StoredAgent extends AgentState {
  unsent?: AgentMessage[];
}

export interface AgentOptions {
  deviceId: string;
  /** Installers by component kind (a device without an external MCU gives none for 'mcu'). */
  installers: { [K in ComponentKind]?: ComponentInstaller };
  /** The region (two erase sectors or more) that holds the agent record. */
  recordRegion: BlockDevice;
  /** Daemon mode: check every this many ms (0: only when asked with check-now). Default 0. */
  checkIntervalMs?: number;
  /** Reboot as soon as every component is staged (true), or wait for `activate` (false). Default true. */
  autoSwitch?: boolean;
  /** Progress messages at most every this many percent... Default 10. */
  progressPercent?: number;
  /** ...and at least this many ms apart (the final 100% always goes out). Default 2000. */
  progressMs?: number;
  /**
   * Trusted keys for plans (key digests as eFuse holds them, revoked ones). When set, a plan that is
   * unsigned, or whose signature does not verify, or that differs from what was signed, is refused
   * before anything is downloaded or written (PLAN_UNSIGNED, PLAN_SIGNATURE_INVALID, reported to the
   * service as a failure). Unset: plans are taken as before, a signature is logged as not checked.
   */
  trust?: SignatureTrust;
  /** Public-key operations for plan signatures; default the portable verifier. */
  signatureVerifier?: SignatureVerifier;
  /** Hashes for plan signatures (default the portable ones); `sha384` for P-384 keys. */
  signatureHashes?: HashProvider;
  sha384?: () => IncrementalHash;
}

type Pending = { purpose: 'check' | 'confirm' | 'progress' } | { purpose: 'report'; message: AgentMessage } | { purpose: 'fetch'; component: string };

const RECHECK_MS = 60000;

export class UpdateAgent {
  readonly deviceId: string;
  private readonly opts: AgentOptions;
  private state: AgentState;
  private record: StoredRecord | null;
  private versions: { [component: string]: string } = {};
  private battery: number | undefined;
  private signal: number | undefined;
  private nextId = 1;
  private readonly pending: { [id: number]: Pending } = {};
  private received = 0;
  private lastProgress = { percent: -1, at: -Infinity };
  private started = false;
  /** Reports not yet acknowledged: kept on flash and sent again until the service has them. */
  private unsent: AgentMessage[] = [];
  private readonly inFlight: AgentMessage[] = [];

  constructor(opts: AgentOptions) {
    if (!opts || typeof opts !== 'object') throw new OtaflashError('AGENT_BAD_ARGUMENT', `UpdateAgent needs an options object, got ${kindOf(opts)}`);
    if (typeof opts.deviceId !== 'string' || opts.deviceId === '') throw new OtaflashError('AGENT_BAD_ARGUMENT', 'UpdateAgent: deviceId must be a non-empty string');
    if (!opts.installers || typeof opts.installers !== 'object') throw new OtaflashError('AGENT_BAD_ARGUMENT', 'UpdateAgent: installers must be an object of installers by component kind');
    this.deviceId = opts.deviceId;
    this.opts = opts;
    this.record = readAgentRecord(opts.recordRegion);
    const saved = this.record ? (this.record.payload as StoredAgent) : null;
    this.state = saved && saved.v === 1 ? saved : { v: 1, phase: 'idle', plan: null, urls: null, index: 0, failures: 0, nextAt: 0 };
    if (saved && Array.isArray(saved.unsent)) this.unsent = saved.unsent;
    delete (this.state as StoredAgent).unsent;
  }

  /** The current phase (for the application and for tests). */
  get phase(): AgentPhase {
    return this.state.phase;
  }

  get plan(): Plan | null {
    return this.state.plan;
  }

  /** Feeds one event; returns what to do, in order. */
  handle(ev: AgentEvent): AgentAction[] {
    if (!ev || typeof ev !== 'object' || typeof ev.type !== 'string') throw new OtaflashError('AGENT_BAD_EVENT', `not an agent event: ${kindOf(ev)}`);
    if (typeof ev.now !== 'number' || !(ev.now === ev.now)) throw new OtaflashError('AGENT_BAD_EVENT', `${ev.type}: now must be a number`);
    if (!this.started && ev.type !== 'start') throw new OtaflashError('AGENT_NOT_STARTED', `${ev.type} before start: feed { type: 'start' } once after every boot`);
    const out: AgentAction[] = [];
    switch (ev.type) {
      case 'start':
        this.onStart(ev.now, ev.versions, ev.selfTestPassed, out);
        break;
      case 'tick':
        if (ev.now >= this.state.nextAt) this.wake(ev.now, out);
        break;
      case 'check-now':
        if (this.state.phase === 'idle' || this.state.phase === 'waiting') this.check(ev.now, out);
        break;
      case 'readings':
        if (typeof ev.battery === 'number') this.battery = ev.battery;
        if (typeof ev.signal === 'number') this.signal = ev.signal;
        break;
      case 'response':
        this.onResponse(ev.now, ev.id, ev.message, out);
        break;
      case 'request-failed':
        this.onFailure(ev.now, ev.id, ev.error, out);
        break;
      case 'data':
        this.onData(ev.now, ev.id, ev.bytes, out);
        break;
      case 'fetch-done':
        this.onFetchDone(ev.now, ev.id, out);
        break;
      case 'permit':
        if (this.state.phase === 'asking') {
          if (ev.allow) this.confirm(ev.now, true, out);
          else this.decline(ev.now, 'the application declined', out);
        }
        break;
      case 'activate':
        if (this.state.phase === 'staged') this.switchOver(out);
        break;
      default:
        throw new OtaflashError('AGENT_BAD_EVENT', `unknown event type '${(ev as { type: string }).type}'`);
    }
    return out;
  }

  // ---------------------------------------------------------------------------------------------

  private save(): void {
    const s = this.state;
    const payload: StoredAgent = { v: 1, phase: s.phase, plan: s.plan, urls: s.urls, index: s.index, failures: s.failures, nextAt: s.nextAt };
    if (this.unsent.length > 0) payload.unsent = this.unsent;
    this.record = writeAgentRecord(this.opts.recordRegion, payload, this.record);
  }

  /** Sends a final report and keeps it on flash until the service acknowledges it. */
  private report(message: AgentMessage, out: AgentAction[]): void {
    this.unsent.push(message);
    this.save();
    this.sendReport(message, out);
  }

  private sendReport(message: AgentMessage, out: AgentAction[]): void {
    const id = this.nextId++;
    this.pending[id] = { purpose: 'report', message };
    this.inFlight.push(message);
    out.push({ type: 'send', id, message });
  }

  private resendUnsent(out: AgentAction[]): void {
    for (let i = 0; i < this.unsent.length; i++) if (this.inFlight.indexOf(this.unsent[i]) < 0) this.sendReport(this.unsent[i], out);
  }

  private settleReport(message: AgentMessage, delivered: boolean): void {
    const f = this.inFlight.indexOf(message);
    if (f >= 0) this.inFlight.splice(f, 1);
    if (!delivered) return;
    const u = this.unsent.indexOf(message);
    if (u >= 0) {
      this.unsent.splice(u, 1);
      this.save();
    }
  }

  private send(message: AgentMessage, purpose: 'check' | 'confirm' | 'progress', out: AgentAction[]): void {
    const id = this.nextId++;
    this.pending[id] = { purpose } as Pending;
    out.push({ type: 'send', id, message });
  }

  private installer(c: PlanComponent): ComponentInstaller {
    const i = this.opts.installers[c.kind];
    if (!i) throw new OtaflashError('AGENT_NO_INSTALLER', `component ${c.id}: this device has no installer for '${c.kind}' components`);
    return i;
  }

  private idle(now: number, out: AgentAction[]): void {
    const every = this.opts.checkIntervalMs ?? 0;
    this.state = { v: 1, phase: 'idle', plan: null, urls: null, index: 0, failures: 0, nextAt: every > 0 ? now + every : Infinity };
    this.save();
    if (every > 0) out.push({ type: 'wake-at', at: this.state.nextAt });
  }

  private onStart(now: number, versions: { [c: string]: string }, selfTest: boolean | undefined, out: AgentAction[]): void {
    if (!versions || typeof versions !== 'object') throw new OtaflashError('AGENT_BAD_EVENT', 'start: versions must be an object of component versions');
    this.started = true;
    this.versions = versions;
    this.resendUnsent(out);
    const s = this.state;
    // A reset after the switch but before the record said so: the new components already run.
    if (s.phase === 'staged' && s.plan && allAtTarget(s.plan, versions)) s.phase = 'switching';
    if (s.phase === 'switching' && s.plan) {
      // The reboot into the new components happened (or the bootloader went back): judge and report.
      const plan = s.plan;
      const failedSelfTest = selfTest === false;
      for (let i = 0; i < plan.components.length; i++) {
        const c = plan.components[i];
        const running = versions[c.id];
        let error: string | null = failedSelfTest ? 'AGENT_SELF_TEST_FAILED' : running !== c.target ? 'AGENT_VERSION_MISMATCH' : null;
        try {
          // A version other than the target without a failed self-test means the bootloader already
          // went back to the old image: nothing to undo.
          if (!error) this.installer(c).confirm(c);
          else if (failedSelfTest) this.installer(c).rollback(c);
        } catch (e) {
          out.push({ type: 'log', text: `component ${c.id}: ${errorText(e)}` });
          // Not confirmed means not kept: the bootloader will go back at the next boot.
          if (!error) error = e instanceof OtaflashError ? e.code : 'AGENT_CONFIRM_FAILED';
        }
        this.report(
          error === null
            ? { type: 'report', deviceId: this.deviceId, planId: plan.id, component: c.id, state: 'succeeded', version: running }
            : { type: 'report', deviceId: this.deviceId, planId: plan.id, component: c.id, state: 'failed', version: running, error },
          out,
        );
      }
      this.idle(now, out);
      if (failedSelfTest) out.push({ type: 'reboot' });
      return;
    }
    if (s.phase === 'downloading' && s.plan && s.urls) {
      this.fetchCurrent(now, out);
      return;
    }
    if (s.phase === 'staged') {
      out.push({ type: 'ready-to-switch', planId: (s.plan as Plan).id });
      if (this.opts.autoSwitch !== false) this.switchOver(out);
      return;
    }
    // A request in flight when the power went is lost with it: ask again.
    if (s.phase === 'asking' || s.phase === 'confirming' || s.phase === 'waiting') {
      this.state.phase = 'waiting';
      this.state.nextAt = now;
      this.wake(now, out);
      return;
    }
    const every = this.opts.checkIntervalMs ?? 0;
    if (every > 0) this.check(now, out);
  }

  private wake(now: number, out: AgentAction[]): void {
    this.resendUnsent(out);
    const s = this.state;
    if (s.phase === 'idle') this.check(now, out);
    else if (s.phase === 'waiting' && s.plan) this.evaluate(now, s.plan, out);
    else if (s.phase === 'downloading') this.fetchCurrent(now, out);
  }

  private check(now: number, out: AgentAction[]): void {
    const m: AgentMessage = { type: 'check', deviceId: this.deviceId, versions: this.versions };
    if (this.battery !== undefined) m.battery = this.battery;
    if (this.signal !== undefined) m.signal = this.signal;
    this.send(m, 'check', out);
  }

  /** Conditions of the strategy: null when met, else why not. */
  private unmet(now: number, plan: Plan): string | null {
    const st = plan.strategy;
    if (st.minBattery !== undefined && (this.battery === undefined || this.battery < st.minBattery)) return `battery ${this.battery ?? 'unknown'} below ${st.minBattery}`;
    if (st.minSignal !== undefined && (this.signal === undefined || this.signal < st.minSignal)) return `signal ${this.signal ?? 'unknown'} below ${st.minSignal}`;
    if (st.windows && st.windows.length > 0) {
      const minute = Math.floor(now / 60000) % 1440;
      let inside = false;
      for (let i = 0; i < st.windows.length; i++) {
        const w = st.windows[i];
        if (w[0] <= w[1] ? minute >= w[0] && minute < w[1] : minute >= w[0] || minute < w[1]) inside = true;
      }
      if (!inside) return `minute ${minute} of the day is outside the allowed windows`;
    }
    return null;
  }

  private evaluate(now: number, plan: Plan, out: AgentAction[]): void {
    if (allAtTarget(plan, this.versions)) {
      // The plan is already done here (its report was lost or overtaken): say so instead of declining.
      for (let i = 0; i < plan.components.length; i++) {
        const c = plan.components[i];
        this.report({ type: 'report', deviceId: this.deviceId, planId: plan.id, component: c.id, state: 'succeeded', version: this.versions[c.id] }, out);
      }
      this.idle(now, out);
      return;
    }
    for (let i = 0; i < plan.components.length; i++) {
      const c = plan.components[i];
      const have = this.versions[c.id];
      if (c.source !== '' && c.source !== '*' && have !== c.source) {
        this.state.plan = plan;
        this.decline(now, `component ${c.id} runs ${have ?? 'nothing'}, the plan upgrades from ${c.source}`, out);
        return;
      }
      if (!this.opts.installers[c.kind]) {
        this.state.plan = plan;
        this.decline(now, `no installer for ${c.kind} component ${c.id}`, out);
        return;
      }
    }
    const why = this.unmet(now, plan);
    if (why) {
      this.state = { v: 1, phase: 'waiting', plan, urls: null, index: 0, failures: 0, nextAt: now + RECHECK_MS };
      this.save();
      out.push({ type: 'log', text: `plan ${plan.id} waits: ${why}` });
      out.push({ type: 'wake-at', at: this.state.nextAt });
      return;
    }
    if (plan.strategy.mode === 'ask') {
      this.state = { v: 1, phase: 'asking', plan, urls: null, index: 0, failures: 0, nextAt: Infinity };
      this.save();
      out.push({ type: 'ask-permission', planId: plan.id, components: plan.components.map((c) => c.id) });
      return;
    }
    this.state = { v: 1, phase: 'confirming', plan, urls: null, index: 0, failures: 0, nextAt: Infinity };
    this.confirm(now, true, out);
  }

  /**
   * The plan if its signature is acceptable (or no trust is configured), without the signature (the
   * record keeps what was checked, not the proof); null when refused: the refusal goes to the
   * service as a failure with the error code, and nothing else happens.
   */
  private trusted(plan: Plan, out: AgentAction[]): Plan | null {
    const trust = this.opts.trust;
    if (!trust) {
      if (plan.signed !== undefined) out.push({ type: 'log', text: `plan ${plan.id}: signature not checked (no trusted keys configured)` });
      return withoutSignature(plan);
    }
    try {
      const verdict = checkPlanSignature(plan, this.versions, { trust, verifier: this.opts.signatureVerifier, hashes: this.opts.signatureHashes, sha384: this.opts.sha384 });
      out.push({ type: 'log', text: `plan ${plan.id}: signature verified (block ${verdict.verifiedBlock})` });
      return withoutSignature(plan);
    } catch (e) {
      if (!(e instanceof OtaflashError) || (e.code !== 'PLAN_UNSIGNED' && e.code !== 'PLAN_SIGNATURE_INVALID')) throw e;
      this.send({ type: 'confirm', deviceId: this.deviceId, planId: plan.id, accept: false, reason: e.message, error: e.code }, 'confirm', out);
      out.push({ type: 'log', text: `plan ${plan.id} refused: ${e.code}: ${e.message}` });
      return null;
    }
  }

  private confirm(now: number, accept: boolean, out: AgentAction[]): void {
    const plan = this.state.plan as Plan;
    this.state.phase = 'confirming';
    this.save();
    this.send({ type: 'confirm', deviceId: this.deviceId, planId: plan.id, accept }, 'confirm', out);
  }

  private decline(now: number, reason: string, out: AgentAction[]): void {
    const plan = this.state.plan as Plan;
    this.send({ type: 'confirm', deviceId: this.deviceId, planId: plan.id, accept: false, reason }, 'confirm', out);
    out.push({ type: 'log', text: `plan ${plan.id} declined: ${reason}` });
    this.idle(now, out);
  }

  private onResponse(now: number, id: number, msg: ServiceMessage, out: AgentAction[]): void {
    const p = this.pending[id];
    if (!p) return; // an answer to a request the agent no longer waits for (before a reset)
    delete this.pending[id];
    if (p.purpose === 'report') {
      this.settleReport(p.message, true);
      return;
    }
    if (!msg || typeof msg !== 'object') throw new OtaflashError('AGENT_BAD_MESSAGE', `response ${id}: not a service message (${kindOf(msg)})`);
    if (p.purpose === 'check') {
      if (msg.type === 'plan') {
        const plan = this.trusted(checkPlan(msg.plan), out);
        if (plan) this.evaluate(now, plan, out);
        else this.checkLater(now, msg, out);
      } else if (msg.type === 'none') {
        this.checkLater(now, msg, out);
      } else throw new OtaflashError('AGENT_BAD_MESSAGE', `the answer to a check was '${msg.type}'`);
      return;
    }
    if (p.purpose === 'confirm') {
      if (this.state.phase !== 'confirming') return;
      if (msg.type === 'urls') {
        const plan = this.state.plan as Plan;
        for (let i = 0; i < plan.components.length; i++) {
          if (typeof msg.urls[plan.components[i].id] !== 'string') throw new OtaflashError('AGENT_BAD_MESSAGE', `no download address for component ${plan.components[i].id}`);
        }
        this.state = { v: 1, phase: 'downloading', plan, urls: msg.urls, index: 0, failures: 0, nextAt: Infinity };
        this.save();
        this.fetchCurrent(now, out);
      } else if (msg.type === 'cancelled') {
        out.push({ type: 'log', text: `plan ${(this.state.plan as Plan).id} cancelled by the service${msg.reason ? `: ${msg.reason}` : ''}` });
        this.idle(now, out);
      } else throw new OtaflashError('AGENT_BAD_MESSAGE', `the answer to a confirmation was '${msg.type}'`);
    }
  }

  /** Nothing to do now: the next periodic check (kept in RAM only; nothing is written). */
  private checkLater(now: number, msg: ServiceMessage, out: AgentAction[]): void {
    const every = msg.type === 'none' && typeof msg.nextCheckMs === 'number' && msg.nextCheckMs > 0 ? msg.nextCheckMs : this.opts.checkIntervalMs ?? 0;
    if (every > 0) {
      this.state.nextAt = now + every;
      out.push({ type: 'wake-at', at: this.state.nextAt });
    }
  }

  private current(): PlanComponent {
    return (this.state.plan as Plan).components[this.state.index];
  }

  private fetchCurrent(now: number, out: AgentAction[]): void {
    const c = this.current();
    const inst = this.installer(c);
    let from: number;
    try {
      from = inst.resumeOffset(c);
      inst.begin(c, from);
    } catch (e) {
      this.componentFailed(now, c, e, out);
      return;
    }
    this.received = from;
    this.lastProgress = { percent: -1, at: -Infinity };
    const id = this.nextId++;
    this.pending[id] = { purpose: 'fetch', component: c.id };
    out.push({ type: 'fetch', id, url: (this.state.urls as { [c: string]: string })[c.id], from });
  }

  private onData(now: number, id: number, bytes: Uint8Array, out: AgentAction[]): void {
    const p = this.pending[id];
    if (!p || p.purpose !== 'fetch') return;
    const c = this.current();
    if (!(bytes instanceof Uint8Array)) throw new OtaflashError('AGENT_BAD_EVENT', `data: bytes must be a Uint8Array, got ${kindOf(bytes)}`);
    if (this.received + bytes.length > c.package.size) {
      delete this.pending[id];
      this.componentFailed(now, c, new OtaflashError('AGENT_DOWNLOAD_TOO_LONG', `component ${c.id}: the server sent more than the ${c.package.size} bytes the plan declares`), out);
      return;
    }
    try {
      this.installer(c).write(c, bytes);
    } catch (e) {
      delete this.pending[id];
      this.componentFailed(now, c, e, out);
      return;
    }
    this.received += bytes.length;
    this.progress(now, c, false, out);
  }

  private progress(now: number, c: PlanComponent, final: boolean, out: AgentAction[]): void {
    const total = c.package.size;
    const percent = total > 0 ? Math.floor((this.received * 100) / total) : 100;
    const step = this.opts.progressPercent ?? 10;
    const gap = this.opts.progressMs ?? 2000;
    if (!final && (percent - this.lastProgress.percent < step || now - this.lastProgress.at < gap)) return;
    // The last chunk may already have reported 100%: the end of the download says nothing new.
    if (final && this.lastProgress.percent === percent) return;
    this.lastProgress = { percent, at: now };
    const plan = this.state.plan as Plan;
    this.send({ type: 'progress', deviceId: this.deviceId, planId: plan.id, component: c.id, bytes: this.received, total, percent }, 'progress', out);
  }

  private onFetchDone(now: number, id: number, out: AgentAction[]): void {
    const p = this.pending[id];
    if (!p || p.purpose !== 'fetch') return;
    delete this.pending[id];
    const c = this.current();
    try {
      if (this.received !== c.package.size) throw new OtaflashError('AGENT_DOWNLOAD_SHORT', `component ${c.id}: the download ended at ${this.received} of ${c.package.size} bytes`);
      this.installer(c).finish(c);
    } catch (e) {
      this.componentFailed(now, c, e, out);
      return;
    }
    this.progress(now, c, true, out);
    const plan = this.state.plan as Plan;
    if (this.state.index + 1 < plan.components.length) {
      this.state.index++;
      this.state.failures = 0;
      this.save();
      this.fetchCurrent(now, out);
      return;
    }
    this.state.phase = 'staged';
    this.save();
    out.push({ type: 'ready-to-switch', planId: plan.id });
    if (this.opts.autoSwitch !== false) this.switchOver(out);
  }

  private onFailure(now: number, id: number, error: string, out: AgentAction[]): void {
    const p = this.pending[id];
    if (!p) return;
    delete this.pending[id];
    if (p.purpose === 'report') {
      // Kept on flash; sent again at the next wake-up or boot.
      this.settleReport(p.message, false);
      const at = now + RECHECK_MS;
      if (at < this.state.nextAt) this.state.nextAt = at;
      out.push({ type: 'wake-at', at });
      return;
    }
    if (p.purpose === 'fetch') {
      this.componentFailed(now, this.current(), new OtaflashError('AGENT_DOWNLOAD_FAILED', `component ${this.current().id}: ${error}`), out);
    } else if (p.purpose === 'check' || p.purpose === 'confirm') {
      // The service is unreachable: try again later, from the state the agent is in.
      const every = this.opts.checkIntervalMs ?? 0;
      const at = now + (every > 0 ? every : RECHECK_MS);
      if (p.purpose === 'confirm' && this.state.plan) {
        this.state.phase = 'waiting';
        this.state.nextAt = at;
        this.save();
      } else this.state.nextAt = at;
      out.push({ type: 'wake-at', at });
    }
    // A lost progress message is not retried: the next one, or the final report, says more.
  }

  private componentFailed(now: number, c: PlanComponent, e: unknown, out: AgentAction[]): void {
    const plan = this.state.plan as Plan;
    const retries = plan.strategy.retries ?? 3;
    this.state.failures++;
    out.push({ type: 'log', text: `component ${c.id} attempt ${this.state.failures} failed: ${errorText(e)}` });
    // A package that does not verify will not verify again: no retry.
    const permanent = e instanceof OtaflashError && /^(IMAGE_|AGENT_DOWNLOAD_TOO_LONG|AGENT_NO_INSTALLER|DELTA_SOURCE)/.test(e.code);
    if (!permanent && this.state.failures <= retries) {
      const backoff = (plan.strategy.backoffMs ?? 5000) * Math.pow(2, this.state.failures - 1);
      this.state.nextAt = now + backoff;
      this.save();
      out.push({ type: 'wake-at', at: this.state.nextAt });
      return;
    }
    try {
      this.installer(c).abort(c);
    } catch (e2) {
      out.push({ type: 'log', text: `component ${c.id}: abort: ${errorText(e2)}` });
    }
    const code = e instanceof OtaflashError ? e.code : 'AGENT_INSTALL_FAILED';
    this.report({ type: 'report', deviceId: this.deviceId, planId: plan.id, component: c.id, state: 'failed', version: this.versions[c.id], error: code }, out);
    this.idle(now, out);
  }

  private switchOver(out: AgentAction[]): void {
    const plan = this.state.plan as Plan;
    for (let i = 0; i < plan.components.length; i++) this.installer(plan.components[i]).activate(plan.components[i]);
    this.state.phase = 'switching';
    this.save();
    out.push({ type: 'reboot' });
  }
}

function allAtTarget(plan: Plan, versions: { [c: string]: string }): boolean {
  for (let i = 0; i < plan.components.length; i++) if (versions[plan.components[i].id] !== plan.components[i].target) return false;
  return true;
}

function errorText(e: unknown): string {
  if (e instanceof OtaflashError) return `${e.code}: ${e.message}`;
  return e instanceof Error ? e.message : String(e);
}
