// The load generator of bench/server-load.ts, in a worker thread so the servers' event loop is not
// shared with the clients': `count` GETs over `concurrency` keep-alive connections.
import * as http from 'node:http';
import { parentPort, workerData } from 'node:worker_threads';

const { port, paths, count, concurrency } = workerData;
const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
const lat = [];
let next = 0;
let bytes = 0;
let failed = null;
const one = (p) =>
  new Promise((resolve, reject) => {
    const t0 = performance.now();
    http
      .get({ host: '127.0.0.1', port, path: p, agent }, (res) => {
        res.on('data', (d) => (bytes += d.length));
        res.on('end', () => {
          if (res.statusCode !== 200) failed = `${p}: ${res.statusCode}`;
          lat.push(performance.now() - t0);
          resolve();
        });
      })
      .on('error', reject);
  });
const t0 = performance.now();
await Promise.all(
  Array.from({ length: concurrency }, async () => {
    while (next < count) await one(paths[next++ % paths.length]);
  }),
);
const ms = performance.now() - t0;
agent.destroy();
lat.sort((a, b) => a - b);
parentPort.postMessage({ rps: count / (ms / 1000), p50: lat[lat.length >> 1], p99: lat[Math.floor(lat.length * 0.99)], bytes, failed });
