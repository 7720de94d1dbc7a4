/**
 * The plan service over HTTP+JSON, as a request handler for node:http: the device protocol (one
 * AgentMessage in, one ServiceMessage out), package downloads with Range (the agent resumes where
 * its flash says), and the administrator's API (upload packages, create and activate plans, read
 * stats, plans and device logs). The handler answers only its own paths and returns false for
 * every other request, so it sits in front of the update server's file tree.
 *
 * Every refusal is JSON `{ error: CODE, message }` with a 4xx status decided before the first byte
 * is sent; a fault of ours is a 500 whose cause goes to the log, not to the client. Bodies are
 * bounded before they are read (Content-Length) and while they are read.
 */
import * as http from 'node:http';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createHash, randomBytes } from 'node:crypto';
import { pipeline } from 'node:stream';
import { OtaflashError, isOtaflashError } from '../../errors';
import { parseRangeHeader } from '../http-bits';
import { PlanService } from './service';
import { DEVICE_ID_PATTERN, ID_PATTERN, packageIdsOf, parsePlanSpec } from './plan-spec';
import { planStatement, planStatementBytes, verifyPlanStatement, type PlanTrustOptions } from '../../agent/plan-signature';
import { encodeSignatureText } from '../../formats/detached-signature';
import type { SignedPackage } from '../../agent/types';
import type { PackageRecord, PlanRecord, PlanStore } from './types';

export interface PlanHttpOptions {
  /**
   * The database, or how to open it at the first request (then a server that never gets a plan
   * request creates nothing: `otaflash serve DIR` without --db leaves DIR untouched until used).
   */
  store: PlanStore | (() => Promise<PlanStore>);
  /** Where uploaded packages are kept (created at the first request that needs it). */
  packagesDir: string;
  /** Base of package URLs given to devices (`http://updates.example:8000`); default: the request's Host. */
  publicUrl?: string;
  /** Largest device message (default 64 KiB). */
  maxMessageBytes?: number;
  /** Largest plan JSON (default 4 MiB: room for 10,000 device ids in a scope). */
  maxPlanBytes?: number;
  /** Largest package upload (default 256 MiB). */
  maxPackageBytes?: number;
  /** A check with no plan tells the device to check again after this many ms (default: its own interval). */
  nextCheckMs?: number;
  now?: () => number;
  /**
   * Plan signatures the server itself checks at creation: with this, a plan that is unsigned or
   * not signed by one of these keys is refused (PLAN_UNSIGNED, PLAN_SIGNATURE_INVALID). Devices
   * check again with their own keys; this only stops a mistake early. Default: not checked here.
   */
  planTrust?: PlanTrustOptions;
  /**
   * Signs plans created without a signature (the statement's canonical bytes in, detached
   * signature blocks out; e.g. `(b) => signDetached(b, [pem])`). Default none: keys stay with the
   * operator, who signs with `otaflash plan create --sign`, so a server taken over cannot make
   * devices install anything. A plan created this way needs an id or gets one before signing.
   */
  planSigner?: (statement: Uint8Array) => Uint8Array;
  /** Faults of ours (500s), one line each (default: stderr). */
  log?: (line: string) => void;
}

export type RequestHandler = (req: http.IncomingMessage, res: http.ServerResponse) => Promise<boolean>;

export interface PlanHttpHandler extends RequestHandler {
  /** The store (opened now when it was given as an opener). */
  store(): Promise<PlanStore>;
  /** Closes the store if it was opened. */
  close(): Promise<void>;
}

