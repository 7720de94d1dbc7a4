// The CLI's promises across all commands: every --help names exactly the options the command
// takes, the README's CLI table names every command with real options only, every --json output
// is one JSON document with numbers as numbers, the shapes issues 3 and 4 fix are met (checked
// against an independent decoding of the vectors), and `update` shows a bar on a terminal and plain
// lines otherwise.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createHash } from 'node:crypto';
import { run } from '../../src/cli/run';
import { commands } from '../../src/cli/commands';
import { nodeIo } from '../../src/cli/io';

const repoRoot = path.resolve(new URL('../../', import.meta.url).pathname);
const VECTORS = path.resolve(repoRoot, 'test/fixtures');
const TABLES = path.join(VECTORS, 'partition-tables');
const IMAGES = path.join(VECTORS, 'app-images');
const APP = path.join(IMAGES, 'esp-serial-flasher/hello_world-esp32.bin');
const APP_B = path.join(IMAGES, 'elf2image/coredump-app-esp32.bin');

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'otaflash-consistency-'));
process.on('exit', () => fs.rmSync(tmp, { recursive: true, force: true }));
let counter = 0;
const tmpPath = (name: string) => path.join(tmp, `${counter++}-${name}`);

function cli(argv: string[], isTTY = false): { code: number; stdout: string; stderr: string } {
  let stdout = '';
  let stderr = '';
  const code = run(argv, {
    stdout: (t) => void (stdout += typeof t === 'string' ? t : Buffer.from(t).toString('latin1')),
    stderr: (t) => void (stderr += t),
    isTTY,
  });
  return { code, stdout, stderr };
}

function ok(argv: string[], isTTY = false) {
  const r = cli(argv, isTTY);
  assert.is(r.code, 0, `otaflash ${argv.join(' ')} exited ${r.code}: ${r.stderr}`);
  return r;
}

/** The options a command accepts, as its parser lists them when given an unknown one. */
function acceptedOptions(name: string): string[] {
  const r = cli(name.split(' ').concat(['--zz-no-such-option']));
  const m = /unknown option --zz-no-such-option \(options: ([^)]*)\)/.exec(r.stderr);
  assert.ok(m, `${name}: the unknown-option error lists the options: ${r.stderr}`);
  return m![1] === 'none' ? [] : m![1].split(' ').map((o) => o.replace(/^--/, ''));
}

/** Options the help text documents: in its Usage block (up to the first blank line) or as an option line. */
function documentedOptions(help: string): string[] {
  const lines = help.split('\n');
  const usageEnd = lines.indexOf('');
  const places = lines.slice(0, usageEnd < 0 ? lines.length : usageEnd).concat(lines.filter((l) => /^\s+--[a-z]/.test(l)));
  const found = new Set<string>();
  for (const l of places) for (const m of l.match(/--[a-z][a-z0-9-]*/g) ?? []) found.add(m.slice(2));
  return Array.from(found).sort();
}

test('every command: --help exits 0 with its usage on stdout and names exactly the options it takes', () => {
  for (const name of Object.keys(commands)) {
    for (const flag of ['--help', '-h']) {
      const r = cli(name.split(' ').concat([flag]));
      assert.is(r.code, 0, `${name} ${flag}`);
      assert.is(r.stderr, '');
      assert.ok(r.stdout.startsWith(`Usage: otaflash ${name}`), `${name} ${flag}:\n${r.stdout}`);
    }
    assert.equal(documentedOptions(commands[name].help), acceptedOptions(name).sort(), `${name}: documented options = accepted options`);
  }
  const top = cli(['--help']);
  assert.is(top.code, 0);
  for (const name of Object.keys(commands)) assert.ok(top.stdout.includes(`  ${name} `), `otaflash --help lists ${name}`);
});

