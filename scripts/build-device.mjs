// Builds the device bundles into dist/device/, each an IIFE defining the global `OtaFlash`:
//   otaflash.js / .min.js                 whole device API, ES2015
//   otaflash-core.js / .min.js            slim core (src/device-core.ts), ES2015
//   otaflash-core.es5.js / .es5.min.js    slim core lowered to ES5 (Duktape, Espruino)
//   otaflash.es5.js / .es5.min.js         whole device API lowered to ES5
//   otaflash-<addon>.js / .min.js (+ .es5) add-on modules (src/device-<addon>.ts) that take what the
//                                          core already defines from the global `OtaFlash` and add theirs
//   polyfills.es5.js                      what an ES5 engine needs before an ES5 bundle
// Run by tsup (tsup.config.ts onSuccess) after the library build, or alone: `node scripts/build-device.mjs`;
// `node scripts/build-device.mjs --sizes` prints the size table of what is built (deviceBuildSizes()).
// Lowering: esbuild bundles to ES2015; TypeScript (a dev dependency) lowers that bundle to ES5, with a
// transform that puts function declarations first in their scope (Espruino does not hoist them),
// class IIFEs flattened into the bundle's scope and template literals as `+` (both for Espruino's
// variables: see flattenClassIifes, templatesToPlus); esbuild minifies. Only devDependencies are used, so `npm ci` (prepare) works in a fresh clone.
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { fileURLToPath, pathToFileURL } from 'node:url';
import * as esbuild from 'esbuild';
import ts from 'typescript';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const outDir = path.join(root, 'dist', 'device');

/**
 * Add-on modules, in load order: name -> entry and the add-ons it builds on. Each is built against
 * the core and those: a module they already hold, imported only for names they export, is read
 * from the global `OtaFlash` instead of being bundled again.
 */
export const ADDONS = {
  signature: { entry: 'src/device-signature.ts', after: [] },
  delta: { entry: 'src/device-delta.ts', after: ['signature'] },
  store: { entry: 'src/device-store.ts', after: ['signature', 'delta'] },
  scratchpad: { entry: 'src/device-scratchpad.ts', after: [] },
  agent: { entry: 'src/device-agent.ts', after: ['signature', 'delta', 'store'] },
};

// esbuild's helper for `{ ...a, b }` is `__spreadProps(x, __getOwnPropDescs(y))` with
// `__getOwnPropDescs = Object.getOwnPropertyDescriptors` (ES2017). The same in ES5 calls, so the
// bundle calls nothing later than ES2015 whatever spreads the sources use.
const OWN_DESCS_FROM = 'var __getOwnPropDescs = Object.getOwnPropertyDescriptors;';
const OWN_DESCS_TO = 'var __getOwnPropDescs = function(o) { var r = {}, k = Object.getOwnPropertyNames(o), i; ' +
  'for (i = 0; i < k.length; i++) r[k[i]] = Object.getOwnPropertyDescriptor(o, k[i]); ' +
  'if (Object.getOwnPropertySymbols) { k = Object.getOwnPropertySymbols(o); for (i = 0; i < k.length; i++) r[k[i]] = Object.getOwnPropertyDescriptor(o, k[i]); } ' +
  'return r; };';

function patchHelpers(code, what) {
  const patched = code.split(OWN_DESCS_FROM).join(OWN_DESCS_TO);
  if (patched.includes('getOwnPropertyDescriptors')) {
    throw new Error(`${what}: esbuild's object-spread helper changed; scripts/build-device.mjs must replace its Object.getOwnPropertyDescriptors`);
  }
  return patched;
}

/**
 * A TypeScript transform that moves function declarations to the start of every statement list
 * (after a "use strict" prologue), keeping their order. Declarations are hoisted by the language, so
 * this changes nothing where hoisting works; Espruino does not hoist them, and TypeScript's ES5
 * class pattern calls `__extends(Sub, _super)` before the `function Sub` that follows it.
 */
