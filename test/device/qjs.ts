// QuickJS plumbing shared by the tests that run the device bundle: heap measurement, evalCode
// results turned into exceptions, and a bare context with the bundle loaded.
import * as fs from 'node:fs';
import { getQuickJS, type QuickJSContext, type QuickJSRuntime } from 'quickjs-emscripten';
import { deviceBundlePath, ensureBuilt } from './bundle';

/** Bytes the runtime has allocated (QuickJS's memory_used_size). */
export function usedBytes(rt: QuickJSRuntime, ctx: QuickJSContext): number {
  const h = rt.computeMemoryUsage();
  const v = ctx.dump(h) as { memory_used_size: number };
  h.dispose();
  return v.memory_used_size;
}

/** The value of an evalCode/callFunction result, or an Error carrying what QuickJS threw. */
export function unwrap(ctx: QuickJSContext, r: ReturnType<QuickJSContext['evalCode']>, what: string) {
  if (r.error) {
    const err = ctx.dump(r.error);
    r.error.dispose();
    throw new Error(`${what} failed inside QuickJS: ${JSON.stringify(err)}`);
  }
  return r.value;
}

/** A new runtime and context with dist/device/otaflash.js loaded as a global script. */
export async function bundleContext(): Promise<{ rt: QuickJSRuntime; ctx: QuickJSContext }> {
  ensureBuilt();
  const quickjs = await getQuickJS();
  const rt = quickjs.newRuntime();
  const ctx = rt.newContext();
  unwrap(ctx, ctx.evalCode(fs.readFileSync(deviceBundlePath, 'utf8'), 'otaflash.device.js', { type: 'global' }), 'loading the bundle').dispose();
  return { rt, ctx };
}
