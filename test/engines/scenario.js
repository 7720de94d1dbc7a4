// otaflash engine scenario: one OTA update through the device bundle's global `OtaFlash`, written in
// ES5 syntax so it runs in every engine the bundle is tried in (JerryScript, Espruino, Duktape,
// QuickJS). run.sh concatenates: a prelude (`var __T0 = Date.now(); var SCENARIO_OPTS = {...};`),
// the bundle, then this file, and runs the result as one script.
//
// Flow: a 4 MiB flash with ESP-IDF's two-OTA partition table (partitions_two_ota.csv) at 0x8000;
// a 256 KiB ESP32-C3 app image generated on the fly (never whole in memory) and streamed in 4 KiB
// chunks through OtaEngine.begin()/OtaWriter.write(); writer.end() verifies (checksum, SHA-256);
// setBootPartition; simulated reboot (bootloader model: PENDING_VERIFY); markValid (confirm);
// second reboot (VALID); the slot's bytes are compared by CRC-32 with the generated image.
// Prints one line: `SCENARIO_RESULT {json}`.
//
// otaflash's copy (test/engines/) adds: SCENARIO_OPTS.hash = 'host' hashes through the host's
// `hostSha256()` (C, outside the JS heap's code) instead of the bundle's JS SHA-256; the library's own
// `OtaFlash.EspruinoFlash` adapter when the build has it; MEM.peakUpdate (the peak from the sample
// before begin() on, for the heap growth during the update); SCENARIO_OPTS.library = true defines
// everything without running, for test/engines/device-tests.js.
//
// Flash back ends, first available wins (or SCENARIO_OPTS.flash = 'host'|'espruino'|'sparse'|'memory'):
//   host     `hostFlash`, an ArrayBuffer the harness host keeps OUTSIDE the JS heap (jerry, duk hosts);
//   espruino require('Flash') (Espruino's flash API; on Linux a file), via an adapter;
//   sparse   a JS object holding only the sectors that are not erased (flash bytes on the JS heap,
//            reported as flashHeapBytes so they can be subtracted);
//   memory   OtaFlash.MemoryFlash of the full 4 MiB (on the JS heap).
// Memory probes: heapStats() (jerry/duk hosts: {size, allocated, peak}), process.memory() (Espruino),
// __qjsMem() (the QuickJS runner). Sampled after every chunk and step, as test/device/quickjs.test.ts.

var SC = typeof SCENARIO_OPTS !== 'undefined' ? SCENARIO_OPTS : {};
var FLASH_SIZE = SC.flashSize || 4 * 1024 * 1024;
var IMAGE_SIZE = SC.imageSize || 256 * 1024;
var CHUNK = SC.chunk || 4096;
var SECTOR = 4096;
var T_START = typeof __T0 === 'number' ? __T0 : Date.now();
var T_LOADED = Date.now();

function scOut(s) {
  if (typeof print === 'function') print(s);
  else if (typeof console !== 'undefined') console.log(s);
}

// ---------------------------------------------------------------------------------------- memory
var MEM = { kind: 'none', samples: 0, sampleMs: 0, peak: 0, peakUpdate: null, afterLoad: null, beforeUpdate: null, end: null, engine: null };
function memNow() {
  if (typeof heapStats === 'function') {
    var s = heapStats();
    if (s) { MEM.kind = 'heapStats'; MEM.heapSize = s.size; MEM.enginePeak = s.peak; return s.allocated; }
  }
  if (typeof process !== 'undefined' && process && typeof process.memory === 'function') {
    // Espruino: counts in variable blocks; process.memory() runs a GC first, so usage is live data.
    var m = process.memory();
    MEM.kind = 'espruino-vars';
    MEM.blocksize = m.blocksize;
    MEM.totalVars = m.total;
    return m.usage;
  }
  if (typeof __qjsMem === 'function') { MEM.kind = 'quickjs'; return __qjsMem(); }
  return null;
}
/**
 * Collects garbage first where the engine lets a script ask (JerryScript's gc(), Duktape.gc();
 * Espruino's process.memory() collects by itself), so the samples are live data and the growth
 * figure does not depend on how lazy a large heap's collector is. SCENARIO_OPTS.gc = false turns it off.
 * The time spent here is kept in MEM.sampleMs, so update times can leave it out.
 */
