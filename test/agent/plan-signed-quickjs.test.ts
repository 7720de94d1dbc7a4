// The plan signature check inside QuickJS, from the device bundle (no BigInt, no TextEncoder, the
// portable verifier): a plan signed with the espsecure test keys verifies, an altered one and one
// from an untrusted key are refused with their codes. Prints how long each check took.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { planStatement, planStatementBytes } from '../../src/agent/plan-signature';
import type { Plan } from '../../src/agent/types';
import { encodeSignatureText } from '../../src/formats/detached-signature';
import { signDetached } from '../../src/node/detached-sign';
import { bundleContext, unwrap } from '../device/qjs';

const KEYS = path.join(__dirname, '../fixtures/signed-images/keys');
const pem = (name: string) => fs.readFileSync(path.join(KEYS, `${name}.pem`), 'utf8');
const digestHex = (name: string) => fs.readFileSync(path.join(KEYS, `${name}.digest.bin`)).toString('hex');

const SOURCE = {
  id: 'p-qjs',
  components: [{ id: 'app', kind: 'module' as const, source: '1.0', target: '2.0', full: 'full', deltas: { '0.9': 'delta' } }],
  strategy: { mode: 'silent' as const, retries: 3, windows: [[120, 300]] as [number, number][] },
};
const PKGS: { [ref: string]: { size: number; sha256: string } } = { full: { size: 183424, sha256: '5c'.repeat(32) }, delta: { size: 9210, sha256: '0b'.repeat(32) } };

function signed(key: string): Plan {
  const statement = planStatement(SOURCE, (r) => PKGS[r]);
  return {
    id: 'p-qjs',
    components: [{ id: 'app', kind: 'module', source: '1.0', target: '2.0', package: { kind: 'full', size: PKGS.full.size, sha256: PKGS.full.sha256 } }],
    strategy: SOURCE.strategy,
    signed: { statement, signature: encodeSignatureText(signDetached(planStatementBytes(statement), [pem(key)])) },
  };
}

const SCRIPT = `
function bytesOf(hex) { var b = new Uint8Array(hex.length / 2); for (var i = 0; i < b.length; i++) b[i] = parseInt(hex.substr(i * 2, 2), 16); return b; }
function check(planJson, digestsHex) {
  var trust = { keyDigests: digestsHex.map(bytesOf) };
  var t0 = Date.now();
  try {
    var v = OtaFlash.checkPlanSignature(JSON.parse(planJson), { app: '1.0' }, { trust: trust });
    return JSON.stringify({ ok: v.valid, block: v.verifiedBlock, ms: Date.now() - t0 });
  } catch (e) {
    return JSON.stringify({ ok: false, code: e.code, message: e.message, ms: Date.now() - t0 });
  }
}
`;

test('QuickJS: the device bundle checks signed plans (RSA-3072, ECDSA P-256) and refuses altered and untrusted ones', async () => {
  const { rt, ctx } = await bundleContext();
  try {
    unwrap(ctx, ctx.evalCode(SCRIPT, 'check.js', { type: 'global' }), 'the check script').dispose();
    const run = (plan: Plan, digests: string[]) => {
      const fn = unwrap(ctx, ctx.evalCode('check'), 'check');
      const args = [ctx.newString(JSON.stringify(plan)), unwrap(ctx, ctx.evalCode(JSON.stringify(digests)), 'digests')];
      const out = unwrap(ctx, ctx.callFunction(fn, ctx.undefined, ...args), 'check()');
      const r = JSON.parse(ctx.getString(out)) as { ok: boolean; block?: number; code?: string; message?: string; ms: number };
      [fn, out, ...args].forEach((h) => h.dispose());
      return r;
    };
    const trusted = [digestHex('rsa3072-a'), digestHex('ecdsa256-a')];
    const rsa = run(signed('rsa3072-a'), trusted);
    assert.equal([rsa.ok, rsa.block], [true, 0], JSON.stringify(rsa));
    const ec = run(signed('ecdsa256-a'), trusted);
    assert.equal([ec.ok, ec.block], [true, 0], JSON.stringify(ec));
    const altered = signed('rsa3072-a') as any;
    altered.strategy = { mode: 'silent', retries: 3, windows: [[0, 1440]] };
    altered.signed.statement.strategy = altered.strategy;
    const bad = run(altered, trusted);
    assert.equal([bad.ok, bad.code], [false, 'PLAN_SIGNATURE_INVALID'], JSON.stringify(bad));
    assert.match(bad.message!, 'signature does not verify');
    const untrusted = run(signed('rsa3072-b'), trusted);
    assert.equal([untrusted.ok, untrusted.code], [false, 'PLAN_SIGNATURE_INVALID']);
    assert.match(untrusted.message!, 'key digest not trusted');
    const unsigned = signed('rsa3072-a') as any;
    delete unsigned.signed;
    assert.equal(run(unsigned, trusted).code, 'PLAN_UNSIGNED');
    console.log(`  QuickJS plan signature check: RSA-3072 ${rsa.ms} ms, ECDSA P-256 ${ec.ms} ms, altered (RSA) ${bad.ms} ms`);
  } finally {
    ctx.dispose();
    rt.dispose();
  }
});

test.run();
