import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as path from 'node:path';
import { createHash } from 'node:crypto';
import { copyTree, fixtureTree, pycomClientBody, pycomRequest, rawRequest, splitResponse, startServer } from './harness';
import { pythonJsonDumps, type JsonValue } from '../../src/manifest/python-json';

const pycom = JSON.parse(fs.readFileSync(path.join(__dirname, '../fixtures/manifest/pycom-responses.json'), 'utf8')) as {
  host: string;
  records: { path: string; head: string; body: string; manifest?: JsonValue }[];
};
const HOST = pycom.host;

function get(port: number, p: string, headers: Record<string, string> = {}, agent?: http.Agent, method = 'GET'): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: Buffer; socketPort: number }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path: p, headers, agent, method }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (d) => chunks.push(d));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks), socketPort: req.socket!.localPort! }));
    });
    req.on('error', reject);
    req.end();
  });
}

test('HTTP/1.0 as Pycom\'s client sends it: the manifest Pycom\'s server sends, head as it reads it', async () => {
  const { srv, port } = await startServer(fixtureTree, { extras: false });
  try {
    const r = await rawRequest(port, pycomRequest('manifest.json?current_ver=1.0.0', HOST));
    const { head, body } = splitResponse(r);
    assert.ok(head.startsWith('HTTP/1.0 200 OK\r\nContent-type: application/json\r\n'), head);
    assert.not.match(head.toLowerCase(), /content-length/);
    // The head fills exactly the client's first recv(100).
    assert.is(head.length + 4, 100);
    const want = pycom.records.find((x) => x.path === 'manifest.json?current_ver=1.0.0')!.manifest!;
    assert.is(body.toString('utf8'), pythonJsonDumps(want));
    // Pycom's client's own reading of the bytes gives the body back whole.
    assert.equal(pycomClientBody(r), body);
    const none = splitResponse(await rawRequest(port, pycomRequest('manifest.json?current_ver=1.0.1', HOST)));
    assert.is(none.body.toString(), pycom.records.find((x) => x.path === 'manifest.json?current_ver=1.0.1')!.body);
  } finally {
    await srv.close();
  }
});

test('HTTP/1.0 files: Pycom\'s client reads them whole, CRLF blank lines and binary firmware included', async () => {
  const { srv, port } = await startServer(fixtureTree);
  try {
    for (const p of ['1.0.1/sd/asset.txt', '1.0.1/flash/config.py', '1.0.1/flash/lib/new_lib.py', 'firmware_1.0.1.bin']) {
      const want = fs.readFileSync(path.join(fixtureTree, p));
      const r = await rawRequest(port, pycomRequest(p, HOST));
      assert.ok(r.subarray(0, 17).toString() === 'HTTP/1.0 200 OK\r\n', p);
      assert.equal(splitResponse(r).body, want, p);
      assert.equal(pycomClientBody(r), want, `${p} as Pycom's client reads it`);
    }
    // Against Pycom's own server (recorded), its client truncates the CRLF file: the fault is
    // the client's, and our head layout avoids it.
    const rec = pycom.records.find((x) => x.path === '1.0.1/sd/asset.txt')!;
    const theirs = pycomClientBody(Buffer.from(rec.head + '\r\n\r\n' + rec.body, 'latin1'));
    assert.not.equal(theirs, fs.readFileSync(path.join(fixtureTree, '1.0.1/sd/asset.txt')));
  } finally {
    await srv.close();
  }
});

test('manifest URLs use the Host header; without one, the address reached', async () => {
  const { srv, port } = await startServer(fixtureTree);
  try {
    const m = JSON.parse((await get(port, '/manifest.json?current_ver=1.0.0', { Host: 'updates.local:9000' })).body.toString());
    assert.is(m.new[0].URL, 'http://updates.local:9000/1.0.1/flash/lib/new_lib.py');
    assert.is(m.new[0].dst_path, '/flash/lib/new_lib.py');
    assert.is(m.previous_version, '1.0.0');
    const r = splitResponse(await rawRequest(port, 'GET /manifest.json?current_ver=1.0.0 HTTP/1.0\r\n\r\n'));
    assert.match(JSON.parse(r.body.toString()).new[0].URL, `http://127.0.0.1:${port}/1.0.1/`);
    const bad = await get(port, '/manifest.json?current_ver=1.0.0', { Host: 'evil.example/x?' });
    assert.is(bad.status, 400);
  } finally {
    await srv.close();
  }
});

