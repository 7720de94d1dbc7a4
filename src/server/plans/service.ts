/**
 * The plan service's logic, over any PlanStore and independent of the transport: it takes the
 * messages an update agent sends (check, confirm, progress, report; src/agent/types.ts) and returns
 * the answer. HTTP and MQTT adapters call `handle`; nothing here knows about sockets.
 */
import { OtaflashError } from '../../errors';
import type { AgentMessage, Plan, PlanComponent, ServiceMessage, SignedPackage } from '../../agent/types';
import { planStatement } from '../../agent/plan-signature';
import { packageIdsOf } from './plan-spec';
import type { DevicePlanRecord, PackageRecord, PlanRecord, PlanStore } from './types';

export interface PlanServiceOptions {
  /** The download address of a package, as the device will fetch it. */
  packageUrl(pkg: PackageRecord): string;
  now?: () => number;
  /** Answer to a check with no plan: check again after this many ms (default none: the device's own interval). */
  nextCheckMs?: number;
}

function inScope(plan: PlanRecord, deviceId: string): boolean {
  const s = plan.scope;
  if (s.blacklist && s.blacklist.indexOf(deviceId) >= 0) return false;
  if (s.devices && s.devices.indexOf(deviceId) < 0) return false;
  if (s.whitelist && s.whitelist.length > 0 && s.whitelist.indexOf(deviceId) < 0) return false;
  return true;
}

/**
 * The fields each message type needs, with their types: messages come from the network, and a
 * missing planId must be a PLAN_BAD_MESSAGE, not a database driver's TypeError.
 */
function checkFields(msg: AgentMessage): void {
  const m = msg as unknown as Record<string, unknown>;
  const bad = (why: string): never => {
    throw new OtaflashError('PLAN_BAD_MESSAGE', `${String(m.type)} from ${String(m.deviceId).slice(0, 128)}: ${why}`);
  };
  const str = (k: string, optional = false) => {
    if (optional && m[k] === undefined) return;
    if (typeof m[k] !== 'string' || (m[k] as string).length > 4096) bad(`${k} must be a string`);
  };
  const count = (k: string) => {
    if (typeof m[k] !== 'number' || !Number.isSafeInteger(m[k]) || (m[k] as number) < 0) bad(`${k} must be a non-negative integer`);
  };
  if ((m.deviceId as string).length > 128) bad('deviceId is longer than 128 characters');
  switch (m.type) {
    case 'check': {
      const v = m.versions;
      if (v !== undefined && (typeof v !== 'object' || v === null || Array.isArray(v))) bad('versions must be an object of component versions');
      if (v) for (const k of Object.keys(v)) if (typeof (v as Record<string, unknown>)[k] !== 'string') bad(`versions.${k.slice(0, 64)} must be a string`);
      break;
    }
    case 'confirm':
      str('planId');
      if (typeof m.accept !== 'boolean') bad('accept must be true or false');
      str('reason', true);
      if (m.error !== undefined && (typeof m.error !== 'string' || !/^[A-Z][A-Z0-9_]{0,63}$/.test(m.error))) bad('error must be an error code (UPPER_SNAKE, up to 64 characters)');
      if (m.error !== undefined && m.accept !== false) bad('error goes with accept: false');
      break;
    case 'progress':
      str('planId');
      str('component');
      count('bytes');
      count('total');
      break;
    case 'report':
      str('planId');
      str('component');
      if (m.state !== 'succeeded' && m.state !== 'failed') bad("state must be 'succeeded' or 'failed'");
      str('version', true);
      str('error', true);
      break;
  }
}

export class PlanService {
  constructor(
    readonly store: PlanStore,
    private readonly opts: PlanServiceOptions,
  ) {}

  private now(): number {
    return this.opts.now ? this.opts.now() : Date.now();
  }

  async handle(msg: AgentMessage): Promise<ServiceMessage> {
    if (!msg || typeof msg !== 'object' || typeof (msg as { deviceId?: unknown }).deviceId !== 'string' || (msg as { deviceId: string }).deviceId === '') {
      throw new OtaflashError('PLAN_BAD_MESSAGE', 'a device message needs a type and a non-empty deviceId');
    }
    checkFields(msg);
    switch (msg.type) {
      case 'check':
        return this.check(msg.deviceId, msg.versions ?? {});
      case 'confirm':
        return this.confirm(msg.deviceId, msg.planId, msg.accept, msg.reason, msg.error);
      case 'progress':
        return this.progress(msg.deviceId, msg.planId, msg.component, msg.bytes, msg.total);
      case 'report':
        return this.report(msg.deviceId, msg.planId, msg.component, msg.state, msg.version, msg.error);
      default:
        throw new OtaflashError('PLAN_BAD_MESSAGE', `unknown message type '${(msg as { type: string }).type}'`);
    }
  }

