import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { OtaflashError, PowerLossError, isOtaflashError } from '../src/errors';

test('OtaflashError carries a stable code and is an Error', () => {
  const e = new OtaflashError('FLASH_OUT_OF_RANGE', 'read at 0x10 past end');
  assert.instance(e, Error);
  assert.is(e.code, 'FLASH_OUT_OF_RANGE');
  assert.ok(isOtaflashError(e, 'FLASH_OUT_OF_RANGE'));
  assert.not.ok(isOtaflashError(e, 'OTHER'));
  const p = new PowerLossError('cut');
  assert.instance(p, OtaflashError);
  assert.is(p.code, 'POWER_LOSS');
});

test.run();
