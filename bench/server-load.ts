// The update server under load, beside a bare node:http static handler serving the same bytes, in
// one process and interleaved (A B A B ...) so machine load hits both; the clients run in a worker
// thread. Run by bench/server.ts in a
// child process (the suites are synchronous); prints its rows as JSON on stdout.
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import type { AddressInfo } from 'node:net';
import { Worker } from 'node:worker_threads';
import { createUpdateServer } from '../src/server/update-server';
import type { BenchRow } from './lib';

const CONCURRENCY = 32;
const FILE_REQUESTS = Number(process.env.BENCH_SERVER_REQUESTS ?? 3000);
const MANIFEST_REQUESTS = Math.round(FILE_REQUESTS / 3);
const ROUNDS = 3;
const FILES = 16;
const SIZE = 64 * 1024;

function makeTree(): string {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'otaflash-bench-server-'));
  for (const v of ['1.0.0', '1.0.1']) {
    fs.mkdirSync(path.join(root, v, 'flash'), { recursive: true });
    for (let i = 0; i < FILES; i++) fs.writeFileSync(path.join(root, v, 'flash', `f${i}.bin`), Buffer.alloc(SIZE, `${v}/${i}`));
  }
  return root;
}

/** What a minimal static file server does: read the file, send it. */
function bareStatic(root: string): http.Server {
  return http.createServer((req, res) => {
    fs.readFile(path.join(root, decodeURIComponent((req.url ?? '/').split('?')[0])), (err, data) => {
      if (err) {
        res.statusCode = 404;
        res.end();
        return;
      }
      res.setHeader('Content-Type', 'application/octet-stream');
      res.setHeader('Content-Length', data.length);
      res.end(data);
    });
  });
}

function listen(s: http.Server): Promise<number> {
  return new Promise((resolve) => s.listen(0, '127.0.0.1', () => resolve((s.address() as AddressInfo).port)));
}

/** `count` GETs over CONCURRENCY keep-alive connections, from a worker thread (server-client.mjs). */
function load(port: number, paths: string[], count: number): Promise<{ rps: number; p50: number; p99: number; bytes: number }> {
  return new Promise((resolve, reject) => {
    const w = new Worker(new URL('./server-client.mjs', import.meta.url), { workerData: { port, paths, count, concurrency: CONCURRENCY } });
    w.once('message', (m: { rps: number; p50: number; p99: number; bytes: number; failed: string | null }) => (m.failed ? reject(new Error(m.failed)) : resolve(m)));
    w.once('error', reject);
  });
}

const median = (a: number[]) => a.slice().sort((x, y) => x - y)[a.length >> 1];

async function main(): Promise<void> {
  const root = makeTree();
  const ours = createUpdateServer({ root, log: () => undefined });
  const { port: oursPort } = await ours.listen(0);
  const bare = bareStatic(root);
  const barePort = await listen(bare);
  const files = Array.from({ length: FILES }, (_, i) => `/1.0.1/flash/f${i}.bin`);
  // Warm-up: the JIT, and our hash cache (a real server has its files hashed after the first manifest).
  await load(oursPort, ['/manifest.json?current_ver=1.0.0'], 50);
  await load(oursPort, files, 200);
  await load(barePort, files, 200);
  const o: { rps: number; p50: number; p99: number }[] = [];
  const b: typeof o = [];
  const m: typeof o = [];
  for (let r = 0; r < ROUNDS; r++) {
    o.push(await load(oursPort, files, FILE_REQUESTS));
    b.push(await load(barePort, files, FILE_REQUESTS));
    m.push(await load(oursPort, ['/manifest.json?current_ver=1.0.0'], MANIFEST_REQUESTS));
  }
  const pick = (runs: typeof o, k: 'rps' | 'p50' | 'p99') => median(runs.map((x) => x[k]));
  const ratio = pick(o, 'rps') / pick(b, 'rps');
  const rows: BenchRow[] = [
    { suite: 'server', name: `64 KiB files, ${CONCURRENCY} keep-alive clients`, value: pick(o, 'rps'), unit: 'req/s', baselineName: 'bare node:http static (readFile)', baselineValue: pick(b, 'rps'), ratio, target: '>= 0.8x', pass: ratio >= 0.8 },
    { suite: 'server', name: '64 KiB files: p50 latency', value: pick(o, 'p50'), unit: 'ms', baselineName: 'bare node:http static', baselineValue: pick(b, 'p50'), ratio: pick(b, 'p50') / pick(o, 'p50') },
    { suite: 'server', name: '64 KiB files: p99 latency', value: pick(o, 'p99'), unit: 'ms', baselineName: 'bare node:http static', baselineValue: pick(b, 'p99'), ratio: pick(b, 'p99') / pick(o, 'p99') },
    { suite: 'server', name: `manifests (16 updates), ${CONCURRENCY} clients`, value: pick(m, 'rps'), unit: 'req/s' },
    { suite: 'server', name: 'manifests: p50 latency', value: pick(m, 'p50'), unit: 'ms' },
    { suite: 'server', name: 'manifests: p99 latency', value: pick(m, 'p99'), unit: 'ms' },
  ];
  await ours.close();
  await new Promise((r) => bare.close(r));
  const mem = process.memoryUsage();
  rows.push({ suite: 'server', name: 'process memory at the end (RSS, both servers and the clients)', value: mem.rss / (1024 * 1024), unit: 'MiB' });
  rows.push({ suite: 'server', name: 'JS heap used at the end', value: mem.heapUsed / (1024 * 1024), unit: 'MiB' });
  fs.rmSync(root, { recursive: true, force: true });
  process.stdout.write(JSON.stringify(rows));
}

main().catch((e) => {
  process.stderr.write(String(e instanceof Error ? e.stack : e) + '\n');
  process.exit(1);
});
