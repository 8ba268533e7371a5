/// <reference lib="dom" />
// (page.evaluate callbacks run in the browser: they see DOM globals.)
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { parseFeed } from '@rowanmanning/feed-parser';
import { XMLValidator } from 'fast-xml-parser';
import { type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { classified, ROOT } from '../helpers.js';
import { archiveProject, SENT, UNSENT, type ArchiveProject } from './archive-fixture.js';
import { launchChromium } from '../browser.js';

const ARTIFACTS = join(ROOT, 'test-artifacts', 'archive');

let browser: Browser;
let project: ArchiveProject;

beforeAll(async () => {
  await mkdir(ARTIFACTS, { recursive: true });
  browser = await launchChromium();
  project = await archiveProject();
});

afterAll(async () => {
  await browser?.close();
  await project?.web.close();
});

/** Runs `fn` in a phone-sized page, in light or dark mode, closed after. */
async function onPhone(colorScheme: 'light' | 'dark', fn: (page: Page) => Promise<void>): Promise<void> {
  const page = await browser.newPage({ viewport: { width: 375, height: 812 }, isMobile: true, hasTouch: true, colorScheme });
  try {
    await fn(page);
  } finally {
    await page.close();
  }
}

const noSidewaysScroll = (page: Page) => page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth);

/** Relative luminance of a computed CSS colour ("rgb(r, g, b)"). */
const luminance = (css: string) => {
  const [r, g, b] = (css.match(/\d+(\.\d+)?/g) ?? []).slice(0, 3).map((v) => Number(v) / 255).map((c) => (c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4));
  return 0.2126 * r! + 0.7152 * g! + 0.0722 * b!;
};

