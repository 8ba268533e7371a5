/// <reference lib="dom" />
// (page.evaluate callbacks run in the browser: they see DOM globals.)
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { simpleParser } from 'mailparser';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.js';
import { prepareEmail } from '../../src/run/prepare.js';
import { FAST_DELIVERY, TEST_SECRET, cli, configure, makeProject, smtpTransport } from '../cli/cli-helpers.js';
import { startSmtpSink, type SmtpSink } from '../integration/servers.js';
import { launchChromium } from '../browser.js';
import { ROOT } from '../helpers.js';
import { scaled } from '../timeouts.js';
import { startApp, type RunningApp } from './web-helpers.js';

const ARTIFACTS = join(ROOT, 'test-artifacts', 'feedback');
const READER = 'ana.lopez@example.org';
let browser: Browser;
let sink: SmtpSink;
let web: RunningApp;
let dir: string;

beforeAll(async () => {
  await mkdir(ARTIFACTS, { recursive: true });
  sink = await startSmtpSink();
  dir = await makeProject();
  await configure(dir, { transport: smtpTransport(sink.port), delivery: FAST_DELIVERY });
  web = await startApp(dir);
  const run = await cli(dir, ['run'], { DIGEST_MAILER_SECRET: TEST_SECRET });
  if (run.code !== 0) throw new Error(`run failed: ${run.stderr}`);
  browser = await launchChromium();
});
afterAll(async () => {
  await browser?.close();
  await web?.close();
  await sink?.close();
});

describe('"more like this" clicked through in Chromium on a phone', () => {
  it('email link -> confirmation page -> button -> the preference centre lists it -> undo', async () => {
    const config = await loadConfig(join(dir, 'config.json'));
    const firstPaper = async () => (await prepareEmail(config, { subscriber: READER }))!.rendered.paperIds[0];
    const before = await firstPaper();
    // The email as the reader's mail app shows it, its links pointed at the local server.
    const raw = sink.messages.find((m) => m.to[0] === READER)!.raw;
    const html = ((await simpleParser(raw)).html || '').replaceAll('https://digest.example.org', web.url);
    const page = await browser.newPage({ viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true });
    page.setDefaultTimeout(scaled(15_000));
    try {
      await page.setContent(html);
      // The last paper's "More like this": its topics and an author will lift it to the top.
      const links = page.locator('a', { hasText: 'More like this' });
      const count = await links.count();
      expect(count).toBeGreaterThan(1);
      await page.locator('a', { hasText: 'Less like this' }).last().isVisible();
      await Promise.all([page.waitForURL(/\/feedback\?/), links.last().tap()]);
      const paper = new URL(page.url()).searchParams.get('paper')!;
      expect(paper).not.toBe(before);
      await page.screenshot({ path: join(ARTIFACTS, 'confirm-phone.png'), fullPage: true });

      // The confirmation page: what the button would do, nothing done yet.
      await expect(page.locator('h1').textContent()).resolves.toBe('More like this');
      expect(await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth)).toBe(true);
      const topics = page.locator('input[name="topics"]');
      const topicCount = await topics.count();
      expect(topicCount).toBeGreaterThan(0);
      for (let i = 0; i < topicCount; i++) expect(await topics.nth(i).isChecked()).toBe(true);
      const follow = page.locator('input[name="follow"]').first();
      const author = await follow.getAttribute('value');
      await page.locator(`label[for="${await follow.getAttribute('id')}"]`).tap();
      expect(await follow.isChecked()).toBe(true);
      const button = page.locator('button[type="submit"]');
      const box = (await button.boundingBox())!;
      expect(box.height).toBeGreaterThanOrEqual(44);
      expect(await firstPaper()).toBe(before);

      // The button: POST, then the preference centre lists what was learned.
      await Promise.all([page.waitForURL(/\/preferences\?/), button.tap()]);
      await expect(page.locator('#learned .notice').textContent()).resolves.toContain('your next email uses it');
      const items = page.locator('#learned li');
      expect(await items.count()).toBe(topicCount + 1);
      await expect(page.locator('#learned').textContent()).resolves.toContain(`Following ${author}`);
      await page.screenshot({ path: join(ARTIFACTS, 'learned-phone.png'), fullPage: true });
      // The next email leads with the followed author's paper.
      expect(await firstPaper()).toBe(paper);

      // Undo each item: the email is as before.
      while ((await items.count()) > 0) {
        const n = await items.count();
        // Each undo posts and comes back to the same address: wait for the shorter list.
        await items.first().locator('button').tap();
        await expect.poll(() => items.count(), { timeout: scaled(15_000) }).toBe(n - 1);
      }
      await expect(page.locator('#learned .notice').textContent()).resolves.toContain('Undone');
      await expect(page.locator('#learned').textContent()).resolves.toContain('Nothing yet');
      expect(await firstPaper()).toBe(before);
    } finally {
      await page.close();
    }
  });
});
