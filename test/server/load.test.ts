// One server, 1,000 clients at once, each on its own connection: a manifest, then one of the files
// it names, every body checked against the manifest's SHA-1 and SHA-256. Correctness under load,
// not speed (speed is in `npm run bench server`).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import { createHash } from 'node:crypto';
import { startServer } from './harness';

const CLIENTS = 1000;

function makeTree(): string {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'otaflash-load-'));
  process.on('exit', () => fs.rmSync(root, { recursive: true, force: true }));
  for (const v of ['1.0.0', '1.0.1']) {
    fs.mkdirSync(path.join(root, v, 'flash/lib'), { recursive: true });
    for (let i = 0; i < 16; i++) {
      // 1.0.1 changes every file; sizes from 1 KiB to 8 KiB, one of 64 KiB.
      const size = i === 0 ? 64 * 1024 : 1024 * (1 + (i % 8));
      const b = Buffer.alloc(size, `${v}:${i}:`);
      fs.writeFileSync(path.join(root, v, i % 2 ? 'flash' : 'flash/lib', `f${i}.py`), b);
    }
  }
  return root;
}

function get(port: number, p: string): Promise<{ status: number; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path: p, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (d) => chunks.push(d));
      res.on('end', () => resolve({ status: res.statusCode!, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

test(`${CLIENTS} concurrent clients: every manifest and file arrives whole and matches its hashes`, async () => {
  const root = makeTree();
  const { srv, port, logs } = await startServer(root);
  try {
    let bytes = 0;
    const results = await Promise.all(
      Array.from({ length: CLIENTS }, async (_, i) => {
        const m = await get(port, '/manifest.json?current_ver=1.0.0');
        assert.is(m.status, 200);
        const manifest = JSON.parse(m.body.toString());
        assert.is(manifest.update.length, 16);
        const entry = manifest.update[i % manifest.update.length];
        const f = await get(port, new URL(entry.URL).pathname);
        assert.is(f.status, 200);
        bytes += m.body.length + f.body.length;
        return createHash('sha1').update(f.body).digest('hex') === entry.hash && createHash('sha256').update(f.body).digest('hex') === entry.sha256 && f.body.length === entry.size;
      }),
    );
    assert.is(results.filter((ok) => ok).length, CLIENTS);
    assert.ok(bytes > 3 * 1024 * 1024, `${bytes} bytes moved`);
    assert.is(logs.length, 2 * CLIENTS, 'one log line per request');
    // Hashes were computed once per file, not once per request.
    assert.is(srv.cache.hashedCount, 32);
  } finally {
    await srv.close();
  }
});

test.run();
