// `otaflash serve` as a process: it says where it listens, answers, logs one line per request,
// and stops cleanly (exit 0) on SIGTERM and on SIGINT.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as path from 'node:path';
import { spawn } from 'node:child_process';
import { fixtureTree, pycomRequest, rawRequest, splitResponse } from './harness';
import { runAsync } from '../../src/cli/run';

const main = path.join(__dirname, '../../src/cli/main.ts');

function startServe(...extra: string[]) {
  const child = spawn(process.execPath, ['--import', 'tsx', main, 'serve', fixtureTree, '--port', '0', ...extra], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  const port = new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`serve did not start: ${stderr}`)), 15000);
    child.stdout.on('data', () => {
      const m = /on http:\/\/127\.0\.0\.1:(\d+)/.exec(stdout);
      if (m) {
        clearTimeout(timer);
        resolve(Number(m[1]));
      }
    });
  });
  const exit = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, port, exit, out: () => ({ stdout, stderr }) };
}

test('serve as a process answers Pycom\'s request, logs it, and exits 0 on SIGTERM', async () => {
  const s = startServe('--pycom');
  const port = await s.port;
  const r = splitResponse(await rawRequest(port, pycomRequest('manifest.json?current_ver=1.0.0', '10.0.0.1:8000')));
  assert.ok(r.head.startsWith('HTTP/1.0 200 OK'));
  assert.is(JSON.parse(r.body.toString()).version, '1.0.1');
  s.child.kill('SIGTERM');
  assert.is(await s.exit, 0);
  const lines = s.out().stderr.split('\n').filter((l) => l.includes('"GET '));
  assert.is(lines.length, 1, s.out().stderr);
  assert.match(lines[0], /"GET \/manifest.json\?current_ver=1.0.0 HTTP\/1.0" 200/);
});

function inProcess(...argv: string[]) {
  let stdout = '';
  let stderr = '';
  const done = runAsync(argv, { stdout: (t) => void (stdout += String(t)), stderr: (t) => void (stderr += t), isTTY: false });
  return { done, out: () => ({ stdout, stderr }) };
}

test('serve in process: SIGINT stops it after the request in flight; a port in use is one line and exit 2', async () => {
  const a = inProcess('serve', fixtureTree, '--port', '0');
  let port = 0;
  for (let i = 0; i < 200 && port === 0; i++) {
    await new Promise((r) => setTimeout(r, 10));
    port = Number(/:(\d+) \(manifests/.exec(a.out().stdout)?.[1] ?? 0);
  }
  assert.ok(port > 0, a.out().stdout);
  const b = await runAsyncCapture('serve', fixtureTree, '--port', String(port));
  assert.is(b.code, 2);
  assert.match(b.stderr, /EADDRINUSE/);
  assert.is(b.stderr.trim().split('\n').length, 1);
  const pending = rawRequest(port, pycomRequest('firmware_1.0.1.bin', 'x'));
  await new Promise((r) => setTimeout(r, 5));
  process.emit('SIGINT');
  assert.is(await a.done, 0);
  assert.is(splitResponse(await pending).body.length, 3000);
  assert.match(a.out().stderr, /SIGINT: stopping/);
});

async function runAsyncCapture(...argv: string[]) {
  const r = inProcess(...argv);
  const code = await r.done;
  return { code, ...r.out() };
}

test.run();