function hoistFunctions(context) {
  const f = context.factory;
  function reorder(statements) {
    let prologue = 0;
    while (prologue < statements.length && ts.isExpressionStatement(statements[prologue]) && ts.isStringLiteral(statements[prologue].expression)) prologue++;
    const head = statements.slice(0, prologue);
    const rest = statements.slice(prologue);
    const fns = rest.filter((s) => ts.isFunctionDeclaration(s));
    if (fns.length === 0) return null;
    const others = rest.filter((s) => !ts.isFunctionDeclaration(s));
    return head.concat(fns, others);
  }
  function visit(node) {
    node = ts.visitEachChild(node, visit, context);
    if (ts.isBlock(node)) {
      const s = reorder(node.statements);
      return s ? f.updateBlock(node, s) : node;
    }
    if (ts.isCaseClause(node) || ts.isDefaultClause(node)) {
      const s = reorder(node.statements);
      if (!s) return node;
      return ts.isCaseClause(node) ? f.updateCaseClause(node, node.expression, s) : f.updateDefaultClause(node, s);
    }
    return node;
  }
  return (sf) => {
    const out = ts.visitEachChild(sf, visit, context);
    const s = reorder(out.statements);
    return s ? f.updateSourceFile(out, s) : out;
  };
}

/** How often `word` occurs in `text` as a whole identifier (a property name counts too). */
function countWord(text, word) {
  return text.split(new RegExp(`(?<![\\w$])${word.replace(/\$/g, '\\$')}(?![\\w$])`)).length - 1;
}

/**
 * The class IIFE of TypeScript's ES5 lowering (`var X = (function (_super) { function X() {..}
 * __extends(X, _super); X.prototype.m = ..; return X; }(Base));`) -> the same statements in the
 * enclosing scope, `_super` replaced by `Base`. Espruino stores with each function the scope chain it
 * was made in; a chain of two scopes (the bundle's, the class IIFE's) is copied into a new array for
 * every method, 3 variables each (some 400 in the slim core). Flat, every function shares the
 * bundle's scope. Only the plain shape is flattened: the function X, expression statements and the
 * return, a base that is an identifier, so no name can clash; anything else stays as TypeScript made it.
 * Returns the transform and counts what it did (the build checks that it found classes to flatten).
 */
