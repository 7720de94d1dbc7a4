// `otaflash mesh-sim`: the JSON line's fields, a real app image from the fixtures, refusals.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { meshSimCommand } from '../../src/cli/mesh-sim';
import type { CliIo } from '../../src/cli/io';

function capture(): CliIo & { out: string; err: string } {
  const io = {
    out: '',
    err: '',
    isTTY: false,
    stdout(t: string | Uint8Array) {
      io.out += typeof t === 'string' ? t : new TextDecoder().decode(t);
    },
    stderr(t: string) {
      io.err += t;
    },
  };
  return io;
}

test('--json prints one line with the summary fields; the run is the seed\'s', () => {
  const io = capture();
  const code = meshSimCommand.run(['--nodes', '20', '--loss', '0.1', '--seed', '3', '--json'], io);
  assert.is(code, 0);
  const lines = io.out.trim().split('\n');
  assert.is(lines.length, 1);
  const s = JSON.parse(lines[0]);
  for (const k of ['nodes', 'updated', 'invariantViolations', 'simulatedSeconds', 'lowerBoundSeconds', 'messages', 'flashWrites', 'flashErases', 'powerCuts', 'wallSeconds']) assert.ok(k in s, k);
  assert.is(s.nodes, 20);
  assert.is(s.updated, 20);
  assert.is(s.invariantViolations, 0);
  const again = capture();
  meshSimCommand.run(['--nodes', '20', '--loss', '0.1', '--seed', '3', '--json'], again);
  assert.is(JSON.parse(again.out).messages, s.messages);
});

test('--image with a real ESP32 app (elf2image output from the fixtures), plain summary and progress', () => {
  const io = capture();
  const code = meshSimCommand.run(['--nodes', '12', '--topology', 'line', '--sinks', '2', '--image', 'test/fixtures/app-images/elf2image/esp32-zephyr.bin'], io);
  assert.is(code, 0, io.out);
  assert.match(io.out, /updated: 12\/12/);
  assert.match(io.out, /invariant violations: 0/);
  assert.match(io.err, /stored: 12\/12 devices/);
});

test('refusals', () => {
  assert.throws(() => meshSimCommand.run([], capture()), /--nodes N is required/);
  assert.throws(() => meshSimCommand.run(['--nodes', '10', '--topology', 'ring'], capture()), /grid, line or random/);
  assert.throws(() => meshSimCommand.run(['--nodes', '10', '--loss', '1.5'], capture()), /--loss/);
  assert.throws(() => meshSimCommand.run(['--nodes', '10', '--sinks', '11'], capture()), /--sinks/);
  assert.throws(() => meshSimCommand.run(['--nodes', '10', '--image', 'README.md'], capture()), /not an app image/);
});

test.run();