  /** Which package a device on `version` gets for a component: its delta when there is one, else the full image. */
  private choose(c: PlanRecord['components'][number], version: string | undefined): string | null {
    if (version !== undefined && c.deltas && typeof c.deltas[version] === 'string') return c.deltas[version];
    return c.full ?? null;
  }

  private async offer(plan: PlanRecord, rec: DevicePlanRecord): Promise<ServiceMessage> {
    const comps: PlanComponent[] = [];
    for (let i = 0; i < plan.components.length; i++) {
      const c = plan.components[i];
      const pkg = await this.store.getPackage(rec.packages[c.id]);
      if (!pkg) throw new OtaflashError('PLAN_PACKAGE_MISSING', `plan ${plan.id}: package ${rec.packages[c.id]} of component ${c.id} is not stored`);
      comps.push({ id: c.id, kind: c.kind, source: c.source, target: c.target, package: { kind: pkg.kind, size: pkg.size, sha256: pkg.sha256 } });
    }
    const p: Plan = { id: plan.id, components: comps, strategy: plan.strategy };
    if (plan.signature !== undefined) (p as { signed?: Plan['signed'] }).signed = { statement: await this.statementOf(plan), signature: plan.signature };
    return { type: 'plan', plan: p };
  }

  /**
   * The statement the operator signed, rebuilt from the plan and its packages (both immutable once
   * stored: packages are content-addressed), so only the signature needs storing.
   */
  private async statementOf(plan: PlanRecord) {
    const pkgs: { [id: string]: SignedPackage } = {};
    for (const id of packageIdsOf(plan.components)) {
      const pkg = await this.store.getPackage(id);
      if (!pkg) throw new OtaflashError('PLAN_PACKAGE_MISSING', `plan ${plan.id}: package ${id} is not stored`);
      pkgs[id] = { size: pkg.size, sha256: pkg.sha256 };
    }
    return planStatement(plan, (id) => pkgs[id]);
  }

  private async check(deviceId: string, versions: { [c: string]: string }): Promise<ServiceMessage> {
    const plans = (await this.store.listPlans()).filter((p) => p.state === 'active').sort((a, b) => a.order - b.order || a.createdAt - b.createdAt);
    for (const plan of plans) {
      if (!inScope(plan, deviceId)) continue;
      const have = await this.store.getDevicePlan(plan.id, deviceId);
      if (have) {
        // Finished plans make way for the next; an unfinished one is offered again (the device restarted).
        if (have.state === 'succeeded' || have.state === 'failed' || have.state === 'declined') continue;
        return this.offer(plan, have);
      }
      let matches = true;
      const packages: { [c: string]: string } = {};
      for (const c of plan.components) {
        const v = versions[c.id];
        if (c.source !== '' && c.source !== '*' && v !== c.source) matches = false;
        if (v === c.target) matches = false;
        const pkg = this.choose(c, v);
        if (pkg === null) matches = false;
        else packages[c.id] = pkg;
      }
      if (!matches) continue;
      const rec: DevicePlanRecord = { planId: plan.id, deviceId, state: 'offered', packages, components: {}, updatedAt: this.now() };
      for (const c of plan.components) rec.components[c.id] = { bytes: 0, total: 0, state: 'pending' };
      const limit = plan.scope.batchLimit ?? null;
      if (!(await this.store.claimSlot(plan.id, deviceId, limit, rec))) continue;
      await this.store.appendLog({ at: rec.updatedAt, deviceId, planId: plan.id, component: '*', state: 'offered' });
      return this.offer(plan, rec);
    }
    return this.opts.nextCheckMs ? { type: 'none', nextCheckMs: this.opts.nextCheckMs } : { type: 'none' };
  }

  private async record(planId: string, deviceId: string): Promise<{ plan: PlanRecord; rec: DevicePlanRecord }> {
    const plan = await this.store.getPlan(planId);
    const rec = plan ? await this.store.getDevicePlan(planId, deviceId) : null;
    if (!plan || !rec) throw new OtaflashError('PLAN_NOT_OFFERED', `device ${deviceId} was not offered plan ${planId}`);
    return { plan, rec };
  }

