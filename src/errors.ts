/**
 * The one error type of otaflash. `code` is stable and meant for programs; `message` says
 * what went wrong and where (CSV line, byte offset, partition label) and is meant for people.
 */
export class OtaflashError extends Error {
  readonly code: string;
  /**
   * Machine-readable facts about the failure (offset, line, rows). Not named `details`: test
   * runners such as uvu treat an error's `details` as a printable diff string and crash on objects.
   */
  readonly info: Readonly<Record<string, unknown>> | undefined;

  constructor(code: string, message: string, info?: Record<string, unknown>) {
    super(message);
    // Lowered to ES5 (the Duktape and Espruino builds), `super(message)` becomes `Error.call(this,
    // message)`, which returns a new plain Error: without this line `instanceof OtaflashError` (and
    // every catch that tests it) would fail there. A no-op where classes are native.
    Object.setPrototypeOf(this, new.target.prototype);
    this.name = 'OtaflashError';
    this.code = code;
    this.info = info;
  }
}

/** Thrown by a fault-injecting device after its simulated power cut, until it is rebooted. */
export class PowerLossError extends OtaflashError {
  constructor(message: string, info?: Record<string, unknown>) {
    super('POWER_LOSS', message, info);
    this.name = 'PowerLossError';
  }
}

export function isOtaflashError(e: unknown, code?: string): e is OtaflashError {
  return e instanceof OtaflashError && (code === undefined || e.code === code);
}

/** What a plain-JS caller passed, for messages: 'null', 'an array', or typeof. */
export function kindOf(v: unknown): string {
  return v === null ? 'null' : Array.isArray(v) ? 'an array' : typeof v;
}

/** `0x1a2b` style, for messages. */
export function hex(n: number): string {
  return '0x' + (n >>> 0).toString(16);
}
