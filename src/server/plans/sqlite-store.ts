/**
 * The embedded PlanStore: one SQLite file through better-sqlite3 (synchronous, so each method is one
 * statement or one transaction with nothing interleaved inside this process). WAL mode lets readers
 * go on while one server writes; `claimSlot` runs in BEGIN IMMEDIATE, which takes the write lock
 * before it counts, so two processes on the same file cannot both take the last slot.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import Database from 'better-sqlite3';
import { OtaflashError } from '../../errors';
import { MIGRATIONS, SCHEMA_VERSION } from './migrations';
import { STATS_COLUMNS, devicePlanFromRow, devicePlanParams, logFromRow, packageFromRow, planFromRow, planParams, statsOf, type Row } from './rows';
import type { DevicePlanRecord, PackageRecord, PlanRecord, PlanStats, PlanStore, UpgradeLogEntry } from './types';

type Db = InstanceType<typeof Database>;
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- positional and named parameters both
type Stmt = Database.Statement<any[]>;

export interface SqliteStoreOptions {
  /** How long a writer waits for another process's write lock, in ms (default 5000). */
  busyTimeoutMs?: number;
}

/** Applies the missing migrations, each with its version row in one transaction. */
function migrate(db: Db, file: string): void {
  db.exec('CREATE TABLE IF NOT EXISTS otaflash_schema (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)');
  const run = db.transaction(() => {
    const row = db.prepare('SELECT MAX(version) AS v FROM otaflash_schema').get() as { v: number | null };
    const have = row.v ?? 0;
    if (have > SCHEMA_VERSION) {
      throw new OtaflashError('PLAN_STORE_SCHEMA', `${file}: schema version ${have} is newer than this otaflash knows (${SCHEMA_VERSION}); upgrade otaflash`);
    }
    for (const m of MIGRATIONS) {
      if (m.version <= have) continue;
      db.exec(m.sql.sqlite);
      db.prepare('INSERT INTO otaflash_schema (version, applied_at) VALUES (?, ?)').run(m.version, Date.now());
    }
  });
  run.immediate();
}

export class SqlitePlanStore implements PlanStore {
  private readonly db: Db;
  private readonly q: { [name: string]: Stmt };
  private readonly claim: (planId: string, deviceId: string, limit: number | null, r: DevicePlanRecord) => boolean;

  /** Opens (creating it and its folder when missing) and migrates the database at `file`. */
  constructor(readonly file: string, opts: SqliteStoreOptions = {}) {
    if (typeof file !== 'string' || file === '') throw new OtaflashError('PLAN_STORE_OPTIONS', 'SqlitePlanStore needs a file path');
    try {
      if (file !== ':memory:') fs.mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
      this.db = new Database(file, { timeout: opts.busyTimeoutMs ?? 5000 });
    } catch (e) {
      throw new OtaflashError('PLAN_STORE_OPEN', `cannot open the plan database ${file}: ${(e as Error).message}`);
    }
    try {
      this.db.pragma('journal_mode = WAL');
      // NORMAL in WAL mode: a power cut may lose the last commits but never corrupts the file.
      this.db.pragma('synchronous = NORMAL');
      migrate(this.db, file);
    } catch (e) {
      this.db.close();
      if (e instanceof OtaflashError) throw e;
      throw new OtaflashError('PLAN_STORE_OPEN', `${file} is not a usable plan database: ${(e as Error).message}`);
    }
    const db = this.db;
    const q: { [name: string]: Stmt } = {
      putPackage: db.prepare('INSERT INTO packages (id, kind, size, sha256, file) VALUES (@id, @kind, @size, @sha256, @file) ON CONFLICT (id) DO UPDATE SET kind = excluded.kind, size = excluded.size, sha256 = excluded.sha256, file = excluded.file'),
      getPackage: db.prepare('SELECT * FROM packages WHERE id = ?'),
      putPlan: db.prepare(
        'INSERT INTO plans (id, name, state, ord, created_at, components, strategy, scope, signature) VALUES (@id, @name, @state, @ord, @created_at, @components, @strategy, @scope, @signature) ' +
          'ON CONFLICT (id) DO UPDATE SET name = excluded.name, state = excluded.state, ord = excluded.ord, created_at = excluded.created_at, components = excluded.components, strategy = excluded.strategy, scope = excluded.scope, signature = excluded.signature',
      ),
      getPlan: db.prepare('SELECT * FROM plans WHERE id = ?'),
      listPlans: db.prepare('SELECT * FROM plans ORDER BY ord, created_at, id'),
      setPlanState: db.prepare('UPDATE plans SET state = ? WHERE id = ?'),
      getDevicePlan: db.prepare('SELECT * FROM device_plans WHERE plan_id = ? AND device_id = ?'),
      putDevicePlan: db.prepare(
        'INSERT INTO device_plans (plan_id, device_id, state, packages, components, updated_at) VALUES (@plan_id, @device_id, @state, @packages, @components, @updated_at) ' +
          'ON CONFLICT (plan_id, device_id) DO UPDATE SET state = excluded.state, packages = excluded.packages, components = excluded.components, updated_at = excluded.updated_at',
      ),
      insertDevicePlan: db.prepare('INSERT OR IGNORE INTO device_plans (plan_id, device_id, state, packages, components, updated_at) VALUES (@plan_id, @device_id, @state, @packages, @components, @updated_at)'),
      countDevices: db.prepare('SELECT COUNT(*) AS n FROM device_plans WHERE plan_id = ?'),
      hasDevice: db.prepare('SELECT 1 AS x FROM device_plans WHERE plan_id = ? AND device_id = ?'),
      listDevicePlans: db.prepare('SELECT * FROM device_plans WHERE plan_id = ? ORDER BY device_id'),
      appendLog: db.prepare('INSERT INTO upgrade_log (at, device_id, plan_id, component, state, bytes, error) VALUES (?, ?, ?, ?, ?, ?, ?)'),
      deviceLog: db.prepare('SELECT * FROM (SELECT * FROM upgrade_log WHERE device_id = ? ORDER BY seq DESC LIMIT ?) ORDER BY seq'),
      stats: db.prepare(`SELECT ${STATS_COLUMNS} FROM device_plans WHERE plan_id = ?`),
    };
    this.q = q;
    const claimTx = db.transaction((planId: string, deviceId: string, limit: number | null, r: DevicePlanRecord): boolean => {
      if (this.q.hasDevice.get(planId, deviceId)) return false;
      if (limit !== null && (this.q.countDevices.get(planId) as { n: number }).n >= limit) return false;
      this.q.insertDevicePlan.run(devicePlanParams(r));
      return true;
    });
    this.claim = (a, b, c, d) => claimTx.immediate(a, b, c, d);
  }

