/// <reference lib="dom" />
// (page.evaluate callbacks run in the browser: they see DOM globals.)
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { chromium, type Browser, type Frame, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT } from '../helpers.js';
import { scaled } from '../timeouts.js';
import { startPreview, type RunningPreview } from './preview-helpers.js';

// Debian's Chromium, driven by playwright-core (no browser download). .ci/run installs it.
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const ARTIFACTS = join(ROOT, 'test-artifacts', 'preview');

let browser: Browser;
let preview: RunningPreview;
let page: Page;

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) throw new Error(`browser tests need Chromium at ${CHROMIUM}: apt-get install chromium (or set CHROMIUM_PATH)`);
  await mkdir(ARTIFACTS, { recursive: true });
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  preview = await startPreview();
  page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
});

afterAll(async () => {
  await browser?.close();
  await preview?.close();
});

const shot = (name: string) => page.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage: true });

/** The email frame with this id, once its document has loaded. */
async function emailFrame(id: string): Promise<Frame> {
  const handle = await page.waitForSelector(`iframe#${id}`);
  const frame = await handle.contentFrame();
  if (!frame) throw new Error(`no frame #${id}`);
  await frame.waitForLoadState('load');
  return frame;
}

const titlesIn = (frame: Frame) => frame.$$eval('h2.dm-title', (nodes) => nodes.map((n) => n.textContent?.trim() ?? ''));

describe('preview in headless Chromium', () => {
  it('lists the seed sections on the index', async () => {
    await page.goto(preview.url);
    const dates = await page.$$eval('table.sections a', (links) => links.map((a) => a.textContent));
    expect(dates).toEqual(['2025-11-13', '2025-11-12', '2025-11-10', '2025-11-07', '2025-11-06', '2025-11-05', '2025-11-04', '2025-11-03']);
    await shot('index');
  });

  it('shows other papers when another subscriber is chosen', async () => {
    await page.goto(`${preview.url}/section/2025-11-12?subscriber=priya.raman@example.org`);
    const before = await titlesIn(await emailFrame('desktop'));
    expect(before.length).toBeGreaterThan(0);
    await shot('section-priya');
    await page.selectOption('select#subscriber', 'kwame.mensah@example.com');
    await Promise.all([page.waitForURL(/kwame/), page.click('form.audience button[type=submit] >> nth=0')]);
    const after = await titlesIn(await emailFrame('desktop'));
    expect(after.length).toBeGreaterThan(0);
    expect(after).not.toEqual(before);
    await shot('section-kwame');
  });

  it('has no horizontal scroll in the phone-width frame', async () => {
    await page.goto(`${preview.url}/section/2025-11-12?topics=`);
    const phone = await emailFrame('phone');
    const { scrollWidth, innerWidth } = await phone.evaluate(() => ({ scrollWidth: document.documentElement.scrollWidth, innerWidth: window.innerWidth }));
    expect(innerWidth).toBeLessThanOrEqual(375);
    expect(scrollWidth).toBeLessThanOrEqual(innerWidth);
    await shot('section-phone');
  });

  it('updates the open page when a template changes on disk', async () => {
    await page.goto(`${preview.url}/section/2025-11-13?topics=`);
    await page.waitForFunction(() => document.getElementById('live')?.textContent === 'live reload on');
    const file = join(preview.dir, 'templates/partials/header.mjml.hbs');
    const original = await readFile(file, 'utf8');
    await writeFile(file, original.replace('{{list.name}}</p>', '{{list.name}} · EDITED ON DISK</p>'));
    await expect
      .poll(async () => {
        const frame = page.frames().find((f) => f.url().includes('/email/'));
        return frame ? (await frame.content().catch(() => '')).includes('EDITED ON DISK') : false;
      }, { timeout: scaled(10_000), interval: 100 })
      .toBe(true);
    await shot('live-reload');
  });

  it('shows a broken template\'s error, with its file and line, instead of a blank frame', async () => {
    await page.goto(`${preview.url}/section/2025-11-13?topics=`);
    await page.waitForFunction(() => document.getElementById('live')?.textContent === 'live reload on');
    const file = join(preview.dir, 'templates/partials/paper.mjml.hbs');
    await writeFile(file, `<mj-text padding="not-a-size">broken</mj-text>\n${await readFile(file, 'utf8')}`);
    const error = await page.waitForSelector('#template-error', { timeout: scaled(10_000) });
    expect(await error.textContent()).toMatch(/templates\/partials\/paper\.mjml\.hbs:1: Attribute padding has invalid value/);
    expect(await page.$('iframe#desktop')).toBeNull();
    await shot('template-error');
  });
});
