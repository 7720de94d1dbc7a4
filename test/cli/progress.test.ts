import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { CliIo } from '../../src/cli/io';
import { createProgress, formatEta, formatRate } from '../../src/cli/progress';

function capture(isTTY: boolean) {
  const err: string[] = [];
  const io: CliIo = { stdout: () => undefined, stderr: (t) => void err.push(t), isTTY };
  return { io, err };
}

test('plain mode prints a line at each quarter and one at the end, with the byte counts', () => {
  const { io, err } = capture(false);
  let t = 0;
  const p = createProgress(io, { label: 'update ota_0', total: 1000, now: () => t });
  for (let done = 100; done <= 1000; done += 100) {
    t += 10;
    p.update(done);
  }
  p.finish();
  assert.equal(err, [
    'update ota_0: 300/1000 bytes (30%), 9.8 KiB/s\n',
    'update ota_0: 500/1000 bytes (50%), 9.8 KiB/s\n',
    'update ota_0: 800/1000 bytes (80%), 9.8 KiB/s\n',
    'update ota_0: 1000/1000 bytes (100%), 9.8 KiB/s\n',
  ]);
  for (const line of err) assert.not.ok(line.includes('\r') || line.includes('\x1b'), 'no terminal control codes in plain mode');
});

test('terminal mode redraws one line with bar, bytes, rate and ETA, throttled, and ends with a newline', () => {
  const { io, err } = capture(true);
  let t = 0;
  const p = createProgress(io, { label: 'up', total: 4096, now: () => t, barWidth: 10, redrawMs: 100 });
  t = 50;
  p.update(1024); // first draw
  t = 60;
  p.update(2048); // throttled
  t = 1050;
  p.update(2048); // 2048 bytes in 1.05 s: 1.9 KiB/s, 2048 left: ETA about 1.05 s -> 0:02
  t = 2000;
  p.finish();
  assert.is(err.length, 3);
  assert.ok(err[0].startsWith('\rup [###-------]  25% 1.0 KiB/4.0 KiB'), err[0]);
  assert.ok(err[1].startsWith('\rup [#####-----]  50% 2.0 KiB/4.0 KiB 1.9 KiB/s ETA 0:02'), err[1]);
  assert.ok(err[2].includes('[#####-----]') && err[2].endsWith('in 2.00 s\x1b[K\n'), err[2]);
});

test('done never goes backwards or past the total', () => {
  const { io, err } = capture(true);
  let t = 0;
  const p = createProgress(io, { label: 'x', total: 100, now: () => t, barWidth: 4, redrawMs: 0 });
  p.update(80);
  t = 1;
  p.update(20);
  t = 2;
  p.update(500);
  assert.ok(err[1].includes(' 80% '), err[1]);
  assert.ok(err[2].includes('100% 100 B/100 B'), err[2]);
});

test('formatters', () => {
  assert.is(formatEta(0), '0:00');
  assert.is(formatEta(61.2), '1:02');
  assert.is(formatEta(NaN), '--:--');
  assert.is(formatRate(0), '-');
  assert.is(formatRate(3 * 1024 * 1024), '3.0 MiB/s');
});

test.run();