function collect() {
  if (SC.gc === false) return;
  if (typeof Duktape === 'object' && Duktape && typeof Duktape.gc === 'function') Duktape.gc();
  else if (typeof gc === 'function' && typeof heapStats === 'function') gc();
}
function sample() {
  var t = Date.now();
  collect();
  var v = memNow();
  MEM.sampleMs += Date.now() - t;
  MEM.samples++;
  if (v !== null && v > MEM.peak) MEM.peak = v;
  if (v !== null && MEM.beforeUpdate !== null && (MEM.peakUpdate === null || v > MEM.peakUpdate)) MEM.peakUpdate = v;
  return v;
}

// ---------------------------------------------------------------------------------- flash drivers
function checkOp(dev, op, offset, length, align) {
  if (offset < 0 || length < 0 || offset + length > dev.size || offset % align !== 0 || length % align !== 0) {
    throw new OtaFlash.OtaflashError(offset + length > dev.size || offset < 0 ? 'FLASH_OUT_OF_RANGE' : 'FLASH_MISALIGNED',
      op + ' at ' + offset + ' length ' + length);
  }
}

/** NOR flash over an ArrayBuffer owned by the host (outside the JS heap on jerry/duk hosts). */
function HostFlash(buffer, size) {
  this.size = size; this.eraseSize = SECTOR; this.writeSize = 4; this.eraseValue = 0xff;
  this.bytes = new Uint8Array(buffer, 0, size);
}
HostFlash.prototype.read = function (offset, into) {
  checkOp(this, 'read', offset, into.length, 1);
  into.set(this.bytes.subarray(offset, offset + into.length));
};
HostFlash.prototype.write = function (offset, data) {
  checkOp(this, 'write', offset, data.length, 4);
  var b = this.bytes;
  for (var i = 0, n = data.length; i < n; i++) b[offset + i] &= data[i];
};
HostFlash.prototype.erase = function (offset, length) {
  checkOp(this, 'erase', offset, length, SECTOR);
  this.bytes.subarray(offset, offset + length).fill(0xff);
};
HostFlash.prototype.sync = function () {};

/**
 * Espruino's Flash module (read(len, addr), write(data, addr), erasePage(addr), getPage(addr),
 * getFree()) as the library's block device. Espruino's pages need not be 4 KiB (the Linux build
 * has 1 KiB pages), so erase() walks getPage() over the range. `base` is where the OTA flash
 * starts inside Espruino's flash address space.
 */
function EspruinoFlash(F, base, size) {
  this.F = F; this.base = base;
  this.size = size; this.eraseSize = SECTOR; this.writeSize = 4; this.eraseValue = 0xff;
}
EspruinoFlash.prototype.read = function (offset, into) {
  checkOp(this, 'read', offset, into.length, 1);
  if (into.length > 0) into.set(this.F.read(into.length, this.base + offset));
};
EspruinoFlash.prototype.write = function (offset, data) {
  checkOp(this, 'write', offset, data.length, 4);
  if (data.length > 0) this.F.write(data, this.base + offset);
};
EspruinoFlash.prototype.erase = function (offset, length) {
  checkOp(this, 'erase', offset, length, SECTOR);
  var a = this.base + offset, end = a + length;
  while (a < end) {
    var p = this.F.getPage(a);
    if (!p || p.addr !== a || p.length <= 0) throw new OtaFlash.OtaflashError('FLASH_MISALIGNED', 'Espruino page at ' + a + ': ' + JSON.stringify(p));
    this.F.erasePage(a);
    a += p.length;
  }
};
EspruinoFlash.prototype.sync = function () {};