function flattenClassIifes(stats, sourceText) {
  return (context) => {
    const f = context.factory;
    function classIife(s) {
      if (!ts.isVariableStatement(s) || s.declarationList.declarations.length !== 1) return null;
      const d = s.declarationList.declarations[0];
      if (!ts.isIdentifier(d.name) || !d.initializer) return null;
      let call = d.initializer;
      while (ts.isParenthesizedExpression(call)) call = call.expression;
      if (!ts.isCallExpression(call)) return null;
      let fn = call.expression;
      while (ts.isParenthesizedExpression(fn)) fn = fn.expression;
      if (!ts.isFunctionExpression(fn) || fn.name || fn.parameters.length !== call.arguments.length || fn.parameters.length > 1) return null;
      const name = d.name.text;
      const body = fn.body.statements;
      const last = body[body.length - 1];
      if (!last || !ts.isReturnStatement(last) || !last.expression || !ts.isIdentifier(last.expression)) return null;
      const rest = body.slice(0, -1);
      const ctor = rest.filter((x) => ts.isFunctionDeclaration(x));
      // esbuild names the inner function `_X` when the class refers to itself (`var X = class _X`):
      // flattened, `function _X` and `var X = _X`, if `_X` is used nowhere outside the class
      const inner = ctor.length === 1 ? ctor[0].name?.text : undefined;
      if (!inner || inner !== last.expression.text) return null;
      if (inner !== name && (s.pos < 0 || countWord(sourceText, inner) !== countWord(sourceText.slice(s.pos, s.end), inner))) return null;
      if (!rest.every((x) => x === ctor[0] || ts.isExpressionStatement(x))) return null;
      let superName = null;
      let base = null;
      if (fn.parameters.length === 1) {
        const p = fn.parameters[0];
        if (!ts.isIdentifier(p.name) || p.initializer || p.dotDotDotToken || !ts.isIdentifier(call.arguments[0])) return null;
        superName = p.name.text;
        base = call.arguments[0].text;
      }
      const alias = inner === name ? [] : [f.createVariableStatement(undefined, f.createVariableDeclarationList([f.createVariableDeclaration(name, undefined, undefined, f.createIdentifier(inner))]))];
      return { rest: rest.concat(alias), superName, base };
    }
    // `_super` -> the base's name, except inside a function that declares its own `_super`
    function renameSuper(node, from, to) {
      const visit = (n) => {
        if (ts.isFunctionLike(n) && n.parameters?.some((p) => ts.isIdentifier(p.name) && p.name.text === from)) return n;
        if (ts.isIdentifier(n) && n.text === from) {
          const parent = n.parent;
          // a property name (`a._super`, `{ _super: 1 }`) is not the binding
          if (parent && ((ts.isPropertyAccessExpression(parent) && parent.name === n) || (ts.isPropertyAssignment(parent) && parent.name === n))) return n;
          return f.createIdentifier(to);
        }
        return ts.visitEachChild(n, visit, context);
      };
      return visit(node);
    }
    function flatten(statements) {
      let changed = false;
      const out = [];
      for (const s of statements) {
        const c = classIife(s);
        if (!c) {
          out.push(s);
          continue;
        }
        changed = true;
        stats.flattened++;
        for (const x of c.rest) out.push(c.superName ? renameSuper(x, c.superName, c.base) : x);
      }
      return changed ? out : null;
    }
    function visit(node) {
      node = ts.visitEachChild(node, visit, context);
      if (ts.isBlock(node)) {
        const s = flatten(node.statements);
        return s ? f.updateBlock(node, s) : node;
      }
      return node;
    }
    return (sf) => {
      const out = ts.visitEachChild(sf, visit, context);
      const s = flatten(out.statements);
      return s ? f.updateSourceFile(out, s) : out;
    };
  };
}

/**
 * Template literals -> `+` (TypeScript lowers `a${x}b` to `"a".concat(x, "b")`, 8 characters more for
 * each of some 400 messages; Espruino keeps a copy of each function's text in variables when the code is
 * not in memory-mapped flash). The same string for the values the library interpolates (strings,
 * numbers, booleans, null, undefined, arrays, plain objects and errors): `+` and `concat` differ only for
 * an object whose valueOf and toString disagree, such as a Date. Tagged templates are left alone.
 */
function templatesToPlus(context) {
  const f = context.factory;
  const simple = (e) => ts.isIdentifier(e) || ts.isPropertyAccessExpression(e) || ts.isCallExpression(e) || ts.isElementAccessExpression(e) || ts.isStringLiteral(e) || ts.isNumericLiteral(e) || ts.isParenthesizedExpression(e);
  function visit(node) {
    if (ts.isTaggedTemplateExpression(node)) return node;
    node = ts.visitEachChild(node, visit, context);
    if (!ts.isTemplateExpression(node)) return node;
    let out = f.createStringLiteral(node.head.text);
    for (const span of node.templateSpans) {
      const e = simple(span.expression) ? span.expression : f.createParenthesizedExpression(span.expression);
      out = f.createBinaryExpression(out, ts.SyntaxKind.PlusToken, e);
      if (span.literal.text !== '') out = f.createBinaryExpression(out, ts.SyntaxKind.PlusToken, f.createStringLiteral(span.literal.text));
    }
    return f.createParenthesizedExpression(out);
  }
  return (sf) => ts.visitEachChild(sf, visit, context);
}

