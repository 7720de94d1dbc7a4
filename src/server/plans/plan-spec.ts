/**
 * The plan as an administrator writes it (docs/plans.md), checked field by field: the server checks
 * what `POST /api/plans` receives, and `otaflash plan create` checks the file before it uploads
 * anything. Every refusal is PLAN_SPEC_INVALID naming the field.
 */
import { OtaflashError, kindOf } from '../../errors';
import { decodeSignatureText, detachedBlockCount } from '../../formats/detached-signature';
import type { ComponentKind, Strategy } from '../../agent/types';
import type { PlanComponentSpec, PlanScope } from './types';

export interface PlanSpec {
  /** Given: must be unused; absent: the server makes one. */
  id?: string;
  name: string;
  order: number;
  components: PlanComponentSpec[];
  strategy: Strategy;
  scope: PlanScope;
  /** The operator's signature over the plan's statement (base64; docs/plans.md, "Signed plans"). */
  signature?: string;
}

/** Ids of plans, packages, components and devices: safe in URLs, file names and log lines. */
export const ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

function bad(field: string, why: string): never {
  throw new OtaflashError('PLAN_SPEC_INVALID', `plan ${field}: ${why}`, { field });
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function onlyKeys(o: Record<string, unknown>, field: string, allowed: string[]): void {
  for (const k of Object.keys(o)) if (allowed.indexOf(k) < 0) bad(field, `unknown field '${k}' (known: ${allowed.join(', ')})`);
}

function id(v: unknown, field: string): string {
  if (typeof v !== 'string' || !ID_PATTERN.test(v)) bad(field, `must be 1-128 letters, digits or . _ - starting with a letter or digit, got ${typeof v === 'string' ? JSON.stringify(v.slice(0, 40)) : kindOf(v)}`);
  return v;
}

/** Device ids come from devices (MAC addresses, serial numbers): any printable text up to 128 characters. */
export const DEVICE_ID_PATTERN = /^[^\x00-\x1f\x7f]{1,128}$/;

function deviceId(v: unknown, field: string): string {
  if (typeof v !== 'string' || !DEVICE_ID_PATTERN.test(v)) bad(field, `must be a device id (1-128 printable characters), got ${typeof v === 'string' ? JSON.stringify(v.slice(0, 40)) : kindOf(v)}`);
  return v;
}

function text(v: unknown, field: string, max = 200): string {
  if (typeof v !== 'string' || v.length > max || /[\x00-\x1f]/.test(v)) bad(field, `must be a string of at most ${max} printable characters`);
  return v;
}

function int(v: unknown, field: string, min: number, max: number): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) bad(field, `must be an integer ${min}..${max}, got ${JSON.stringify(v)}`);
  return v;
}

function ids(v: unknown, field: string, max: number): string[] {
  if (!Array.isArray(v)) bad(field, `must be an array of device ids, got ${kindOf(v)}`);
  if (v.length > max) bad(field, `at most ${max} entries, got ${v.length}`);
  return v.map((x, i) => deviceId(x, `${field}[${i}]`));
}

/** A component's package reference: a package id (the server's view) or, in a file, a path. */
export type PackageRefCheck = (value: string, field: string) => string;

const KINDS: ComponentKind[] = ['module', 'mcu', 'files'];
const MODES: Strategy['mode'][] = ['silent', 'ask', 'forced'];
/** The seed platform's limit of devices in one batch. */
export const MAX_SCOPE_DEVICES = 10000;

function component(v: unknown, i: number, ref: PackageRefCheck): PlanComponentSpec {
  const f = `components[${i}]`;
  if (!isObject(v)) bad(f, `must be an object, got ${kindOf(v)}`);
  onlyKeys(v, f, ['id', 'kind', 'source', 'target', 'full', 'deltas']);
  const out: { -readonly [K in keyof PlanComponentSpec]: PlanComponentSpec[K] } = {
    id: id(v.id, `${f}.id`),
    kind: KINDS.indexOf(v.kind as ComponentKind) >= 0 ? (v.kind as ComponentKind) : bad(`${f}.kind`, `must be one of ${KINDS.join(', ')}`),
    source: text(v.source ?? '*', `${f}.source`, 64),
    target: text(v.target, `${f}.target`, 64),
  };
  if (out.target === '' || out.target === '*') bad(`${f}.target`, 'must be a version');
  if (v.full !== undefined) out.full = ref(text(v.full, `${f}.full`, 4096), `${f}.full`);
  if (v.deltas !== undefined) {
    if (!isObject(v.deltas)) bad(`${f}.deltas`, 'must be an object { sourceVersion: package }');
    const d: { [k: string]: string } = {};
    for (const k of Object.keys(v.deltas)) {
      text(k, `${f}.deltas key`, 64);
      if (k === '__proto__') bad(`${f}.deltas`, "'__proto__' is not a version");
      d[k] = ref(text(v.deltas[k], `${f}.deltas["${k}"]`, 4096), `${f}.deltas["${k}"]`);
    }
    out.deltas = d;
  }
  if (out.full === undefined && (out.deltas === undefined || Object.keys(out.deltas).length === 0)) bad(f, 'needs a full package, deltas, or both');
  return out;
}