/** Only the sectors that hold a programmed bit are stored; flash bytes on the JS heap = heapBytes(). */
function SparseFlash(size) {
  this.size = size; this.eraseSize = SECTOR; this.writeSize = 4; this.eraseValue = 0xff;
  this.sectors = [];
  this.count = 0;
}
SparseFlash.prototype.read = function (offset, into) {
  checkOp(this, 'read', offset, into.length, 1);
  var done = 0, n = into.length;
  while (done < n) {
    var at = offset + done, s = (at / SECTOR) | 0, o = at - s * SECTOR;
    var len = Math.min(SECTOR - o, n - done);
    var sec = this.sectors[s];
    if (sec) into.set(sec.subarray(o, o + len), done);
    else into.subarray(done, done + len).fill(0xff);
    done += len;
  }
};
SparseFlash.prototype.write = function (offset, data) {
  checkOp(this, 'write', offset, data.length, 4);
  for (var i = 0, n = data.length; i < n; i++) {
    var at = offset + i, s = (at / SECTOR) | 0;
    var sec = this.sectors[s];
    if (!sec) {
      if (data[i] === 0xff) continue;
      sec = this.sectors[s] = new Uint8Array(SECTOR);
      sec.fill(0xff);
      this.count++;
    }
    sec[at - s * SECTOR] &= data[i];
  }
};
SparseFlash.prototype.erase = function (offset, length) {
  checkOp(this, 'erase', offset, length, SECTOR);
  for (var s = offset / SECTOR; s < (offset + length) / SECTOR; s++) {
    if (this.sectors[s]) { this.sectors[s] = null; this.count--; }
  }
};
SparseFlash.prototype.sync = function () {};
SparseFlash.prototype.heapBytes = function () { return this.count * SECTOR; };

function makeFlash(kind) {
  if ((!kind || kind === 'host') && typeof hostFlash !== 'undefined' && hostFlash && hostFlash.byteLength >= FLASH_SIZE) {
    return { kind: 'host', dev: new HostFlash(hostFlash, FLASH_SIZE) };
  }
  if (!kind || kind === 'espruino') {
    var F = null;
    try { if (typeof require === 'function' && typeof process !== 'undefined' && process.env && process.env.BOARD) F = require('Flash'); } catch (e) { F = null; }
    if (F && typeof F.erasePage === 'function') {
      var free = F.getFree(), base = -1;
      for (var i = 0; i < free.length; i++) if (free[i].length >= FLASH_SIZE) { base = free[i].addr; break; }
      // Espruino's Storage shares that flash from its start (Linux build): SCENARIO_OPTS.espruinoBase moves the OTA flash past the files.
      if (typeof SC.espruinoBase === 'number') base = SC.espruinoBase;
      if (base < 0) throw new Error('Espruino: no free flash area of ' + FLASH_SIZE + ' bytes: ' + JSON.stringify(free));
      if (typeof OtaFlash.EspruinoFlash === 'function') {
        return { kind: 'espruino-lib@0x' + base.toString(16), dev: new OtaFlash.EspruinoFlash(F, { base: base, size: FLASH_SIZE }) };
      }
      return { kind: 'espruino@0x' + base.toString(16), dev: new EspruinoFlash(F, base, FLASH_SIZE) };
    }
  }
  if (kind === 'memory') return { kind: 'memory', dev: new OtaFlash.MemoryFlash({ size: FLASH_SIZE }) };
  return { kind: 'sparse', dev: new SparseFlash(FLASH_SIZE) };
}

