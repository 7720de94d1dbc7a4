/**
 * The plan service's database schema, as numbered migrations shared by the SQLite and PostgreSQL
 * engines. Each engine records the versions it applied in `otaflash_schema` and applies the
 * missing ones in order, each in its own transaction, so a database made by an older otaflash is
 * brought forward at open and a newer one is refused instead of misread.
 *
 * Kept as strings in code (not .sql files) so the bundled CLI carries them. Where the dialects
 * differ the migration has one text per dialect; JSON values (components, strategy, scope, per-
 * component progress) are stored as TEXT in both, because only the service reads them.
 * `plans.claimed` counts the batch slots handed out (PostgreSQL's claimSlot takes them with one
 * conditional UPDATE of that row; SQLite counts rows inside its write lock and leaves it at 0).
 */

export type Dialect = 'sqlite' | 'postgres';

export interface Migration {
  readonly version: number;
  readonly what: string;
  readonly sql: { readonly [D in Dialect]: string };
}

const same = (sql: string): { sqlite: string; postgres: string } => ({ sqlite: sql, postgres: sql });

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    what: 'packages, plans, device plans, upgrade log',
    sql: {
      sqlite: `
CREATE TABLE packages (
  id TEXT PRIMARY KEY,
  kind TEXT NOT NULL CHECK (kind IN ('full', 'delta')),
  size INTEGER NOT NULL,
  sha256 TEXT NOT NULL,
  file TEXT NOT NULL
);
CREATE TABLE plans (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  state TEXT NOT NULL CHECK (state IN ('draft', 'active', 'done')),
  ord INTEGER NOT NULL,
  created_at INTEGER NOT NULL,
  claimed INTEGER NOT NULL DEFAULT 0,
  components TEXT NOT NULL,
  strategy TEXT NOT NULL,
  scope TEXT NOT NULL
);
CREATE TABLE device_plans (
  plan_id TEXT NOT NULL,
  device_id TEXT NOT NULL,
  state TEXT NOT NULL,
  packages TEXT NOT NULL,
  components TEXT NOT NULL,
  updated_at INTEGER NOT NULL,
  PRIMARY KEY (plan_id, device_id)
);
CREATE TABLE upgrade_log (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  at INTEGER NOT NULL,
  device_id TEXT NOT NULL,
  plan_id TEXT NOT NULL,
  component TEXT NOT NULL,
  state TEXT NOT NULL,
  bytes INTEGER,
  error TEXT
);
CREATE INDEX upgrade_log_device ON upgrade_log (device_id, seq);
`,
      postgres: `
CREATE TABLE packages (
  id TEXT PRIMARY KEY,
  kind TEXT NOT NULL CHECK (kind IN ('full', 'delta')),
  size BIGINT NOT NULL,
  sha256 TEXT NOT NULL,
  file TEXT NOT NULL
);
CREATE TABLE plans (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  state TEXT NOT NULL CHECK (state IN ('draft', 'active', 'done')),
  ord INTEGER NOT NULL,
  created_at BIGINT NOT NULL,
  claimed INTEGER NOT NULL DEFAULT 0,
  components TEXT NOT NULL,
  strategy TEXT NOT NULL,
  scope TEXT NOT NULL
);
CREATE TABLE device_plans (
  plan_id TEXT NOT NULL,
  device_id TEXT NOT NULL,
  state TEXT NOT NULL,
  packages TEXT NOT NULL,
  components TEXT NOT NULL,
  updated_at BIGINT NOT NULL,
  PRIMARY KEY (plan_id, device_id)
);
CREATE TABLE upgrade_log (
  seq BIGSERIAL PRIMARY KEY,
  at BIGINT NOT NULL,
  device_id TEXT NOT NULL,
  plan_id TEXT NOT NULL,
  component TEXT NOT NULL,
  state TEXT NOT NULL,
  bytes BIGINT,
  error TEXT
);
CREATE INDEX upgrade_log_device ON upgrade_log (device_id, seq);
`,
    },
  },
  {
    version: 2,
    what: 'index for the per-plan device listing and stats',
    sql: same(`CREATE INDEX device_plans_state ON device_plans (plan_id, state);`),
  },
  {
    version: 3,
    what: "the operator's signature of a plan (NULL: unsigned; plans made before stay unsigned)",
    sql: same(`ALTER TABLE plans ADD COLUMN signature TEXT;`),
  },
];

/** The newest schema version this code knows. */
export const SCHEMA_VERSION = MIGRATIONS[MIGRATIONS.length - 1].version;
