// otaflash serve --plan-pubkey: the plan service behind `serve` refuses to create a plan that is not
// signed by one of the given keys, and takes one signed on the operator's host (plan create --sign).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { runAsync } from '../../src/cli/run';
import { APP_B, image } from '../ota/engine-fixtures';

const KEYS = path.join(__dirname, '../fixtures/signed-images/keys');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'otaflash-serve-plan-trust-'));
process.on('exit', () => fs.rmSync(tmp, { recursive: true, force: true }));

function inProcess(...argv: string[]) {
  let stdout = '';
  let stderr = '';
  const done = runAsync(argv, { stdout: (t) => void (stdout += String(t)), stderr: (t) => void (stderr += t), isTTY: false });
  return { done, out: () => ({ stdout, stderr }) };
}

async function cli(...argv: string[]) {
  const r = inProcess(...argv);
  const code = await r.done;
  return { code, ...r.out() };
}

test('serve --plan-pubkey refuses unsigned and wrongly signed plans, creates a plan signed with the key', async () => {
  const tree = path.join(tmp, 'tree');
  fs.mkdirSync(tree);
  const planDir = path.join(tmp, 'plan');
  fs.mkdirSync(planDir);
  fs.writeFileSync(path.join(planDir, 'app-2.0.bin'), image(APP_B));
  const planFile = path.join(planDir, 'plan.json');
  fs.writeFileSync(planFile, JSON.stringify({ name: 'app 2.0', components: [{ id: 'app', kind: 'module', source: '*', target: '2.0', full: 'app-2.0.bin' }], strategy: { mode: 'silent' } }));
  const s = inProcess('serve', tree, '--port', '0', '--db', 'memory', '--plan-pubkey', path.join(KEYS, 'ecdsa256-a.pub.pem'));
  let url = '';
  for (let i = 0; i < 300 && url === ''; i++) {
    await new Promise((r) => setTimeout(r, 10));
    url = /on (http:\/\/127\.0\.0\.1:\d+)/.exec(s.out().stdout)?.[1] ?? '';
  }
  assert.ok(url !== '', s.out().stdout + s.out().stderr);
  try {
    const unsigned = await cli('plan', 'create', planFile, '--server', url);
    assert.is.not(unsigned.code, 0);
    assert.match(unsigned.stderr, /PLAN_UNSIGNED/);
    const wrong = await cli('plan', 'create', planFile, '--server', url, '--sign', path.join(KEYS, 'rsa3072-a.pem'));
    assert.is.not(wrong.code, 0);
    assert.match(wrong.stderr, /PLAN_SIGNATURE_INVALID/);
    const good = await cli('plan', 'create', planFile, '--server', url, '--sign', path.join(KEYS, 'ecdsa256-a.pem'));
    assert.is(good.code, 0, good.stderr);
    assert.match(good.stdout.trim(), /^plan-[0-9a-f]{12}$/);
  } finally {
    process.emit('SIGINT');
    assert.is(await s.done, 0);
  }
});

test.run();