// ------------------------------------------------------------------------------ the app image
// A valid ESP32-C3 app image of exactly IMAGE_SIZE bytes, produced chunk by chunk: header and a
// 256-byte segment holding the app description (built once by buildAppImage), one padding segment
// (load address 0, not loaded by the bootloader) of filler bytes, zero padding, the checksum byte
// and the appended SHA-256. The checksum and SHA-256 (the last 33 bytes) come from a first pass
// (SCENARIO_OPTS.tailHex skips it), so the update itself streams as a download would.
function ImageSource(lib, size) {
  var desc = new Uint8Array(256);
  var small = lib.buildAppImage({
    segments: [{ loadAddress: 0x3c000020, data: desc }],
    header: { chipId: lib.CHIP_IDS.esp32c3, entry: 0x40380000 },
    appDesc: {
      secureVersion: 0, version: 'v1.0-engines', projectName: 'otaflash-engines', time: '12:00:00', date: 'Dec  7 2026',
      idfVersion: 'v5.2', elfSha256: new Uint8Array(32), minEfuseBlkRevFull: 0, maxEfuseBlkRevFull: 0,
      mmuPageSizeLog2: 0, spiFlashMode: 0
    },
    hashAppended: true
  });
  this.head = new Uint8Array(296);
  this.head.set(small.subarray(0, 288));
  this.head[1] = 2; // two segments
  this.fillerLen = size - 32 - 16 - 296;
  this.head[288] = 0; this.head[289] = 0; this.head[290] = 0; this.head[291] = 0; // load address 0
  var L = this.fillerLen;
  this.head[292] = L & 0xff; this.head[293] = (L >>> 8) & 0xff; this.head[294] = (L >>> 16) & 0xff; this.head[295] = (L >>> 24) & 0xff;
  var last = 296 + L;
  this.checksumOffset = ((last + 16) & ~15) - 1;
  this.size = this.checksumOffset + 1 + 32;
  if (this.size !== size) throw new Error('image size ' + this.size + ' != ' + size);
  this.tail = null; // 33 bytes: checksum, SHA-256
}
/** Bytes [at, at + len) before the checksum: header, segment data, zero padding. */
ImageSource.prototype.body = function (at, len, out) {
  var head = this.head, L = this.fillerLen;
  for (var i = 0; i < len; i++) {
    var p = at + i;
    if (p < 296) out[i] = head[p];
    else if (p < 296 + L) { var k = p - 296; out[i] = (k * 131 + 7) & 0xff; }
    else out[i] = 0;
  }
};
ImageSource.prototype.computeTail = function (lib, hashes) {
  var sha = (hashes || lib.portableHashes).sha256();
  var xor = 0xef;
  var buf = new Uint8Array(CHUNK);
  for (var at = 0; at < this.checksumOffset; at += CHUNK) {
    var len = Math.min(CHUNK, this.checksumOffset - at);
    var view = len === CHUNK ? buf : buf.subarray(0, len);
    this.body(at, len, view);
    var s0 = Math.max(at, 32), s1 = Math.min(at + len, 296 + this.fillerLen); // segment data bytes
    for (var p = s0; p < s1; p++) if (p < 288 || p >= 296) xor ^= view[p - at];
    sha.update(view);
  }
  var ck = new Uint8Array(1);
  ck[0] = xor & 0xff;
  sha.update(ck);
  var digest = sha.digest();
  this.tail = new Uint8Array(33);
  this.tail[0] = ck[0];
  this.tail.set(digest, 1);
};
ImageSource.prototype.chunk = function (at) {
  var len = Math.min(CHUNK, this.size - at);
  var out = new Uint8Array(len);
  var bodyLen = Math.max(0, Math.min(len, this.checksumOffset - at));
  this.body(at, bodyLen, out);
  for (var i = bodyLen; i < len; i++) out[i] = this.tail[at + i - this.checksumOffset];
  return out;
};
function hexToBytes(h) {
  var out = new Uint8Array(h.length / 2);
  for (var i = 0; i < out.length; i++) out[i] = parseInt(h.substr(i * 2, 2), 16);
  return out;
}
function bytesToHex(b) {
  var s = '';
  for (var i = 0; i < b.length; i++) s += (b[i] < 16 ? '0' : '') + b[i].toString(16);
  return s;
}

// ------------------------------------------------------------------------------------ the flow
var PARTITIONS_TWO_OTA =
  '# ESP-IDF partitions_two_ota.csv\n' +
  '# Name,   Type, SubType, Offset,   Size, Flags\n' +
  'nvs,      data, nvs,     0x9000,  0x4000,\n' +
  'otadata,  data, ota,     0xd000,  0x2000,\n' +
  'phy_init, data, phy,     0xf000,  0x1000,\n' +
  'factory,  app,  factory, 0x10000,  1M,\n' +
  'ota_0,    app,  ota_0,   0x110000, 1M,\n' +
  'ota_1,    app,  ota_1,   0x210000, 1M,\n';

