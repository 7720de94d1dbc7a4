/**
 * Checks a plan as the agent receives it (plain JSON from a service): every field it relies on has
 * the right type, so a bad plan is refused with AGENT_BAD_PLAN up front instead of failing halfway.
 */
import { OtaflashError, kindOf } from '../errors';
import type { Plan } from './types';

const KINDS = ['module', 'mcu', 'files'];
const MODES = ['silent', 'ask', 'forced'];

function bad(where: string, why: string): OtaflashError {
  return new OtaflashError('AGENT_BAD_PLAN', `plan ${where}: ${why}`);
}

function isNum(v: unknown): v is number {
  return typeof v === 'number' && v === v && v !== Infinity && v !== -Infinity;
}

export function checkPlan(p: unknown): Plan {
  if (!p || typeof p !== 'object' || Array.isArray(p)) throw bad('', `not an object (${kindOf(p)})`);
  const plan = p as Plan;
  if (typeof plan.id !== 'string' || plan.id === '') throw bad('id', 'must be a non-empty string');
  if (!Array.isArray(plan.components) || plan.components.length === 0) throw bad(plan.id, 'components must be a non-empty array');
  const seen: { [id: string]: boolean } = {};
  for (let i = 0; i < plan.components.length; i++) {
    const c = plan.components[i];
    const at = `${plan.id} component ${i}`;
    if (!c || typeof c !== 'object') throw bad(at, 'not an object');
    if (typeof c.id !== 'string' || c.id === '') throw bad(at, 'id must be a non-empty string');
    if (seen[c.id]) throw bad(at, `component ${c.id} appears twice`);
    seen[c.id] = true;
    if (KINDS.indexOf(c.kind) < 0) throw bad(at, `kind '${String(c.kind)}' is not one of ${KINDS.join(', ')}`);
    if (typeof c.source !== 'string' || typeof c.target !== 'string' || c.target === '') throw bad(at, 'source and target must be version strings');
    const pk = c.package;
    if (!pk || typeof pk !== 'object') throw bad(at, 'package missing');
    if (pk.kind !== 'full' && pk.kind !== 'delta') throw bad(at, `package kind '${String(pk.kind)}' is not full or delta`);
    if (!isNum(pk.size) || pk.size < 0 || pk.size !== Math.floor(pk.size)) throw bad(at, `package size ${String(pk.size)} is not a byte count`);
    if (typeof pk.sha256 !== 'string' || !/^[0-9a-f]{64}$/.test(pk.sha256)) throw bad(at, 'package sha256 must be 64 lower-case hex digits');
  }
  const st = plan.strategy;
  if (!st || typeof st !== 'object') throw bad(plan.id, 'strategy missing');
  if (MODES.indexOf(st.mode) < 0) throw bad(plan.id, `strategy mode '${String(st.mode)}' is not one of ${MODES.join(', ')}`);
  if (st.minBattery !== undefined && !isNum(st.minBattery)) throw bad(plan.id, 'minBattery must be a number');
  if (st.minSignal !== undefined && !isNum(st.minSignal)) throw bad(plan.id, 'minSignal must be a number');
  if (st.retries !== undefined && !(isNum(st.retries) && st.retries >= 0)) throw bad(plan.id, 'retries must be a non-negative number');
  if (st.backoffMs !== undefined && !(isNum(st.backoffMs) && st.backoffMs >= 0)) throw bad(plan.id, 'backoffMs must be a non-negative number');
  if (st.windows !== undefined) {
    if (!Array.isArray(st.windows)) throw bad(plan.id, 'windows must be an array of [from, to] minutes');
    for (let i = 0; i < st.windows.length; i++) {
      const w = st.windows[i];
      if (!Array.isArray(w) || w.length !== 2 || !isNum(w[0]) || !isNum(w[1]) || w[0] < 0 || w[1] < 0 || w[0] > 1440 || w[1] > 1440) throw bad(plan.id, `window ${i} is not [from, to] minutes of the day`);
    }
  }
  return plan;
}
