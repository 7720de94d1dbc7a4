// The update server: Pycom's wire format (GET /manifest.json?current_ver=V, files by path), on
// node:http, without Pycom's server's holes. Every answer is decided before its first byte is sent,
// so a request is either refused with a status or served whole; nothing outside the root is reachable.
import * as http from 'node:http';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Socket } from 'node:net';
import { pipeline } from 'node:stream';
import { OtaflashError, isOtaflashError } from '../errors';
import { buildManifest, firmwareVersionOf, isVersionName, selectUpdate } from '../manifest/generate';
import { pythonJsonDumps, type JsonValue } from '../manifest/python-json';
import { checkHostHeader, parseRequestTarget } from './request-path';
import { FileInfoCache, type FileInfo, type FileInfoCacheOptions } from './file-info';
import { ResolveCache, firmwareFile, listRoot, walkFolder } from './server-tree';
import { httpVersion10Head, parseRangeHeader } from './http-bits';
import { signManifestValue } from '../manifest/signature';
import { signDetached } from '../node/detached-sign';
import type { Signer } from '../node/signer';

export interface UpdateServerOptions {
  /** The directory of version folders and firmware_<version>.bin files. */
  root: string;
  /** Base of every URL in manifests (`http://updates.example:8000`); default: from the request's Host header. */
  publicUrl?: string;
  /** One line per request (default: to stderr). */
  log?: (line: string) => void;
  /** Add sha256, size and previous_version to manifests (default true; Pycom's client ignores them). */
  extras?: boolean;
  cache?: FileInfoCacheOptions;
  /**
   * Asked first, in order, for every request (the plan service's API, for one): a handler that
   * answered returns true and the version tree is not consulted.
   */
  handlers?: readonly ((req: http.IncomingMessage, res: http.ServerResponse) => Promise<boolean>)[];
  /**
   * Private keys (PEM, 1 to 3: Secure Boot keys, RSA-3072 or ECDSA) that sign every manifest: a
   * top-level "signature" field (docs/manifest.md "Signed manifests"). Unset: manifests are
   * unsigned, byte for byte what Pycom's server sends.
   */
  signKeys?: readonly (string | Uint8Array | Signer)[];
}

export interface ListeningAddress {
  host: string;
  port: number;
  /** `http://host:port` */
  url: string;
}

export interface UpdateServer {
  readonly server: http.Server;
  readonly cache: FileInfoCache;
  listen(port?: number, host?: string): Promise<ListeningAddress>;
  /** Stops accepting, lets requests in flight finish (up to `graceMs`, default 5 s), then closes what is left. */
  close(graceMs?: number): Promise<void>;
}

interface Answer {
  status: number;
  type: string;
  body: Buffer | { file: string; start: number; end: number } | null;
  /** Length of the body (or of the part sent). */
  length: number;
  headers?: Record<string, string>;
}

const REASONS: Record<number, string> = http.STATUS_CODES as Record<number, string>;

function textAnswer(status: number, message: string): Answer {
  const body = Buffer.from(message + '\n', 'utf8');
  return { status, type: 'text/plain; charset=utf-8', body, length: body.length };
}

function statusFor(e: unknown): number {
  if (isOtaflashError(e)) {
    if (e.code === 'HTTP_BAD_PATH' || e.code === 'HTTP_BAD_HOST' || e.code === 'VERSION_INVALID' || e.code === 'VERSION_INCOMPARABLE') return 400;
  }
  return 500;
}

