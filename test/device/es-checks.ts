// Static checks of the device bundles: the syntax level they parse at (acorn, which implements each
// edition's grammar exactly) and calls of library APIs that came after ES2015. Used by es2015.test.ts
// and es5.test.ts.
import * as acorn from 'acorn';

type Node = acorn.Node & Record<string, unknown>;

/** The parse error, or null when `code` is a valid script of that edition. */
export function syntaxError(code: string, ecmaVersion: 5 | 2015): string | null {
  try {
    acorn.parse(code, { ecmaVersion, sourceType: 'script', locations: true });
    return null;
  } catch (e) {
    return (e as Error).message;
  }
}

function walk(node: Node, visit: (n: Node, parent: Node | null, key: string) => void, parent: Node | null = null, at = ''): void {
  visit(node, parent, at);
  for (const key of Object.keys(node)) {
    const v = node[key];
    if (Array.isArray(v)) {
      for (const c of v) if (c && typeof (c as Node).type === 'string') walk(c as Node, visit, node, key);
    } else if (v && typeof (v as Node).type === 'string') walk(v as Node, visit, node, key);
  }
}

/** An identifier that names a property (`x.name`, `{ name: 1 }`), not a variable. */
function isPropertyName(parent: Node | null, key: string): boolean {
  if (!parent) return false;
  return (parent.type === 'MemberExpression' && key === 'property' && !parent.computed) || (parent.type === 'Property' && key === 'key' && !parent.computed);
}

/**
 * Static members (`Object.hasOwn`) and globals that came after ES2015, by the object they hang on.
 * Precise: `Object.values` counts, a property called `values` on anything else does not.
 */
const LATER_STATICS: Record<string, string[]> = {
  Object: ['hasOwn', 'getOwnPropertyDescriptors', 'values', 'entries', 'fromEntries', 'groupBy'],
  Promise: ['allSettled', 'any', 'withResolvers'],
  Array: ['fromAsync'],
  String: [],
  Atomics: ['wait', 'notify'],
  Math: [],
  Map: ['groupBy'],
};
const LATER_GLOBALS = ['globalThis', 'BigInt', 'BigInt64Array', 'BigUint64Array', 'WeakRef', 'FinalizationRegistry', 'AggregateError', 'SharedArrayBuffer', 'Atomics', 'structuredClone', 'queueMicrotask'];
/**
 * Methods that exist only in later editions on every built-in that has them, so a call `x.padStart(`
 * means a later API whatever `x` is (the library defines no method with these names). Not in the list:
 * `includes` (ES2015 on strings, ES2016 on arrays: the QuickJS run with Array.prototype.includes
 * deleted covers it), `at`, `with` (too common as own method names; covered by that run as well).
 */
const LATER_METHODS = ['padStart', 'padEnd', 'trimStart', 'trimEnd', 'trimLeft', 'trimRight', 'flat', 'flatMap', 'matchAll', 'replaceAll',
  'findLast', 'findLastIndex', 'toSorted', 'toReversed', 'toSpliced', 'isWellFormed', 'toWellFormed', 'transferToFixedLength'];

/** Each use of a later-than-ES2015 API in a script, as 'name (line N)'. */
export function laterApiUses(code: string, ecmaVersion: 5 | 2015 = 2015): string[] {
  const ast = acorn.parse(code, { ecmaVersion, sourceType: 'script', locations: true }) as unknown as Node;
  const found: string[] = [];
  const line = (n: Node) => (n.loc ? n.loc.start.line : 0);
  walk(ast, (n, parent, key) => {
    if (n.type === 'MemberExpression' && !n.computed) {
      const obj = n.object as Node;
      const prop = (n.property as Node).name as string;
      if (obj.type === 'Identifier' && LATER_STATICS[obj.name as string]?.includes(prop)) found.push(`${obj.name}.${prop} (line ${line(n)})`);
    }
    if (n.type === 'MemberExpression' && n.computed && (n.property as Node).type === 'Literal') {
      const obj = n.object as Node;
      const prop = (n.property as Node).value as string;
      if (obj.type === 'Identifier' && LATER_STATICS[obj.name as string]?.includes(prop)) found.push(`${obj.name}[${JSON.stringify(prop)}] (line ${line(n)})`);
    }
    if (n.type === 'CallExpression') {
      const callee = n.callee as Node;
      if (callee.type === 'MemberExpression' && !callee.computed && LATER_METHODS.includes((callee.property as Node).name as string)) {
        found.push(`.${(callee.property as Node).name}() (line ${line(n)})`);
      }
    }
    if (n.type === 'Identifier' && LATER_GLOBALS.includes(n.name as string) && !isPropertyName(parent, key)) found.push(`${n.name} (line ${line(n)})`);
  });
  return found;
}

