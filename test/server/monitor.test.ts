// The upgrade monitor in a real headless Chromium (OTAFLASH_TEST_CHROMIUM, set by .ci/run): while a
// simulated fleet runs and after it, the numbers on the page equal the /api/stats answer they were
// rendered from, and at the end a fresh /api/stats; a device's upgrade log shows on click.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { MemoryPlanStore } from '../../src/server/plans/memory-store';
import { createFleetPlan, runFleet, startLocalPlanServer } from '../../src/server/plans/fleet-sim';
import type { PlanStats } from '../../src/server/plans/types';

// The callbacks given to page.evaluate run in the page; the project compiles without the DOM library.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
declare const document: any;

const CHROMIUM = process.env.OTAFLASH_TEST_CHROMIUM;
if (!CHROMIUM) console.log('monitor.test: OTAFLASH_TEST_CHROMIUM not set: the headless Chromium test of /monitor is skipped');

const FIELDS = ['devices', 'succeeded', 'failed', 'inProgress'] as const;
const pct = (r: number) => (Math.round(r * 1000) / 10).toFixed(1) + '%';

if (CHROMIUM) {
  test('monitor page in Chromium: numbers equal /api/stats during and after a 20-device run; device log; screenshot', async () => {
    const { default: puppeteer } = await import('puppeteer-core');
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'otaflash-monitor-'));
    const store = new MemoryPlanStore();
    const srv = await startLocalPlanServer({ store, packagesDir: dir });
    const browser = await puppeteer.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'] });
    try {
      const setup = await createFleetPlan(store, (n, b) => fs.writeFileSync(path.join(dir, n), b), { planId: 'monitor-plan' });
      const page = await browser.newPage();
      await page.setViewport({ width: 1200, height: 900 });
      // Every /api/stats answer the page received, by its `at`.
      const answers = new Map<number, { plans: PlanStats[] }>();
      page.on('response', (r) => {
        if (new URL(r.url()).pathname === '/api/stats') r.json().then((j: { at: number; plans: PlanStats[] }) => answers.set(j.at, j), () => undefined);
      });
      await page.goto(`${srv.url}/monitor`, { waitUntil: 'load' });
      const read = () =>
        page.evaluate((planId: string) => {
          const t = document.querySelector('#plans');
          const row = t.querySelector(`tr[data-plan="${planId}"]`);
          if (!row) return null;
          const out: { [k: string]: string } = { at: t.getAttribute('data-at') || '' };
          row.querySelectorAll('td[data-field]').forEach((td: { getAttribute(n: string): string | null; textContent: string | null }) => (out[td.getAttribute('data-field') as string] = (td.textContent || '').trim()));
          return out;
        }, setup.planId);
      const same = (shown: { [k: string]: string }, s: PlanStats) => {
        for (const f of FIELDS) assert.is(shown[f], String(s[f]), `${f}: page ${shown[f]}, /api/stats ${s[f]}`);
        assert.is(shown.successRate, pct(s.successRate));
        assert.is(shown.state, s.state);
      };

      const N = 20;
      let running = true;
      const run = runFleet({ devices: N, server: srv.url, concurrency: 2, disconnectRate: 0.1, seed: 5, startGapMs: 250, prefix: 'mon-' }).finally(() => (running = false));
      let during = 0;
      while (running) {
        await new Promise((r) => setTimeout(r, 250));
        const shown = await read();
        if (!shown) continue;
        // The response event's body may land a moment after the page rendered it.
        for (let i = 0; i < 20 && !answers.has(Number(shown.at)); i++) await new Promise((r) => setTimeout(r, 50));
        const answer = answers.get(Number(shown.at));
        assert.ok(answer, `the page shows stats at ${shown.at} that it never received`);
        same(shown, answer!.plans.find((p) => p.planId === setup.planId)!);
        if (Number(shown.succeeded) > 0 && Number(shown.succeeded) < N) during++;
      }
      const result = await run;
      assert.is(result.succeeded, N);
      assert.ok(during >= 2, `only ${during} observations while the run was under way`);

      // After the run: the page catches up with a fresh /api/stats.
      const fresh = ((await (await fetch(`${srv.url}/api/stats`)).json()) as { plans: PlanStats[] }).plans.find((p) => p.planId === setup.planId)!;
      assert.is(fresh.succeeded, N);
      await page.waitForFunction((n: number) => document.querySelector('#plans td[data-field="succeeded"]')?.textContent === String(n), { timeout: 5000 }, N);
      same((await read())!, fresh);

      // The devices of the plan, then one device's upgrade log.
      await page.waitForSelector('#devices tr[data-device="mon-7"]', { timeout: 5000 });
      const devState = await page.$eval('#devices tr[data-device="mon-7"] td[data-field="state"]', (e) => e.textContent);
      assert.is(devState, 'succeeded');
      await page.click('#devices tr[data-device="mon-7"]');
      await page.waitForFunction(() => document.querySelectorAll('#log tbody tr').length >= 3, { timeout: 5000 });
      const states = await page.$$eval('#log tbody tr td:nth-child(4)', (tds) => tds.map((t) => t.textContent));
      assert.ok(states.indexOf('succeeded') >= 0 && states.indexOf('offered') >= 0, states.join(','));

      const shot = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'otaflash-monitor-shot-')), 'monitor.png');
      await page.screenshot({ path: shot, fullPage: true });
      assert.ok(fs.statSync(shot).size > 10000);
      console.log(`monitor.test: screenshot at ${shot}`);
    } finally {
      await browser.close();
      await srv.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
}

test.run();