/** ES2015 script -> ES5 script (TypeScript's lowering, not type-checked), function declarations first. */
export function lowerToEs5(code, fileName) {
  const r = ts.transpileModule(code, {
    fileName,
    compilerOptions: {
      target: ts.ScriptTarget.ES5,
      module: ts.ModuleKind.CommonJS, // the input is a script (no import/export): nothing is added
      // for-of and spread through iterators where the engine has them, by index over array-likes otherwise
      downlevelIteration: true,
      alwaysStrict: false, // a script concatenated with others (polyfills, the app) must not make them strict
      removeComments: true,
      noEmitHelpers: false,
      importHelpers: false,
      sourceMap: false,
    },
    reportDiagnostics: true,
    transformers: { before: [templatesToPlus] },
  });
  const errors = (r.diagnostics ?? []).filter((d) => d.category === ts.DiagnosticCategory.Error);
  if (errors.length > 0) {
    throw new Error(`${fileName}: TypeScript could not lower to ES5:\n` + errors.map((d) => ts.flattenDiagnosticMessageText(d.messageText, '\n')).join('\n'));
  }
  // after lowering, so TypeScript's own helpers (printed after any transformer runs) are reordered too
  const sf = ts.createSourceFile(fileName, r.outputText, ts.ScriptTarget.ES5, true, ts.ScriptKind.JS);
  const stats = { flattened: 0 };
  const t = ts.transform(sf, [flattenClassIifes(stats, r.outputText), hoistFunctions]);
  const out = ts.createPrinter({ removeComments: true }).printFile(t.transformed[0]);
  t.dispose();
  if (stats.flattened === 0 && /\b__extends\(/.test(out)) throw new Error(`${fileName}: no class IIFE flattened (TypeScript's ES5 class pattern changed?)`);
  return out;
}

// esbuild's default ASCII output (\uXXXX escapes) throughout: engines read source in different encodings.
async function minify(code, target) {
  const r = await esbuild.transform(code, { minify: true, target, legalComments: 'none' });
  return r.code;
}

/** Names Espruino's parser takes as keywords although ES5 allows them as identifiers. */
const ESPRUINO_RESERVED = new Set(['of', 'static', 'let', 'yield', 'implements', 'interface', 'package', 'private', 'protected', 'public']);

/**
 * Renames variables whose names Espruino refuses (esbuild's minifier picks `of` once it needs
 * two-letter names) to a name the file does not use. Property names keep their spelling.
 */
export function renameEspruinoReserved(code) {
  const sf = ts.createSourceFile('x.js', code, ts.ScriptTarget.ES5, true, ts.ScriptKind.JS);
  const hits = [];
  function walk(n) {
    if (ts.isIdentifier(n) && ESPRUINO_RESERVED.has(n.text)) {
      const p = n.parent;
      const isPropertyName = (ts.isPropertyAccessExpression(p) && p.name === n) || (ts.isPropertyAssignment(p) && p.name === n) ||
        ((ts.isMethodDeclaration(p) || ts.isGetAccessor(p) || ts.isSetAccessor(p)) && p.name === n) ||
        ((ts.isLabeledStatement(p) || ts.isBreakStatement(p) || ts.isContinueStatement(p)) && p.label === n);
      if (!isPropertyName) hits.push(n);
    }
    ts.forEachChild(n, walk);
  }
  walk(sf);
  if (hits.length === 0) return code;
  const fresh = {};
  let out = '';
  let at = 0;
  for (const n of hits) {
    if (!fresh[n.text]) {
      let k = 0;
      while (new RegExp(`\\b${n.text}\\$${k}\\b`).test(code)) k++;
      fresh[n.text] = `${n.text}$${k}`;
    }
    const start = n.getStart(sf);
    out += code.slice(at, start) + fresh[n.text];
    at = n.end;
  }
  return out + code.slice(at);
}

/**
 * Function declarations that come after another statement in their statement list, in an ES5
 * script: where Espruino (no hoisting) would see an undefined name. The build fails on any, so a
 * minifier that reorders statements cannot break Espruino silently.
 */
export function lateFunctionDeclarations(code) {
  const sf = ts.createSourceFile('x.js', code, ts.ScriptTarget.ES5, true, ts.ScriptKind.JS);
  const late = [];
  function check(statements) {
    let seenOther = false;
    for (const s of statements) {
      if (ts.isFunctionDeclaration(s)) {
        if (seenOther) late.push(s.name ? s.name.text : '(anonymous)');
      } else if (!(ts.isExpressionStatement(s) && ts.isStringLiteral(s.expression) && !seenOther)) seenOther = true;
    }
  }
  function walk(n) {
    if (ts.isBlock(n) || ts.isSourceFile(n) || ts.isCaseClause(n) || ts.isDefaultClause(n)) check(n.statements);
    ts.forEachChild(n, walk);
  }
  walk(sf);
  return late;
}

/** Maps imports of modules already loaded (core, earlier add-ons) to a module that reads the global `OtaFlash`. */
function fromGlobal(inputs, globals, used) {
  return {
    name: 'otaflash-from-global',
    setup(build) {
      build.onResolve({ filter: /^\.\.?\// }, (args) => {
        if (args.namespace !== 'file') return undefined;
        const base = path.resolve(args.resolveDir, args.path);
        const file = [base + '.ts', base, path.join(base, 'index.ts')].find((p) => fs.existsSync(p) && fs.statSync(p).isFile());
        if (!file) return undefined;
        const rel = path.relative(root, file).split(path.sep).join('/');
        if (!inputs.has(rel)) return undefined;
        const names = importedNames(args.importer, args.path);
        if (names === null || !names.every((n) => globals.has(n))) return undefined;
        used.add(rel);
        return { path: rel, namespace: 'otaflash-global' };
      });
      build.onLoad({ filter: /.*/, namespace: 'otaflash-global' }, () => ({ contents: 'module.exports = OtaFlash;', loader: 'js' }));
    },
  };
}

/** Value names `importer` takes from `spec` (type-only imports left out), or null for `import *`/re-export-all. */
function importedNames(importer, spec) {
  const sf = ts.createSourceFile(importer, fs.readFileSync(importer, 'utf8'), ts.ScriptTarget.ES2020, false, ts.ScriptKind.TS);
  const names = [];
  for (const s of sf.statements) {
    const from = (ts.isImportDeclaration(s) || ts.isExportDeclaration(s)) && s.moduleSpecifier && ts.isStringLiteral(s.moduleSpecifier) ? s.moduleSpecifier.text : null;
    if (from !== spec) continue;
    if (ts.isImportDeclaration(s)) {
      const c = s.importClause;
      if (!c || c.isTypeOnly) continue;
      if (c.name) return null;
      if (c.namedBindings && ts.isNamespaceImport(c.namedBindings)) return null;
      if (c.namedBindings) for (const e of c.namedBindings.elements) if (!e.isTypeOnly) names.push((e.propertyName ?? e.name).text);
    } else {
      if (s.isTypeOnly) continue;
      if (!s.exportClause || !ts.isNamedExports(s.exportClause)) return null;
      for (const e of s.exportClause.elements) if (!e.isTypeOnly) names.push((e.propertyName ?? e.name).text);
    }
  }
  return names;
}

function sizes(code) {
  return { bytes: Buffer.byteLength(code), gzip: zlib.gzipSync(code, { level: 9 }).length };
}

/**
 * The global gets plain values, not getters: esbuild's IIFE builds its exports as a getter closure per
 * export (`__export(x_exports, { name: () => name })`) wrapped in another getter per export
 * (`__toCommonJS`). Here the `__export` call goes and the IIFE returns an object literal of the values,
 * made when it ends (every export is initialised by then, none is reassigned later): the same names and
 * values, without some 260 closures, so JerryScript's, Duktape's and Espruino's heaps keep less.
 */
function plainExports(code, what) {
  const list = /\n  var (\w+_exports) = \{\};\n  __export\(\1, \{([\s\S]*?)\n  \}\);\n/.exec(code);
  const ret = /\n  return __toCommonJS\((\w+_exports)\);\n\}\)\(\);\n/.exec(code);
  if (!list || !ret || ret[1] !== list[1]) throw new Error(`${what}: cannot find the IIFE's exports (esbuild's output changed?)`);
  const pairs = [...list[2].matchAll(/^\s*(\w+): \(\) => (\w+),?$/gm)].map((m) => `${m[1]}: ${m[2]}`);
  const entries = list[2].split('\n').filter((l) => l.trim() !== '');
  if (pairs.length !== entries.length) throw new Error(`${what}: an export is not of the form name: () => local`);
  return code
    .replace(list[0], '\n')
    .replace(ret[0], `\n  return {\n    ${pairs.join(',\n    ')}\n  };\n})();\n`);
}