function strategy(v: unknown): Strategy {
  if (v === undefined) return { mode: 'silent' };
  if (!isObject(v)) bad('strategy', `must be an object, got ${kindOf(v)}`);
  onlyKeys(v, 'strategy', ['mode', 'minBattery', 'minSignal', 'retries', 'backoffMs', 'windows']);
  const s: { -readonly [K in keyof Strategy]: Strategy[K] } = { mode: 'silent' };
  if (v.mode !== undefined) s.mode = MODES.indexOf(v.mode as Strategy['mode']) >= 0 ? (v.mode as Strategy['mode']) : bad('strategy.mode', `must be one of ${MODES.join(', ')}`);
  if (v.minBattery !== undefined) s.minBattery = int(v.minBattery, 'strategy.minBattery', 0, 100);
  if (v.minSignal !== undefined) s.minSignal = int(v.minSignal, 'strategy.minSignal', -200, 0);
  if (v.retries !== undefined) s.retries = int(v.retries, 'strategy.retries', 0, 100);
  if (v.backoffMs !== undefined) s.backoffMs = int(v.backoffMs, 'strategy.backoffMs', 0, 86400000);
  if (v.windows !== undefined) {
    if (!Array.isArray(v.windows) || v.windows.length > 48) bad('strategy.windows', 'must be an array of at most 48 [fromMinute, toMinute] pairs');
    s.windows = v.windows.map((w, i) => {
      if (!Array.isArray(w) || w.length !== 2) bad(`strategy.windows[${i}]`, 'must be [fromMinute, toMinute] (minutes of the UTC day)');
      return [int(w[0], `strategy.windows[${i}][0]`, 0, 1440), int(w[1], `strategy.windows[${i}][1]`, 0, 1440)] as [number, number];
    });
  }
  return s;
}

function scope(v: unknown): PlanScope {
  if (v === undefined) return {};
  if (!isObject(v)) bad('scope', `must be an object, got ${kindOf(v)}`);
  onlyKeys(v, 'scope', ['devices', 'whitelist', 'blacklist', 'batchLimit']);
  const s: { -readonly [K in keyof PlanScope]: PlanScope[K] } = {};
  if (v.devices !== undefined) s.devices = ids(v.devices, 'scope.devices', MAX_SCOPE_DEVICES);
  if (v.whitelist !== undefined) s.whitelist = ids(v.whitelist, 'scope.whitelist', MAX_SCOPE_DEVICES);
  if (v.blacklist !== undefined) s.blacklist = ids(v.blacklist, 'scope.blacklist', MAX_SCOPE_DEVICES);
  if (v.batchLimit !== undefined) s.batchLimit = int(v.batchLimit, 'scope.batchLimit', 1, 10000000);
  return s;
}

/**
 * Checks a plan object. `ref` checks (and may rewrite) each package reference: the server requires
 * ids; the CLI turns file paths into the ids of the packages it uploaded.
 */
export function parsePlanSpec(v: unknown, ref: PackageRefCheck = (s, f) => id(s, f)): PlanSpec {
  if (!isObject(v)) bad('', `must be a JSON object, got ${kindOf(v)}`);
  onlyKeys(v, 'file', ['id', 'name', 'order', 'components', 'strategy', 'scope', 'signature']);
  if (!Array.isArray(v.components) || v.components.length === 0 || v.components.length > 16) bad('components', 'must be an array of 1 to 16 components');
  const components = v.components.map((c, i) => component(c, i, ref));
  const seen: { [k: string]: true } = {};
  for (const c of components) {
    if (seen[c.id]) bad('components', `component id '${c.id}' appears twice`);
    seen[c.id] = true;
  }
  const out: PlanSpec = {
    name: v.name === undefined ? components.map((c) => `${c.id} ${c.target}`).join(', ') : text(v.name, 'name'),
    order: v.order === undefined ? 0 : int(v.order, 'order', -1000000, 1000000),
    components,
    strategy: strategy(v.strategy),
    scope: scope(v.scope),
  };
  if (v.id !== undefined) out.id = id(v.id, 'id');
  if (v.signature !== undefined) {
    out.signature = signatureText(v.signature);
    // The signature covers the id: a plan whose id the server would make up cannot have been signed.
    if (out.id === undefined) bad('id', 'a signed plan needs its id (the signature covers it)');
  }
  return out;
}

/** A detached signature in base64: 1-3 Secure Boot V2 blocks (checked for form here, for trust by devices). */
function signatureText(v: unknown): string {
  if (typeof v !== 'string' || v.length > 8192) bad('signature', 'must be base64 text of 1 to 3 signature blocks');
  try {
    detachedBlockCount(decodeSignatureText(v));
  } catch (e) {
    bad('signature', e instanceof OtaflashError ? e.message : String(e));
  }
  return v;
}

/** Every package id a plan refers to. */
export function packageIdsOf(components: readonly PlanComponentSpec[]): string[] {
  const out: string[] = [];
  for (const c of components) {
    if (c.full !== undefined) out.push(c.full);
    if (c.deltas) for (const k of Object.keys(c.deltas)) out.push(c.deltas[k]);
  }
  return out;
}
