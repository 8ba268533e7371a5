/// <reference lib="dom" />
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { simpleParser } from 'mailparser';
import { type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifyToken } from '../../src/tokens/tokens.js';
import { FAST_DELIVERY, TEST_SECRET, smtpTransport } from '../cli/cli-helpers.js';
import { startSmtpSink, type SmtpSink } from '../integration/servers.js';
import { startPreview, type RunningPreview } from './preview-helpers.js';
import { launchChromium } from '../browser.js';
import { scaled } from '../timeouts.js';


let browser: Browser;
let preview: RunningPreview;
let sink: SmtpSink;
let attacker: Server;
let attackerUrl: string;

/** Another website the editor happens to visit while the preview runs. */
function attackerPages(target: string) {
  const form = `<form id="f" method="post" action="${target}/send-test">
    <input name="to" value="attacker@evil.example"><input name="section" value="2025-11-12">
    <input name="subscriber" value="priya.raman@example.org"></form>
    <script>document.getElementById('f').submit()</script>`;
  return (path: string) =>
    path === '/sandboxed' ? `<!doctype html><iframe sandbox="allow-forms allow-scripts" src="/form"></iframe>`
    : path === '/form' ? `<!doctype html>${form}`
    : '<!doctype html><p>nothing here</p>';
}

beforeAll(async () => {
  sink = await startSmtpSink();
  preview = await startPreview({ transport: smtpTransport(sink.port), delivery: FAST_DELIVERY });
  const pageFor = attackerPages(preview.url);
  attacker = createServer((req, res) => res.writeHead(200, { 'content-type': 'text/html' }).end(pageFor(req.url ?? '/')));
  await new Promise<void>((resolve) => attacker.listen(0, '127.0.0.1', resolve));
  attackerUrl = `http://127.0.0.1:${(attacker.address() as AddressInfo).port}`;
  browser = await launchChromium();
});

afterAll(async () => {
  await browser?.close();
  await preview?.close();
  await sink?.close();
  if (attacker) await new Promise((resolve) => attacker.close(resolve));
});

describe('preview send-test against other websites, in headless Chromium', () => {
  for (const [name, path] of [['a sandboxed iframe (Origin: null)', '/sandboxed'], ['a plain cross-site form', '/form']] as const) {
    it(`refuses a send-test posted from ${name}`, async () => {
      const page = await browser.newPage();
      try {
        const answered = page.waitForResponse((r) => r.url().endsWith('/send-test'), { timeout: scaled(30_000) });
        await page.goto(`${attackerUrl}${path}`);
        expect((await answered).status()).toBe(403);
        expect(sink.messages).toHaveLength(0);
      } finally {
        await page.close();
      }
    });
  }

  it("sends from the preview's own page, with links that do not work", async () => {
    const page = await browser.newPage();
    try {
      await page.goto(`${preview.url}/section/2025-11-12?subscriber=priya.raman@example.org`);
      await page.fill('form.send-test input[name=to]', 'editor@example.org');
      const answered = page.waitForResponse((r) => r.url().endsWith('/send-test'));
      await page.click('form.send-test button[type=submit]');
      const answer = await answered;
      expect(answer.status(), await answer.text()).toBe(200);
      expect(sink.messages).toHaveLength(1);
      const mail = await simpleParser(sink.messages[0]!.raw);
      const unsubscribe = /unsubscribe\?token=([\w.-]+)/.exec(String(mail.text))?.[1];
      expect(unsubscribe).toBeDefined();
      expect(verifyToken(TEST_SECRET, unsubscribe!, 'unsubscribe', 0).ok).toBe(false);
    } finally {
      await page.close();
    }
  });
});
