// The client side over node:http: fetch a manifest from an update server (ours or Pycom's), then
// drive the portable FileSetUpdate with the bytes as they arrive, resuming broken downloads with
// Range. Files come from the server the manifest came from (as Pycom's client does), whatever host
// the manifest's URLs name.
import * as http from 'node:http';
import { createHash } from 'node:crypto';
import { OtaflashError, isOtaflashError } from '../errors';
import { FileSetUpdate, type ApplyOptions, type ApplyResult } from '../manifest/apply';
import type { IncrementalHash } from '../hash/types';

export interface HttpTransportOptions {
  /** Milliseconds without a byte before a request is given up (then retried). Default 30 s. */
  idleTimeoutMs?: number;
  agent?: http.Agent;
}

export interface DownloadSink {
  start(offset: number): void;
  data(chunk: Uint8Array): void;
}

/**
 * A server error worth retrying (5xx, connection lost or refused, timeout), as opposed to a refusal
 * (4xx). An OtaflashError, so the CLI reports it as one line when retries are not possible.
 */
export class TransientHttpError extends OtaflashError {
  constructor(message: string) {
    super('HTTP_TRANSIENT', message);
    this.name = 'TransientHttpError';
  }
}

function nodeHash(alg: string): () => IncrementalHash {
  return () => {
    const h = createHash(alg);
    const api: IncrementalHash = {
      update(d) {
        h.update(d);
        return api;
      },
      digest() {
        const b = h.digest();
        return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
      },
    };
    return api;
  };
}

export const nodeSha1 = nodeHash('sha1');
export const nodeSha256 = nodeHash('sha256');

export class HttpTransport {
  readonly origin: URL;
  private readonly opts: HttpTransportOptions;

  /** `server` is the update server's base URL (`http://host:8000`), with or without `/manifest.json`. */
  constructor(server: string, opts: HttpTransportOptions = {}) {
    let u: URL;
    try {
      u = new URL(server);
    } catch {
      throw new OtaflashError('HTTP_BAD_URL', `'${server}' is not a URL (example: http://192.168.1.144:8000)`);
    }
    if (u.protocol !== 'http:') throw new OtaflashError('HTTP_BAD_URL', `'${server}': only http:// servers are supported (Pycom's protocol)`);
    this.origin = u;
    this.opts = opts;
  }

  /** The path manifests are asked at: the URL's path when it ends in manifest.json, else /manifest.json under it. */
  manifestPath(currentVersion: string): string {
    const base = this.origin.pathname.endsWith('/manifest.json') ? this.origin.pathname : this.origin.pathname.replace(/\/*$/, '') + '/manifest.json';
    return `${base}?current_ver=${encodeURIComponent(currentVersion)}`;
  }

  /** GET of a whole small body (the manifest), refused past `limit` bytes. */
  async getBody(urlPath: string, limit = 4 * 1024 * 1024): Promise<Uint8Array> {
    const chunks: Buffer[] = [];
    let total = 0;
    await this.get(urlPath, 0, {
      start: () => undefined,
      data: (c) => {
        total += c.length;
        if (total > limit) throw new OtaflashError('HTTP_TOO_LARGE', `${urlPath}: the answer is larger than ${limit} bytes`);
        chunks.push(Buffer.from(c));
      },
    });
    return Buffer.concat(chunks, total);
  }

  /**
   * GET `urlPath` from byte `offset` (a Range request when > 0). Calls sink.start with where the
   * body begins (offset for a 206, 0 for a 200), then sink.data per chunk. A 4xx is an
   * OtaflashError (not retried); a 5xx, a lost connection or a short body a TransientHttpError.
   */
  get(urlPath: string, offset: number, sink: DownloadSink): Promise<void> {
    return new Promise((resolve, reject) => {
      const headers: Record<string, string> = { 'User-Agent': 'otaflash' };
      if (offset > 0) headers.Range = `bytes=${offset}-`;
      let settled = false;
      const fail = (e: unknown) => {
        if (settled) return;
        settled = true;
        req.destroy();
        reject(e);
      };
      const req = http.request({ host: this.origin.hostname, port: this.origin.port || 80, path: urlPath, headers, agent: this.opts.agent }, (res) => {
        const status = res.statusCode ?? 0;
        if (status !== 200 && status !== 206) {
          res.resume();
          const what = `${urlPath}: the server answered ${status} ${res.statusMessage ?? ''}`.trim();
          fail(status >= 500 ? new TransientHttpError(what) : new OtaflashError('HTTP_STATUS', what, { status, url: urlPath }));
          return;
        }
        let begin = 0;
        if (status === 206) {
          const m = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(String(res.headers['content-range'] ?? ''));
          if (m === null || Number(m[1]) !== offset) {
            fail(new OtaflashError('HTTP_BAD_RANGE', `${urlPath}: asked for bytes from ${offset}, got Content-Range '${res.headers['content-range'] ?? ''}'`));
            return;
          }
          begin = offset;
        }
        const expected = res.headers['content-length'] !== undefined ? Number(res.headers['content-length']) : null;
        let got = 0;
        try {
          sink.start(begin);
        } catch (e) {
          fail(e);
          return;
        }
        res.on('data', (chunk: Buffer) => {
          if (settled) return;
          got += chunk.length;
          try {
            sink.data(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength));
          } catch (e) {
            fail(e);
          }
        });
        res.on('end', () => {
          if (settled) return;
          // With a Content-Length the body must be whole; without one (HTTP/1.0, Pycom's server)
          // the close is the end, and the hash check finds a short file.
          if (expected !== null && got !== expected) fail(new TransientHttpError(`${urlPath}: the connection ended after ${got} of ${expected} bytes`));
          else {
            settled = true;
            resolve();
          }
        });
        res.on('aborted', () => fail(new TransientHttpError(`${urlPath}: the connection was lost after ${got} bytes`)));
        res.on('error', (e) => fail(new TransientHttpError(`${urlPath}: ${e.message}`)));
      });
      req.setTimeout(this.opts.idleTimeoutMs ?? 30000, () => fail(new TransientHttpError(`${urlPath}: no data for ${this.opts.idleTimeoutMs ?? 30000} ms`)));
      req.on('error', (e: NodeJS.ErrnoException) => fail(new TransientHttpError(`${this.origin.host}${urlPath}: ${e.code ?? e.message}`)));
      req.end();
    });
  }
}

/**
 * applyManifest with this transport: begin, fetch every file (a broken download resumes from the
 * bytes already in, up to `attempts` tries), commit. Node's SHA-1/SHA-256 unless `opts` names others.
 */
export async function applyManifestOverHttp(manifest: unknown, store: import('../manifest/file-store').FileStore, transport: HttpTransport, opts: ApplyOptions): Promise<ApplyResult | null> {
  const update = FileSetUpdate.begin(manifest, store, { sha1: nodeSha1, sha256: nodeSha256, ...opts });
  if (update === null) return null;
  for (let req = update.next(); req !== null; req = update.next()) {
    try {
      await transport.get(req.urlPath, req.offset, update);
    } catch (e) {
      const retry = e instanceof TransientHttpError;
      if (!retry) {
        // A refusal (404, bad range) or our own check failing: the update is abandoned.
        if (!(isOtaflashError(e) && e.code === 'POWER_LOSS')) update.abort();
        throw e;
      }
      if (update.interrupted()) continue;
      throw new OtaflashError('FILESET_DOWNLOAD_FAILED', `${e.message} (gave up after ${opts.attempts ?? 5} attempts; nothing was switched)`, { url: req.urlPath });
    }
    update.complete();
  }
  return update.commit();
}
