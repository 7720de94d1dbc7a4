/**
 * The PlanStore for services that outgrow one machine: PostgreSQL through a `pg` pool. Several
 * `otaflash serve` processes may share one database; a device may reach any of them.
 *
 * What makes that safe: with a batch limit, `claimSlot` takes a slot with one conditional UPDATE of
 * the plan row's `claimed` counter (the row lock serializes claims from every connection of every
 * process, and the condition is re-checked on the committed row) in the same statement that inserts
 * the device's record; without a limit the primary key alone keeps a device once per plan.
 * Migrations run under an advisory lock, so servers starting together migrate once.
 */
import pg from 'pg';
import { OtaflashError } from '../../errors';
import { MIGRATIONS, SCHEMA_VERSION } from './migrations';
import { STATS_COLUMNS, devicePlanFromRow, devicePlanParams, logFromRow, packageFromRow, planFromRow, planParams, statsOf, type Row } from './rows';
import type { DevicePlanRecord, PackageRecord, PlanRecord, PlanStats, PlanStore, UpgradeLogEntry } from './types';

export interface PostgresStoreOptions {
  /** Tables live in this schema (created when missing); default the connection's search_path. */
  schema?: string;
  /** Connections in the pool (default 10). */
  poolSize?: number;
}

/** Arbitrary constants that name otaflash's advisory locks (first key of the two-key form). */
const LOCK_MIGRATE = 0x0f1a5;

/** Thrown inside claimSlot's transaction to roll it back; never leaves the store. */
class NotClaimed extends Error {}

const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

/** Hides the password of a connection URL in messages. */
function redact(url: string): string {
  return url.replace(/\/\/([^:/@]*):[^@]*@/, '//$1:***@');
}

export class PostgresPlanStore implements PlanStore {
  private constructor(
    private readonly pool: pg.Pool,
    readonly url: string,
  ) {}

