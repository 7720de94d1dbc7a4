// otaflash's own device tests for the engine runs, in ES5 syntax like scenario.js. scripts/test-engines.mjs
// concatenates: the device build, the contract bundle (global OtaContract: the block-device contract
// suite lowered to ES5, taking OtaflashError from the build so `instanceof` holds), scenario.js with
// SCENARIO_OPTS.library = true (its flash back ends, image source and table), then this file.
// Prints one line: `SCENARIO_RESULT {json}` with scenario 'device-tests' and one entry per test.
//
// Tests:
//   espruino-flash-contract  the build's EspruinoFlash over Espruino's require("Flash") (in Espruino) or
//                            over a JS module that behaves like it (1 KiB pages, NOR writes) elsewhere,
//                            through every rule of the contract suite; the bytes around the region must
//                            be untouched afterwards.
//   typed-errors             a lowered/minified build still throws OtaflashError subclasses with codes.
//   resume                   an update cut off halfway (the writer and engine dropped, as by a reset),
//                            found again with pendingUpdate(), resumed where the flash says, verified,
//                            selected and booted; the slot read back matches the image.

function dtFakeFlashModule(size, page) {
  var start = 0x10000000;
  // On the C hosts, over host memory past the scenario's partitions (0x380000 of hostFlash's 4 MiB is in
  // no partition), so the stand-in's bytes stay off a small JS heap as a chip's do.
  var bytes = typeof hostFlash !== 'undefined' && hostFlash && hostFlash.byteLength >= 0x380000 + size
    ? new Uint8Array(hostFlash, 0x380000, size) : new Uint8Array(size);
  bytes.fill(0xff);
  return {
    bytes: bytes,
    start: start,
    getPage: function (addr) {
      var a = addr - start;
      if (a < 0 || a >= size) return undefined;
      return { addr: start + a - (a % page), length: page };
    },
    read: function (n, addr) { return bytes.slice(addr - start, addr - start + n); },
    write: function (data, addr) {
      var a = addr - start;
      for (var i = 0; i < data.length; i++) bytes[a + i] &= data[i];
    },
    erasePage: function (addr) {
      var a = addr - start;
      a -= a % page;
      bytes.subarray(a, a + page).fill(0xff);
    }
  };
}

function dtContract(lib) {
  var T = { ok: false };
  if (typeof lib.EspruinoFlash !== 'function') { T.error = 'this build has no EspruinoFlash'; return T; }
  if (typeof OtaContract === 'undefined') { T.error = 'no contract bundle (OtaContract)'; return T; }
  var REGION = 64 * 1024;
  var F = null, base, guard = 1024;
  try { if (typeof require === 'function' && typeof process !== 'undefined' && process.env && process.env.BOARD) F = require('Flash'); } catch (e) { F = null; }
  if (F && typeof F.erasePage === 'function') {
    // Espruino: well past the scenario's 4 MiB and Storage's files (both from the start of the free area)
    var free = F.getFree()[0];
    base = free.addr + free.length - REGION - 4 * guard;
    T.module = 'require("Flash") at 0x' + base.toString(16);
  } else {
    F = dtFakeFlashModule(REGION + 8 * guard, 1024);
    base = F.start + 4 * guard;
    T.module = 'JS stand-in (1 KiB pages) at 0x' + base.toString(16);
  }
  // A pattern just below and just above the region: the contract erases and programs only inside.
  F.erasePage(base - guard);
  F.erasePage(base + REGION);
  var pattern = new Uint8Array(guard);
  for (var i = 0; i < guard; i++) pattern[i] = (i * 37 + 11) & 0xff;
  F.write(pattern, base - guard);
  F.write(pattern, base + REGION);
  var report = OtaContract.checkBlockDeviceContract(function () { return new lib.EspruinoFlash(F, { base: base, size: REGION }); }, { program: 'nor' });
  T.rules = report.rules.length;
  T.failures = report.failures;
  T.skipped = report.skipped;
  var below = F.read(guard, base - guard), above = F.read(guard, base + REGION), intact = true;
  for (var j = 0; j < guard; j++) if (below[j] !== pattern[j] || above[j] !== pattern[j]) { intact = false; break; }
  T.neighboursIntact = intact;
  T.pageSize = new lib.EspruinoFlash(F, { base: base, size: REGION }).pageSize;
  T.ok = report.passed && report.rules.length >= 14 && intact;
  if (!T.ok) T.error = report.passed ? 'bytes outside the region changed' : OtaContract.formatContractReport(report);
  return T;
}

function dtTypedErrors(lib) {
  var T = { ok: false };
  var dev = new lib.MemoryFlash({ size: 8 * 1024 });
  try {
    dev.read(8 * 1024, new Uint8Array(1));
    T.error = 'a read past the end did not throw';
    return T;
  } catch (e) {
    T.instance = e instanceof lib.OtaflashError;
    T.isError = e instanceof Error;
    T.code = e.code;
    T.name = e.name;
  }
  T.ok = T.instance === true && T.isError === true && T.code === 'FLASH_OUT_OF_RANGE' && T.name === 'OtaflashError';
  if (!T.ok) T.error = 'got ' + JSON.stringify(T);
  return T;
}

