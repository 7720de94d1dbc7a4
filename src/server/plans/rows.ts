/**
 * Database rows <-> plan service records, shared by the SQLite and PostgreSQL engines so both give
 * back exactly what the memory store gives (absent optional fields stay absent, numbers are numbers:
 * PostgreSQL's driver returns BIGINT as a string).
 */
import { OtaflashError } from '../../errors';
import type { DevicePlanRecord, PackageRecord, PlanRecord, PlanStats, UpgradeLogEntry } from './types';

export type Row = Record<string, unknown>;

const num = (v: unknown): number => (typeof v === 'number' ? v : Number(v));

function json<T>(v: unknown, what: string): T {
  try {
    return JSON.parse(String(v)) as T;
  } catch {
    throw new OtaflashError('PLAN_STORE_CORRUPT', `the stored ${what} is not valid JSON`);
  }
}

export function packageFromRow(r: Row): PackageRecord {
  return { id: String(r.id), kind: r.kind as PackageRecord['kind'], size: num(r.size), sha256: String(r.sha256), file: String(r.file) };
}

export function planFromRow(r: Row): PlanRecord {
  const p: PlanRecord = {
    id: String(r.id),
    name: String(r.name),
    components: json(r.components, `components of plan ${String(r.id)}`),
    strategy: json(r.strategy, `strategy of plan ${String(r.id)}`),
    scope: json(r.scope, `scope of plan ${String(r.id)}`),
    state: r.state as PlanRecord['state'],
    order: num(r.ord),
    createdAt: num(r.created_at),
  };
  if (r.signature !== null && r.signature !== undefined) (p as { signature?: string }).signature = String(r.signature);
  return p;
}

export function devicePlanFromRow(r: Row): DevicePlanRecord {
  return {
    planId: String(r.plan_id),
    deviceId: String(r.device_id),
    state: r.state as DevicePlanRecord['state'],
    packages: json(r.packages, `packages of device ${String(r.device_id)}`),
    components: json(r.components, `components of device ${String(r.device_id)}`),
    updatedAt: num(r.updated_at),
  };
}

export function logFromRow(r: Row): UpgradeLogEntry {
  const e: { -readonly [K in keyof UpgradeLogEntry]: UpgradeLogEntry[K] } = {
    at: num(r.at),
    deviceId: String(r.device_id),
    planId: String(r.plan_id),
    component: String(r.component),
    state: String(r.state),
  };
  if (r.bytes !== null && r.bytes !== undefined) e.bytes = num(r.bytes);
  if (r.error !== null && r.error !== undefined) e.error = String(r.error);
  return e;
}

/** From one row of counts per plan (devices, succeeded, failed, declined). */
export function statsOf(plan: PlanRecord, r: Row | undefined): PlanStats {
  const devices = r ? num(r.devices) : 0;
  const succeeded = r ? num(r.succeeded ?? 0) : 0;
  const failed = r ? num(r.failed ?? 0) : 0;
  const declined = r ? num(r.declined ?? 0) : 0;
  return {
    planId: plan.id,
    name: plan.name,
    state: plan.state,
    devices,
    succeeded,
    failed,
    inProgress: devices - succeeded - failed - declined,
    successRate: succeeded + failed > 0 ? succeeded / (succeeded + failed) : 0,
  };
}

/** The counts statsOf reads, as one aggregate over device_plans (same SQL in both dialects). */
export const STATS_COLUMNS = `COUNT(*) AS devices,
  COALESCE(SUM(CASE WHEN state = 'succeeded' THEN 1 ELSE 0 END), 0) AS succeeded,
  COALESCE(SUM(CASE WHEN state = 'failed' THEN 1 ELSE 0 END), 0) AS failed,
  COALESCE(SUM(CASE WHEN state = 'declined' THEN 1 ELSE 0 END), 0) AS declined`;

/** Named parameters of a plan row (JSON columns as text). */
export function planParams(p: PlanRecord): Row {
  return {
    id: p.id,
    name: p.name,
    state: p.state,
    ord: p.order,
    created_at: p.createdAt,
    components: JSON.stringify(p.components),
    strategy: JSON.stringify(p.strategy),
    scope: JSON.stringify(p.scope),
    signature: p.signature ?? null,
  };
}

/** Named parameters of a device plan row. */
export function devicePlanParams(r: DevicePlanRecord): Row {
  return {
    plan_id: r.planId,
    device_id: r.deviceId,
    state: r.state,
    packages: JSON.stringify(r.packages),
    components: JSON.stringify(r.components),
    updated_at: r.updatedAt,
  };
}
