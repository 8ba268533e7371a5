/// <reference lib="dom" />
// (page.evaluate callbacks run in the browser: they see DOM globals.)
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type Browser, type Frame, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT } from '../helpers.js';
import { scaled } from '../timeouts.js';
import { startPreview, type RunningPreview } from './preview-helpers.js';
import { launchChromium } from '../browser.js';

const ARTIFACTS = join(ROOT, 'test-artifacts', 'preview');

let browser: Browser;
let preview: RunningPreview;
let page: Page;

beforeAll(async () => {
  await mkdir(ARTIFACTS, { recursive: true });
  browser = await launchChromium();
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

  it('finds another subscriber by searching as you type, and shows their papers', async () => {
    await page.goto(`${preview.url}/section/2025-11-12?subscriber=priya.raman@example.org`);
    const before = await titlesIn(await emailFrame('desktop'));
    expect(before.length).toBeGreaterThan(0);
    expect(await page.$('select#subscriber')).toBeNull(); // no list of everyone
    await shot('section-priya');
    expect(await page.$$eval('#matches a', (links) => links.length)).toBeGreaterThan(1);
    await page.fill('#find', 'MENSAH');
    await page.waitForFunction(() => document.querySelectorAll('#matches a').length === 1, undefined, { timeout: scaled(5_000) });
    const match = (await page.$('#matches a'))!;
    expect(await page.$$eval('#matches a', (links) => links.map((a) => a.textContent))).toEqual(['Kwame Mensah <kwame.mensah@example.com>']);
    await Promise.all([page.waitForURL(/subscriber=kwame/), match.click()]);
    expect(await page.textContent('#shown')).toContain('Kwame Mensah <kwame.mensah@example.com>');
    const after = await titlesIn(await emailFrame('desktop'));
    expect(after.length).toBeGreaterThan(0);
    expect(after).not.toEqual(before);
    // Search text is never parsed as HTML, in the page or in the answer.
    await page.fill('#find', '<img src=x onerror=alert(1)>');
    await page.waitForSelector('#matches li.hint', { timeout: scaled(5_000) });
    expect(await page.$('#matches img')).toBeNull();
    await shot('section-kwame');
  });

  it('mocks the inbox rows of Gmail and iOS Mail, cut where those clients cut them, with the frames above the fold at 1440x900', async () => {
    const wide = await browser.newPage({ viewport: { width: 1440, height: 900 } });
    try {
      await wide.goto(`${preview.url}/section/2025-11-12?topics=`);
      const row = await wide.evaluate(() => {
        const box = (sel: string) => document.querySelector(sel)!.getBoundingClientRect();
        const el = (sel: string) => document.querySelector(sel) as HTMLElement;
        return {
          gmailHeight: box('#gmail-row').height,
          gmailText: el('#gmail-row .g-text').textContent ?? '',
          gmailCut: el('#gmail-row .g-text').scrollWidth > el('#gmail-row .g-text').clientWidth,
          gmailTextWidth: box('#gmail-row .g-text').width,
          iosSubjectLines: Math.round(box('#ios-row .i-subject').height / 20),
          iosSnippetLines: Math.round(box('#ios-row .i-snippet').height / 20),
          iosSnippetCut: el('#ios-row .i-snippet').scrollHeight > el('#ios-row .i-snippet').clientHeight,
          iosWidth: box('#ios-row').width,
          from: el('#gmail-row .g-from').textContent,
          desktopTop: box('iframe#desktop').top,
          phoneTop: box('iframe#phone').top,
          phoneRight: box('iframe#phone').right,
        };
      });
      const preheader = (await (await fetch(`${preview.url}/section/2025-11-12?topics=`)).text()).match(/<span class="g-snippet">([^<]{20})/)?.[1];
      expect(preheader).toBeTruthy();
      expect(row.from).toBe('Multimodal LLM Digest');
      // Gmail: one 40 px row, subject then " - " then the preview text, cut at its ~700 px column.
      expect(row.gmailHeight).toBeLessThanOrEqual(42);
      expect(row.gmailTextWidth).toBeGreaterThan(650);
      expect(row.gmailTextWidth).toBeLessThanOrEqual(700);
      expect(row.gmailText).toContain(' - ');
      expect(row.gmailCut).toBe(true);
      // iOS Mail at 375 pt: the subject on one line, the preview on two, the rest cut.
      expect(row.iosWidth).toBe(375);
      expect(row.iosSubjectLines).toBe(1);
      expect(row.iosSnippetLines).toBe(2);
      expect(row.iosSnippetCut).toBe(true);
      // Both email frames start in the first screen, side by side, and leave most of it to the email.
      expect(row.desktopTop).toBeLessThan(400);
      expect(row.phoneTop).toBe(row.desktopTop);
      expect(row.phoneRight).toBeLessThanOrEqual(1440);
      await wide.screenshot({ path: join(ARTIFACTS, 'section-1440x900.png') });
    } finally {
      await wide.close();
    }
  });

  it('fits a phone: no sideways scrolling on the index and in every view of a section', async () => {
    const phone = await browser.newPage({ viewport: { width: 375, height: 812 }, isMobile: true, hasTouch: true });
    try {
      for (const path of ['/', '/section/2025-11-12?topics=', '/section/2025-11-12?subscriber=li.ming@example.com&view=headers', '/section/2025-11-12?topics=&view=text']) {
        await phone.goto(`${preview.url}${path}`);
        const { scrollWidth, innerWidth } = await phone.evaluate(() => ({ scrollWidth: document.documentElement.scrollWidth, innerWidth: window.innerWidth }));
        expect(scrollWidth, path).toBeLessThanOrEqual(innerWidth);
      }
      await phone.goto(`${preview.url}/section/2025-11-12?topics=`);
      await phone.screenshot({ path: join(ARTIFACTS, 'section-on-a-phone.png'), fullPage: false });
    } finally {
      await phone.close();
    }
  });

  it('shows header values decoded, with the encoded bytes beside them', async () => {
    await page.goto(`${preview.url}/section/2025-11-12?subscriber=li.ming@example.com&view=headers`);
    const rows = await page.$$eval('#headers tr', (trs) => trs.map((tr) => ({ name: tr.querySelector('th')!.textContent, decoded: tr.querySelector('.decoded')!.textContent, raw: tr.querySelector('.raw')?.textContent ?? null })));
    const to = rows.find((r) => r.name === 'To')!;
    expect(to.decoded).toBe('李明 <li.ming@example.com>');
    expect(to.raw).toMatch(/^=\?UTF-8\?[QB]\?/i);
    const subject = rows.find((r) => r.name === 'Subject')!;
    expect(subject.decoded).not.toMatch(/=\?UTF-8\?/i);
    await shot('headers-decoded');
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
    const edited = original.replace('{{section.dateLabel}}</h1>', '{{section.dateLabel}} · EDITED ON DISK</h1>');
    expect(edited).not.toBe(original); // the edit must hit the partial as it is now
    await writeFile(file, edited);
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