function dtResume(lib) {
  var T = { ok: false };
  var N = SC.resumeImageSize || 64 * 1024;
  var hashes = scenarioHashes(lib);
  var opts = { rollback: true, hashes: hashes };
  var src = new ImageSource(lib, N);
  if (SC.resumeTailHex) src.tail = hexToBytes(SC.resumeTailHex);
  else src.computeTail(lib, hashes);
  T.tailHex = bytesToHex(src.tail);
  var fl = makeFlash(SC.flash);
  var dev = fl.dev;
  T.flash = fl.kind;
  dev.erase(0x8000, SECTOR);
  dev.write(0x8000, hexToBytes(PARTITIONS_TWO_OTA_BIN));
  var table = lib.readPartitionTable(dev, 0x8000, { hashes: hashes });

  var fresh = lib.OtaEngine.open(dev, opts);
  try {
    fresh.resume({});
    T.error = 'resume() on a device with no interrupted update did not throw';
    return T;
  } catch (e) {
    if (!(e instanceof lib.OtaflashError) || e.code !== 'OTA_NOTHING_TO_RESUME') { T.error = 'resume() on a clean device threw ' + (e && e.code) + ' ' + (e && e.message); return T; }
  }

  var t0 = Date.now();
  var target = fresh.nextUpdatePartition();
  var w1 = fresh.begin(target, { size: N, erase: 'sequential', maxEraseBytesPerStep: SECTOR });
  var at = 0;
  while (at < N / 2 + 1024) { // not on a chunk boundary, so part of what was sent is past the last checkpoint
    var c = src.chunk(at);
    if (at + c.length > N / 2 + 1024) c = c.subarray(0, N / 2 + 1024 - at);
    w1.write(c);
    at += c.length;
  }
  T.cutAt = at;
  w1 = null; fresh = null; // the reset: nothing in RAM survives

  var e2 = lib.OtaEngine.open(dev, opts);
  var pending = e2.pendingUpdate();
  if (!pending || pending.partition.label !== target.label) { T.error = 'pendingUpdate() after the cut: ' + JSON.stringify(pending && { label: pending.partition.label, written: pending.written }); return T; }
  T.pendingWritten = pending.written;
  var w2 = e2.resume({ maxEraseBytesPerStep: SECTOR });
  var from = w2.offset;
  T.resumedFrom = from;
  if (!(from > 0 && from <= at)) { T.error = 'resumed at ' + from + ', cut at ' + at; return T; }
  var crc = 0;
  for (var p = from; p < N;) {
    var d = src.chunk(p);
    // continue on CHUNK boundaries again after the first piece
    if ((p % CHUNK) !== 0) d = d.subarray(0, CHUNK - (p % CHUNK));
    w2.write(d);
    p += d.length;
  }
  var verdict = w2.end();
  T.hashValid = verdict.hashValid;
  e2.setBootPartition(target);
  var boot = lib.simulateReboot(dev, table, opts);
  T.boot = boot.label;
  T.bootState = boot.activeStateAfterBoot === null ? null : lib.otaStateName(boot.activeStateAfterBoot);
  T.ms = Date.now() - t0;
  var rb = new Uint8Array(CHUNK), back = 0;
  for (var q = 0; q < N; q += CHUNK) {
    var n = Math.min(CHUNK, N - q);
    var v = n === CHUNK ? rb : rb.subarray(0, n);
    dev.read(target.offset + q, v);
    back = lib.crc32(v, back);
    crc = lib.crc32(src.chunk(q), crc);
  }
  T.imageCrc = crc >>> 0;
  T.flashCrc = back >>> 0;
  T.ok = T.hashValid === true && T.boot === target.label && T.bootState === 'PENDING_VERIFY' && T.imageCrc === T.flashCrc;
  if (!T.ok) T.error = 'after resume: ' + JSON.stringify({ hashValid: T.hashValid, boot: T.boot, state: T.bootState, imageCrc: T.imageCrc, flashCrc: T.flashCrc });
  return T;
}

function runDeviceTests() {
  var lib = OtaFlash;
  var R = { scenario: 'device-tests', ok: false, engine: SC.engine || null, bundle: SC.bundle || null, hash: SC.hash === 'host' ? 'host' : 'js', tests: {} };
  var names = ['typed-errors', 'espruino-flash-contract', 'resume'];
  var fns = [dtTypedErrors, dtContract, dtResume];
  var all = true;
  for (var i = 0; i < names.length; i++) {
    var T;
    var t0 = Date.now();
    try {
      T = fns[i](lib);
    } catch (e) {
      T = { ok: false, error: (e && e.name ? e.name + ': ' : '') + (e && e.message !== undefined ? e.message : String(e)) };
      if (e && e.code) T.code = e.code;
      if (e && e.stack) T.stack = String(e.stack).split('\n').slice(0, 6).join(' | ');
    }
    T.wallMs = Date.now() - t0;
    R.tests[names[i]] = T;
    if (!T.ok) all = false;
  }
  sample();
  R.mem = MEM;
  R.ok = all;
  scOut('SCENARIO_RESULT ' + JSON.stringify(R));
}

runDeviceTests();