function part(label, type, subtype, offset, size) {
  return { label: label, type: type, subtype: subtype, offset: offset, size: size, flags: 0 };
}

// partitions_two_ota.bin as gen_esp32part.py writes it (6 entries and the MD5 record)
var PARTITIONS_TWO_OTA_BIN = 'aa50010200900000004000006e76730000000000000000000000000000000000aa50010000d00000002000006f74616461746100000000000000000000000000aa50010100f00000001000007068795f696e6974000000000000000000000000aa5000000000010000001000666163746f727900000000000000000000000000aa50001000001100000010006f74615f30000000000000000000000000000000aa50001100002100000010006f74615f31000000000000000000000000000000ebebffffffffffffffffffffffffffffbf25822c0fa6d8641bd930251e06b4c4';

/** The hashes the flow uses: the bundle's JS ones, or SHA-256 from the host (SCENARIO_OPTS.hash = 'host'). */
function scenarioHashes(lib) {
  if (SC.hash !== 'host') return lib.portableHashes;
  if (typeof hostSha256 !== 'function') throw new Error('SCENARIO_OPTS.hash = host, but this engine has no hostSha256()');
  // the library's way when the build has it (src/hash/host.ts: checks the native hash against test vectors)
  if (typeof lib.hostHashes === 'function') return lib.hostHashes({ sha256: { create: function () { return hostSha256(); } } });
  var js = lib.portableHashes;
  return {
    sha256: function () { return hostSha256(); },
    md5: function () { return js.md5(); },
    crc32: function (data, previous) { return js.crc32(data, previous); }
  };
}

