/**
 * The plan service's data: packages, plans with their scope, the per-device progress of a plan and
 * the upgrade log, and the storage interface the SQLite and PostgreSQL engines implement.
 */
import type { ComponentKind, Strategy } from '../../agent/types';

export interface PackageRecord {
  readonly id: string;
  readonly kind: 'full' | 'delta';
  readonly size: number;
  readonly sha256: string;
  /** Where the bytes are (a path under the server's package folder). */
  readonly file: string;
}

export interface PlanComponentSpec {
  readonly id: string;
  readonly kind: ComponentKind;
  readonly source: string;
  readonly target: string;
  /** Package ids: `full` always works; `deltas` by source version are preferred when they match. */
  readonly full?: string;
  readonly deltas?: { readonly [sourceVersion: string]: string };
}

export interface PlanScope {
  /** Only these devices (the batch); absent: every device that matches the source versions. */
  readonly devices?: readonly string[];
  readonly whitelist?: readonly string[];
  readonly blacklist?: readonly string[];
  /** At most this many devices take part (slots are handed out once, in a transaction). */
  readonly batchLimit?: number;
}

export interface PlanRecord {
  readonly id: string;
  readonly name: string;
  readonly components: readonly PlanComponentSpec[];
  readonly strategy: Strategy;
  readonly scope: PlanScope;
  /** 'draft' until activated; 'active' while it hands out slots; 'done' once closed. */
  state: 'draft' | 'active' | 'done';
  /** Plans for one device run one after another, lowest order first. */
  readonly order: number;
  readonly createdAt: number;
  /**
   * The operator's signature (base64 detached Secure Boot V2 blocks) over the plan's statement
   * (src/agent/plan-signature.ts); delivered to devices with the statement, never changed here.
   */
  readonly signature?: string;
}

export type DevicePlanState = 'offered' | 'confirmed' | 'downloading' | 'succeeded' | 'failed' | 'declined';

export interface DevicePlanRecord {
  readonly planId: string;
  readonly deviceId: string;
  state: DevicePlanState;
  /** The package chosen for each component when the plan was offered (a delta for its source version, else full). */
  packages: { [component: string]: string };
  /** Per component: bytes reported so far, and the final state. */
  components: { [component: string]: { bytes: number; total: number; state: 'pending' | 'succeeded' | 'failed'; error?: string; version?: string } };
  updatedAt: number;
}

export interface UpgradeLogEntry {
  readonly at: number;
  readonly deviceId: string;
  readonly planId: string;
  readonly component: string;
  readonly state: string;
  readonly bytes?: number;
  readonly error?: string;
}

export interface PlanStats {
  readonly planId: string;
  readonly name: string;
  readonly state: PlanRecord['state'];
  readonly devices: number;
  readonly succeeded: number;
  readonly failed: number;
  readonly inProgress: number;
  /** succeeded / (succeeded + failed), 0 when none finished. */
  readonly successRate: number;
}

/**
 * Storage behind the plan service. Every method is one transaction; `claimSlot` is the one that
 * must be atomic across servers sharing a database (two servers never hand out the same slot).
 */
export interface PlanStore {
  putPackage(p: PackageRecord): Promise<void>;
  getPackage(id: string): Promise<PackageRecord | null>;
  putPlan(p: PlanRecord): Promise<void>;
  getPlan(id: string): Promise<PlanRecord | null>;
  listPlans(): Promise<PlanRecord[]>;
  setPlanState(id: string, state: PlanRecord['state']): Promise<void>;
  /** The device's record for a plan, if it took part. */
  getDevicePlan(planId: string, deviceId: string): Promise<DevicePlanRecord | null>;
  /** Records the device in the plan if a slot is free (batch limit); false when the batch is full. */
  claimSlot(planId: string, deviceId: string, limit: number | null, record: DevicePlanRecord): Promise<boolean>;
  putDevicePlan(r: DevicePlanRecord): Promise<void>;
  listDevicePlans(planId: string): Promise<DevicePlanRecord[]>;
  appendLog(e: UpgradeLogEntry): Promise<void>;
  deviceLog(deviceId: string, limit?: number): Promise<UpgradeLogEntry[]>;
  stats(planId: string): Promise<PlanStats | null>;
  close(): Promise<void>;
}
