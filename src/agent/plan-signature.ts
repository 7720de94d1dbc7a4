/**
 * Signed upgrade plans: the statement an operator signs (every part of a plan a device acts on), its
 * canonical bytes, and the device's check. The check runs when a plan arrives, before the agent
 * confirms, downloads or writes anything: an unsigned plan, a signature that does not verify with a
 * trusted and unrevoked key, or a plan that differs from what was signed is refused with
 * PLAN_UNSIGNED or PLAN_SIGNATURE_INVALID. The signature is a detached Secure Boot V2 signature
 * (src/formats/detached-signature.ts), so the keys and eFuse digests are the firmware's own.
 */
import { OtaflashError, kindOf } from '../errors';
import { canonicalJson, canonicalJsonBytes } from '../formats/canonical-json';
import { decodeSignatureText, verifyDetachedSignature } from '../formats/detached-signature';
import type { SignatureTrust, SignatureVerdict, SignatureVerifier } from '../formats/secure-boot-verify';
import type { HashProvider, IncrementalHash } from '../hash/types';
import type { ComponentKind, Plan, PlanStatement, PlanStatementComponent, SignedPackage, Strategy } from './types';

/** The statement's format tag (part of the signed bytes). */
export const PLAN_STATEMENT_FORMAT = 'otaflash-plan/1';

/** A plan as the server keeps it: package references (ids, or paths in a plan file) per component. */
export interface PlanStatementSource {
  readonly id: string;
  readonly components: readonly {
    readonly id: string;
    readonly kind: ComponentKind;
    readonly source: string;
    readonly target: string;
    readonly full?: string;
    readonly deltas?: { readonly [sourceVersion: string]: string };
  }[];
  readonly strategy: Strategy;
}

/** Builds the statement of a plan; `pkg` gives each referenced package's size and SHA-256. */
export function planStatement(plan: PlanStatementSource, pkg: (ref: string) => SignedPackage): PlanStatement {
  const one = (ref: string): SignedPackage => {
    const p = pkg(ref);
    return { size: p.size, sha256: p.sha256 };
  };
  const components: PlanStatementComponent[] = [];
  for (let i = 0; i < plan.components.length; i++) {
    const c = plan.components[i];
    const out: { -readonly [K in keyof PlanStatementComponent]: PlanStatementComponent[K] } = { id: c.id, kind: c.kind, source: c.source, target: c.target };
    if (c.full !== undefined) out.full = one(c.full);
    if (c.deltas !== undefined) {
      const d: { [v: string]: SignedPackage } = {};
      const keys = Object.keys(c.deltas);
      for (let k = 0; k < keys.length; k++) d[keys[k]] = one(c.deltas[keys[k]]);
      out.deltas = d;
    }
    components.push(out);
  }
  return { format: PLAN_STATEMENT_FORMAT, id: plan.id, components, strategy: Object.assign({}, plan.strategy) };
}

/** The bytes a plan signature covers: the statement as canonical JSON, UTF-8. */
export function planStatementBytes(statement: PlanStatement): Uint8Array {
  return canonicalJsonBytes(statement);
}

export interface PlanTrustOptions {
  /** Trusted key digests as eFuse holds them, and revoked ones. */
  readonly trust: SignatureTrust;
  /** Public-key operations; default the portable verifier (no BigInt). */
  readonly verifier?: SignatureVerifier;
  readonly hashes?: HashProvider;
  /** SHA-384 for P-384 keys (the portable hashes have none). */
  readonly sha384?: () => IncrementalHash;
}