/** Printable in one log line whatever a client sent. */
function printable(s: string): string {
  return s.replace(/[\x00-\x1f\x7f"\\]/g, (c) => '\\x' + c.charCodeAt(0).toString(16).padStart(2, '0'));
}

/**
 * Signs manifest values with the keys (checked now, so a bad key stops the start, not a request).
 * Signatures are kept for the last few distinct manifests: a fleet asking the same question gets
 * the same answer without an RSA signing each time.
 */
function manifestSigner(keys: readonly (string | Uint8Array | Signer)[] | undefined): ((value: JsonValue) => JsonValue) | null {
  if (keys === undefined) return null;
  if (!Array.isArray(keys) || keys.length === 0 || keys.length > 3) {
    throw new OtaflashError('SERVER_OPTIONS', `signKeys must be 1 to 3 private keys, got ${Array.isArray(keys) ? keys.length : typeof keys}`);
  }
  // One signature now: a public key or a key of another type fails here (KEY_BAD_FORMAT, KEY_UNSUPPORTED).
  signDetached(new Uint8Array(0), keys);
  const memo = new Map<string, JsonValue>();
  return (value) => {
    const id = JSON.stringify(value);
    let signed = memo.get(id);
    if (signed === undefined) {
      signed = signManifestValue(value, (bytes) => signDetached(bytes, keys)) as JsonValue;
      if (memo.size >= 64) memo.delete(memo.keys().next().value as string);
      memo.set(id, signed);
    }
    return signed;
  };
}

export function createUpdateServer(opts: UpdateServerOptions): UpdateServer {
  if (typeof opts !== 'object' || opts === null || typeof opts.root !== 'string') {
    throw new OtaflashError('SERVER_OPTIONS', 'createUpdateServer needs { root: <directory> }');
  }
  let root: string;
  try {
    root = fs.realpathSync(opts.root);
  } catch {
    throw new OtaflashError('SERVER_ROOT', `the server directory '${opts.root}' does not exist`);
  }
  if (!fs.statSync(root).isDirectory()) throw new OtaflashError('SERVER_ROOT', `'${opts.root}' is not a directory`);
  const publicUrl = opts.publicUrl?.replace(/\/+$/, '');
  if (publicUrl !== undefined && !/^https?:\/\/[^\s/?#"'\\]+$/.test(publicUrl)) {
    throw new OtaflashError('SERVER_OPTIONS', `publicUrl '${opts.publicUrl}' is not http(s)://host[:port]`);
  }
  const log = opts.log ?? ((line: string) => void process.stderr.write(line + '\n'));
  const signManifest = manifestSigner(opts.signKeys);
  const cache = new FileInfoCache(opts.cache);
  const resolved = new ResolveCache(root);

  function baseUrlOf(req: http.IncomingMessage): string {
    if (publicUrl !== undefined) return publicUrl;
    const host = req.headers.host;
    if (host !== undefined) return 'http://' + checkHostHeader(host);
    // An HTTP/1.0 client may send no Host: name the address it reached (Pycom's server wrote "None").
    const a = req.socket.localAddress ?? '127.0.0.1';
    return `http://${a.indexOf(':') >= 0 ? `[${a}]` : a}:${req.socket.localPort}`;
  }

  async function manifestAnswer(req: http.IncomingMessage, query: Map<string, string>): Promise<Answer> {
    const currentVersion = query.get('current_ver') ?? null;
    const baseUrl = baseUrlOf(req);
    const listing = await listRoot(root);
    const selection = selectUpdate({ folders: listing.folders, firmware: listing.firmware.map((f) => f.version), currentVersion });
    let value: JsonValue = null;
    if (selection !== null) {
      const [fromTree, targetTree] = await Promise.all([
        selection.from !== null ? walkFolder(root, selection.from, cache) : null,
        selection.target !== null ? walkFolder(root, selection.target, cache) : null,
      ]);
      const fw = selection.firmware !== null ? listing.firmware.filter((f) => f.version === selection.firmware)[0] : undefined;
      const firmware = fw !== undefined ? await firmwareFile(fw, cache) : null;
      value = buildManifest({ selection, fromTree, targetTree, firmware, baseUrl, currentVersion, extras: opts.extras }) as unknown as JsonValue;
      if (signManifest) value = signManifest(value);
    }
    const body = Buffer.from(pythonJsonDumps(value), 'utf8');
    return { status: 200, type: 'application/json', body, length: body.length, headers: { 'Cache-Control': 'no-store' } };
  }

  async function fileAnswer(req: http.IncomingMessage, segments: string[]): Promise<Answer> {
    const servable = (segments.length >= 2 && isVersionName(segments[0])) || (segments.length === 1 && firmwareVersionOf(segments[0]) !== null);
    if (!servable) return textAnswer(404, 'not found');
    const r = await resolved.resolve(path.join(root, ...segments));
    if (r === null || !r.st.isFile()) return textAnswer(404, 'not found');
    const info: FileInfo = await cache.get(r.real, r.st);
    const headers: Record<string, string> = {
      ETag: info.etag,
      'Last-Modified': info.mtime.toUTCString(),
      'Accept-Ranges': 'bytes',
    };
    const body = (start: number, end: number): Answer['body'] => (info.bytes !== null ? info.bytes.subarray(start, end) : { file: r.real, start, end });
    if (req.httpVersion !== '1.0') {
      const inm = req.headers['if-none-match'];
      if (inm !== undefined && (inm.trim() === '*' || inm.split(',').some((t) => t.trim().replace(/^W\//, '') === info.etag))) {
        return { status: 304, type: 'application/octet-stream', body: null, length: 0, headers };
      }
      const range = req.headers.range;
      const ifRange = req.headers['if-range'] as string | undefined;
      if (range !== undefined && (ifRange === undefined || ifRange.trim() === info.etag)) {
        const want = parseRangeHeader(range, info.size);
        if (want === 'unsatisfiable') {
          return { status: 416, type: 'text/plain; charset=utf-8', body: null, length: 0, headers: { ...headers, 'Content-Range': `bytes */${info.size}` } };
        }
        if (want !== null) {
          headers['Content-Range'] = `bytes ${want.start}-${want.end - 1}/${info.size}`;
          return { status: 206, type: 'application/octet-stream', body: body(want.start, want.end), length: want.end - want.start, headers };
        }
      }
    }
    return { status: 200, type: 'application/octet-stream', body: body(0, info.size), length: info.size, headers };
  }

  async function decide(req: http.IncomingMessage): Promise<Answer> {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      const a = textAnswer(405, 'only GET and HEAD');
      a.headers = { Allow: 'GET, HEAD' };
      return a;
    }
    const target = parseRequestTarget(req.url ?? '');
    if (target.segments.length === 1 && target.segments[0] === 'manifest.json') return manifestAnswer(req, target.query);
    return fileAnswer(req, target.segments);
  }

  function send(req: http.IncomingMessage, res: http.ServerResponse, a: Answer, done: (bytes: number) => void): void {
    const head = req.method === 'HEAD';
    if (req.httpVersion === '1.0') {
      // Pycom's client reads the raw socket: HTTP/1.0, no Content-Length, the end of the body is the
      // close. The head is padded to exactly 100 bytes, the size of its first recv(), so that read
      // holds the whole head and nothing of the body (its parser mangles a body that shares it).
      const sock = req.socket as Socket;
      sock.write(httpVersion10Head(a.status, REASONS[a.status] ?? 'Unknown', a.type));
      if (head || a.body === null) {
        sock.end();
        done(0);
      } else if (Buffer.isBuffer(a.body)) {
        sock.end(a.body);
        done(a.length);
      } else {
        pipeline(fs.createReadStream(a.body.file, { start: a.body.start, end: a.body.end - 1 }), sock, (err) => done(err ? -1 : a.length));
      }
      return;
    }
    res.statusCode = a.status;
    res.setHeader('Content-Type', a.type);
    if (a.status !== 304) res.setHeader('Content-Length', String(a.length));
    for (const [k, v] of Object.entries(a.headers ?? {})) res.setHeader(k, v);
    if (head || a.body === null || a.status === 304) {
      res.end();
      done(0);
    } else if (Buffer.isBuffer(a.body)) {
      res.end(a.body);
      done(a.length);
    } else {
      pipeline(fs.createReadStream(a.body.file, { start: a.body.start, end: a.body.end - 1 }), res, (err) => done(err ? -1 : a.length));
    }
  }

  const server = http.createServer({ noDelay: true }, (req, res) => {
    const t0 = Date.now();
    const line = (status: number, bytes: number) =>
      log(`${new Date().toISOString()} ${req.socket.remoteAddress ?? '-'} "${printable(req.method ?? '-')} ${printable(req.url ?? '-')} HTTP/${req.httpVersion}" ${status} ${bytes < 0 ? 'aborted' : bytes} ${Date.now() - t0}ms`);
    const tree = () =>
      decide(req)
      .catch((e: unknown) => {
        const status = statusFor(e);
        // A 500 is ours to fix: its cause goes to the log, not to the client.
        if (status === 500) log(`${new Date().toISOString()} error serving ${printable(req.url ?? '-')}: ${printable(e instanceof Error ? e.message : String(e))}`);
        return textAnswer(status, status === 400 ? (e as Error).message : 'internal server error');
      })
      .then((a) => {
        try {
          send(req, res, a, (bytes) => line(a.status, bytes));
        } catch (e) {
          req.socket.destroy();
          line(a.status, -1);
        }
      });
    const handlers = opts.handlers ?? [];
    if (handlers.length === 0) return void tree();
    void (async () => {
      for (const h of handlers) if (await h(req, res)) return true;
      return false;
    })().then(
      (handled) => {
        if (!handled) return void tree();
        const done = () => line(res.statusCode, res.writableFinished ? Number(res.getHeader('content-length') ?? 0) : -1);
        if (res.writableFinished || res.destroyed) done();
        else res.once('close', done);
      },
      (e: unknown) => {
        log(`${new Date().toISOString()} error serving ${printable(req.url ?? '-')}: ${printable(e instanceof Error ? e.message : String(e))}`);
        if (!res.headersSent) {
          res.statusCode = 500;
          res.end('internal server error\n');
        } else res.destroy();
        line(500, -1);
      },
    );
  });
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => {
    log(`${new Date().toISOString()} ${socket.remoteAddress ?? '-'} unparseable request: ${printable(err.code ?? err.message)} 400`);
    if (socket.writable && err.code !== 'ECONNRESET') socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
    else socket.destroy();
  });

  return {
    server,
    cache,
    listen(port = 0, host = '127.0.0.1') {
      return new Promise((resolve, reject) => {
        const onError = (e: Error) => reject(e);
        server.once('error', onError);
        // A backlog above Node's default 511: a fleet that reconnects at once (after a server
        // restart) should queue, not be refused.
        server.listen({ port, host, backlog: 4096 }, () => {
          server.off('error', onError);
          const a = server.address();
          const p = typeof a === 'object' && a !== null ? a.port : port;
          const h = host.indexOf(':') >= 0 ? `[${host}]` : host;
          resolve({ host, port: p, url: `http://${h}:${p}` });
        });
      });
    },
    close(graceMs = 5000) {
      return new Promise<void>((resolve) => {
        if (!server.listening) return resolve();
        const timer = setTimeout(() => server.closeAllConnections(), graceMs);
        // A keep-alive connection whose last answer finishes after close() becomes idle only then.
        const sweep = setInterval(() => server.closeIdleConnections(), 25);
        server.close(() => {
          clearTimeout(timer);
          clearInterval(sweep);
          resolve();
        });
        server.closeIdleConnections();
      });
    },
  };
}
