// The portable core (src/ outside node/, server/ and cli/) must run in a bare small engine: no Node modules,
// no Buffer, no TextEncoder/TextDecoder, no BigInt, no timers, no process, no console. The check parses
// the sources with the TypeScript parser, so comments and strings never trigger it and property names
// such as `hash.process()` are not mistaken for the global. The same walk runs over the device bundle.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { builtinModules } from 'node:module';
import ts from 'typescript';
import { deviceOutputs, ensureBuilt, repoRoot } from './device/bundle';

const FORBIDDEN_GLOBALS = new Set([
  'Buffer',
  'TextEncoder',
  'TextDecoder',
  'BigInt',
  'BigInt64Array',
  'BigUint64Array',
  'setTimeout',
  'setInterval',
  'setImmediate',
  'clearTimeout',
  'clearInterval',
  'queueMicrotask',
  'process',
  'console',
  'require',
  'module',
  '__dirname',
  '__filename',
  'NodeJS',
]);

/** Packages the core may import: none (its hashes and CRC-32 are its own, src/hash/). */
const ALLOWED_PACKAGES: string[] = [];

const NODE_BUILTINS = new Set(builtinModules);

interface Finding {
  file: string;
  line: number;
  what: string;
}

function isNodeModule(spec: string): boolean {
  return spec.startsWith('node:') || NODE_BUILTINS.has(spec) || NODE_BUILTINS.has(spec.split('/')[0]);
}

/** True when `id` names a member or a key, not a free variable (obj.process, { console: 1 }, method process()). */
function isPropertyName(id: ts.Identifier): boolean {
  const p = id.parent;
  if (!p) return false;
  if (ts.isPropertyAccessExpression(p) && p.name === id) return true;
  if (ts.isQualifiedName(p) && p.right === id) return true;
  if (
    (ts.isPropertyAssignment(p) ||
      ts.isMethodDeclaration(p) ||
      ts.isPropertyDeclaration(p) ||
      ts.isPropertySignature(p) ||
      ts.isMethodSignature(p) ||
      ts.isGetAccessorDeclaration(p) ||
      ts.isSetAccessorDeclaration(p) ||
      ts.isEnumMember(p) ||
      ts.isBindingElement(p)) &&
    (p as { name?: ts.Node }).name === id &&
    !(ts.isBindingElement(p) && !p.propertyName)
  ) {
    return true;
  }
  if (ts.isBindingElement(p) && p.propertyName === id) return true;
  if ((ts.isImportSpecifier(p) || ts.isExportSpecifier(p)) && p.propertyName === id) return true;
  return false;
}

/** True when `id` is, or names, a parameter of a function around it (esbuild's CommonJS wrappers take `module`). */
function isEnclosingParameter(id: ts.Identifier): boolean {
  for (let n: ts.Node | undefined = id.parent; n; n = n.parent) {
    if (ts.isFunctionLike(n) && n.parameters.some((p) => ts.isIdentifier(p.name) && p.name.text === id.text)) return true;
  }
  return false;
}

function scan(file: string, text: string, kind: ts.ScriptKind, checkImports: boolean): Finding[] {
  const sf = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true, kind);
  const found: Finding[] = [];
  const at = (node: ts.Node, what: string) => {
    const line = sf.getLineAndCharacterOfPosition(node.getStart(sf)).line + 1;
    found.push({ file, line, what });
  };
  const checkSpecifier = (node: ts.Node, spec: string) => {
    if (isNodeModule(spec)) at(node, `imports Node module '${spec}'`);
    else if (checkImports && !spec.startsWith('.') && !ALLOWED_PACKAGES.some((p) => spec === p || spec.startsWith(p + '/'))) {
      at(node, `imports package '${spec}', which is not an allowed pure-JS dependency`);
    }
  };
  const visit = (node: ts.Node): void => {
    if ((ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) && node.moduleSpecifier && ts.isStringLiteral(node.moduleSpecifier)) {
      checkSpecifier(node, node.moduleSpecifier.text);
    } else if (ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword) {
      at(node, 'dynamic import()');
    } else if (ts.isCallExpression(node) && ts.isIdentifier(node.expression) && node.expression.text === 'require') {
      const arg = node.arguments[0];
      at(node, `require(${arg && ts.isStringLiteral(arg) ? `'${arg.text}'` : '...'})`);
    } else if (node.kind === ts.SyntaxKind.BigIntLiteral) {
      at(node, `BigInt literal ${node.getText(sf)}`);
    } else if (node.kind === ts.SyntaxKind.BigIntKeyword) {
      at(node, "'bigint' type");
    } else if (ts.isIdentifier(node) && FORBIDDEN_GLOBALS.has(node.text) && !isPropertyName(node) && !isEnclosingParameter(node)) {
      at(node, `references '${node.text}'`);
    }
    ts.forEachChild(node, visit);
  };
  visit(sf);
  return found;
}

