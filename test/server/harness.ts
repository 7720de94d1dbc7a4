// Shared by the server tests: a copy of the fixture tree, a server on an ephemeral port, and raw
// socket requests (the bytes a client sends, the bytes it gets back).
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as net from 'node:net';
import * as path from 'node:path';
import { createUpdateServer, type UpdateServer, type UpdateServerOptions } from '../../src/server/update-server';

export const fixtureTree = path.join(__dirname, '../fixtures/manifest/tree');

/** A fresh copy of the fixture server directory (tests change files in it). */
export function copyTree(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'otaflash-srv-'));
  fs.cpSync(fixtureTree, dir, { recursive: true });
  process.on('exit', () => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

export async function startServer(root: string, opts: Partial<UpdateServerOptions> = {}): Promise<{ srv: UpdateServer; port: number; logs: string[] }> {
  const logs: string[] = [];
  const srv = createUpdateServer({ root, log: (l) => logs.push(l), ...opts });
  const { port } = await srv.listen(0, '127.0.0.1');
  return { srv, port, logs };
}

/** Sends `request` as is and reads until the server closes (or `timeoutMs`). */
export function rawRequest(port: number, request: string | Buffer, timeoutMs = 15000): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const s = net.connect(port, '127.0.0.1', () => s.write(request));
    const timer = setTimeout(() => {
      s.destroy();
      reject(new Error(`no close within ${timeoutMs} ms; got ${Buffer.concat(chunks).toString('latin1').slice(0, 200)}`));
    }, timeoutMs);
    s.on('data', (d) => chunks.push(d));
    s.on('error', () => undefined);
    s.on('close', () => {
      clearTimeout(timer);
      resolve(Buffer.concat(chunks));
    });
  });
}

/** `GET /<path> HTTP/1.0\r\nHost: <host>\r\n\r\n`, byte for byte what Pycom's client sends. */
export function pycomRequest(pathAndQuery: string, host: string): string {
  return `GET /${pathAndQuery} HTTP/1.0\r\nHost: ${host}\r\n\r\n`;
}

/**
 * What Pycom's client (OTA.py, WiFiOTA.get_data) makes of a response, when each recv(100) returns
 * 100 bytes (all data already arrived): it looks for the blank line inside each read alone, keeps
 * only the text between the first and second blank line of that read, and everything after as is.
 * Its `.decode()` of that read fails on bytes that are not UTF-8, which is returned as null.
 */
export function pycomClientBody(response: Buffer): Buffer | null {
  const out: Buffer[] = [];
  let writing = false;
  for (let i = 0; i < response.length; i += 100) {
    let result = response.subarray(i, i + 100);
    if (!writing && result.includes('\r\n\r\n')) {
      writing = true;
      const text = new TextDecoder('utf-8', { fatal: true });
      let decoded: string;
      try {
        decoded = text.decode(result);
      } catch {
        return null;
      }
      result = Buffer.from(decoded.split('\r\n\r\n')[1], 'utf8');
    }
    if (writing) out.push(result);
  }
  return writing ? Buffer.concat(out) : null;
}

export function splitResponse(r: Buffer): { head: string; body: Buffer } {
  const i = r.indexOf('\r\n\r\n');
  return { head: r.subarray(0, i).toString('latin1'), body: r.subarray(i + 4) };
}
