import { join } from 'node:path';
import { simpleParser } from 'mailparser';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.js';
import { recipientLinks, webVersionUrl } from '../../src/tokens/links.js';
import { FAST_DELIVERY, TEST_SECRET, configure, makeProject, smtpTransport } from '../cli/cli-helpers.js';
import { startSmtpSink, type SmtpSink } from '../integration/servers.js';
import { withProjectStore } from '../store/project-store.js';
import { scaled } from '../timeouts.js';
import { entry, linkIn, startApp, type RunningApp } from './web-helpers.js';

let sink: SmtpSink | null = null;
let web: RunningApp | null = null;
afterEach(async () => {
  await web?.close();
  web = null;
  await sink?.close();
  sink = null;
});

/** A fixed clock: the per-hour windows of the limits cannot roll over during a test. */
const CLOCK = new Date('2026-11-20T10:15:00Z');
const now = () => CLOCK;

async function project(webConfig: Record<string, unknown> = {}) {
  sink = await startSmtpSink();
  const dir = await makeProject();
  await configure(dir, { transport: smtpTransport(sink.port), delivery: FAST_DELIVERY, web: webConfig });
  web = await startApp(dir, { now });
  return dir;
}

const ACTIVE = 'ana.lopez@example.org';
const mailsTo = (email: string) => sink!.messages.filter((m) => m.to[0]!.toLowerCase() === email.toLowerCase());
const tokenOf = (url: string) => new URL(url).searchParams.get('token')!;

/** The links a run put into the emails sent so far (token generation 0). */
async function oldLinks(dir: string, email: string) {
  const config = await loadConfig(join(dir, 'config.json'));
  const settings = { baseUrl: config.baseUrl, secret: TEST_SECRET, ttlDays: 365 };
  return { ...recipientLinks(settings, email, CLOCK, 0), viewUrl: webVersionUrl(settings, '2025-11-13', { email, now: CLOCK, linkGeneration: 0 }) };
}

async function requestLink(email: string, app = web!) {
  const res = await app.post('/preferences/link', { email });
  const body = await res.text();
  await app.mailer.drain();
  return { status: res.status, body };
}