function coreSourceFiles(): string[] {
  const src = path.join(repoRoot, 'src');
  const out: string[] = [];
  const walk = (dir: string) => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) {
        if (dir === src && (e.name === 'node' || e.name === 'cli' || e.name === 'server')) continue;
        walk(p);
      } else if (/\.(ts|js|mjs|cjs)$/.test(e.name)) {
        out.push(p);
      }
    }
  };
  walk(src);
  return out.sort();
}

function report(findings: Finding[]): string {
  return findings.map((f) => `${path.relative(repoRoot, f.file)}:${f.line}: ${f.what}`).join('\n');
}

// --- the checker itself must catch what it is meant to catch -------------------------------------

test('the checker flags each forbidden construct and ignores comments, strings and property names', () => {
  const bad = [
    "import * as fs from 'node:fs';",
    "import { createHash } from 'crypto';",
    "export { x } from 'zlib';",
    "const p = require('path');",
    'const b = Buffer.from([1]);',
    "const e = new TextEncoder().encode('x');",
    'const d = new TextDecoder();',
    'const n = BigInt(1);',
    'const m = 10n;',
    'let t: bigint;',
    'setTimeout(() => 0, 1);',
    'setInterval(() => 0, 1);',
    'const env = process.env;',
    "console.log('x');",
    "import x from 'left-pad';",
    "import { sha256 } from '@noble/hashes/sha2.js';",
    'function f(a) { return module.exports; }',
    'const { argv } = process;',
    'const o = { process };',
  ];
  for (const line of bad) {
    const f = scan('bad.ts', line, ts.ScriptKind.TS, true);
    assert.ok(f.length >= 1, `not flagged: ${line}`);
  }
  const good = [
    '// console.log(Buffer) and process.env in a comment',
    '/* setTimeout(require("fs")) */ const a = 1;',
    "const s = 'console.log(Buffer.from(process))';",
    'const s2 = `TextEncoder ${1} BigInt`;',
    'hash.process(view, 0);',
    'class H { process(v: number) { return v; } console = 1; }',
    'const o = { process: 1, console: 2, Buffer: 3 };',
    'const { process: run } = { process: 1 };',
    "import { crc32 } from './hash/portable';",
    'function wrap(exports, module) { module.exports = 1; }',
    'var r = function (module) { return module.id; };',
    'type T = { setTimeout: number };',
    'const re = /process|console/;',
  ];
  for (const line of good) {
    const f = scan('good.ts', line, ts.ScriptKind.TS, true);
    assert.equal(f, [], `flagged wrongly: ${line}\n${report(f)}`);
  }
});

// --- the real sources and bundle ------------------------------------------------------------------

test('portable core sources reference no Node API, Buffer, TextEncoder, BigInt, timers, process or console', () => {
  const files = coreSourceFiles();
  assert.ok(files.length >= 5, `expected the core sources under src/, found ${files.length}`);
  assert.ok(files.some((f) => f.endsWith(path.join('src', 'device.ts'))), 'src/device.ts is part of the core');
  assert.not.ok(files.some((f) => f.includes(`${path.sep}src${path.sep}node${path.sep}`) || f.includes(`${path.sep}src${path.sep}cli${path.sep}`)));
  const findings: Finding[] = [];
  for (const f of files) findings.push(...scan(f, fs.readFileSync(f, 'utf8'), ts.ScriptKind.TS, true));
  assert.equal(findings.length, 0, `portable core uses forbidden APIs:\n${report(findings)}`);
});

