/// <reference lib="dom" />
// (page.evaluate callbacks run in the browser: they see DOM globals.)
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import { createTransport } from '../../src/mail/transports/index.js';
import { ConfirmationMailer } from '../../src/web/confirmation.js';
import { launchChromium } from '../browser.js';
import { NO_PREFS, ROOT, seedSections } from '../helpers.js';
import { renderFor } from './render-fixture.js';

/**
 * The digest and the confirmation emails in Debian's Chromium, as a mail client that renders
 * HTML shows them: desktop (1280 px), phone (390 px) and dark mode at both widths. Screenshots
 * go to test-artifacts/email/, the measured heights to test-artifacts/email/heights.txt.
 */
const ARTIFACTS = join(ROOT, 'test-artifacts', 'email');
const DESKTOP = { width: 1280, height: 900 };
const PHONE = { width: 390, height: 844 };

let browser: Browser;
const heights: string[] = [];

const largest = seedSections().find((s) => s.date === '2025-11-12')!;
const postal = 'Digest Lab, 1 Example Street, 10115 Berlin, Germany';

async function digestHtml(format: 'full' | 'compact' | undefined) {
  const { html } = await renderFor(largest, { ...NO_PREFS, format }, { list: { name: 'Multimodal LLM Digest', postalAddress: postal } });
  return html;
}

async function confirmationHtml(): Promise<{ confirm: string; already: string; link: string }> {
  const raw = JSON.parse(readFileSync(join(ROOT, 'digest-mailer.config.json'), 'utf8'));
  raw.list.postalAddress = postal;
  const outbox = await mkdtemp(join(tmpdir(), 'dm-confirm-'));
  const config = parseConfig({ ...raw, paths: { ...raw.paths, outbox } }, join(ROOT, 'digest-mailer.config.json'));
  const links = { baseUrl: config.baseUrl, secret: 'k'.repeat(43), ttlDays: 365 };
  const mailer = await ConfirmationMailer.create(config, createTransport(config), links, () => undefined);
  const reader = { ...NO_PREFS, email: 'reader@example.org', status: 'pending' as const };
  const confirm = (await mailer.compose(reader, 'g1')).html;
  const already = (await mailer.composeNotice({ ...reader, status: 'active' })).html;
  const link = (await mailer.composeLink({ ...reader, status: 'active', tokenGeneration: 1 })).html;
  await mailer.close(0);
  return { confirm, already, link };
}

async function open(html: string, viewport: { width: number; height: number }, colorScheme: 'light' | 'dark'): Promise<Page> {
  const page = await browser.newPage({ viewport, colorScheme, deviceScaleFactor: 1 });
  // The email loads nothing from outside; offline makes sure of it.
  await page.context().setOffline(true);
  await page.setContent(html, { waitUntil: 'load' });
  return page;
}

/** RGB of pixels of a PNG, decoded by the browser itself (no image library needed). */
async function pixels(png: Buffer, points: readonly [number, number][]): Promise<[number, number, number][]> {
  const page = await browser.newPage();
  try {
    return await page.evaluate(async ({ data, points }) => {
      const img = new Image();
      img.src = `data:image/png;base64,${data}`;
      await img.decode();
      const canvas = document.createElement('canvas');
      canvas.width = img.width;
      canvas.height = img.height;
      const ctx = canvas.getContext('2d')!;
      ctx.drawImage(img, 0, 0);
      return points.map(([x, y]) => Array.from(ctx.getImageData(x, y, 1, 1).data.slice(0, 3)) as [number, number, number]);
    }, { data: png.toString('base64'), points });
  } finally {
    await page.close();
  }
}

/** Relative luminance (WCAG) of an sRGB colour given as 0-255 channels or a computed CSS colour. */
function luminance(color: readonly number[] | string): number {
  const channels = typeof color === 'string' ? (color.match(/\d+(\.\d+)?/g) ?? []).slice(0, 3).map(Number) : [...color];
  const [r, g, b] = channels.map((v) => v / 255).map((c) => (c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4));
  return 0.2126 * r! + 0.7152 * g! + 0.0722 * b!;
}
const contrast = (a: number, b: number) => (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);

/** Screenshots of one email at desktop, phone and dark (both widths); returns the pages' heights. */
async function shoot(name: string, html: string) {
  const out = { desktop: 0, phone: 0, dark: 0, 'dark-phone': 0 };
  for (const [view, viewport, scheme] of [['desktop', DESKTOP, 'light'], ['phone', PHONE, 'light'], ['dark', DESKTOP, 'dark'], ['dark-phone', PHONE, 'dark']] as const) {
    const page = await open(html, viewport, scheme);
    out[view] = await page.evaluate(() => document.documentElement.scrollHeight);
    expect(await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth), `${name} ${view}: sideways scroll`).toBe(true);
    await page.screenshot({ path: join(ARTIFACTS, `${name}-${view}.png`), fullPage: true });
    await page.close();
  }
  heights.push(`${name}: desktop ${out.desktop} px, phone ${out.phone} px`);
  return out;
}