  /** Connects, creates the schema when asked, and applies the missing migrations. */
  static async open(url: string, opts: PostgresStoreOptions = {}): Promise<PostgresPlanStore> {
    if (typeof url !== 'string' || !/^postgres(ql)?:\/\//.test(url)) throw new OtaflashError('PLAN_STORE_OPTIONS', `not a postgres:// URL: ${typeof url === 'string' ? redact(url) : typeof url}`);
    if (opts.schema !== undefined && !SCHEMA_NAME.test(opts.schema)) throw new OtaflashError('PLAN_STORE_OPTIONS', `schema name '${opts.schema}' must be lower-case letters, digits and _`);
    const config: pg.PoolConfig = { connectionString: url, max: opts.poolSize ?? 10 };
    if (opts.schema !== undefined) config.options = `-c search_path=${opts.schema}`;
    const pool = new pg.Pool(config);
    // An idle connection dropped by the server must not crash the process; the next query reconnects.
    pool.on('error', () => {});
    const store = new PostgresPlanStore(pool, url);
    try {
      await store.migrate(opts.schema);
    } catch (e) {
      await pool.end().catch(() => {});
      if (e instanceof OtaflashError) throw e;
      throw new OtaflashError('PLAN_STORE_OPEN', `cannot open the plan database ${redact(url)}: ${(e as Error).message}`);
    }
    return store;
  }

  private async tx<T>(fn: (c: pg.PoolClient) => Promise<T>): Promise<T> {
    const c = await this.pool.connect();
    try {
      await c.query('BEGIN');
      const out = await fn(c);
      await c.query('COMMIT');
      return out;
    } catch (e) {
      await c.query('ROLLBACK').catch(() => {});
      throw e;
    } finally {
      c.release();
    }
  }

  private async migrate(schema: string | undefined): Promise<void> {
    await this.tx(async (c) => {
      await c.query('SELECT pg_advisory_xact_lock($1, 0)', [LOCK_MIGRATE]);
      if (schema !== undefined) await c.query(`CREATE SCHEMA IF NOT EXISTS ${schema}`);
      await c.query('CREATE TABLE IF NOT EXISTS otaflash_schema (version INTEGER PRIMARY KEY, applied_at BIGINT NOT NULL)');
      const have = Number((await c.query('SELECT MAX(version) AS v FROM otaflash_schema')).rows[0].v ?? 0);
      if (have > SCHEMA_VERSION) {
        throw new OtaflashError('PLAN_STORE_SCHEMA', `${redact(this.url)}: schema version ${have} is newer than this otaflash knows (${SCHEMA_VERSION}); upgrade otaflash`);
      }
      for (const m of MIGRATIONS) {
        if (m.version <= have) continue;
        await c.query(m.sql.postgres);
        await c.query('INSERT INTO otaflash_schema (version, applied_at) VALUES ($1, $2)', [m.version, Date.now()]);
      }
    });
  }

  private async one(sql: string, params: unknown[]): Promise<Row | undefined> {
    return (await this.pool.query(sql, params)).rows[0] as Row | undefined;
  }

  async putPackage(p: PackageRecord): Promise<void> {
    await this.pool.query(
      'INSERT INTO packages (id, kind, size, sha256, file) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (id) DO UPDATE SET kind = EXCLUDED.kind, size = EXCLUDED.size, sha256 = EXCLUDED.sha256, file = EXCLUDED.file',
      [p.id, p.kind, p.size, p.sha256, p.file],
    );
  }
  async getPackage(id: string): Promise<PackageRecord | null> {
    const r = await this.one('SELECT * FROM packages WHERE id = $1', [id]);
    return r ? packageFromRow(r) : null;
  }
  async putPlan(p: PlanRecord): Promise<void> {
    const r = planParams(p);
    await this.pool.query(
      'INSERT INTO plans (id, name, state, ord, created_at, components, strategy, scope, signature) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ' +
        'ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name, state = EXCLUDED.state, ord = EXCLUDED.ord, created_at = EXCLUDED.created_at, components = EXCLUDED.components, strategy = EXCLUDED.strategy, scope = EXCLUDED.scope, signature = EXCLUDED.signature',
      [r.id, r.name, r.state, r.ord, r.created_at, r.components, r.strategy, r.scope, r.signature],
    );
  }
  async getPlan(id: string): Promise<PlanRecord | null> {
    const r = await this.one('SELECT * FROM plans WHERE id = $1', [id]);
    return r ? planFromRow(r) : null;
  }
  async listPlans(): Promise<PlanRecord[]> {
    return ((await this.pool.query('SELECT * FROM plans ORDER BY ord, created_at, id')).rows as Row[]).map(planFromRow);
  }
  async setPlanState(id: string, state: PlanRecord['state']): Promise<void> {
    await this.pool.query('UPDATE plans SET state = $1 WHERE id = $2', [state, id]);
  }
  async getDevicePlan(planId: string, deviceId: string): Promise<DevicePlanRecord | null> {
    const r = await this.one('SELECT * FROM device_plans WHERE plan_id = $1 AND device_id = $2', [planId, deviceId]);
    return r ? devicePlanFromRow(r) : null;
  }
  async claimSlot(planId: string, deviceId: string, limit: number | null, record: DevicePlanRecord): Promise<boolean> {
    const r = devicePlanParams(record);
    const values = [r.plan_id, r.device_id, r.state, r.packages, r.components, r.updated_at];
    if (limit === null) {
      // No batch: nothing to count, so nothing to serialize; the primary key keeps it once per device.
      const ins = await this.pool.query(
        'INSERT INTO device_plans (plan_id, device_id, state, packages, components, updated_at) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING',
        values,
      );
      return ins.rowCount === 1;
    }
    // The slot counter lives on the plan row, so a limited claim for a plan that is not stored is
    // refused (the service only claims for plans it just read).
    // One statement takes the slot and records the device: the UPDATE locks the plan row, and a
    // claim that waited for that lock re-checks `claimed < limit` against the row as the previous
    // claim committed it (READ COMMITTED re-evaluation), so the count can never pass the limit.
    // Held for one round trip plus the commit, not for a read-count-insert conversation.
    return this.tx(async (c) => {
      const ins = await c.query(
        `WITH slot AS (
           UPDATE plans SET claimed = claimed + 1
           WHERE id = $1 AND claimed < $7 AND NOT EXISTS (SELECT 1 FROM device_plans WHERE plan_id = $1 AND device_id = $2)
           RETURNING id)
         INSERT INTO device_plans (plan_id, device_id, state, packages, components, updated_at)
         SELECT $1, $2, $3, $4, $5, $6 FROM slot
         ON CONFLICT DO NOTHING`,
        [...values, limit],
      );
      // The same device claimed through another server at the same moment: its row won, and this
      // slot is given back by rolling the increment back with the transaction.
      if (ins.rowCount !== 1) throw new NotClaimed();
      return true;
    }).catch((e) => {
      if (e instanceof NotClaimed) return false;
      throw e;
    });
  }
  async putDevicePlan(rec: DevicePlanRecord): Promise<void> {
    const r = devicePlanParams(rec);
    await this.pool.query(
      'INSERT INTO device_plans (plan_id, device_id, state, packages, components, updated_at) VALUES ($1, $2, $3, $4, $5, $6) ' +
        'ON CONFLICT (plan_id, device_id) DO UPDATE SET state = EXCLUDED.state, packages = EXCLUDED.packages, components = EXCLUDED.components, updated_at = EXCLUDED.updated_at',
      [r.plan_id, r.device_id, r.state, r.packages, r.components, r.updated_at],
    );
  }
  async listDevicePlans(planId: string): Promise<DevicePlanRecord[]> {
    return ((await this.pool.query('SELECT * FROM device_plans WHERE plan_id = $1 ORDER BY device_id', [planId])).rows as Row[]).map(devicePlanFromRow);
  }
  async appendLog(e: UpgradeLogEntry): Promise<void> {
    await this.pool.query('INSERT INTO upgrade_log (at, device_id, plan_id, component, state, bytes, error) VALUES ($1, $2, $3, $4, $5, $6, $7)', [
      e.at,
      e.deviceId,
      e.planId,
      e.component,
      e.state,
      e.bytes ?? null,
      e.error ?? null,
    ]);
  }
  async deviceLog(deviceId: string, limit = 1000): Promise<UpgradeLogEntry[]> {
    const rows = (await this.pool.query('SELECT * FROM (SELECT * FROM upgrade_log WHERE device_id = $1 ORDER BY seq DESC LIMIT $2) AS last ORDER BY seq', [deviceId, limit])).rows as Row[];
    return rows.map(logFromRow);
  }
  async stats(planId: string): Promise<PlanStats | null> {
    const plan = await this.getPlan(planId);
    if (!plan) return null;
    return statsOf(plan, await this.one(`SELECT ${STATS_COLUMNS} FROM device_plans WHERE plan_id = $1`, [planId]));
  }
  private closed = false;
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.pool.end();
  }
}
