/**
 * A PlanStore in memory: the reference behaviour the database engines are tested against (the
 * shared contract suite in test/server/plan-store-contract.ts), and a store for unit tests.
 */
import type { DevicePlanRecord, PackageRecord, PlanRecord, PlanStats, PlanStore, UpgradeLogEntry } from './types';

const clone = <T>(v: T): T => JSON.parse(JSON.stringify(v)) as T;

export class MemoryPlanStore implements PlanStore {
  private readonly packages = new Map<string, PackageRecord>();
  private readonly plans = new Map<string, PlanRecord>();
  private readonly devicePlans = new Map<string, DevicePlanRecord>();
  private readonly log: UpgradeLogEntry[] = [];

  async putPackage(p: PackageRecord): Promise<void> {
    this.packages.set(p.id, clone(p));
  }
  async getPackage(id: string): Promise<PackageRecord | null> {
    const p = this.packages.get(id);
    return p ? clone(p) : null;
  }
  async putPlan(p: PlanRecord): Promise<void> {
    this.plans.set(p.id, clone(p));
  }
  async getPlan(id: string): Promise<PlanRecord | null> {
    const p = this.plans.get(id);
    return p ? clone(p) : null;
  }
  async listPlans(): Promise<PlanRecord[]> {
    return [...this.plans.values()].map(clone);
  }
  async setPlanState(id: string, state: PlanRecord['state']): Promise<void> {
    const p = this.plans.get(id);
    if (p) p.state = state;
  }
  async getDevicePlan(planId: string, deviceId: string): Promise<DevicePlanRecord | null> {
    const r = this.devicePlans.get(planId + '\0' + deviceId);
    return r ? clone(r) : null;
  }
  async claimSlot(planId: string, deviceId: string, limit: number | null, record: DevicePlanRecord): Promise<boolean> {
    const key = planId + '\0' + deviceId;
    if (this.devicePlans.has(key)) return false;
    if (limit !== null) {
      let n = 0;
      for (const r of this.devicePlans.values()) if (r.planId === planId) n++;
      if (n >= limit) return false;
    }
    this.devicePlans.set(key, clone(record));
    return true;
  }
  async putDevicePlan(r: DevicePlanRecord): Promise<void> {
    this.devicePlans.set(r.planId + '\0' + r.deviceId, clone(r));
  }
  async listDevicePlans(planId: string): Promise<DevicePlanRecord[]> {
    return [...this.devicePlans.values()].filter((r) => r.planId === planId).map(clone);
  }
  async appendLog(e: UpgradeLogEntry): Promise<void> {
    this.log.push(clone(e));
  }
  async deviceLog(deviceId: string, limit = 1000): Promise<UpgradeLogEntry[]> {
    return this.log.filter((e) => e.deviceId === deviceId).slice(-limit).map(clone);
  }
  async stats(planId: string): Promise<PlanStats | null> {
    const p = this.plans.get(planId);
    if (!p) return null;
    let devices = 0;
    let succeeded = 0;
    let failed = 0;
    for (const r of this.devicePlans.values()) {
      if (r.planId !== planId) continue;
      devices++;
      if (r.state === 'succeeded') succeeded++;
      else if (r.state === 'failed') failed++;
    }
    const inProgress = devices - succeeded - failed - [...this.devicePlans.values()].filter((r) => r.planId === planId && r.state === 'declined').length;
    return { planId, name: p.name, state: p.state, devices, succeeded, failed, inProgress, successRate: succeeded + failed > 0 ? succeeded / (succeeded + failed) : 0 };
  }
  async close(): Promise<void> {}
}