/** Every dark-mode pixel of the page outside the card (left and right margins, top, bottom): none light. */
async function expectNoLightFrame(html: string, name: string) {
  const page = await open(html, DESKTOP, 'dark');
  const png = await page.screenshot({ fullPage: true });
  const height = await page.evaluate(() => document.documentElement.scrollHeight);
  const card = await page.$eval('.dm-card', (el) => {
    const r = el.getBoundingClientRect();
    return { left: r.left, right: r.right };
  });
  await page.close();
  expect(card.left, `${name}: the card is centred with margins at desktop width`).toBeGreaterThan(200);
  const points: [number, number][] = [];
  for (let y = 2; y < height - 2; y += 40) points.push([4, y], [Math.floor(card.left / 2), y], [DESKTOP.width - 4, y], [Math.floor((card.right + DESKTOP.width) / 2), y]);
  for (let x = 4; x < DESKTOP.width; x += 40) points.push([x, 2], [x, height - 3]);
  const sampled = await pixels(png, points);
  const lightest = Math.max(...sampled.map((p) => luminance(p)));
  expect(lightest, `${name}: a light pixel around the dark card`).toBeLessThan(0.03);
  // The card itself is dark too, a shade lighter than the page (not a light frame the other way round).
  const [inside] = await pixels(png, [[Math.floor(card.left) + 8, 8]]);
  expect(luminance(inside!)).toBeLessThan(0.05);
}

/** The computed colours of the text levels in dark mode: all readable on the card, in order. */
async function darkTextLevels(html: string) {
  const page = await open(html, PHONE, 'dark');
  const colors = await page.evaluate(() => {
    const color = (sel: string) => {
      const el = document.querySelector(sel);
      return el ? getComputedStyle(el).color : null;
    };
    const card = document.querySelector('.dm-card');
    return {
      background: card ? getComputedStyle(card).backgroundColor : '',
      primary: color('.dm-title'),
      secondary: color('.dm-meta'),
      link: color('.dm-hl-title') ?? color('.dm-button a'),
      footer: color('p.dm-footer'),
      footerBackground: getComputedStyle(document.body).backgroundColor,
    };
  });
  await page.close();
  return colors;
}

beforeAll(async () => {
  await mkdir(ARTIFACTS, { recursive: true });
  browser = await launchChromium();
});

afterAll(async () => {
  await browser?.close();
  await writeFile(join(ARTIFACTS, 'heights.txt'), `${heights.join('\n')}\n`);
});

describe('the digest in Chromium', () => {
  it('is skimmable on a phone by default: 18 compact papers are well under two thirds as tall as in full', async () => {
    const compact = await shoot('digest-18-compact', await digestHtml(undefined));
    const full = await shoot('digest-18-full', await digestHtml('full'));
    // Measured: compact 8,826 px on the phone, full 15,434 (0.57); desktop 6,324 and 10,538 (0.60).
    // Before the "more / less like this" line under each paper it was under 0.5 and 0.55: the line
    // adds 26 px per paper, and the full email, which now cuts abstracts to 350 characters to make
    // room for the 36 links under the clipping limit (700 before), got 3,000 px shorter.
    expect(compact.phone).toBeLessThan(full.phone * 0.6);
    expect(compact.desktop).toBeLessThan(full.desktop * 0.65);
    // The headlines are the first screen: the first paper's block starts below them.
    const page = await open(await digestHtml(undefined), PHONE, 'light');
    const tops = await page.evaluate(() => ({
      headlines: document.querySelector('.dm-kicker')!.getBoundingClientRect().top,
      firstBlock: document.getElementById('paper-1')!.getBoundingClientRect().top,
    }));
    heights.push(`digest-18-compact: headlines from ${Math.round(tops.headlines)} px to ${Math.round(tops.firstBlock)} px on the phone`);
    expect(tops.headlines).toBeLessThan(PHONE.height / 2);
    // A headline jumps to its paper.
    await page.click('a.dm-hl-title[href="#paper-5"]');
    expect(await page.evaluate(() => Math.abs(document.getElementById('paper-5')!.getBoundingClientRect().top))).toBeLessThan(5);
    await page.close();
  });

  it('has no light frame around the dark card at desktop width, and a dark footer', async () => {
    await expectNoLightFrame(await digestHtml(undefined), 'digest');
    await expectNoLightFrame(await digestHtml('full'), 'digest (full)');
  });

  it('keeps the three text levels in dark mode, each readable on the card', async () => {
    const c = await darkTextLevels(await digestHtml(undefined));
    const bg = luminance(c.background);
    expect(bg).toBeLessThan(0.05);
    for (const level of ['primary', 'secondary', 'link', 'footer'] as const) expect(contrast(luminance(c[level]!), bg), `${level} ${c[level]}`).toBeGreaterThanOrEqual(4.5);
    expect(luminance(c.secondary!)).toBeLessThan(luminance(c.primary!));
    expect(c.link).not.toBe(c.primary);
    expect(luminance(c.footerBackground)).toBeLessThan(0.05);
  });
});

describe('the confirmation emails in Chromium', () => {
  it('render at desktop, phone and dark, dark without a light frame and with the same text levels', async () => {
    const { confirm, already, link } = await confirmationHtml();
    for (const [name, html] of [['confirm', confirm], ['already-subscribed', already], ['manage-link', link]] as const) {
      await shoot(name, html);
      await expectNoLightFrame(html, name);
      const c = await darkTextLevels(html);
      const bg = luminance(c.background);
      for (const level of ['primary', 'secondary', 'footer'] as const) expect(contrast(luminance(c[level]!), bg), `${name} ${level}`).toBeGreaterThanOrEqual(4.5);
      expect(luminance(c.secondary!)).toBeLessThan(luminance(c.primary!));
    }
  });
});
