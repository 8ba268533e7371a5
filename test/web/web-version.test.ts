import { simpleParser } from 'mailparser';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FAST_DELIVERY, TEST_SECRET, cli, configure, makeProject, smtpTransport } from '../cli/cli-helpers.js';
import { startSmtpSink, type SmtpSink } from '../integration/servers.js';
import { startApp, type RunningApp } from './web-helpers.js';

const env = { DIGEST_MAILER_SECRET: TEST_SECRET };
const DATE = '2025-11-13'; // a first run sends only the newest section
let sink: SmtpSink;
let web: RunningApp;
let dir: string;

beforeAll(async () => {
  sink = await startSmtpSink();
  dir = await makeProject();
  await configure(dir, { transport: smtpTransport(sink.port), delivery: FAST_DELIVERY });
  web = await startApp(dir);
  const run = await cli(dir, ['run'], env);
  if (run.code !== 0) throw new Error(`run failed: ${run.stderr}`);
});
afterAll(async () => {
  await web?.close();
  await sink?.close();
});

/** The email a run sent to `email`, read back by an independent MIME parser. */
async function emailTo(email: string) {
  const raw = sink.messages.find((m) => m.to[0] === email)?.raw;
  if (!raw) throw new Error(`no email to ${email}`);
  const parsed = await simpleParser(raw);
  const html = (parsed.html || '').replace(/&amp;/g, '&').replace(/&#x3D;/g, '=');
  const webUrl = /<a href="([^"]+)"[^>]*>View in browser<\/a>/.exec(html)?.[1];
  // The papers in the email's order: each paper's abstract link, once.
  const ids = [...new Set([...html.matchAll(/https:\/\/arxiv\.org\/abs\/([0-9.]+)/g)].map((m) => m[1]))];
  return { webUrl, text: parsed.text ?? '', ids };
}

const articleIds = (html: string) => [...html.matchAll(/<article class="paper" id="paper-([^"]+)"/g)].map((m) => m[1]);

describe('"view in browser": every email links its own web version', () => {
  it('links the all-topics email to the public issue page, in the HTML and the text part', async () => {
    const email = await emailTo('ana.lopez@example.org');
    expect(email.webUrl).toBe(`https://digest.example.org/archive/${DATE}`);
    expect(email.text).toContain(`View in your browser: https://digest.example.org/archive/${DATE}`);
    const page = await web.get(email.webUrl!);
    expect(page.status).toBe(200); // the run finished: the section is sent, so published
    expect(articleIds(await page.text())).toEqual(email.ids);
  });

  it('links a personal email to a signed page with exactly that reader\'s papers, in their order', async () => {
    const personal = sink.messages.map((m) => m.to[0]!).filter((to) => !['ana.lopez@example.org', 'reader@example.com'].includes(to));
    expect(personal.length).toBeGreaterThanOrEqual(3);
    for (const reader of personal) {
      const email = await emailTo(reader);
      expect(email.webUrl, reader).toMatch(new RegExp(`^https://digest\\.example\\.org/archive/${DATE}/yours\\?token=v1\\.`));
      expect(email.text).toContain(`View in your browser: ${email.webUrl}`);
      const page = await web.get(email.webUrl!);
      expect(page.status, reader).toBe(200);
      expect(page.headers.get('cache-control')).toBe('private, no-store');
      expect(page.headers.get('x-robots-tag')).toBe('noindex, nofollow');
      const html = await page.text();
      expect(html).toContain('<meta name="robots" content="noindex, nofollow">');
      expect(articleIds(html), reader).toEqual(email.ids);
      // The same reasons as the email gives.
      expect(html.includes('Why you got this'), reader).toBe(email.text.includes('Why you got this'));
    }
  });

  it('refuses a forged, tampered, misused, expired or revoked link, and a day not sent', async () => {
    const { webUrl } = await emailTo('priya.raman@example.org');
    const token = new URL(webUrl!).searchParams.get('token')!;
    const yours = (t: string, date = DATE) => web.get(`/archive/${date}/yours?token=${encodeURIComponent(t)}`);
    expect((await yours(`${token.slice(0, -3)}abc`)).status).toBe(403);
    expect((await web.get(`/archive/${DATE}/yours`)).status).toBe(403);
    // A manage link's token opens the preference centre, not a reading page (and the other way round).
    const manage = /(https:\/\/digest\.example\.org\/preferences\?token=\S+)/.exec((await emailTo('priya.raman@example.org')).text)?.[1];
    expect(manage).toBeTruthy();
    expect((await yours(new URL(manage!).searchParams.get('token')!)).status).toBe(403);
    expect((await web.get(`/preferences?token=${token}`)).status).toBe(403);
    // The token names a reader, not a day: a day that did not go out is not shown.
    expect((await yours(token, '2025-11-12')).status).toBe(404);

    const later = await startApp(dir, { now: () => new Date(Date.now() + 400 * 86_400_000) });
    try {
      const expired = await later.get(webUrl!);
      expect(expired.status).toBe(403);
      expect(await expired.text()).toContain('This link has expired');
    } finally {
      await later.close();
    }
    expect((await cli(dir, ['subscribers', 'revoke-links', 'priya.raman@example.org'], env)).code).toBe(0);
    const revoked = await web.get(webUrl!);
    expect(revoked.status).toBe(403);
    expect(await revoked.text()).toContain('This link no longer works');
  });
});
