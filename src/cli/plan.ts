/**
 * `otaflash plan create|sign|activate|status`: the plan service's administration from the shell,
 * over its HTTP API (README "Upgrade plans"). `create` checks the plan file first, uploads every
 * package file it names (the server hashes them; the same bytes again name the same package), then
 * creates the plan with the packages' ids in place of the paths. `sign` (or `create --sign`) signs
 * the plan's statement on this host, with keys that never go to the server (docs/plans.md).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createHash, randomBytes } from 'node:crypto';
import { OtaflashError, isOtaflashError } from '../errors';
import { ID_PATTERN, packageIdsOf, parsePlanSpec, type PlanSpec } from '../server/plans/plan-spec';
import type { DevicePlanRecord, PlanRecord, PlanStats } from '../server/plans/types';
import { planStatement, planStatementBytes } from '../agent/plan-signature';
import type { PlanStatement, SignedPackage } from '../agent/types';
import { encodeSignatureText, verifyDetachedSignature, decodeSignatureText } from '../formats/detached-signature';
import { readKeyFiles, signDetached } from '../node/detached-sign';
import { createNodeSignatureVerifier } from '../node/signature-verifier';
import { nodeHashes } from '../node/hash';
import { CliError, type CliIo, type Command, parseArgs } from './io';

/** Plans hold at most 10,000 device ids and some text: 4 MiB is far beyond any real one. */
const PLAN_FILE_LIMIT = 4 * 1024 * 1024;
/** The server's default upload limit. */
const PACKAGE_FILE_LIMIT = 256 * 1024 * 1024;