  async putPackage(p: PackageRecord): Promise<void> {
    this.q.putPackage.run({ id: p.id, kind: p.kind, size: p.size, sha256: p.sha256, file: p.file });
  }
  async getPackage(id: string): Promise<PackageRecord | null> {
    const r = this.q.getPackage.get(id) as Row | undefined;
    return r ? packageFromRow(r) : null;
  }
  async putPlan(p: PlanRecord): Promise<void> {
    this.q.putPlan.run(planParams(p));
  }
  async getPlan(id: string): Promise<PlanRecord | null> {
    const r = this.q.getPlan.get(id) as Row | undefined;
    return r ? planFromRow(r) : null;
  }
  async listPlans(): Promise<PlanRecord[]> {
    return (this.q.listPlans.all() as Row[]).map(planFromRow);
  }
  async setPlanState(id: string, state: PlanRecord['state']): Promise<void> {
    this.q.setPlanState.run(state, id);
  }
  async getDevicePlan(planId: string, deviceId: string): Promise<DevicePlanRecord | null> {
    const r = this.q.getDevicePlan.get(planId, deviceId) as Row | undefined;
    return r ? devicePlanFromRow(r) : null;
  }
  async claimSlot(planId: string, deviceId: string, limit: number | null, record: DevicePlanRecord): Promise<boolean> {
    return this.claim(planId, deviceId, limit, record);
  }
  async putDevicePlan(r: DevicePlanRecord): Promise<void> {
    this.q.putDevicePlan.run(devicePlanParams(r));
  }
  async listDevicePlans(planId: string): Promise<DevicePlanRecord[]> {
    return (this.q.listDevicePlans.all(planId) as Row[]).map(devicePlanFromRow);
  }
  async appendLog(e: UpgradeLogEntry): Promise<void> {
    this.q.appendLog.run(e.at, e.deviceId, e.planId, e.component, e.state, e.bytes ?? null, e.error ?? null);
  }
  async deviceLog(deviceId: string, limit = 1000): Promise<UpgradeLogEntry[]> {
    return (this.q.deviceLog.all(deviceId, limit) as Row[]).map(logFromRow);
  }
  async stats(planId: string): Promise<PlanStats | null> {
    const plan = await this.getPlan(planId);
    if (!plan) return null;
    return statsOf(plan, this.q.stats.get(planId) as Row | undefined);
  }
  async close(): Promise<void> {
    if (this.db.open) this.db.close();
  }
}