async function bundle(entry, extra = {}) {
  const r = await esbuild.build({
    entryPoints: [path.join(root, entry)],
    bundle: true,
    format: 'iife',
    globalName: 'OtaFlash',
    target: 'es2015',
    platform: 'browser',
    write: false,
    metafile: true,
    logLevel: 'silent',
    ...extra,
  });
  const raw = patchHelpers(r.outputFiles[0].text, entry);
  return { code: plainExports(raw, entry), metafile: r.metafile, exports: exportNames(raw, entry) };
}

function write(name, code, report) {
  fs.writeFileSync(path.join(outDir, name), code);
  report[name] = sizes(code);
}

/** Builds every device output; returns { file: { bytes, gzip } }. */
export async function buildDevice({ quiet = false } = {}) {
  fs.mkdirSync(outDir, { recursive: true });
  const report = {};
  const es5Lowered = async (base, code) => {
    const es5 = lowerToEs5(code, `${base}.js`);
    const es5min = renameEspruinoReserved(await minify(es5, 'es5'));
    for (const [n, c] of [[`${base}.es5.js`, es5], [`${base}.es5.min.js`, es5min]]) {
      const late = lateFunctionDeclarations(c);
      if (late.length > 0) throw new Error(`${n}: function declarations after other statements (Espruino would not see them): ${late.slice(0, 5).join(', ')}`);
    }
    write(`${base}.es5.js`, es5, report);
    write(`${base}.es5.min.js`, es5min, report);
  };

  const whole = await bundle('src/device.ts');
  write('otaflash.js', whole.code, report);
  write('otaflash.min.js', await minify(whole.code, 'es2015'), report);
  await es5Lowered('otaflash', whole.code);

  const core = await bundle('src/device-core.ts');
  write('otaflash-core.js', core.code, report);
  write('otaflash-core.min.js', await minify(core.code, 'es2015'), report);
  await es5Lowered('otaflash-core', core.code);

  // Add-ons: modules the core (or an add-on loaded before) holds come from the global; the rest is bundled.
  const provided = { core: { inputs: new Set(Object.keys(core.metafile.inputs)), exports: core.exports } };
  for (const [name, { entry, after }] of Object.entries(ADDONS)) {
    const bases = ['core', ...after].map((b) => {
      if (!provided[b]) throw new Error(`add-on ${name} builds on ${b}, which is not built before it`);
      return provided[b];
    });
    const inputs = new Set(bases.flatMap((b) => [...b.inputs]));
    const globals = new Set(bases.flatMap((b) => [...b.exports]));
    const used = new Set();
    // a loud failure when an add-on it needs was not loaded first, instead of undefined names later
    const checks = after.map((b) => `if (typeof OtaFlash.${[...provided[b].exports][0]} === 'undefined') throw new Error('otaflash-${name}: load otaflash-${b} first');`).join('\n');
    const r = await esbuild.build({
      entryPoints: [path.join(root, entry)],
      bundle: true,
      format: 'iife',
      globalName: '__otaflashAddOn',
      target: 'es2015',
      platform: 'browser',
      write: false,
      metafile: true,
      logLevel: 'silent',
      plugins: [fromGlobal(inputs, globals, used)],
      // the add-on's exports join the global the core made; the wrapper keeps its own name local
      banner: { js: `(function () {\nif (typeof OtaFlash === 'undefined') throw new Error('otaflash-${name}: load the otaflash core first');\n${checks}` },
      footer: { js: 'for (var __k in __otaflashAddOn) OtaFlash[__k] = __otaflashAddOn[__k];\n})();' },
    });
    const raw = patchHelpers(r.outputFiles[0].text, entry);
    const code = plainExports(raw, entry);
    const own = Object.keys(r.metafile.inputs).filter((i) => !i.startsWith('otaflash-global:'));
    const dup = own.filter((i) => inputs.has(i));
    for (const must of ['src/errors.ts', 'src/hash/portable.ts', 'src/ota/engine.ts', 'src/ota/writer.ts']) {
      if (dup.includes(must)) throw new Error(`${entry}: would carry its own copy of ${must} (its state and instanceof must be the core's)`);
    }
    provided[name] = { inputs: new Set(own), exports: exportNames(raw, entry) };
    write(`otaflash-${name}.js`, code, report);
    write(`otaflash-${name}.min.js`, await minify(code, 'es2015'), report);
    await es5Lowered(`otaflash-${name}`, code);
    report[`otaflash-${name}.js`].fromGlobal = [...used].sort();
    report[`otaflash-${name}.js`].duplicated = dup;
    const out = Object.values(r.metafile.outputs)[0];
    report[`otaflash-${name}.js`].largest = Object.entries(out.inputs).sort((a, b) => b[1].bytesInOutput - a[1].bytesInOutput).slice(0, 6).map(([k, v]) => `${k} ${v.bytesInOutput}`);
  }

  const poly = fs.readFileSync(path.join(root, 'scripts', 'device-polyfills.es5.js'), 'utf8');
  write('polyfills.es5.js', poly, report);
  write('polyfills.es5.min.js', await minify(poly, 'es5'), report);

  if (!quiet) {
    for (const [n, s] of Object.entries(report)) console.log(`dist/device/${n.padEnd(34)} ${String(s.bytes).padStart(7)} B  gzip ${String(s.gzip).padStart(6)} B`);
  }
  return report;
}

