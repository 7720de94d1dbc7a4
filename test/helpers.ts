// Small helpers shared by the test files.
import { OtaflashError } from '../src/errors';

/**
 * The `code` of the OtaflashError `fn` throws, 'no error' when it returns, or a description of any
 * other exception (so an assertion on the code fails with what was thrown instead).
 */
export function errorCode(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    return e instanceof OtaflashError ? e.code : `not an OtaflashError: ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}`;
  }
  return 'no error';
}