function runScenario() {
  var lib = OtaFlash;
  var R = { ok: false, engine: SC.engine || null, bundle: SC.bundle || null, imageSize: IMAGE_SIZE, chunk: CHUNK, flashSize: FLASH_SIZE };
  var step = 'start';
  try {
    MEM.afterLoad = sample();
    var hashes = scenarioHashes(lib);
    R.hash = SC.hash === 'host' ? (typeof lib.hostHashes === 'function' ? 'host (hostHashes)' : 'host') : 'js';
    var opts = { rollback: true, hashes: hashes };

    step = 'image source';
    var t0 = Date.now();
    var src = new ImageSource(lib, IMAGE_SIZE);
    if (SC.tailHex) src.tail = hexToBytes(SC.tailHex);
    else src.computeTail(lib, hashes);
    R.imageTailHex = bytesToHex(src.tail);
    R.prepassMs = Date.now() - t0;

    step = 'flash';
    var fl = makeFlash(SC.flash);
    var dev = fl.dev;
    R.flash = fl.kind;

    step = 'partition table';
    var t1 = Date.now();
    // The same table as an object by default (a device reads its table from flash, never CSV);
    // SCENARIO_OPTS.csv = true parses the CSV text in the engine as well.
    var csv = SC.csv ? lib.parsePartitionCsv(PARTITIONS_TWO_OTA) : { md5: null, partitions: [
      part('nvs', 1, 0x02, 0x9000, 0x4000), part('otadata', 1, 0x00, 0xd000, 0x2000), part('phy_init', 1, 0x01, 0xf000, 0x1000),
      part('factory', 0, 0x00, 0x10000, 0x100000), part('ota_0', 0, 0x10, 0x110000, 0x100000), part('ota_1', 0, 0x11, 0x210000, 0x100000)] };
    R.tableFrom = SC.csv ? 'csv' : 'object';
    dev.erase(0x8000, SECTOR);
    // a device build may leave the table encoder out: then write the same table as ESP-IDF's tool made it
    dev.write(0x8000, typeof lib.encodePartitionTable === 'function' ? lib.encodePartitionTable(csv, { md5: true, hashes: hashes })
      : hexToBytes(PARTITIONS_TWO_OTA_BIN));
    var table = lib.readPartitionTable(dev, 0x8000, { hashes: hashes });
    MEM.beforeUpdate = sample();

    step = 'begin';
    var t2 = Date.now(), sampling2 = MEM.sampleMs;
    var engine = lib.OtaEngine.open(dev, opts);
    var target = engine.nextUpdatePartition();
    var writer = engine.begin(target, { size: IMAGE_SIZE, erase: 'sequential', maxEraseBytesPerStep: SECTOR });
    sample();

    step = 'write';
    var written = 0, crc = 0;
    while (written < IMAGE_SIZE) {
      var chunk = src.chunk(written);
      crc = lib.crc32(chunk, crc);
      writer.write(chunk);
      written += chunk.length;
      chunk = null;
      sample();
    }
    step = 'end (verify)';
    var verdict = writer.end();
    var t3 = Date.now(), sampling3 = MEM.sampleMs;
    sample();
    step = 'setBootPartition';
    engine.setBootPartition(target);
    sample();

    step = 'reboot 1';
    var first = lib.simulateReboot(dev, table, opts);
    sample();
    step = 'markValid';
    var afterBoot = lib.OtaEngine.open(dev, { rollback: true, hashes: hashes, running: first.boot });
    afterBoot.markValid();
    sample();
    var confirmed = afterBoot.slotState(target);
    step = 'reboot 2';
    var last = lib.simulateReboot(dev, table, opts);
    var t4 = Date.now();
    MEM.end = sample();

    step = 'read back';
    var back = 0, rb = new Uint8Array(CHUNK);
    for (var at = 0; at < IMAGE_SIZE; at += CHUNK) {
      var n = Math.min(CHUNK, IMAGE_SIZE - at);
      var v = n === CHUNK ? rb : rb.subarray(0, n);
      dev.read(target.offset + at, v);
      back = lib.crc32(v, back);
    }

    R.target = target.label;
    R.bytesWritten = written;
    R.verdictSize = verdict.size;
    R.hashValid = verdict.hashValid;
    R.appVersion = verdict.appDesc ? verdict.appDesc.version : null;
    R.firstBoot = first.label;
    R.firstBootState = first.activeStateAfterBoot === null ? null : lib.otaStateName(first.activeStateAfterBoot);
    R.stateAfterConfirm = confirmed === null ? null : lib.otaStateName(confirmed);
    R.finalBoot = last.label;
    R.finalBootState = last.activeStateAfterBoot === null ? null : lib.otaStateName(last.activeStateAfterBoot);
    R.imageCrc = crc >>> 0;
    R.flashCrc = back >>> 0;
    R.ms = { load: T_LOADED - T_START, prepass: R.prepassMs, table: t2 - t1, update: t3 - t2, updateSampling: sampling3 - sampling2, bootAndConfirm: t4 - t3, flow: t4 - t1 };
    if (dev.heapBytes) R.flashHeapBytes = dev.heapBytes();
    R.ok = R.target === 'ota_0' && written === IMAGE_SIZE && R.verdictSize === IMAGE_SIZE && R.hashValid === true &&
      R.firstBoot === 'ota_0' && R.firstBootState === 'PENDING_VERIFY' && R.stateAfterConfirm === 'VALID' &&
      R.finalBoot === 'ota_0' && R.finalBootState === 'VALID' && R.imageCrc === R.flashCrc;
  } catch (e) {
    R.ok = false;
    R.step = step;
    R.error = (e && e.name ? e.name + ': ' : '') + (e && e.message !== undefined ? e.message : String(e));
    if (e && e.code) R.code = e.code;
    if (e && e.stack && SC.stack !== false) R.stack = String(e.stack).split('\n').slice(0, 8).join(' | ');
  }
  delete R.prepassMs;
  R.mem = MEM;
  scOut('SCENARIO_RESULT ' + JSON.stringify(R));
  return R;
}

if (!SC.library) runScenario();