test('HTTP/1.1: keep-alive, Content-Length, ETag and 304, Range (206/416), HEAD', async () => {
  const { srv, port, logs } = await startServer(fixtureTree);
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  try {
    const fw = fs.readFileSync(path.join(fixtureTree, 'firmware_1.0.1.bin'));
    const a = await get(port, '/firmware_1.0.1.bin', {}, agent);
    assert.is(a.status, 200);
    assert.is(a.headers['content-length'], String(fw.length));
    assert.equal(a.body, fw);
    const etag = a.headers.etag!;
    assert.is(etag, `"${createHash('sha256').update(fw).digest('hex')}"`);
    const b = await get(port, '/firmware_1.0.1.bin', { 'If-None-Match': etag }, agent);
    assert.is(b.status, 304);
    assert.is(b.socketPort, a.socketPort, 'same connection (keep-alive)');
    const c = await get(port, '/firmware_1.0.1.bin', { Range: 'bytes=1000-' }, agent);
    assert.is(c.status, 206);
    assert.is(c.headers['content-range'], `bytes 1000-2999/3000`);
    assert.equal(c.body, fw.subarray(1000));
    const d = await get(port, '/firmware_1.0.1.bin', { Range: 'bytes=-10' }, agent);
    assert.equal(d.body, fw.subarray(fw.length - 10));
    assert.is((await get(port, '/firmware_1.0.1.bin', { Range: 'bytes=5000-' }, agent)).status, 416);
    // A Range for another version of the file (If-Range no longer matches) gets the whole file.
    assert.is((await get(port, '/firmware_1.0.1.bin', { Range: 'bytes=1000-', 'If-Range': '"old"' }, agent)).status, 200);
    const h = await get(port, '/firmware_1.0.1.bin', {}, agent, 'HEAD');
    assert.is(h.status, 200);
    assert.is(h.headers['content-length'], '3000');
    assert.is(h.body.length, 0);
    const m = await get(port, '/manifest.json?current_ver=1.0.0', {}, agent);
    assert.is(m.headers['content-type'], 'application/json');
    assert.is(m.headers['content-length'], String(m.body.length));
    assert.is((await get(port, '/firmware_1.0.1.bin', {}, agent, 'POST')).status, 405);
    assert.is(logs.length, 9, 'one log line per request');
    assert.match(logs[2], /"GET \/firmware_1.0.1.bin HTTP\/1.1" 206 2000/);
  } finally {
    agent.destroy();
    await srv.close();
  }
});