test("README's CLI table: every command has a row, and every option a row shows is one the command takes", () => {
  const readme = fs.readFileSync(path.join(repoRoot, 'README.md'), 'utf8');
  const start = readme.indexOf('\n## CLI\n');
  assert.ok(start >= 0, 'README has a "## CLI" section');
  const end = readme.indexOf('\n## ', start + 1);
  const section = readme.slice(start, end < 0 ? readme.length : end);
  const rows = section.split('\n').filter((l) => l.startsWith('| `'));
  const names = Object.keys(commands).sort((a, b) => b.length - a.length);
  const covered = new Set<string>();
  for (const row of rows) {
    const cell = row.split(/(?<!\\)\|/)[1];
    // Each backticked form in the first cell starts with a command name.
    for (const form of cell.match(/`[^`]+`/g) ?? []) {
      const text = form.slice(1, -1);
      const name = names.find((n) => text === n || text.startsWith(n + ' '));
      assert.ok(name, `README row names a real command: ${form}`);
      covered.add(name!);
      const accepted = acceptedOptions(name!);
      for (const m of text.match(/--[a-z][a-z0-9-]*/g) ?? []) {
        assert.ok(accepted.indexOf(m.slice(2)) >= 0, `README shows ${m} for '${name}', which does not take it`);
      }
    }
  }
  for (const name of Object.keys(commands)) assert.ok(covered.has(name), `README's CLI table has a row for '${name}'`);
});

/** A minimal decoder of ESP-IDF's 32-byte partition records, independent of src/formats. */
function decodeRecords(bin: Uint8Array) {
  const dv = new DataView(bin.buffer, bin.byteOffset, bin.byteLength);
  const parts: Array<Record<string, unknown>> = [];
  let md5: string | null = null;
  let ended = false;
  for (let at = 0; at + 32 <= bin.length; at += 32) {
    if (bin.subarray(at, at + 32).every((b) => b === 0xff)) {
      ended = true;
      break;
    }
    if (bin[at] === 0xeb && bin[at + 1] === 0xeb) {
      md5 = Buffer.from(bin.subarray(at + 16, at + 32)).toString('hex');
      assert.is(md5, createHash('md5').update(bin.subarray(0, at)).digest('hex'), 'the vector MD5 record is the MD5 of the records before it');
      continue;
    }
    if (bin[at] !== 0xaa || bin[at + 1] !== 0x50) break;
    const labelBytes = bin.subarray(at + 12, at + 28);
    const nul = labelBytes.indexOf(0);
    const flags = dv.getUint32(at + 28, true);
    parts.push({
      label: Buffer.from(labelBytes.subarray(0, nul < 0 ? 16 : nul)).toString('utf8'),
      type: bin[at + 2],
      subtype: bin[at + 3],
      offset: dv.getUint32(at + 4, true),
      size: dv.getUint32(at + 8, true),
      encrypted: (flags & 1) !== 0,
      readonly: (flags & 2) !== 0,
    });
  }
  return { table: { partitions: parts, md5 }, ended };
}

test('partition-table show --json is exactly issue 3\'s shape on every binary vector', () => {
  // Binary tables start with the record magic (the folder also holds an otadata dump).
  const bins = fs.readdirSync(TABLES).filter((f) => f.endsWith('.bin') && fs.readFileSync(path.join(TABLES, f)).subarray(0, 2).equals(Buffer.from([0xaa, 0x50])));
  assert.ok(bins.length >= 10, 'binary table vectors found');
  for (const f of bins) {
    const expected = decodeRecords(new Uint8Array(fs.readFileSync(path.join(TABLES, f))));
    const argv = ['partition-table', 'show', path.join(TABLES, f), '--json', '--no-verify'];
    if (!expected.ended) {
      // No end-of-table record: the bootloader would read on into whatever follows.
      const r = cli(argv);
      assert.is(r.code, 2, `${f}: a table without an end marker is refused`);
      assert.match(r.stderr, /^otaflash partition-table show: [^\n]*end[^\n]*\n$/, `${f}: ${r.stderr}`);
      continue;
    }
    assert.equal(JSON.parse(ok(argv).stdout), expected.table, f);
  }
});

test('image info --json has issue 4\'s fields with their types on every image vector', () => {
  const manifest = JSON.parse(fs.readFileSync(path.join(IMAGES, 'manifest.json'), 'utf8')) as { files: { file: string }[] };
  for (const { file } of manifest.files) {
    const r = cli(['image', 'info', path.join(IMAGES, file), '--json']);
    if (r.code === 2) {
      assert.is(r.stdout, '', `${file}: unusable input prints no JSON`);
      continue;
    }
    const j = JSON.parse(r.stdout);
    assert.is(r.code, j.valid ? 0 : 1, `${file}: exit code follows "valid"`);
    assert.type(j.chip, 'number', file);
    assert.type(j.entry, 'number', file);
    assert.ok(Array.isArray(j.segments), file);
    for (const s of j.segments) {
      assert.type(s.loadAddress, 'number', file);
      assert.type(s.length, 'number', file);
    }
    for (const k of ['checksumValid', 'hashValid']) assert.ok(j[k] === null || typeof j[k] === 'boolean', `${file}: ${k}`);
    assert.type(j.hashAppended, 'boolean', file);
    assert.type(j.valid, 'boolean', file);
    assert.ok('appDesc' in j, file);
    if (j.appDesc !== null) {
      assert.type(j.appDesc.version, 'string', file);
      assert.type(j.appDesc.projectName, 'string', file);
      assert.type(j.appDesc.secureVersion, 'number', file);
      assert.type(j.appDesc.idfVersion, 'string', file);
    }
  }
});

/** Fails on any string that is a number in disguise ("0x9000", "4096") outside prose fields. */
function numbersAreNumbers(value: unknown, where: string): void {
  const prose = new Set(['reason', 'message', 'error', 'why', 'version', 'projectName', 'idfVersion', 'file', 'output', 'label', 'date', 'time', 'dateTime', 'md5', 'sha256', 'elfSha256', 'imageDigest']);
  const walk = (v: unknown, at: string, key: string) => {
    if (typeof v === 'string') {
      if (!prose.has(key)) assert.not.ok(/^(0x[0-9a-f]+|\d+)$/i.test(v), `${where}: ${at} is the string ${JSON.stringify(v)}, not a number`);
    } else if (Array.isArray(v)) v.forEach((x, i) => walk(x, `${at}[${i}]`, key));
    else if (v !== null && typeof v === 'object') for (const k of Object.keys(v)) walk((v as Record<string, unknown>)[k], `${at}.${k}`, k);
  };
  walk(value, '$', '');
}

function json(argv: string[]): any {
  const r = ok(argv.concat(['--json']));
  let j: unknown;
  try {
    j = JSON.parse(r.stdout);
  } catch {
    assert.unreachable(`otaflash ${argv.join(' ')} --json printed no single JSON document:\n${r.stdout}`);
  }
  numbersAreNumbers(j, argv.join(' '));
  return j;
}

test('every --json output is one JSON document with numbers as numbers', () => {
  const f = tmpPath('flash.bin');
  const created = json(['flash', 'create', f, '--size', '4MB', '--table', path.join(TABLES, 'partitions_two_ota.csv'), '--app', APP]);
  assert.is(created.tableOffset, 0x8000);
  assert.equal(created.partitions.map((p: any) => [p.label, p.offset, p.size]), decodeRecords(new Uint8Array(fs.readFileSync(path.join(TABLES, 'partitions_two_ota.bin')))).table.partitions.map((p) => [p.label, p.offset, p.size]));
  json(['partition-table', 'show', f]);
  json(['image', 'info', APP]);
  json(['otadata', 'show', path.join(VECTORS, 'otadata/state_new.bin'), '--slots', '2']);
  const insp = json(['inspect', f]);
  assert.equal(insp.partitions.find((p: any) => p.label === 'ota_0'), { label: 'ota_0', type: 0, subtype: 0x10, offset: 0x110000, size: 0x100000, encrypted: false, readonly: false, typeName: 'app', subtypeName: 'ota_0' });
  const up = json(['update', f, APP_B]);
  assert.equal([up.offset, up.bytes, up.selected], [0x110000, fs.statSync(APP_B).size, true]);
  const boot = json(['boot', f, '--rollback', '--apply']);
  assert.is(boot.offset, 0x110000);
  json(['confirm', f]);
  json(['inspect', f]);
  json(['partition', 'read', f, '--label', 'nvs', '--output', tmpPath('nvs.bin')]);
  json(['partition', 'write', f, '--label', 'nvs', '--input', path.join(VECTORS, 'otadata/state_new.bin')]);
  json(['partition', 'erase', f, '--label', 'nvs']);
  json(['update', f, APP, '--slot', '1']);
  json(['otadata', 'switch', f, '--slot', '1']);
  json(['boot', f, '--rollback', '--apply']);
  json(['rollback', f]);
  json(['otadata', 'erase', f]);
});

test('update: a bar redrawn in place on a terminal, plain lines otherwise, both on stderr; a failure clears the bar', () => {
  const f = tmpPath('flash.bin');
  ok(['flash', 'create', f, '--size', '4MB', '--table', path.join(TABLES, 'partitions_two_ota.csv')]);
  const tty = ok(['update', f, APP, '--slot', '0', '--chunk', '1K', '--no-select'], true);
  assert.match(tty.stderr, /^\rupdate ota_0 \[[#-]{30}\] +\d+% /);
  assert.match(tty.stderr, /\rupdate ota_0 \[#{30}\] 100% 121\.5 KiB\/121\.5 KiB .* in \d+\.\d\d s\x1b\[K\n$/);
  assert.is(tty.stderr.split('\n').length, 2, 'one line on the terminal, ended once');
  assert.not.match(tty.stdout, /\r|\x1b/, 'stdout stays clean for data');
  const plain = ok(['update', f, APP, '--slot', '1', '--chunk', '1K', '--no-select'], false);
  assert.not.match(plain.stderr, /\r|\x1b/);
  const lines = plain.stderr.trim().split('\n');
  assert.ok(lines.length >= 2 && lines.length <= 5, `a few plain lines:\n${plain.stderr}`);
  for (const l of lines) assert.match(l, /^update ota_1: \d+\/124416 bytes \(\d+%\), /);
  assert.match(lines[lines.length - 1], /124416\/124416 bytes \(100%\)/);
  // --json: data on stdout, progress still on stderr.
  const j = cli(['update', f, APP, '--slot', '0', '--no-select', '--json']);
  assert.is(j.code, 0, j.stderr);
  JSON.parse(j.stdout);
  assert.match(j.stderr, /update ota_0: 124416\/124416 bytes/);
  // Progress follows stderr's terminal, not stdout's (stdout may be redirected to a file).
  assert.is(nodeIo.isTTY, Boolean(process.stderr.isTTY));
});

test.run();
