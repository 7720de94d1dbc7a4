// Suite fleet: 10,000 simulated devices (real update agents over their own MemoryFlash, in this
// benchmark's child process) run one plan against the plan server in a separate process (SQLite)
// over loopback HTTP, with 5% of checks, confirmations and downloads cut; beside it, a bare
// node:http server in its own process answers the same number of requests (the same message and
// download mix, the same client settings). With OTAFLASH_TEST_POSTGRES set, the same fleet again
// against two server processes sharing one PostgreSQL schema, devices split between them.
//
// Processes: the suite (sync, as every suite) -> one child that drives the fleet -> server children.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { BenchRow } from './lib';

const SELF = fileURLToPath(import.meta.url);
const ROOT = fileURLToPath(new URL('..', import.meta.url));
const DEVICES = Number(process.env.OTAFLASH_BENCH_FLEET_DEVICES ?? 10000);

export function fleetSuite(): BenchRow[] {
  const child = spawnSync(process.execPath, ['--import', 'tsx', SELF, '--drive', String(DEVICES)], {
    encoding: 'utf8',
    cwd: ROOT,
    env: process.env,
    timeout: 15 * 60 * 1000,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  if (child.status !== 0) throw new Error(`fleet bench child failed (status ${child.status}, signal ${child.signal})`);
  return JSON.parse(child.stdout.trim().split('\n').pop() as string) as BenchRow[];
}

// ------------------------------------------------------------------------------------------------
// Server children: print "LISTENING <url>" and serve until stdin closes.

async function serverChild(kind: string, db: string, packagesDir: string, schema: string): Promise<void> {
  let server: http.Server;
  if (kind === 'bare') {
    // The floor: read the body, answer a fixed small JSON; downloads from one buffer, Range honoured.
    const body = Buffer.from(JSON.stringify({ type: 'ack' }));
    const pkg = Buffer.alloc(12368, 0x5a);
    server = http.createServer((req, res) => {
      if (req.method === 'POST') {
        req.resume();
        req.on('end', () => {
          res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': body.length });
          res.end(body);
        });
        return;
      }
      const m = /^bytes=(\d+)-$/.exec(String(req.headers.range ?? ''));
      const from = m ? Number(m[1]) : 0;
      res.writeHead(m ? 206 : 200, { 'Content-Type': 'application/octet-stream', 'Content-Length': pkg.length - from });
      res.end(pkg.subarray(from));
    });
  } else {
    const { openPlanStore } = await import('../src/server/plans/open-store');
    const { startLocalPlanServer } = await import('../src/server/plans/fleet-sim');
    const store = await openPlanStore(db, schema ? { schema } : {});
    const s = await startLocalPlanServer({ store, packagesDir, log: (l) => process.stderr.write(l + '\n') });
    server = s.server;
    process.stdin.on('end', () => void s.close().then(() => store.close()).then(() => process.exit(0)));
    process.stdout.write(`LISTENING ${s.url}\n`);
    process.stdin.resume();
    return;
  }
  server.keepAliveTimeout = 10000;
  server.listen(0, '127.0.0.1', 2048, () => process.stdout.write(`LISTENING http://127.0.0.1:${(server.address() as { port: number }).port}\n`));
  process.stdin.on('end', () => process.exit(0));
  process.stdin.resume();
}

function startChild(args: string[]): Promise<{ url: string; proc: ChildProcess }> {
  const proc = spawn(process.execPath, ['--import', 'tsx', SELF, '--serve', ...args], { cwd: ROOT, stdio: ['pipe', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    let out = '';
    proc.stdout!.on('data', (b: Buffer) => {
      out += b.toString();
      const m = /LISTENING (\S+)/.exec(out);
      if (m) resolve({ url: m[1], proc });
    });
    proc.on('exit', (code) => reject(new Error(`server child exited (${code}) before listening`)));
  });
}

/** Peak resident memory of a process in MiB (Linux /proc). */
function peakRssMb(pid: number): number | null {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Math.round(Number(m[1]) / 1024) : null;
  } catch {
    return null;
  }
}

function stopChild(c: { proc: ChildProcess }): Promise<void> {
  return new Promise((resolve) => {
    c.proc.on('exit', () => resolve());
    c.proc.stdin!.end();
    setTimeout(() => c.proc.kill(), 5000).unref();
  });
}

// ------------------------------------------------------------------------------------------------
// The driver child

/** The same number of POSTs and GETs as the fleet made, at the same concurrency, on a bare server. */
async function bareRun(url: string, messages: number, downloads: number, concurrency: number): Promise<{ seconds: number; rps: number }> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
  const msg = JSON.stringify({ type: 'progress', deviceId: 'sim-1234', planId: 'fleet-abc', component: 'app', bytes: 6184, total: 12368, percent: 50 });
  const post = () =>
    new Promise<void>((resolve, reject) => {
      const req = http.request(`${url}/api/device/message`, { method: 'POST', agent, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(msg) } }, (res) => {
        res.resume();
        res.on('end', resolve);
      });
      req.on('error', reject);
      req.end(msg);
    });
  const get = () =>
    new Promise<void>((resolve, reject) => {
      http.get(`${url}/packages/x`, { agent }, (res) => {
        res.resume();
        res.on('end', resolve);
      }).on('error', reject);
    });
  let m = messages;
  let d = downloads;
  const t0 = performance.now();
  const worker = async () => {
    while (m > 0 || d > 0) {
      // Interleaved as in the fleet: about one download per five messages.
      if (d > 0 && (m === 0 || d * 5 >= m)) {
        d--;
        await get();
      } else {
        m--;
        await post();
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  agent.destroy();
  const seconds = (performance.now() - t0) / 1000;
  return { seconds, rps: Math.round((messages + downloads) / seconds) };
}

async function drive(devices: number): Promise<void> {
  const { createFleetPlanRemote, runFleet } = await import('../src/server/plans/fleet-sim');
  const rows: BenchRow[] = [];
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'otaflash-bench-fleet-'));
  const concurrency = 256;
  // The machine is shared: its load says how far these figures are from an idle machine's.
  const load = Math.round(os.loadavg()[0] * 10) / 10;
  try {
    const runOne = async (label: string, urls: string[], pids: number[]) => {
      await createFleetPlanRemote(urls[0], { planId: `bench-${label.replace(/[^a-z0-9]+/gi, '-')}-${process.pid}` });
      let last = 0;
      const r = await runFleet({
        devices,
        server: urls[0],
        servers: urls,
        concurrency,
        disconnectRate: 0.05,
        seed: 1,
        deviceTimeoutMs: 120000,
        prefix: `${label.replace(/[^a-z0-9]+/gi, '')}-`,
        onProgress: (done, total) => {
          if (done * 10 >= (last + 1) * total) {
            last = Math.floor((done * 10) / total);
            process.stderr.write(`  ${label}: ${done}/${total} devices\n`);
          }
        },
      });
      const rss = pids.map(peakRssMb);
      process.stderr.write(`  ${label}: ${JSON.stringify({ ...r, serverPeakRssMb: rss })}\n`);
      return { r, rss };
    };

    // SQLite, one server process.
    const sqlite = await startChild(['plans', path.join(tmp, 'plans.db'), path.join(tmp, 'packages'), '']);
    const a = await runOne('sqlite', [sqlite.url], [sqlite.proc.pid!]);
    await stopChild(sqlite);
    // The floor, same request counts and concurrency.
    const bare = await startChild(['bare', '', '', '']);
    const b = await bareRun(bare.url, a.r.requests - a.r.downloads, a.r.downloads, concurrency);
    await stopChild(bare);
    const tag = `${devices} devices, 5% cut`;
    rows.push({ suite: 'fleet', name: `fleet-sim SQLite, ${tag}: succeeded`, value: a.r.succeeded, unit: 'x', target: `= ${devices}`, pass: a.r.succeeded === devices });
    rows.push({ suite: 'fleet', name: `fleet-sim SQLite, ${tag}: wall time`, value: Math.round(a.r.wallSeconds * 1000), unit: 'ms', baselineName: 'bare node:http, same requests', baselineValue: Math.round(b.seconds * 1000), ratio: round2(b.seconds / a.r.wallSeconds), target: '< 180000 ms', pass: a.r.wallSeconds < 180 });
    rows.push({ suite: 'fleet', name: `fleet-sim SQLite: requests per second (${a.r.requests} requests, ${a.r.retries} retries)`, value: a.r.requestsPerSecond, unit: 'x', baselineName: 'bare node:http', baselineValue: b.rps, ratio: round2(a.r.requestsPerSecond / b.rps) });
    rows.push({ suite: 'fleet', name: 'fleet-sim SQLite: p99 request latency', value: a.r.p99Ms, unit: 'ms' });
    rows.push({ suite: 'fleet', name: 'fleet-sim SQLite: server peak RSS', value: a.rss[0] ?? 0, unit: 'MiB' });

    rows.push({ suite: 'fleet', name: 'machine load average (1 min) when the fleet suite started, 2 cores', value: load, unit: 'x' });

    const pg = process.env.OTAFLASH_TEST_POSTGRES;
    if (pg) {
      const schema = `bench_fleet_${process.pid}`;
      const pkgs = path.join(tmp, 'pg-packages');
      const s1 = await startChild(['plans', pg, pkgs, schema]);
      const s2 = await startChild(['plans', pg, pkgs, schema]);
      const p = await runOne('postgres-2', [s1.url, s2.url], [s1.proc.pid!, s2.proc.pid!]);
      await stopChild(s1);
      await stopChild(s2);
      rows.push({ suite: 'fleet', name: `fleet-sim 2 servers on PostgreSQL, ${tag}: succeeded`, value: p.r.succeeded, unit: 'x', target: `= ${devices}`, pass: p.r.succeeded === devices });
      rows.push({ suite: 'fleet', name: `fleet-sim 2 servers on PostgreSQL, ${tag}: wall time`, value: Math.round(p.r.wallSeconds * 1000), unit: 'ms', baselineName: 'bare node:http, same requests', baselineValue: Math.round(b.seconds * 1000), ratio: round2(b.seconds / p.r.wallSeconds) });
      rows.push({ suite: 'fleet', name: 'fleet-sim 2 servers on PostgreSQL: requests per second', value: p.r.requestsPerSecond, unit: 'x', baselineName: 'bare node:http', baselineValue: b.rps, ratio: round2(p.r.requestsPerSecond / b.rps) });
      rows.push({ suite: 'fleet', name: 'fleet-sim 2 servers on PostgreSQL: p99 request latency', value: p.r.p99Ms, unit: 'ms' });
      rows.push({ suite: 'fleet', name: 'fleet-sim 2 servers on PostgreSQL: peak RSS per server', value: Math.max(p.rss[0] ?? 0, p.rss[1] ?? 0), unit: 'MiB' });
      try {
        const { default: pgMod } = await import('pg');
        const c = new pgMod.Client({ connectionString: pg });
        await c.connect();
        await c.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
        await c.end();
      } catch (e) {
        process.stderr.write(`  could not drop schema ${schema}: ${(e as Error).message}\n`);
      }
    } else process.stderr.write('  fleet: OTAFLASH_TEST_POSTGRES not set: the two-server PostgreSQL run is skipped\n');
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
  process.stdout.write(JSON.stringify(rows) + '\n');
}

function round2(v: number): number {
  return Math.round(v * 100) / 100;
}

if (process.argv[1] && pathToFileURL(process.argv[1]).href === import.meta.url) {
  if (process.argv[2] === '--drive') {
    drive(Number(process.argv[3])).then(
      () => process.exit(0),
      (e) => {
        process.stderr.write(`fleet bench: ${(e as Error).stack ?? String(e)}\n`);
        process.exit(1);
      },
    );
  } else if (process.argv[2] === '--serve') {
    void serverChild(process.argv[3], process.argv[4], process.argv[5], process.argv[6]);
  }
}
