/**
 * One string picks the plan service's storage, as `otaflash serve --db` takes it: 'memory', a
 * postgres:// URL, or else the path of a SQLite file. The database drivers are loaded only when
 * their engine is asked for, so a memory store needs neither.
 */
import { OtaflashError } from '../../errors';
import { MemoryPlanStore } from './memory-store';
import type { PlanStore } from './types';

export interface OpenPlanStoreOptions {
  /** PostgreSQL only: keep the tables in this schema. */
  schema?: string;
}

export async function openPlanStore(spec: string, opts: OpenPlanStoreOptions = {}): Promise<PlanStore> {
  if (typeof spec !== 'string' || spec.trim() === '') throw new OtaflashError('PLAN_STORE_OPTIONS', "a plan store is 'memory', a postgres:// URL or a SQLite file path");
  if (spec === 'memory') return new MemoryPlanStore();
  if (/^postgres(ql)?:\/\//i.test(spec)) {
    const { PostgresPlanStore } = await import('./postgres-store');
    return PostgresPlanStore.open(spec, opts);
  }
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(spec)) throw new OtaflashError('PLAN_STORE_OPTIONS', `unknown database URL scheme in '${spec.replace(/\/\/[^@/]*@/, '//***@')}' (postgres:// or a file path)`);
  const { SqlitePlanStore } = await import('./sqlite-store');
  return new SqlitePlanStore(spec);
}