describe('send me my link', () => {
  it('answers the same for active, pending, unsubscribed, bounced and unknown addresses; only the active one is mailed', async () => {
    const dir = await project();
    // A pending address: subscribed, never confirmed.
    expect((await web!.post('/subscribe', { email: 'pending.reader@example.org' })).status).toBe(200);
    await web!.mailer.drain();
    const before = sink!.messages.length;

    const addresses = [ACTIVE, 'pending.reader@example.org', 'tom.becker@example.org', 'olivia.chen@example.com', 'nobody.here@example.org'];
    const answers = [];
    for (const email of addresses) answers.push(await requestLink(email));
    for (const answer of answers) expect(answer).toEqual(answers[0]);
    expect(answers[0]!.status).toBe(200);
    expect(answers[0]!.body).toContain('If this address is subscribed');
    expect(answers[0]!.body).not.toContain('example.org');

    expect(sink!.messages.slice(before).map((m) => m.to[0])).toEqual([ACTIVE]);
    expect((await entry(dir, ACTIVE)).history.at(-1)).toMatchObject({ event: 'link-sent', by: 'web' });
    expect((await entry(dir, 'tom.becker@example.org')).status).toBe('unsubscribed');
  });

  it('mails a link that opens the preference centre, revokes older manage and view links, and keeps older one-click unsubscribe links working', async () => {
    const dir = await project();
    const old = await oldLinks(dir, ACTIVE);
    expect((await web!.get(old.manageUrl)).status).toBe(200);

    await requestLink(ACTIVE);
    const [mail] = mailsTo(ACTIVE);
    const parsed = await simpleParser(mail!.raw);
    expect(parsed.subject).toBe('Your preferences link for Multimodal LLM Digest');
    expect(parsed.to).toMatchObject({ value: [{ address: ACTIVE, name: '' }] });
    expect(String(parsed.html)).toContain('prefers-color-scheme: dark');
    expect(String(parsed.text)).toContain('/preferences?token=');
    const fresh = await linkIn(mail!.raw, '/preferences');

    const page = await web!.get(fresh);
    expect(page.status).toBe(200);
    const html = await page.text();
    expect(html).toContain('<h1>Your preferences</h1>');
    expect(html).toContain(`<strong>${ACTIVE}</strong>`);
    expect(html).toContain(`value="${tokenOf(fresh)}"`);

    // The emails sent before: their manage and web-version links no longer work, and the
    // refusal page offers the form.
    const revoked = await web!.get(old.manageUrl);
    expect(revoked.status).toBe(403);
    const revokedPage = await revoked.text();
    expect(revokedPage).toContain('This link no longer works');
    expect(revokedPage).toContain('action="/preferences/link"');
    expect((await web!.get(old.viewUrl)).status).toBe(403);

    // Their unsubscribe link still works, but its page no longer hands out a manage link.
    const unsubscribePage = await web!.get(old.unsubscribeUrl);
    expect(unsubscribePage.status).toBe(200);
    expect(await unsubscribePage.text()).not.toContain('/preferences?token=');
    const oneClick = await web!.post(`/unsubscribe?token=${tokenOf(old.unsubscribeUrl)}`, 'List-Unsubscribe=One-Click');
    expect(oneClick.status).toBe(200);
    expect(await oneClick.text()).toBe('Unsubscribed.');
    expect(await entry(dir, ACTIVE)).toMatchObject({ status: 'unsubscribed' });
    // The new link still opens the preference centre (to resubscribe from).
    expect((await web!.get(fresh)).status).toBe(200);
  });

  it('a second link revokes the first, and leaves the unsubscribe floor where it was', async () => {
    const dir = await project();
    await requestLink(ACTIVE);
    await requestLink(ACTIVE);
    const [first, second] = await Promise.all(mailsTo(ACTIVE).map((m) => linkIn(m.raw, '/preferences')));
    expect((await web!.get(first!)).status).toBe(403);
    expect((await web!.get(second!)).status).toBe(200);
    const generations = await withProjectStore(dir, (store) => store.linkGenerations(ACTIVE));
    expect(generations).toEqual({ current: 2, unsubscribeFloor: 0 });
  });

  it('keeps its per-address and per-IP limits across a restart of the web app', async () => {
    const dir = await project({ linkEmailsPerAddressPerHour: 2, linkRequestsPerIpPerHour: 5 });
    expect((await requestLink(ACTIVE)).status).toBe(200);
    expect((await requestLink('Ana.Lopez@example.org')).status).toBe(200);
    expect(mailsTo(ACTIVE)).toHaveLength(2);
    await web!.close();
    web = await startApp(dir, { now });
    // Third request for the address: the same answer, no email.
    const third = await requestLink(ACTIVE);
    expect(third.status).toBe(200);
    expect(mailsTo(ACTIVE)).toHaveLength(2);
    // Per IP: five requests an hour, whichever the addresses, then 429 even after a restart.
    expect((await requestLink('kwame.mensah@example.com')).status).toBe(200);
    expect((await requestLink('nobody.here@example.org')).status).toBe(200);
    await web!.close();
    web = await startApp(dir, { now });
    const refused = await requestLink('priya.raman@example.org');
    expect(refused.status).toBe(429);
    expect(refused.body).toContain('Too many link requests');
    expect(mailsTo('priya.raman@example.org')).toHaveLength(0);
    expect(mailsTo('kwame.mensah@example.com')).toHaveLength(1);
  });

  it('changes nothing on GET, and shows the form on the subscribe page and on invalid-link pages', async () => {
    const dir = await project();
    const before = await entry(dir, ACTIVE);
    const form = await web!.get(`/preferences/link?email=${encodeURIComponent(ACTIVE)}`);
    expect(form.status).toBe(200);
    expect(await form.text()).toContain('<form method="post" action="/preferences/link">');
    expect((await fetch(`${web!.url}/preferences/link?email=${ACTIVE}`, { method: 'HEAD' })).status).toBe(200);
    await web!.mailer.drain();
    expect(sink!.messages).toHaveLength(0);
    expect(await entry(dir, ACTIVE)).toEqual(before);

    expect(await (await web!.get('/subscribe')).text()).toContain('action="/preferences/link"');
    for (const path of ['/preferences', '/preferences?token=v1.bad.token', '/unsubscribe?token=nonsense-token']) {
      const res = await web!.get(path);
      expect(res.status, path).toBe(403);
      expect(await res.text(), path).toContain('action="/preferences/link"');
    }
  });

  it('refuses header injection, malformed and oversized bodies without mailing anyone', async () => {
    await project();
    const injected = [`${ACTIVE}\r\nBcc: evil@example.net`, `${ACTIVE}\nBcc: evil@example.net`, `evil@example.net, ${ACTIVE}`, `Ana <${ACTIVE}>`, `${ACTIVE}%0d%0aBcc:evil@example.net`];
    for (const email of injected) {
      const res = await requestLink(email);
      expect(res.status, JSON.stringify(email)).toBe(400);
      expect(res.body).toContain('action="/preferences/link"');
    }
    const json = await web!.post('/preferences/link', JSON.stringify({ email: `${ACTIVE}\r\nBcc: evil@example.net` }), 'application/json');
    expect(json.status).toBe(400);
    const twice = await web!.post('/preferences/link', { email: [ACTIVE, 'evil@example.net'] });
    expect(twice.status).toBe(400);
    expect((await web!.post('/preferences/link', '{"email":', 'application/json')).status).toBe(400);
    expect((await web!.post('/preferences/link', `email=${'a'.repeat(20_000)}%40example.org`)).status).toBe(413);
    expect((await web!.post('/preferences/link', `email=${ACTIVE}`, 'text/plain')).status).toBe(400);
    expect((await web!.post('/preferences/link', `<email>${ACTIVE}</email>`, 'application/xml')).status).toBe(415);
    const multipart = await web!.post('/preferences/link', '--XYZ\r\nContent-Disposition: form-data; name="email"\r\n\r\nana.lo', 'multipart/form-data; boundary=XYZ');
    expect(multipart.status).toBeGreaterThanOrEqual(400);
    expect(multipart.status).toBeLessThan(500);
    await web!.mailer.drain();
    expect(sink!.messages).toHaveLength(0);
  });
});