/** HTTP status of each error code the handler or the service throws; anything else is a 500. */
const STATUS: { [code: string]: number } = {
  HTTP_BAD_JSON: 400,
  HTTP_BAD_QUERY: 400,
  PLAN_BAD_MESSAGE: 400,
  PLAN_SPEC_INVALID: 400,
  PLAN_SIGNATURE_INVALID: 400,
  PLAN_UNSIGNED: 400,
  HTTP_NOT_FOUND: 404,
  PLAN_NOT_FOUND: 404,
  PLAN_NOT_OFFERED: 404,
  PACKAGE_NOT_FOUND: 404,
  HTTP_METHOD: 405,
  PACKAGE_EXISTS: 409,
  PLAN_EXISTS: 409,
  PLAN_STATE: 409,
  PLAN_PACKAGE_MISSING: 409,
  HTTP_TOO_LARGE: 413,
  HTTP_ABORTED: 400,
  HTTP_CONTENT_TYPE: 415,
};

const err = (code: string, message: string, info?: Record<string, unknown>) => new OtaflashError(code, message, info);

function sendJson(res: http.ServerResponse, status: number, value: unknown, headers: Record<string, string> = {}): void {
  const body = Buffer.from(JSON.stringify(value), 'utf8');
  res.statusCode = status;
  res.setHeader('Content-Type', 'application/json; charset=utf-8');
  res.setHeader('Content-Length', String(body.length));
  res.setHeader('Cache-Control', 'no-store');
  for (const k of Object.keys(headers)) res.setHeader(k, headers[k]);
  res.end(body);
}

function mediaType(req: http.IncomingMessage): string {
  return String(req.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase();
}

function needType(req: http.IncomingMessage, type: string): void {
  const got = mediaType(req);
  if (got !== type) throw err('HTTP_CONTENT_TYPE', `${req.method} ${pathOf(req)} takes Content-Type ${type}, got ${got === '' ? 'none' : got}`);
}

function pathOf(req: http.IncomingMessage): string {
  return (req.url ?? '').split('?')[0];
}

/** Refuses a declared body larger than `max` before reading any of it. */
function checkDeclaredLength(req: http.IncomingMessage, max: number): void {
  const cl = req.headers['content-length'];
  if (cl !== undefined && (!/^\d+$/.test(cl) || Number(cl) > max)) throw err('HTTP_TOO_LARGE', `the body must be at most ${max} bytes (Content-Length ${cl})`, { max });
}

/** The whole body, at most `max` bytes; a longer one is refused while it arrives. */
function readBody(req: http.IncomingMessage, max: number): Promise<Buffer> {
  checkDeclaredLength(req, max);
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    let n = 0;
    let failed = false;
    req.on('data', (b: Buffer) => {
      if (failed) return;
      n += b.length;
      if (n > max) {
        failed = true;
        reject(err('HTTP_TOO_LARGE', `the body must be at most ${max} bytes`, { max }));
        return;
      }
      parts.push(b);
    });
    req.on('end', () => {
      if (!failed) resolve(Buffer.concat(parts));
    });
    req.on('error', (e) => {
      if (!failed) reject(e);
      failed = true;
    });
    // A client that goes away mid-body: settle, so no request leaves a promise behind.
    req.on('close', () => {
      if (!failed && !req.complete) reject(err('HTTP_ABORTED', 'the client closed the connection before the body ended'));
      failed = true;
    });
  });
}

async function readJson(req: http.IncomingMessage, max: number): Promise<unknown> {
  needType(req, 'application/json');
  const body = await readBody(req, max);
  try {
    return JSON.parse(body.toString('utf8'));
  } catch (e) {
    throw err('HTTP_BAD_JSON', `the body is not JSON: ${(e as Error).message}`);
  }
}

function decodeSegment(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    throw err('HTTP_NOT_FOUND', 'malformed percent-encoding in the path');
  }
}

/** The URL a device downloads a package from. */
export function packageUrl(base: string, pkg: PackageRecord): string {
  return `${base.replace(/\/+$/, '')}/packages/${encodeURIComponent(pkg.id)}`;
}