/** Names an IIFE bundle exports: the keys of esbuild's `__export(x_exports, { name: () => ... })`. */
function exportNames(code, what) {
  const m = /__export\(\w+_exports, \{([\s\S]*?)\n  \}\);/.exec(code);
  if (!m) throw new Error(`${what}: cannot find its export list`);
  return new Set([...m[1].matchAll(/^\s*(\w+): \(\) =>/gm)].map((x) => x[1]));
}

/**
 * Sizes of the device outputs now in dist/device (built before): file -> { bytes, gzip } (gzip -9),
 * for the README, docs/device.md and `npm run bench` (suite device). Nothing is built.
 */
export function deviceBuildSizes(dir = outDir) {
  const out = {};
  for (const f of fs.readdirSync(dir).filter((n) => /^(otaflash|polyfills)[a-z0-9.-]*\.js$/.test(n)).sort()) {
    out[f] = sizes(fs.readFileSync(path.join(dir, f)));
  }
  return out;
}

/** A markdown table of the minified outputs: build, ES level, min bytes, min + gzip bytes. */
export function deviceSizesTable(dir = outDir) {
  const s = deviceBuildSizes(dir);
  const rows = ['| module | ES2015 min / + gzip | ES5 min / + gzip |', '| --- | ---: | ---: |'];
  const fmt = (x) => (x ? `${x.bytes.toLocaleString('en-US')} / ${x.gzip.toLocaleString('en-US')} B` : '-');
  const bases = ['otaflash', 'otaflash-core', ...Object.keys(ADDONS).map((a) => `otaflash-${a}`)];
  for (const b of bases) rows.push(`| \`${b}\` | ${fmt(s[`${b}.min.js`])} | ${fmt(s[`${b}.es5.min.js`])} |`);
  rows.push(`| \`polyfills.es5\` | - | ${fmt(s['polyfills.es5.min.js'])} |`);
  return rows.join('\n');
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  if (process.argv[2] === '--sizes') console.log(deviceSizesTable());
  else {
    buildDevice().catch((e) => {
      console.error(e.message ?? e);
      process.exit(1);
    });
  }
}