function invalid(plan: Plan, why: string, info?: Record<string, unknown>): OtaflashError {
  return new OtaflashError('PLAN_SIGNATURE_INVALID', `plan ${plan.id}: ${why}`, info);
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function samePackage(p: unknown, want: { size: number; sha256: string }): boolean {
  return isObject(p) && p.size === want.size && p.sha256 === want.sha256;
}

/**
 * The plan the device was sent must be the signed one: same id, components in the same order with
 * the same kind and versions, each package the signed full image or the signed delta for the
 * version the device runs, the same strategy.
 */
function sameAsSigned(plan: Plan, st: unknown, versions: { [c: string]: string }): void {
  if (!isObject(st)) throw invalid(plan, `the signed statement is not an object (${kindOf(st)})`);
  if (st.format !== PLAN_STATEMENT_FORMAT) throw invalid(plan, `the signed statement's format is ${JSON.stringify(String(st.format).slice(0, 40))}, not ${PLAN_STATEMENT_FORMAT}`);
  if (st.id !== plan.id) throw invalid(plan, `the signature is for plan ${JSON.stringify(String(st.id).slice(0, 128))}`, { field: 'id' });
  const sc = st.components;
  if (!Array.isArray(sc) || sc.length !== plan.components.length) throw invalid(plan, 'its components are not the signed ones', { field: 'components' });
  for (let i = 0; i < plan.components.length; i++) {
    const c = plan.components[i];
    const s = sc[i] as unknown;
    if (!isObject(s) || s.id !== c.id) throw invalid(plan, `component ${i} (${c.id}) is not the signed one`, { field: 'components', component: c.id });
    const fields: ('kind' | 'source' | 'target')[] = ['kind', 'source', 'target'];
    for (let f = 0; f < fields.length; f++) {
      const k = fields[f];
      if (s[k] !== c[k]) throw invalid(plan, `component ${c.id}: ${k} ${JSON.stringify(c[k])} is not the signed ${JSON.stringify(String(s[k]).slice(0, 64))}`, { field: k, component: c.id });
    }
    const pk = c.package;
    if (pk.kind === 'full') {
      if (!samePackage(s.full, pk)) throw invalid(plan, `component ${c.id}: the full package (${pk.size} bytes, sha256 ${pk.sha256}) is not the signed one`, { field: 'package', component: c.id });
    } else {
      const have = versions[c.id];
      const d = s.deltas;
      if (have === undefined || !isObject(d) || !Object.prototype.hasOwnProperty.call(d, have) || !samePackage(d[have], pk)) {
        throw invalid(plan, `component ${c.id}: the delta package (${pk.size} bytes, sha256 ${pk.sha256}) is not the one signed for version ${have === undefined ? 'none' : have}`, { field: 'package', component: c.id });
      }
    }
  }
  let a: string;
  let b: string;
  try {
    a = canonicalJson(plan.strategy);
    b = canonicalJson(st.strategy);
  } catch (e) {
    throw invalid(plan, `its strategy has no canonical form (${(e as Error).message})`, { field: 'strategy' });
  }
  if (a !== b) throw invalid(plan, `its strategy ${a} is not the signed ${b.slice(0, 400)}`, { field: 'strategy' });
}

/**
 * Checks a received plan's signature for a device running `versions`. Returns the verdict (which
 * block verified) or throws PLAN_UNSIGNED / PLAN_SIGNATURE_INVALID (`info.verdict` when the
 * signature itself failed, with each block's reason: untrusted or revoked key, bad signature...).
 */
export function checkPlanSignature(plan: Plan, versions: { [c: string]: string }, opts: PlanTrustOptions): SignatureVerdict {
  if (!opts || !isObject(opts.trust)) throw new OtaflashError('AGENT_BAD_ARGUMENT', 'checkPlanSignature needs { trust } (trusted key digests)');
  const signed = plan.signed;
  if (signed === undefined || signed === null) throw new OtaflashError('PLAN_UNSIGNED', `plan ${plan.id} is not signed, and this device accepts only signed plans`);
  if (!isObject(signed) || typeof signed.signature !== 'string') throw invalid(plan, 'its signature is not { statement, signature }');
  sameAsSigned(plan, signed.statement, versions);
  return verifyPlanStatement(signed.statement, signed.signature, opts);
}

/**
 * Verifies a signature (base64 text) over a statement: the verdict when a trusted, unrevoked key's
 * block verifies, else PLAN_SIGNATURE_INVALID (`info.verdict` has each block's reason).
 */
export function verifyPlanStatement(statement: PlanStatement, signature: string, opts: PlanTrustOptions): SignatureVerdict {
  const id = isObject(statement) && typeof statement.id === 'string' ? statement.id.slice(0, 128) : '?';
  let verdict: SignatureVerdict;
  try {
    const bytes = planStatementBytes(statement);
    verdict = verifyDetachedSignature(bytes, decodeSignatureText(signature), { trust: opts.trust, verifier: opts.verifier, hashes: opts.hashes, sha384: opts.sha384 });
  } catch (e) {
    if (e instanceof OtaflashError && e.code !== 'SIGNATURE_BAD_ARGUMENT') throw new OtaflashError('PLAN_SIGNATURE_INVALID', `plan ${id}: its signature cannot be checked: ${e.code}: ${e.message}`, { cause: e.code });
    throw e;
  }
  if (!verdict.valid) throw new OtaflashError('PLAN_SIGNATURE_INVALID', `plan ${id}: no trusted signature: ${verdict.reason}`, { verdict });
  return verdict;
}

/** The plan without its signature (what the agent keeps on flash once the signature was checked). */
export function withoutSignature(plan: Plan): Plan {
  if (plan.signed === undefined) return plan;
  const out = Object.assign({}, plan) as { signed?: unknown };
  delete out.signed;
  return out as Plan;
}