test('traversal: every way out of the root is refused with 400 or 404, never a 200', async () => {
  const root = copyTree();
  fs.symlinkSync('/etc/passwd', path.join(root, '1.0.1/flash/passwd'));
  fs.symlinkSync('/etc', path.join(root, '9.9.9'));
  fs.symlinkSync('/etc', path.join(root, '1.0.1/etc'));
  fs.writeFileSync(path.join(root, 'secret.txt'), 'top secret');
  const { srv, port } = await startServer(root);
  try {
    const attacks = [
      '/../../../../etc/passwd',
      '/1.0.1/../../../etc/passwd',
      '/%2e%2e/%2e%2e/etc/passwd',
      '/1.0.1/%2E%2E/%2e%2E/secret.txt',
      '/1.0.1/..%2f..%2fetc%2fpasswd',
      '/1.0.1/flash%2fmain.py',
      '/1.0.1/%5c..%5c..%5cetc%5cpasswd',
      '/1.0.1\\..\\secret.txt',
      '//etc/passwd',
      '/%2fetc/passwd',
      'http://127.0.0.1/etc/passwd',
      '/1.0.1/flash/main.py%00.txt',
      '/1.0.1/flash/passwd',
      '/9.9.9/passwd',
      '/1.0.1/etc/passwd',
      '/secret.txt',
      '/1.0.1/flash/%',
      '/manifest.json?current_ver=../..',
      '/manifest.json?current_ver=..%2F..',
      '/manifest.json?current_ver=%2e%2e',
      '/manifest.json?current_ver=1.0.0%00',
      '/manifest.json?current_ver=/etc',
      '/manifest.json?current_ver=abc',
    ];
    for (const a of attacks) {
      for (const version of ['1.0', '1.1']) {
        const r = await rawRequest(port, `GET ${a} HTTP/${version}\r\nHost: ${HOST}\r\nConnection: close\r\n\r\n`);
        const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(r.toString('latin1'))?.[1]);
        assert.ok(status === 400 || status === 404, `${a} over HTTP/${version}: ${status}`);
        assert.not.ok(r.includes('root:') || r.includes('top secret'), `${a} leaked a file`);
      }
    }
    // The link out is not in any manifest either; the server still answers afterwards.
    const m = JSON.parse((await get(port, '/manifest.json')).body.toString());
    assert.not.ok(JSON.stringify(m).includes('passwd'));
    assert.ok(m.new.some((e: { dst_path: string }) => e.dst_path === '/flash/main.py'));
  } finally {
    await srv.close();
  }
});

test('an unparseable version is a 400 with a reason; stray folders and .sha1 files change nothing', async () => {
  const root = copyTree();
  fs.mkdirSync(path.join(root, 'static'));
  fs.mkdirSync(path.join(root, 'abc'));
  fs.writeFileSync(path.join(root, 'firmware_9.9.9.bin.sha1'), 'x');
  const { srv, port } = await startServer(root);
  try {
    const r = await get(port, '/manifest.json?current_ver=abc');
    assert.is(r.status, 400);
    assert.match(r.body.toString(), /cannot be compared/);
    const m = JSON.parse((await get(port, '/manifest.json?current_ver=1.0.0')).body.toString());
    assert.is(m.version, '1.0.1');
    assert.is(m.firmware.URL.endsWith('/firmware_1.0.1.bin'), true);
    assert.is((await get(port, '/manifest.json?current_ver=2.0')).body.toString(), 'null');
  } finally {
    await srv.close();
  }
});

test('hashes are recomputed when a file changes, and only then', async () => {
  const root = copyTree();
  const { srv, port } = await startServer(root);
  try {
    const first = JSON.parse((await get(port, '/manifest.json?current_ver=1.0.0')).body.toString());
    const hashed = srv.cache.hashedCount;
    await get(port, '/manifest.json?current_ver=1.0.0');
    assert.is(srv.cache.hashedCount, hashed, 'nothing re-read when nothing changed');
    const main = path.join(root, '1.0.1/flash/main.py');
    const next = Buffer.from('print("edited while serving")\n');
    fs.writeFileSync(main, next);
    const second = JSON.parse((await get(port, '/manifest.json?current_ver=1.0.0')).body.toString());
    const entry = second.update.find((e: { dst_path: string }) => e.dst_path === '/flash/main.py');
    assert.is(entry.hash, createHash('sha1').update(next).digest('hex'));
    assert.is.not(entry.hash, first.update[0].hash);
    assert.equal((await get(port, '/1.0.1/flash/main.py')).body, next);
  } finally {
    await srv.close();
  }
});

test('close() waits for a request in flight, then stops', async () => {
  const root = copyTree();
  const big = Buffer.alloc(8 * 1024 * 1024, 7);
  fs.writeFileSync(path.join(root, 'firmware_2.0.bin'), big);
  const { srv, port } = await startServer(root);
  const pending = get(port, '/firmware_2.0.bin');
  await new Promise((r) => setTimeout(r, 20));
  await srv.close();
  const r = await pending;
  assert.is(r.body.length, big.length);
  assert.not.ok(srv.server.listening);
});

test.run();
