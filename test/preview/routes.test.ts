import { readFile, readdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { simpleParser } from 'mailparser';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { messageIdFor } from '../../src/mail/message-id.js';
import { verifyToken } from '../../src/tokens/tokens.js';
import { FAST_DELIVERY, TEST_SECRET, smtpTransport } from '../cli/cli-helpers.js';
import { startSmtpSink, type SmtpSink } from '../integration/servers.js';
import { startPreview, type RunningPreview } from './preview-helpers.js';
import { storedSubscribers, withProjectStore } from '../store/project-store.js';
import { seedSections } from '../helpers.js';

let preview: RunningPreview;
let sink: SmtpSink;
beforeAll(async () => {
  sink = await startSmtpSink();
  preview = await startPreview({ transport: smtpTransport(sink.port), delivery: FAST_DELIVERY });
});
afterAll(async () => {
  await preview.close();
  await sink.close();
});

const get = (path: string) => fetch(`${preview.url}${path}`);

describe('preview routes over HTTP', () => {
  it('GET / lists every section with its status', async () => {
    const res = await get('/');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/html; charset=utf-8');
    const html = await res.text();
    for (const date of ['2025-11-03', '2025-11-04', '2025-11-05', '2025-11-06', '2025-11-07', '2025-11-10', '2025-11-12', '2025-11-13']) {
      expect(html).toContain(`href="/section/${date}"`);
    }
    expect(html).toContain('status-pending');
  });

  it('GET /section/:date shows the email, stats and every view', async () => {
    const res = await get('/section/2025-11-12?subscriber=priya.raman@example.org');
    expect(res.status).toBe(200);
    const html = await res.text();
    expect(html).toMatch(/<strong>9<\/strong> of 9 active subscribers get an email/);
    expect(html).toMatch(/<strong>\d+<\/strong> distinct variants/);
    expect(html).toContain('id="desktop"');
    expect(html).toContain('id="phone"');
    const bytes = /HTML (\d+) bytes of Gmail/.exec(html)?.[1];
    expect(Number(bytes)).toBeGreaterThan(10_000);
    expect(html).toContain(`aria-valuenow="${bytes}"`);
    const text = await (await get('/section/2025-11-12?subscriber=priya.raman@example.org&view=text')).text();
    expect(text).toContain('id="text"');
    expect(text).toContain('Why you got this');
    const headers = await (await get('/section/2025-11-12?subscriber=priya.raman@example.org&view=headers')).text();
    expect(headers).toContain('List-Unsubscribe-Post');
    expect(headers).toContain(messageIdFor('2025-11-12', 'priya.raman@example.org', 'mllm-digest.example.org').replace('<', '&lt;').replace('>', '&gt;'));
    const dark = await (await get('/section/2025-11-12?topics=video&view=dark')).text();
    expect(dark).toContain('dark=1');
  });

  it('searches subscribers for the audience picker instead of listing them all', async () => {
    const search = async (q: string, limit?: number) => {
      const res = await get(`/subscribers/search?${new URLSearchParams({ q, ...(limit ? { limit: String(limit) } : {}) })}`);
      expect(res.headers.get('content-type')).toMatch(/^application\/json/);
      return (await res.json()) as { subscribers: { email: string; label: string; status: string }[]; more: boolean };
    };
    expect((await search('李')).subscribers).toEqual([{ email: 'li.ming@example.com', label: '李明 <li.ming@example.com>', status: 'active' }]);
    expect((await search('EXAMPLE.COM')).subscribers.map((s) => s.email)).toContain('kwame.mensah@example.com');
    const page = await search('example', 2);
    expect(page.subscribers).toHaveLength(2);
    expect(page.more).toBe(true);
    expect((await search('%')).subscribers).toEqual([]);
    expect((await get('/subscribers/search?limit=5000')).status).toBe(400);

    // Without JavaScript the picker's form asks the page itself.
    const html = (await (await get('/section/2025-11-12?topics=&find=weber')).text()).replace(/&#x3D;/g, '=');
    expect(html).not.toContain('<select');
    const listed = [...html.matchAll(/<ul class="matches" id="matches"[^>]*>(.*?)<\/ul>/gs)][0]![1]!;
    expect(listed).toContain('href="/section/2025-11-12?subscriber=jonas.weber%40example.com&amp;view=email"');
    expect(listed.match(/<li>/g)).toHaveLength(1);
  });

  it('shows decoded header values and the encoded bytes', async () => {
    const html = (await (await get('/section/2025-11-12?subscriber=li.ming@example.com&view=headers')).text()).replace(/&#x3D;/g, '=');
    const to = /<th scope="row">To<\/th><td><span class="decoded">([^<]*)<\/span><code class="raw">([^<]*)<\/code>/.exec(html);
    expect(to?.[1]).toBe('李明 &lt;li.ming@example.com&gt;');
    expect(to?.[2]).toMatch(/^=\?UTF-8\?/i);
    // A header that needs no encoding is shown once.
    expect(html).toMatch(/<th scope="row">List-Unsubscribe-Post<\/th><td><span class="decoded">List-Unsubscribe=One-Click<\/span><\/td>/);
  });

  it('lists the papers nobody receives', async () => {
    expect(await (await get('/section/2025-11-13')).text()).toContain('every paper reaches someone');
    // The list lives in the store: swap it for one video-only reader, then put it back.
    const original = (await storedSubscribers(preview.dir)).subscribers;
    const setList = (list: Record<string, any>[]) =>
      withProjectStore(preview.dir, async (store) => {
        for (const s of (await storedSubscribers(preview.dir)).subscribers) await store.mutateSubscriber(s.email, () => ({ result: null, remove: true }));
        await store.importSubscribers(list.map(({ history, ...subscriber }) => ({ subscriber: subscriber as any, history: history ?? [] })), 'test');
      });
    await setList([{ email: 'only-video@example.org', status: 'active', topics: ['video'], excludeTopics: [], authors: [], keywords: [] }]);
    try {
      const html = await (await get('/section/2025-11-13')).text();
      expect(html).toMatch(/<strong>0<\/strong> of 1 active subscribers get an email/);
      expect(html).toMatch(/<strong>4<\/strong> papers nobody receives/);
      expect(html).toContain('Taming Object Hallucinations with Verified Atomic Confidence Estimation');
    } finally {
      await setList(original);
    }
  });

  it('serves the email itself as HTML, text and .eml, with the dark styles forced on request', async () => {
    const html = await get('/email/2025-11-12/html?topics=video');
    expect(html.status).toBe(200);
    expect(html.headers.get('content-type')).toBe('text/html; charset=utf-8');
    const body = await html.text();
    expect(body).toContain('prefers-color-scheme: dark');
    const dark = await (await get('/email/2025-11-12/html?topics=video&dark=1')).text();
    expect(dark).not.toContain('prefers-color-scheme: dark');
    const text = await get('/email/2025-11-12/text?topic=video&topic=rl');
    expect(text.headers.get('content-type')).toBe('text/plain; charset=utf-8');
    expect(await text.text()).toContain('Unsubscribe: https://digest.example.org/unsubscribe?token=');
    const eml = await get('/email/2025-11-12/eml?subscriber=ana.lopez@example.org');
    expect(eml.headers.get('content-type')).toBe('message/rfc822');
    expect((await simpleParser(Buffer.from(await eml.arrayBuffer()))).subject).toMatch(/^\d+ new papers — /);
  });

  it('answers 404 for an unknown section or subscriber and 400 for a bad query', async () => {
    expect((await get('/section/2024-01-01')).status).toBe(404);
    expect((await get('/email/2024-01-01/html')).status).toBe(404);
    expect((await get('/section/2025-11-12?subscriber=nobody@example.org')).status).toBe(404);
    expect((await get('/section/yesterday')).status).toBe(400);
    expect((await get('/section/2025-11-12?topics=astrology')).status).toBe(400);
    expect((await get('/section/2025-11-12?subscriber=ana.lopez@example.org&topics=video')).status).toBe(400);
    expect((await get('/section/2025-11-12?view=sideways')).status).toBe(400);
    expect((await get('/email/2025-11-12/html?topics=astrology')).status).toBe(400);
    expect((await get('/nowhere')).status).toBe(404);
  });

  it('says when an audience gets no email', async () => {
    const res = await get('/section/2025-11-13?subscriber=kwame.mensah@example.com');
    expect(res.status).toBe(200);
    expect(await res.text()).toContain('id="no-email"');
    expect((await get('/email/2025-11-13/html?subscriber=kwame.mensah@example.com')).status).toBe(404);
  });

  it('serves its stylesheet and live-reload script', async () => {
    const css = await get('/preview.css');
    expect(css.headers.get('content-type')).toBe('text/css; charset=utf-8');
    const js = await get('/preview.js');
    expect(js.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
    expect(await js.text()).toContain("new EventSource('/events')");
  });

  it('refuses foreign Host headers and any post that is not from its own page', async () => {
    const { request } = await import('node:http');
    const status = (headers: Record<string, string>, method = 'GET', body = '') =>
      new Promise<number>((resolve, reject) => {
        const req = request(`${preview.url}/${method === 'POST' ? 'send-test' : ''}`, { method, headers }, (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        });
        req.on('error', reject);
        req.end(body);
      });
    expect(await status({ host: 'evil.example:8081' })).toBe(403);
    const token = await formToken();
    const form = { 'content-type': 'application/x-www-form-urlencoded' };
    const body = `formToken=${token}&to=a%40example.org&section=2025-11-12`;
    // A foreign page, a sandboxed iframe (Origin: null), a client with no Origin at all.
    expect(await status({ ...form, origin: 'https://evil.example' }, 'POST', body)).toBe(403);
    expect(await status({ ...form, origin: 'null' }, 'POST', body)).toBe(403);
    expect(await status(form, 'POST', body)).toBe(403);
    expect(await status({ ...form, origin: preview.url, 'sec-fetch-site': 'cross-site' }, 'POST', body)).toBe(403);
    // Our own origin, but without the page's token (or with a wrong one).
    expect(await status({ ...form, origin: preview.url }, 'POST', 'to=a%40example.org&section=2025-11-12')).toBe(403);
    expect(await status({ ...form, origin: preview.url }, 'POST', body.replace(token, token.slice(0, -2) + 'xx'))).toBe(403);
    expect(sink.messages).toHaveLength(0);
  });

  it('streams change events', async () => {
    const res = await get('/events');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/event-stream');
    await res.body?.cancel();
  });

  it('sends a test through the configured transport with inert links, never writing the ledger', async () => {
    const token = await formToken();
    const post = (body: string) =>
      fetch(`${preview.url}/send-test`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', origin: preview.url }, body });
    const res = await post(`formToken=${token}&to=editor%40example.org&section=2025-11-12&subscriber=priya.raman%40example.org`);
    expect(res.status).toBe(200);
    expect(await res.text()).toMatch(/sent &quot;\[TEST\] \d+ new papers on /);
    expect(sink.messages).toHaveLength(1);
    const mail = await simpleParser(sink.messages[0]!.raw);
    expect(mail.subject).toMatch(/^\[TEST\] \d+ new papers on (Reasoning|Trust & safety)/);
    // The links look real but none verifies with the project's secret: the typed-in address
    // gets no power over Priya's subscription.
    const tokens = [...String(mail.text).matchAll(/\?token=([\w.-]+)/g)].map((m) => m[1]!);
    expect(tokens.length).toBeGreaterThanOrEqual(2);
    for (const t of tokens) for (const purpose of ['manage', 'unsubscribe'] as const) expect(verifyToken(TEST_SECRET, t, purpose, 0).ok).toBe(false);
    const bad = await post(`formToken=${token}&to=nope&section=2025-11-12`);
    expect(bad.status).toBe(400);
    expect(await withProjectStore(preview.dir, (store) => store.listDeliveries({}))).toEqual([]);
    expect(await readdir(preview.dir)).not.toContain('outbox');
  });

  it('shows per section what was sent, bounced and complained about, as digest-mailer stats counts it', async () => {
    const date = '2025-11-05';
    expect(await (await get(`/section/${date}?subscriber=priya.raman@example.org`)).text()).toContain('Not sent yet: no deliveries recorded');
    const at = '2025-11-05T07:00:00.000Z';
    await withProjectStore(preview.dir, async (store) => {
      const ana = (await store.getSubscriber('ana.lopez@example.org'))!;
      const row = (emailKey: string, status: 'sent' | 'failed', subscriberId: number | null = null, permanent = false) => ({ issue: date, sections: [date], emailKey, subscriberId, status, permanent, at });
      await store.insertDeliveries([row(ana.email, 'sent', ana.id), row('kwame.mensah@example.com', 'sent'), row('li.ming@example.com', 'sent'), row('sofia.rossi@example.org', 'failed', null, true)]);
      await store.appendConsentEvents(ana.email, [{ event: 'complained', at: '2025-11-05T09:00:00.000Z', by: 'ses-webhook' }]);
    });
    const html = await (await get(`/section/${date}?subscriber=priya.raman@example.org`)).text();
    expect(html).toContain('<strong>3</strong> sent, 1 failed (1 rejected), 0 skipped, 0 for weekly roll-ups, 0 pending');
    expect(html).toContain('<strong>1</strong> bounced (25.00%), 0 soft bounces');
    expect(html).toContain('<strong>1</strong> complaints (33.33%)');
    expect(html).toContain('No "more / less like this" applied to this section yet');

    // The aggregate feedback counts of the section, with the paper's title and the topic's label.
    const paper = seedSections().find((x) => x.date === date)!.papers[0]!;
    await withProjectStore(preview.dir, async (store) => {
      await store.recordFeedback({ section: date, paper: paper.id, want: 'more', topics: ['rl'] });
      await store.recordFeedback({ section: date, paper: paper.id, want: 'less', topics: ['rl'] });
      await store.recordFeedback({ section: date, paper: paper.id, want: 'more', topics: ['rl'] });
    });
    const withFeedback = await (await get(`/section/${date}?subscriber=priya.raman@example.org`)).text();
    const feedback = withFeedback.slice(withFeedback.indexOf('id="feedback"'));
    expect(feedback).toContain(`<strong>2</strong> more, <strong>1</strong> less`);
    expect(feedback).toContain('RL &amp; post-training: <strong>2</strong> more, <strong>1</strong> less');
    expect(feedback).toContain(paper.title.text.slice(0, 20).replace(/&/g, '&amp;'));
    const index = await (await get('/')).text();
    expect(index).toMatch(new RegExp(`href="/section/${date}">${date}</a></td><td>\\d+</td><td><span[^>]*>[a-z-]+</span></td><td>3</td><td>1</td><td>1</td>`));
  });
});

/** The token the preview puts in its send-test form. */
async function formToken(): Promise<string> {
  const html = await (await get('/section/2025-11-12?subscriber=priya.raman@example.org')).text();
  const token = /name="formToken" value="([^"]+)"/.exec(html)?.[1];
  if (!token) throw new Error('no formToken in the section page');
  return token;
}