describe('the web archive and a topic feed in headless Chromium', () => {
  it('lists the sent issues on a phone, opens one, and jumps from a headline to its paper', () =>
    onPhone('light', async (page) => {
      await page.goto(`${project.web.url}/archive`);
      expect(await page.$$eval('.issue-row time', (ts) => ts.map((t) => t.getAttribute('datetime')))).toEqual(SENT);
      expect(await noSidewaysScroll(page)).toBe(true);
      await page.screenshot({ path: join(ARTIFACTS, 'archive-phone.png'), fullPage: true });

      await Promise.all([page.waitForURL(/\/archive\/2025-11-12$/), page.click('a[href="/archive/2025-11-12"]')]);
      const section = project.sections.get('2025-11-12')!;
      const titles = await page.$$eval('article.paper h2', (hs) => hs.map((h) => h.textContent?.trim()));
      expect(titles).toEqual(section.papers.map((p) => p.title.text));
      expect(await noSidewaysScroll(page)).toBe(true);
      const fontSize = await page.$eval('article.paper p:not(.authors)', (p) => parseFloat(getComputedStyle(p).fontSize));
      expect(fontSize).toBeGreaterThanOrEqual(16); // readable without zooming
      const last = section.papers.at(-1)!;
      await page.click(`nav.toc a[href="#paper-${last.id}"]`);
      await page.waitForFunction((id) => {
        const box = document.getElementById(id)!.getBoundingClientRect();
        return box.top >= -1 && box.top < window.innerHeight / 2;
      }, `paper-${last.id}`);
      await page.screenshot({ path: join(ARTIFACTS, 'issue-phone.png') });
    }));

  it('reads well in dark mode: dark page, light text, no light frame', () =>
    onPhone('dark', async (page) => {
      await page.goto(`${project.web.url}/archive/2025-11-12`);
      const colours = await page.evaluate(() => ({
        html: getComputedStyle(document.documentElement).backgroundColor,
        body: getComputedStyle(document.body).backgroundColor,
        text: getComputedStyle(document.querySelector('article.paper p:not(.authors)')!).color,
        muted: getComputedStyle(document.querySelector('.authors')!).color,
        link: getComputedStyle(document.querySelector('article.paper h2 a')!).color,
    }));
    expect(luminance(colours.body)).toBeLessThan(0.05);
    expect(luminance(colours.text)).toBeGreaterThan(0.6);
    expect(luminance(colours.muted)).toBeGreaterThan(0.25); // dimmer than text, still readable
    expect(luminance(colours.muted)).toBeLessThan(luminance(colours.text));
    expect(luminance(colours.link)).toBeGreaterThan(0.3);
    // Sample the rendered pixels at the edges and the middle: no light frame around the text.
    const shot = await page.screenshot({ path: join(ARTIFACTS, 'issue-phone-dark.png') });
    // (Decoded in a blank page: the archive's Content-Security-Policy rightly allows no data: images.)
    const blank = await browser.newPage();
    const light = await blank.evaluate(async (png) => {
      const img = new Image();
      img.src = `data:image/png;base64,${png}`;
      await img.decode();
      const canvas = document.createElement('canvas');
      canvas.width = img.width;
      canvas.height = img.height;
      const ctx = canvas.getContext('2d')!;
      ctx.drawImage(img, 0, 0);
      const points = [[2, 2], [img.width - 3, 2], [2, img.height - 3], [img.width - 3, img.height - 3], [img.width >> 1, 5], [5, img.height >> 1], [img.width - 6, img.height >> 1]];
      return points.filter(([x, y]) => {
        const [r, g, b] = ctx.getImageData(x!, y!, 1, 1).data;
        return r! + g! + b! > 3 * 100;
      }).length;
    }, shot.toString('base64'));
    await blank.close();
    expect(light).toBe(0);
    }));

  it('finds the topic feed from the issue page; the feed parses as Atom and holds exactly the sent papers of that topic', () =>
    onPhone('light', async (page) => {
      await page.goto(`${project.web.url}/archive/2025-11-12`);
      const alternates = await page.$$eval('link[rel=alternate][type="application/atom+xml"]', (links) => links.map((l) => (l as HTMLLinkElement).href));
      const video = alternates.find((href) => href.endsWith('/feeds/video.atom'));
      expect(video).toBeTruthy();
      expect(alternates.some((href) => href.endsWith('/feeds/all.atom'))).toBe(true);
      const response = await page.goto(video!);
      expect(response!.status()).toBe(200);
      expect(response!.headers()['content-type']).toBe('application/atom+xml; charset=utf-8');
      const xml = await response!.text();
      expect(XMLValidator.validate(xml)).toBe(true);
      const feed = parseFeed(xml);
      expect(feed.meta.type).toBe('atom');
      expect(feed.title).toBe('Multimodal LLM Digest: Video');
      const expected = SENT.flatMap((date) => classified(project.sections.get(date)!).filter((p) => p.topics.includes('video')).map((p) => `tag:mllm-digest.example.org,${date}:${p.id}`));
      expect(expected.length).toBeGreaterThan(3);
      expect(feed.items.map((i) => i.id)).toEqual(expected);
      // Every entry links back to its paper in the archive (at baseUrl; opened here on the test server).
      const link = new URL(feed.items[0]!.url!);
      expect(link.origin).toBe('https://digest.example.org');
      await page.goto(`${project.web.url}${link.pathname}${link.hash}`);
      expect(await page.$(`[id="${link.hash.slice(1)}"]`)).not.toBeNull();
    }));

  it('does not publish a section that is not sent: 404 and absent from every feed', () =>
    onPhone('light', async (page) => {
      for (const date of Object.values(UNSENT)) {
        const response = await page.goto(`${project.web.url}/archive/${date}`);
        expect(response!.status(), date).toBe(404);
      }
      const xml = await (await page.goto(`${project.web.url}/feeds/all.atom`))!.text();
      const ids = parseFeed(xml).items.map((i) => i.id ?? '');
      for (const date of Object.values(UNSENT)) expect(ids.filter((id) => id.includes(`,${date}:`)), date).toEqual([]);
    }));
});