function serverOf(flags: Record<string, string | true>): string {
  const s = flags.server;
  if (s === undefined || s === true) throw new CliError('--server URL is required (the otaflash serve to talk to, e.g. http://127.0.0.1:8000)');
  const url = String(s).replace(/\/+$/, '');
  if (!/^https?:\/\/[^\s/?#]+(\/[^\s?#]*)?$/.test(url)) throw new CliError(`--server '${url}' is not an http(s) URL`);
  return url;
}

/** One API call; a refusal becomes a CliError with the server's code and message (exit 1). */
async function api<T>(method: string, url: string, body?: { type: string; data: Uint8Array | string }): Promise<T> {
  let res: Response;
  try {
    res = await fetch(url, { method, headers: body ? { 'content-type': body.type } : {}, body: body ? body.data : undefined });
  } catch (e) {
    const cause = (e as { cause?: { code?: string } }).cause;
    throw new CliError(`cannot reach ${url}: ${cause?.code ?? (e as Error).message}`, 1);
  }
  const text = await res.text();
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new CliError(`${method} ${url}: HTTP ${res.status}, not a plan service answer (is it otaflash serve?)`, 1);
  }
  if (res.status >= 400) {
    const e = value as { error?: string; message?: string };
    throw new CliError(`${method} ${url}: ${e.message ?? 'refused'} [${e.error ?? res.status}]`, 1);
  }
  return value as T;
}

function planId(argv: string[]): string {
  if (argv.length !== 1) throw new CliError('expected one plan ID');
  if (!ID_PATTERN.test(argv[0])) throw new CliError(`'${argv[0]}' is not a plan id`);
  return argv[0];
}

interface Upload {
  file: string;
  kind: 'full' | 'delta';
  id?: string;
}

/**
 * Reads and checks a plan file. A package reference that names an existing file (relative to the
 * plan file) is to be uploaded; anything else must be the id of a package already on the server.
 * A plan that does not check out is a CliError naming the file. `raw` is the file's JSON as read.
 */
export function readPlanFile(file: string): { spec: PlanSpec; uploads: Map<string, Upload>; raw: Record<string, unknown> } {
  let st: fs.Stats;
  try {
    st = fs.statSync(file);
  } catch {
    throw new CliError(`plan file '${file}' does not exist`);
  }
  if (!st.isFile()) throw new CliError(`'${file}' is not a file`);
  if (st.size > PLAN_FILE_LIMIT) throw new CliError(`plan file '${file}' is larger than ${PLAN_FILE_LIMIT / 1048576} MiB`);
  let json: unknown;
  try {
    json = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    throw new CliError(`plan file '${file}' is not JSON: ${(e as Error).message}`);
  }
  const dir = path.dirname(path.resolve(file));
  const uploads = new Map<string, Upload>();
  let spec: PlanSpec;
  try {
    spec = parsePlanSpec(json, (ref, field) => {
      const p = path.resolve(dir, ref);
      const kind = /\.full$/.test(field) ? 'full' : 'delta';
      if (fs.existsSync(p) && fs.statSync(p).isFile()) {
        const prior = uploads.get(p);
        if (prior && prior.kind !== kind) throw new OtaflashError('PLAN_SPEC_INVALID', `plan ${field}: '${ref}' is used both as a full image and as a delta`);
        uploads.set(p, { file: p, kind });
        return p;
      }
      if (!ID_PATTERN.test(ref)) throw new OtaflashError('PLAN_SPEC_INVALID', `plan ${field}: '${ref}' is neither a file (relative to ${dir}) nor a package id`);
      return ref;
    });
  } catch (e) {
    if (isOtaflashError(e)) throw new CliError(`${file}: ${e.message}`);
    throw e;
  }
  return { spec, uploads, raw: json as Record<string, unknown> };
}

function swapRefs(spec: PlanSpec, uploads: Map<string, Upload>): PlanSpec {
  const id = (ref: string) => uploads.get(ref)?.id ?? ref;
  return {
    ...spec,
    components: spec.components.map((c) => {
      const out = { ...c };
      if (c.full !== undefined) out.full = id(c.full);
      if (c.deltas) {
        const d: { [k: string]: string } = {};
        for (const k of Object.keys(c.deltas)) d[k] = id(c.deltas[k]);
        out.deltas = d;
      }
      return out;
    }),
  };
}

/**
 * Size and SHA-256 of every package the plan names: package files are hashed here (what is signed
 * is what the operator has, not what a server says it received); package ids are asked of the server.
 */
async function packagesOf(spec: PlanSpec, uploads: Map<string, Upload>, server: string | null): Promise<Map<string, SignedPackage>> {
  const out = new Map<string, SignedPackage>();
  for (const ref of packageIdsOf(spec.components)) {
    if (out.has(ref)) continue;
    const u = uploads.get(ref);
    if (u) {
      const bytes = fs.readFileSync(u.file);
      out.set(ref, { size: bytes.length, sha256: createHash('sha256').update(bytes).digest('hex') });
      continue;
    }
    if (server === null) throw new CliError(`package '${ref}' is not a file next to the plan: give --server URL to look it up`);
    const p = await api<{ size: number; sha256: string }>('GET', `${server}/api/packages/${encodeURIComponent(ref)}`);
    out.set(ref, { size: p.size, sha256: p.sha256 });
  }
  return out;
}

function statementOf(spec: PlanSpec & { id: string }, packages: Map<string, SignedPackage>): PlanStatement {
  return planStatement({ id: spec.id, components: spec.components, strategy: spec.strategy }, (ref) => packages.get(ref) as SignedPackage);
}

function signStatement(statement: PlanStatement, keyFiles: string[]): string {
  if (keyFiles.length > 3) throw new CliError(`a plan signature holds up to 3 keys, got ${keyFiles.length}`);
  return encodeSignatureText(signDetached(planStatementBytes(statement), readKeyFiles(keyFiles)));
}

/**
 * Whether a signature covers this statement, whoever signed it: each block is checked with the key
 * it carries. Catches a plan file whose packages or fields changed after `plan sign`; whether the
 * keys are trusted is for the devices to say.
 */
function signatureCovers(statement: PlanStatement, text: string): boolean {
  const bytes = planStatementBytes(statement);
  const sig = decodeSignatureText(text);
  const opts = { verifier: createNodeSignatureVerifier(), hashes: nodeHashes };
  const first = verifyDetachedSignature(bytes, sig, Object.assign({ trust: { keyDigests: [] } }, opts));
  const keyDigests = first.blocks.map((b) => b.keyDigest).filter((d): d is Uint8Array => d !== null);
  return keyDigests.length > 0 && verifyDetachedSignature(bytes, sig, Object.assign({ trust: { keyDigests } }, opts)).valid;
}

const newPlanId = () => `plan-${randomBytes(6).toString('hex')}`;

const pct = (n: number) => `${Math.round(n * 1000) / 10}%`;

function statsLine(s: PlanStats): string {
  return `${s.devices} devices: ${s.succeeded} succeeded, ${s.failed} failed, ${s.inProgress} in progress; success rate ${pct(s.successRate)}`;
}

function deviceLine(d: DevicePlanRecord): string {
  const parts = Object.keys(d.components).map((k) => {
    const c = d.components[k];
    const p = c.total > 0 ? ` ${Math.floor((c.bytes * 100) / c.total)}%` : '';
    return `${k} ${c.state}${p}${c.version ? ` v${c.version}` : ''}${c.error ? ` (${c.error})` : ''}`;
  });
  return `  ${d.deviceId}  ${d.state}  ${parts.join(', ')}`;
}

export const planCreateCommand: Command = {
  summary: 'create an upgrade plan on a server from a plan file (uploads its package files)',
  help: `Usage: otaflash plan create PLAN.json --server URL [--sign KEY.pem ...] [--activate] [--json]

Checks PLAN.json (format: docs/plans.md), uploads each package file it names (paths relative to
the plan file; a name that is not a file must be the id of a package already on the server), then
creates the plan, in the 'draft' state unless --activate. Prints the plan's id (--json: the plan).
A plan file signed by 'plan sign' is checked against its packages first and created with its
signature.

  --server URL     the plan service (otaflash serve), e.g. http://127.0.0.1:8000
  --sign KEY.pem   sign the plan with this private key (Secure Boot V2 RSA-3072 or ECDSA; up to
                   three --sign, one signature block each); the key stays on this host
  --activate       activate the plan right away
  --json           print the created plan as JSON`,
  run(argv) {
    parseArgs(argv, { values: ['server'], booleans: ['activate', 'json'], repeat: ['sign'] });
    throw new CliError('plan create talks to a server; it needs the asynchronous entry (otaflash from the shell)');
  },
  async runAsync(argv: string[], io: CliIo) {
    const args = parseArgs(argv, { values: ['server'], booleans: ['activate', 'json'], repeat: ['sign'] });
    if (args.positional.length !== 1) throw new CliError('expected one PLAN.json');
    const server = serverOf(args.flags);
    const file = args.positional[0];
    const read = readPlanFile(file);
    const keys = args.lists.sign ?? [];
    // Signed (or checked) before anything is uploaded: a bad key or a stale signature costs nothing.
    let local: Map<string, SignedPackage> | null = null;
    if (keys.length > 0 || read.spec.signature !== undefined) {
      if (keys.length > 0 && read.spec.signature !== undefined) throw new CliError(`${file} is already signed (by plan sign): drop --sign, or sign it again with plan sign`);
      const spec = read.spec as PlanSpec & { id: string };
      if (spec.id === undefined) spec.id = newPlanId();
      local = await packagesOf(spec, read.uploads, server);
      const statement = statementOf(spec, local);
      if (keys.length > 0) spec.signature = signStatement(statement, keys);
      else if (!signatureCovers(statement, spec.signature as string)) throw new CliError(`${file}: its signature does not cover this plan (a package file or a field changed since it was signed)`);
    }
    for (const u of read.uploads.values()) {
      const size = fs.statSync(u.file).size;
      if (size > PACKAGE_FILE_LIMIT) throw new CliError(`package file '${u.file}' is larger than ${PACKAGE_FILE_LIMIT / 1048576} MiB`);
      const r = await api<{ id: string; size: number; sha256: string; created: boolean }>('POST', `${server}/api/packages?kind=${u.kind}`, {
        type: 'application/octet-stream',
        data: new Uint8Array(fs.readFileSync(u.file)),
      });
      u.id = r.id;
      const mine = local?.get(u.file);
      if (mine && mine.sha256 !== r.sha256) throw new CliError(`the server reports sha256 ${r.sha256} for ${u.file}, signed as ${mine.sha256}`, 1);
      io.stderr(`${r.created ? 'uploaded' : 'already there'}: ${path.relative(process.cwd(), u.file) || u.file} -> ${r.id} (${r.size} bytes, sha256 ${r.sha256.slice(0, 16)}...)\n`);
    }
    const spec = swapRefs(read.spec, read.uploads);
    let { plan } = await api<{ plan: PlanRecord }>('POST', `${server}/api/plans`, { type: 'application/json', data: JSON.stringify(spec) });
    if (args.flags.activate === true) plan = (await api<{ plan: PlanRecord }>('POST', `${server}/api/plans/${encodeURIComponent(plan.id)}/activate`)).plan;
    io.stdout(args.flags.json === true ? JSON.stringify(plan, null, 2) + '\n' : `${plan.id}\n`);
    return 0;
  },
};

export const planSignCommand: Command = {
  summary: 'sign an upgrade plan file with Secure Boot keys (devices with trusted keys take only signed plans)',
  help: `Usage: otaflash plan sign PLAN.json --key KEY.pem [--key KEY2.pem ...] [--server URL] [--out FILE]

Signs what devices act on in PLAN.json (its id, components with versions and each package's size
and SHA-256, and its strategy: docs/plans.md, "Signed plans") and writes the plan file back with
"signature" (and an "id" when it had none: the signature covers it). Package files are hashed here;
a package given by id is looked up on --server. 'plan create' then uploads it unchanged.

  --key KEY.pem   private key (RSA-3072, ECDSA P-256/P-384/P-192; up to three --key, one block each)
  --server URL    the plan service, for packages named by id
  --out FILE      write the signed plan here instead of over PLAN.json (keep it in the same folder:
                  package paths stay relative to it)`,
  run(argv) {
    parseArgs(argv, { values: ['server', 'out'], repeat: ['key'] });
    throw new CliError('plan sign needs the asynchronous entry (otaflash from the shell)');
  },
  async runAsync(argv: string[], io: CliIo) {
    const args = parseArgs(argv, { values: ['server', 'out'], repeat: ['key'] });
    if (args.positional.length !== 1) throw new CliError('expected one PLAN.json');
    const keys = args.lists.key ?? [];
    if (keys.length === 0) throw new CliError('--key KEY.pem is required (the private key to sign with)');
    const file = args.positional[0];
    const server = args.flags.server === undefined ? null : serverOf(args.flags);
    const out = args.flags.out === undefined || args.flags.out === true ? file : String(args.flags.out);
    const read = readPlanFile(file);
    const raw = read.raw;
    const spec = read.spec as PlanSpec & { id: string };
    if (spec.id === undefined) spec.id = newPlanId();
    const statement = statementOf(spec, await packagesOf(spec, read.uploads, server));
    // The file keeps its own text for everything else (paths, name, scope): only id and signature are added.
    raw.id = spec.id;
    raw.signature = signStatement(statement, keys);
    fs.writeFileSync(out, JSON.stringify(raw, null, 2) + '\n');
    io.stdout(`${spec.id}\n`);
    io.stderr(`signed plan ${spec.id} (${statement.components.length} component${statement.components.length === 1 ? '' : 's'}, ${keys.length} key${keys.length === 1 ? '' : 's'}) -> ${out}\n`);
    return 0;
  },
};

export const planActivateCommand: Command = {
  summary: 'activate an upgrade plan (devices in scope get it at their next check)',
  help: `Usage: otaflash plan activate ID --server URL

Puts the plan in the 'active' state: devices in its scope that run its source versions are
offered it at their next check, up to its batch limit.`,
  run(argv) {
    parseArgs(argv, { values: ['server'] });
    throw new CliError('plan activate talks to a server; it needs the asynchronous entry (otaflash from the shell)');
  },
  async runAsync(argv: string[], io: CliIo) {
    const args = parseArgs(argv, { values: ['server'] });
    const id = planId(args.positional);
    const { plan } = await api<{ plan: PlanRecord }>('POST', `${serverOf(args.flags)}/api/plans/${encodeURIComponent(id)}/activate`);
    io.stdout(`plan ${plan.id} is ${plan.state}\n`);
    return 0;
  },
};

export const planStatusCommand: Command = {
  summary: "an upgrade plan's state, counts, success rate and each device's progress",
  help: `Usage: otaflash plan status ID --server URL [--json]

Prints the plan's state, how many devices took part, succeeded, failed and are in progress, the
success rate (succeeded / finished), then one line per device: its state and each component's
state, progress, reported version and error code. --json prints { plan, stats, devices }.`,
  run(argv) {
    parseArgs(argv, { values: ['server'], booleans: ['json'] });
    throw new CliError('plan status talks to a server; it needs the asynchronous entry (otaflash from the shell)');
  },
  async runAsync(argv: string[], io: CliIo) {
    const args = parseArgs(argv, { values: ['server'], booleans: ['json'] });
    const id = planId(args.positional);
    const r = await api<{ plan: PlanRecord; stats: PlanStats; devices: DevicePlanRecord[] }>('GET', `${serverOf(args.flags)}/api/plans/${encodeURIComponent(id)}`);
    if (args.flags.json === true) {
      io.stdout(JSON.stringify(r, null, 2) + '\n');
      return 0;
    }
    const lines = [`plan ${r.plan.id} "${r.plan.name}": ${r.plan.state}${r.plan.signature !== undefined ? ' (signed)' : ''}`, statsLine(r.stats)];
    for (const c of r.plan.components) lines.push(`  component ${c.id} (${c.kind}) ${c.source || '*'} -> ${c.target}`);
    if (r.devices.length > 0) lines.push('devices:');
    for (const d of r.devices) lines.push(deviceLine(d));
    io.stdout(lines.join('\n') + '\n');
    return 0;
  },
};