  private async confirm(deviceId: string, planId: string, accept: boolean, reason?: string, error?: string): Promise<ServiceMessage> {
    const { plan, rec } = await this.record(planId, deviceId);
    const at = this.now();
    if (plan.state !== 'active') return { type: 'cancelled', reason: `plan ${planId} is ${plan.state}` };
    // A confirmation that arrives after the device finished (sent before a dropped connection and
    // processed late, or repeated) must not take the record back from its final state.
    if (rec.state === 'succeeded' || rec.state === 'failed' || rec.state === 'declined') return { type: 'cancelled', reason: `device ${deviceId} already finished plan ${planId} (${rec.state})` };
    if (!accept && error !== undefined) {
      // The device refused the plan itself (its signature, PLAN_SIGNATURE_INVALID...): a failure
      // with that code on every component, not a decline, so status and monitor show why.
      rec.state = 'failed';
      rec.updatedAt = at;
      for (const k of Object.keys(rec.components)) {
        rec.components[k].state = 'failed';
        rec.components[k].error = error;
      }
      await this.store.putDevicePlan(rec);
      await this.store.appendLog({ at, deviceId, planId, component: '*', state: 'failed', error: reason ? `${error}: ${reason.slice(0, 1000)}` : error });
      return { type: 'ack' };
    }
    if (!accept) {
      rec.state = 'declined';
      rec.updatedAt = at;
      await this.store.putDevicePlan(rec);
      await this.store.appendLog({ at, deviceId, planId, component: '*', state: 'declined', error: reason });
      return { type: 'ack' };
    }
    rec.state = 'confirmed';
    rec.updatedAt = at;
    await this.store.putDevicePlan(rec);
    await this.store.appendLog({ at, deviceId, planId, component: '*', state: 'confirmed' });
    const urls: { [c: string]: string } = {};
    for (const c of plan.components) {
      const pkg = await this.store.getPackage(rec.packages[c.id]);
      if (!pkg) throw new OtaflashError('PLAN_PACKAGE_MISSING', `package ${rec.packages[c.id]} is not stored`);
      urls[c.id] = this.opts.packageUrl(pkg);
    }
    return { type: 'urls', urls };
  }

  private async progress(deviceId: string, planId: string, component: string, bytes: number, total: number): Promise<ServiceMessage> {
    const { rec } = await this.record(planId, deviceId);
    const c = Object.prototype.hasOwnProperty.call(rec.components, component) ? rec.components[component] : undefined;
    if (!c) throw new OtaflashError('PLAN_BAD_MESSAGE', `plan ${planId} has no component ${component}`);
    const at = this.now();
    c.bytes = bytes;
    c.total = total;
    if (rec.state === 'offered' || rec.state === 'confirmed') rec.state = 'downloading';
    rec.updatedAt = at;
    await this.store.putDevicePlan(rec);
    await this.store.appendLog({ at, deviceId, planId, component, state: 'progress', bytes });
    return { type: 'ack' };
  }

  private async report(deviceId: string, planId: string, component: string, state: 'succeeded' | 'failed', version?: string, error?: string): Promise<ServiceMessage> {
    const { plan, rec } = await this.record(planId, deviceId);
    const c = Object.prototype.hasOwnProperty.call(rec.components, component) ? rec.components[component] : undefined;
    if (!c) throw new OtaflashError('PLAN_BAD_MESSAGE', `plan ${planId} has no component ${component}`);
    const at = this.now();
    const spec = plan.components.filter((x) => x.id === component)[0];
    // Success is the service's call: the version the device reports must be the target.
    const ok = state === 'succeeded' && version === spec.target;
    c.state = ok ? 'succeeded' : 'failed';
    if (version !== undefined) c.version = version;
    if (!ok) c.error = error ?? (state === 'succeeded' ? `reported version ${version ?? 'none'}, target ${spec.target}` : 'failed');
    let all = true;
    let any = false;
    for (const k in rec.components) {
      if (rec.components[k].state !== 'succeeded') all = false;
      if (rec.components[k].state === 'failed') any = true;
    }
    rec.state = any ? 'failed' : all ? 'succeeded' : rec.state;
    rec.updatedAt = at;
    await this.store.putDevicePlan(rec);
    await this.store.appendLog({ at, deviceId, planId, component, state: c.state, error: c.error });
    return { type: 'ack' };
  }
}