// Parsed files are shared between the programs below: parsing the libs and sources is most of the cost.
const parsed = new Map<string, ts.SourceFile | undefined>();

function diagnostics(files: string[], within: string, es2015Only: boolean): Map<string, string> {
  const options: ts.CompilerOptions = {
    target: ts.ScriptTarget.ES2015,
    // lib.es2015 has no Array.prototype.includes, Object.entries/values, padStart, flat or BigInt,
    // and with no @types the Node globals are unknown names: both surface as compile errors.
    lib: es2015Only ? ['lib.es2015.d.ts'] : ['lib.es2020.d.ts'],
    module: ts.ModuleKind.ESNext,
    moduleResolution: ts.ModuleResolutionKind.Bundler,
    strict: true,
    noEmit: true,
    skipLibCheck: true,
    types: es2015Only ? [] : ['node'],
  };
  const host = ts.createCompilerHost(options);
  const read = host.getSourceFile.bind(host);
  host.getSourceFile = (fileName, languageVersion, onError, shouldCreate) => {
    if (!parsed.has(fileName)) parsed.set(fileName, read(fileName, languageVersion, onError, shouldCreate));
    return parsed.get(fileName);
  };
  const program = ts.createProgram(files, options, host);
  const out = new Map<string, string>();
  for (const d of ts.getPreEmitDiagnostics(program)) {
    if (!d.file || !path.resolve(d.file.fileName).startsWith(within)) continue;
    const line = d.start !== undefined ? d.file.getLineAndCharacterOfPosition(d.start).line + 1 : 0;
    const where = `${path.relative(repoRoot, d.file.fileName)}:${line}`;
    out.set(`${where}:${d.code}`, `${where}: ${ts.flattenDiagnosticMessageText(d.messageText, ' ')}`);
  }
  return out;
}

/**
 * Errors that appear only when the code is compiled against ES2015 without Node's types. Ordinary
 * type errors (present with the project's own settings too) are left to `tsc --noEmit`.
 */
function es2015Diagnostics(files: string[], within: string): string[] {
  const strict = diagnostics(files, within, true);
  const usual = diagnostics(files, within, false);
  const out: string[] = [];
  strict.forEach((text, key) => {
    if (!usual.has(key)) out.push(text);
  });
  return out;
}

test('the ES2015 library check catches ES2016+ methods and Node globals', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'otaflash-es2015-'));
  try {
    const file = path.join(dir, 'probe.ts');
    fs.writeFileSync(
      file,
      [
        'export const a = [1].includes(1);',
        'export const b = Object.entries({ x: 1 });',
        "export const c = 'a'.padStart(3);",
        'export const d = Buffer.alloc(1);',
        "export const e = 'abc'.includes('b');", // ES2015: allowed
        'export const f = Array.from(new Uint8Array(2)).map((x) => x + 1);', // allowed
      ].join('\n'),
    );
    const diags = es2015Diagnostics([file], dir + path.sep);
    assert.is(diags.length, 4, diags.join('\n'));
    for (const line of [1, 2, 3, 4]) assert.ok(diags.some((d) => d.includes(`probe.ts:${line}:`)), `line ${line} not caught:\n${diags.join('\n')}`);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('portable core type-checks against the ES2015 library alone (no ES2016+ methods, no @types/node)', () => {
  const files = coreSourceFiles().filter((f) => f.endsWith('.ts'));
  const diags = es2015Diagnostics(files, path.join(repoRoot, 'src') + path.sep);
  assert.is(diags.length, 0, `the core needs more than ES2015:\n${diags.join('\n')}`);
});

test('every device build (whole, core, add-ons, polyfills; ES2015 and ES5) references none of them either', () => {
  ensureBuilt();
  assert.ok(deviceOutputs.length >= 30, `expected every device output, got ${deviceOutputs.length}`);
  for (const file of deviceOutputs) {
    const text = fs.readFileSync(file, 'utf8');
    assert.ok(text.length > 1000, `${file} looks empty`);
    // Bundled code may not import anything at all; third-party code inside it is checked too.
    const findings = scan(file, text, ts.ScriptKind.JS, false);
    assert.equal(findings.length, 0, `device bundle uses forbidden APIs:\n${report(findings)}`);
  }
});

test.run();