/**
 * Code that an ES5 engine may lack and that the polyfills cover (for QuickJS to act as such an engine:
 * the runs delete these first, then load polyfills.es5.js).
 */
export const ES2015_APIS_POLYFILLED = [
  'Array.from', 'Array.prototype.fill', 'Array.prototype.find', 'Array.prototype.findIndex',
  'TypedArray.from', 'TypedArray.prototype.fill', 'TypedArray.prototype.slice',
  'Object.assign', 'Number.isInteger', 'Number.isSafeInteger', 'Math.imul',
];

/** What came after ES2015 (deleted before running an "ES2015" bundle in QuickJS). */
export const LATER_THAN_ES2015 = [
  'Object.hasOwn', 'Object.getOwnPropertyDescriptors', 'Object.values', 'Object.entries', 'Object.fromEntries', 'Object.groupBy',
  'Promise.allSettled', 'Promise.any', 'Promise.prototype.finally',
  'Array.prototype.includes', 'Array.prototype.flat', 'Array.prototype.flatMap', 'Array.prototype.at', 'Array.prototype.findLast', 'Array.prototype.findLastIndex',
  'Array.prototype.toSorted', 'Array.prototype.toReversed', 'Array.prototype.toSpliced', 'Array.prototype.with',
  'TypedArray.prototype.includes', 'TypedArray.prototype.at', 'TypedArray.prototype.findLast', 'TypedArray.prototype.findLastIndex',
  'TypedArray.prototype.toSorted', 'TypedArray.prototype.toReversed', 'TypedArray.prototype.with',
  'String.prototype.padStart', 'String.prototype.padEnd', 'String.prototype.trimStart', 'String.prototype.trimEnd', 'String.prototype.matchAll',
  'String.prototype.replaceAll', 'String.prototype.at', 'Symbol.prototype.description',
  'BigInt', 'BigInt64Array', 'BigUint64Array', 'WeakRef', 'FinalizationRegistry', 'AggregateError', 'SharedArrayBuffer', 'Atomics', 'globalThis',
];

/**
 * A script that deletes each named API from QuickJS's globals ('TypedArray' = the prototype all typed
 * arrays share) and then checks they are gone; 'globalThis' last, since the script uses it.
 */
export function deleteApisScript(names: string[]): string {
  const lines = [
    'var __G = globalThis;',
    'var __TA = Object.getPrototypeOf(Uint8Array);',
    'function __del(path) { var p = path.split("."), o = p[0] === "TypedArray" ? __TA : __G[p[0]];',
    '  for (var i = 1; i < p.length - 1; i++) o = o[p[i]];',
    '  if (p.length === 1) delete __G[p[0]]; else delete o[p[p.length - 1]];',
    '  if (p.length > 1 && o[p[p.length - 1]] !== undefined) throw new Error("could not delete " + path); }',
  ];
  for (const n of names.filter((x) => x !== 'globalThis')) lines.push(`__del(${JSON.stringify(n)});`);
  if (names.includes('globalThis')) lines.push('delete __G.globalThis;');
  lines.push('__G = undefined; __TA = undefined;');
  return lines.join('\n');
}