export function createPlanHttpHandler(opts: PlanHttpOptions): PlanHttpHandler {
  if (!opts || typeof opts !== 'object' || !opts.store || typeof opts.packagesDir !== 'string') {
    throw new OtaflashError('SERVER_OPTIONS', 'createPlanHttpHandler needs { store, packagesDir }');
  }
  const packagesDir = path.resolve(opts.packagesDir);
  const given = opts.store;
  let opening: Promise<PlanStore> | null = typeof given === 'function' ? null : Promise.resolve(given);
  const openStore = (): Promise<PlanStore> => {
    if (opening === null) {
      opening = (given as () => Promise<PlanStore>)();
      // A failed open is tried again at the next request (the database may come up later).
      opening.catch(() => {
        opening = null;
      });
    }
    return opening;
  };
  // Set at the start of each request, before any await that could let another request in.
  let store: PlanStore = null as unknown as PlanStore;
  const publicUrl = opts.publicUrl?.replace(/\/+$/, '');
  if (publicUrl !== undefined && !/^https?:\/\/[^\s/?#"'\\]+(\/[^\s?#"'\\]*)?$/.test(publicUrl)) {
    throw new OtaflashError('SERVER_OPTIONS', `publicUrl '${opts.publicUrl}' is not an http(s) URL`);
  }
  const maxMessage = opts.maxMessageBytes ?? 64 * 1024;
  const maxPlan = opts.maxPlanBytes ?? 4 * 1024 * 1024;
  const maxPackage = opts.maxPackageBytes ?? 256 * 1024 * 1024;
  const now = opts.now ?? Date.now;
  const log = opts.log ?? ((line: string) => void process.stderr.write(line + '\n'));

  function baseOf(req: http.IncomingMessage): string {
    if (publicUrl !== undefined) return publicUrl;
    const host = req.headers.host;
    if (host !== undefined && /^[A-Za-z0-9.\-]+(:\d{1,5})?$|^\[[0-9A-Fa-f:.]+\](:\d{1,5})?$/.test(host)) return `http://${host}`;
    const a = req.socket.localAddress ?? '127.0.0.1';
    return `http://${a.indexOf(':') >= 0 ? `[${a}]` : a}:${req.socket.localPort}`;
  }

  const serviceFor = (req: http.IncomingMessage) => {
    const base = baseOf(req);
    return new PlanService(store, { packageUrl: (p) => packageUrl(base, p), now, nextCheckMs: opts.nextCheckMs });
  };

  async function planOr404(id: string): Promise<PlanRecord> {
    const p = await store.getPlan(id);
    if (!p) throw err('PLAN_NOT_FOUND', `no plan '${id}'`);
    return p;
  }

  // --- device protocol --------------------------------------------------------------------------

  async function deviceMessage(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const msg = await readJson(req, maxMessage);
    sendJson(res, 200, await serviceFor(req).handle(msg as never));
  }

  // --- package downloads ------------------------------------------------------------------------

  async function download(req: http.IncomingMessage, res: http.ServerResponse, id: string): Promise<void> {
    const pkg = ID_PATTERN.test(id) ? await store.getPackage(id) : null;
    if (!pkg) throw err('PACKAGE_NOT_FOUND', `no package '${id}'`);
    const file = path.resolve(packagesDir, pkg.file);
    if (path.dirname(file) !== packagesDir) throw err('PACKAGE_NOT_FOUND', `package '${id}' has no file here`);
    let st: fs.Stats;
    try {
      st = await fs.promises.stat(file);
    } catch {
      throw err('PACKAGE_NOT_FOUND', `the file of package '${id}' is missing`);
    }
    if (st.size !== pkg.size) throw new OtaflashError('PACKAGE_FILE_CHANGED', `package '${id}': the file has ${st.size} bytes, the record ${pkg.size}`);
    const etag = `"${pkg.sha256}"`;
    const headers: Record<string, string> = { ETag: etag, 'Accept-Ranges': 'bytes', 'Cache-Control': 'public, max-age=31536000, immutable' };
    let start = 0;
    let end = pkg.size;
    let status = 200;
    const inm = req.headers['if-none-match'];
    if (inm !== undefined && inm.split(',').some((t) => t.trim() === '*' || t.trim().replace(/^W\//, '') === etag)) {
      res.writeHead(304, headers);
      res.end();
      return;
    }
    const range = req.headers.range;
    const ifRange = req.headers['if-range'] as string | undefined;
    if (range !== undefined && (ifRange === undefined || ifRange.trim() === etag)) {
      const want = parseRangeHeader(range, pkg.size);
      if (want === 'unsatisfiable') {
        res.writeHead(416, { ...headers, 'Content-Range': `bytes */${pkg.size}`, 'Content-Length': '0' });
        res.end();
        return;
      }
      if (want !== null) {
        start = want.start;
        end = want.end;
        status = 206;
        headers['Content-Range'] = `bytes ${start}-${end - 1}/${pkg.size}`;
      }
    }
    res.writeHead(status, { ...headers, 'Content-Type': 'application/octet-stream', 'Content-Length': String(end - start) });
    if (req.method === 'HEAD' || end === start) {
      res.end();
      return;
    }
    await new Promise<void>((resolve) => {
      pipeline(fs.createReadStream(file, { start, end: end - 1 }), res, () => resolve());
    });
  }

  // --- administration ---------------------------------------------------------------------------

  async function uploadPackage(req: http.IncomingMessage, res: http.ServerResponse, query: URLSearchParams): Promise<void> {
    needType(req, 'application/octet-stream');
    const kind = query.get('kind') ?? 'full';
    if (kind !== 'full' && kind !== 'delta') throw err('HTTP_BAD_QUERY', `kind must be full or delta, got '${kind}'`);
    const given = query.get('id');
    if (given !== null && !ID_PATTERN.test(given)) throw err('HTTP_BAD_QUERY', `package id '${given.slice(0, 40)}' must be 1-128 letters, digits or . _ - starting with a letter or digit`);
    checkDeclaredLength(req, maxPackage);
    // Streamed to a temporary file while hashed; it takes its name only once complete.
    await fs.promises.mkdir(packagesDir, { recursive: true });
    const tmp = path.join(packagesDir, `.upload-${randomBytes(8).toString('hex')}`);
    const hash = createHash('sha256');
    let size = 0;
    const out = fs.createWriteStream(tmp, { flags: 'wx' });
    try {
      await new Promise<void>((resolve, reject) => {
        let failed = false;
        const fail = (e: Error) => {
          if (failed) return;
          failed = true;
          req.unpipe(out);
          out.destroy();
          reject(e);
        };
        req.on('data', (b: Buffer) => {
          size += b.length;
          if (size > maxPackage) fail(err('HTTP_TOO_LARGE', `a package must be at most ${maxPackage} bytes`, { max: maxPackage }));
          else hash.update(b);
        });
        req.on('error', fail);
        req.on('close', () => {
          if (!req.complete) fail(err('HTTP_ABORTED', 'the client closed the connection before the upload ended'));
        });
        out.on('error', fail);
        out.on('finish', () => {
          if (!failed) resolve();
        });
        req.pipe(out);
      });
    } catch (e) {
      // The file is opened asynchronously: remove it only once the stream is closed, or the open
      // could create it again after the removal.
      if (!out.closed) await new Promise<void>((r) => out.once('close', () => r()));
      await fs.promises.rm(tmp, { force: true });
      throw e;
    }
    const sha256 = hash.digest('hex');
    const id = given ?? `pkg-${sha256.slice(0, 16)}`;
    const existing = await store.getPackage(id);
    if (existing) {
      await fs.promises.rm(tmp, { force: true });
      // The same bytes again (a plan file uploaded twice) is not an error: it names the same package.
      if (existing.sha256 === sha256 && existing.kind === kind) return sendJson(res, 200, { ...publicPackage(existing), created: false });
      throw err('PACKAGE_EXISTS', `package '${id}' already exists with other bytes or another kind`);
    }
    const file = `${id}.pkg`;
    await fs.promises.rename(tmp, path.join(packagesDir, file));
    const rec: PackageRecord = { id, kind, size, sha256, file };
    await store.putPackage(rec);
    sendJson(res, 201, { ...publicPackage(rec), created: true });
  }

  async function createPlan(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const spec = parsePlanSpec(await readJson(req, maxPlan));
    for (const c of spec.components) {
      const check = async (id: string, want: PackageRecord['kind'], field: string) => {
        const p = await store.getPackage(id);
        if (!p) throw err('PLAN_SPEC_INVALID', `plan components ${c.id}.${field}: package '${id}' is not stored (upload it first: POST /api/packages)`);
        if (p.kind !== want) throw err('PLAN_SPEC_INVALID', `plan components ${c.id}.${field}: package '${id}' is a ${p.kind} package, not ${want}`);
      };
      if (c.full !== undefined) await check(c.full, 'full', 'full');
      if (c.deltas) for (const k of Object.keys(c.deltas)) await check(c.deltas[k], 'delta', `deltas["${k}"]`);
    }
    const id = spec.id ?? `plan-${randomBytes(6).toString('hex')}`;
    if (await store.getPlan(id)) throw err('PLAN_EXISTS', `plan '${id}' already exists`);
    const plan: PlanRecord = { id, name: spec.name, components: spec.components, strategy: spec.strategy, scope: spec.scope, state: 'draft', order: spec.order, createdAt: now() };
    let signature = spec.signature;
    if (signature !== undefined || opts.planSigner || opts.planTrust) {
      const pkgs: { [id: string]: SignedPackage } = {};
      for (const p of packageIdsOf(spec.components)) pkgs[p] = (await store.getPackage(p)) as PackageRecord;
      const statement = planStatement(plan, (p) => pkgs[p]);
      if (signature === undefined && opts.planSigner) signature = encodeSignatureText(opts.planSigner(planStatementBytes(statement)));
      if (opts.planTrust) {
        if (signature === undefined) throw err('PLAN_UNSIGNED', `plan '${id}' is not signed, and this server takes only signed plans`);
        verifyPlanStatement(statement, signature, opts.planTrust);
      }
    }
    if (signature !== undefined) (plan as { signature?: string }).signature = signature;
    await store.putPlan(plan);
    sendJson(res, 201, { plan });
  }

  async function setState(res: http.ServerResponse, id: string, to: 'active' | 'done'): Promise<void> {
    const plan = await planOr404(id);
    if (plan.state === 'done' && to === 'active') throw err('PLAN_STATE', `plan '${id}' is closed; create a new plan`);
    await store.setPlanState(id, to);
    plan.state = to;
    sendJson(res, 200, { plan });
  }

  async function planDetail(res: http.ServerResponse, id: string): Promise<void> {
    const plan = await planOr404(id);
    const [stats, devices] = await Promise.all([store.stats(id), store.listDevicePlans(id)]);
    sendJson(res, 200, { plan, stats, devices });
  }

  async function allStats(res: http.ServerResponse): Promise<void> {
    const plans = await store.listPlans();
    const stats = [];
    for (const p of plans) {
      const s = await store.stats(p.id);
      if (s) stats.push(s);
    }
    sendJson(res, 200, { at: now(), plans: stats });
  }

  async function deviceLog(res: http.ServerResponse, deviceId: string, query: URLSearchParams): Promise<void> {
    if (!DEVICE_ID_PATTERN.test(deviceId)) throw err('HTTP_BAD_QUERY', 'a device id is 1-128 printable characters');
    const l = query.get('limit');
    if (l !== null && (!/^\d{1,6}$/.test(l) || Number(l) < 1)) throw err('HTTP_BAD_QUERY', `limit must be 1..999999, got '${l.slice(0, 20)}'`);
    sendJson(res, 200, { deviceId, log: await store.deviceLog(deviceId, l === null ? 1000 : Number(l)) });
  }

  // --- routing ----------------------------------------------------------------------------------

  function allow(req: http.IncomingMessage, methods: string[]): void {
    if (methods.indexOf(req.method ?? '') < 0) throw err('HTTP_METHOD', `${req.method} is not allowed on ${pathOf(req)} (${methods.join(', ')})`, { allow: methods.join(', ') });
  }

  async function route(req: http.IncomingMessage, res: http.ServerResponse, parts: string[], query: URLSearchParams): Promise<void> {
    if (parts[0] === 'packages') {
      if (parts.length !== 2) throw err('HTTP_NOT_FOUND', 'packages are at /packages/<id>');
      allow(req, ['GET', 'HEAD']);
      return download(req, res, parts[1]);
    }
    const [, a, b, c] = parts;
    const n = parts.length;
    if (n === 3 && a === 'device' && b === 'message') {
      allow(req, ['POST']);
      return deviceMessage(req, res);
    }
    if (n === 2 && a === 'packages') {
      allow(req, ['POST']);
      return uploadPackage(req, res, query);
    }
    if (n === 3 && a === 'packages') {
      allow(req, ['GET']);
      const pkg = ID_PATTERN.test(b) ? await store.getPackage(b) : null;
      if (!pkg) throw err('PACKAGE_NOT_FOUND', `no package '${b.slice(0, 128)}'`);
      return sendJson(res, 200, publicPackage(pkg));
    }
    if (n === 2 && a === 'plans') {
      allow(req, ['GET', 'POST']);
      if (req.method === 'POST') return createPlan(req, res);
      return sendJson(res, 200, { plans: await store.listPlans() });
    }
    if (n === 3 && a === 'plans') {
      allow(req, ['GET']);
      return planDetail(res, b);
    }
    if (n === 4 && a === 'plans' && (c === 'activate' || c === 'close')) {
      allow(req, ['POST']);
      return setState(res, b, c === 'activate' ? 'active' : 'done');
    }
    if (n === 2 && a === 'stats') {
      allow(req, ['GET']);
      return allStats(res);
    }
    if (n === 4 && a === 'devices' && c === 'log') {
      allow(req, ['GET']);
      return deviceLog(res, b, query);
    }
    throw err('HTTP_NOT_FOUND', `no API at ${pathOf(req)}`);
  }

  const handler = (async (req: http.IncomingMessage, res: http.ServerResponse): Promise<boolean> => {
    const raw = req.url ?? '';
    const q = raw.indexOf('?');
    const pathname = q >= 0 ? raw.slice(0, q) : raw;
    if (!/^\/(api|packages)(\/|$)/.test(pathname)) return false;
    try {
      store = await openStore();
      const parts = pathname.split('/').slice(1).map(decodeSegment);
      if (parts[parts.length - 1] === '') parts.pop();
      await route(req, res, parts, new URLSearchParams(q >= 0 ? raw.slice(q + 1) : ''));
    } catch (e) {
      const status = isOtaflashError(e) ? STATUS[e.code] ?? 500 : 500;
      if (status === 500) log(`${new Date().toISOString()} plan API error on ${req.method} ${pathname.slice(0, 200)}: ${isOtaflashError(e) ? e.code + ': ' : ''}${(e as Error)?.message ?? String(e)}`);
      if (res.headersSent) {
        res.destroy();
      } else {
        const e2 = e as OtaflashError;
        const headers: Record<string, string> = {};
        if (status === 405 && e2.info && typeof e2.info.allow === 'string') headers.Allow = e2.info.allow;
        // A refused upload is not read to its end: close the connection rather than drain it.
        if (status === 413 || !req.complete) headers.Connection = 'close';
        sendJson(res, status, status === 500 ? { error: 'INTERNAL', message: 'internal server error (see the server log)' } : { error: e2.code, message: e2.message }, headers);
      }
    }
    return true;
  }) as PlanHttpHandler;
  handler.store = openStore;
  handler.close = async () => {
    if (opening !== null) await (await opening).close();
  };
  return handler;
}

function publicPackage(p: PackageRecord): { id: string; kind: string; size: number; sha256: string } {
  return { id: p.id, kind: p.kind, size: p.size, sha256: p.sha256 };
}