describe('link request timing', () => {
  it('answers an active and an unknown address in the same time (medians within 20%)', async () => {
    await project({ linkRequestsPerIpPerHour: 100_000, linkEmailsPerAddressPerHour: 1000, subscribeAnswerMs: Math.min(600, scaled(120)) });
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
    const time = async (email: string) => {
      const started = performance.now();
      const res = await web!.post('/preferences/link', { email });
      await res.text();
      const ms = performance.now() - started;
      await web!.mailer.drain();
      return ms;
    };
    for (let i = 0; i < 4; i++) await time(`warmup${i}@example.org`);
    const samples = { active: [] as number[], unknown: [] as number[] };
    for (let i = 0; i < 12; i++) {
      const order = i % 2 === 0 ? (['active', 'unknown'] as const) : (['unknown', 'active'] as const);
      for (const kind of order) samples[kind].push(await time(kind === 'active' ? ACTIVE : `stranger${i}@example.org`));
    }
    const medians = { active: median(samples.active), unknown: median(samples.unknown) };
    const spread = Math.abs(medians.active - medians.unknown) / Math.max(medians.active, medians.unknown);
    expect(spread, JSON.stringify(medians)).toBeLessThanOrEqual(0.2);
    expect(mailsTo(ACTIVE).length).toBe(12);
  });
});
