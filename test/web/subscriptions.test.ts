import { appendFile, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { simpleParser } from 'mailparser';
import { afterEach, describe, expect, it } from 'vitest';
import { signToken } from '../../src/tokens/tokens.js';
import { EXTRA_SECTION, FAST_DELIVERY, TEST_SECRET, cli, configure, makeProject, smtpTransport, spawnCli, waitFor } from '../cli/cli-helpers.js';
import { startSmtpSink, type SmtpSink } from '../integration/servers.js';
import { entry, linkIn, startApp, storeFile, type RunningApp } from './web-helpers.js';
import { withProjectStore } from '../store/project-store.js';

const env = { DIGEST_MAILER_SECRET: TEST_SECRET };
let sink: SmtpSink | null = null;
let web: RunningApp | null = null;
afterEach(async () => {
  await web?.close();
  web = null;
  await sink?.close();
  sink = null;
});

async function project() {
  sink = await startSmtpSink();
  const dir = await makeProject();
  await configure(dir, { transport: smtpTransport(sink.port), delivery: FAST_DELIVERY });
  web = await startApp(dir);
  return dir;
}

const mailsTo = (s: SmtpSink, email: string) => s.messages.filter((m) => m.to[0] === email);

describe('subscribe, confirm, preferences, one-click unsubscribe (real HTTP on 127.0.0.1)', () => {
  it('follows a reader from the form to their inbox and out again', async () => {
    const dir = await project();
    const page = await web!.get('/subscribe');
    expect(page.status).toBe(200);
    const form = await page.text();
    expect(form).toContain('<label for="email">Email address</label>');
    expect(form).toContain('value="multilingual"');

    const posted = await web!.post('/subscribe', { email: 'newcomer@example.org', name: 'New Comer', topics: ['multilingual', 'video'] });
    expect(posted.status).toBe(200);
    expect(await posted.text()).toContain('Check your inbox');
    await web!.mailer.drain(); // the request is handled after the answer
    expect(await entry(dir, 'newcomer@example.org')).toMatchObject({ status: 'pending', topics: ['multilingual', 'video'] });

    await waitFor(() => mailsTo(sink!, 'newcomer@example.org').length === 1, 10_000, 'the confirmation email');
    const confirmation = await simpleParser(mailsTo(sink!, 'newcomer@example.org')[0]!.raw);
    expect(confirmation.subject).toBe('Confirm your subscription to Multimodal LLM Digest');
    const confirmUrl = await linkIn(mailsTo(sink!, 'newcomer@example.org')[0]!.raw, '/confirm');
    const confirmPage = await web!.get(confirmUrl);
    expect(confirmPage.status).toBe(200);
    expect(await confirmPage.text()).toContain('<button type="submit">Confirm my subscription</button>');
    expect(await entry(dir, 'newcomer@example.org')).toMatchObject({ status: 'pending' });
    const confirmed = await web!.post('/confirm', { token: new URL(confirmUrl).searchParams.get('token')! });
    expect(confirmed.status).toBe(200);
    expect(await confirmed.text()).toContain("You're subscribed");
    const stored = await entry(dir, 'newcomer@example.org');
    expect(stored.status).toBe('active');
    expect(stored.history.map((h: { event: string; by: string }) => `${h.event}/${h.by}`)).toEqual(['subscribed/web', 'confirmed/web']);

    // The next run includes them.
    const run = await cli(dir, ['run'], env);
    expect(run.code).toBe(0);
    expect(mailsTo(sink!, 'newcomer@example.org')).toHaveLength(2);
    const digest = mailsTo(sink!, 'newcomer@example.org')[1]!.raw;
    expect((await simpleParser(digest)).subject).toMatch(/^\d+ new papers? .*— /);

    // Preferences change what the next run sends: exclude the topic of the next section.
    const manage = await linkIn(digest, '/preferences');
    const prefsPage = await web!.get(manage);
    expect(prefsPage.status).toBe(200);
    const token = new URL(manage).searchParams.get('token')!;
    const saved = await web!.post('/preferences', { token, topics: ['rl'], excludeTopics: ['multilingual'], authors: 'Ana López\n', keywords: '' });
    expect(saved.status).toBe(303);
    expect(saved.headers.get('location')).toMatch(/saved=1/);
    expect(await entry(dir, 'newcomer@example.org')).toMatchObject({ topics: ['rl'], excludeTopics: ['multilingual'], authors: ['Ana López'] });
    await appendFile(join(dir, 'digests/2025-11.md'), EXTRA_SECTION('2025-11-14', '2025-11-13'));
    expect((await cli(dir, ['run'], env)).code).toBe(0);
    expect(mailsTo(sink!, 'newcomer@example.org')).toHaveLength(2); // excluded: no mail

    await web!.post('/preferences', { token, topics: ['video'], authors: '', keywords: '' });
    await appendFile(join(dir, 'digests/2025-11.md'), EXTRA_SECTION('2025-11-17', '2025-11-14'));
    expect((await cli(dir, ['run'], env)).code).toBe(0);
    expect(mailsTo(sink!, 'newcomer@example.org')).toHaveLength(3);

    // RFC 8058 one-click: POST to the List-Unsubscribe URL, no page, no confirmation.
    const last = await simpleParser(mailsTo(sink!, 'newcomer@example.org')[2]!.raw);
    const listUnsubscribe = (last.headers.get('list') as { unsubscribe: { url: string } }).unsubscribe.url;
    const oneClick = await web!.post(listUnsubscribe, 'List-Unsubscribe=One-Click');
    expect(oneClick.status).toBe(200);
    expect(await oneClick.text()).toBe('Unsubscribed.');
    expect(await entry(dir, 'newcomer@example.org')).toMatchObject({ status: 'unsubscribed' });
    await appendFile(join(dir, 'digests/2025-11.md'), EXTRA_SECTION('2025-11-18', '2025-11-17'));
    expect((await cli(dir, ['run'], env)).code).toBe(0);
    expect(mailsTo(sink!, 'newcomer@example.org')).toHaveLength(3);

    // Coming back from the preference page takes a fresh confirmation from the inbox.
    const resub = await web!.post('/preferences/resubscribe', { token });
    expect(resub.status).toBe(200);
    expect(await entry(dir, 'newcomer@example.org')).toMatchObject({ status: 'unsubscribed' });
    await web!.mailer.drain();
    const again = await linkIn(mailsTo(sink!, 'newcomer@example.org').at(-1)!.raw, '/confirm');
    expect((await web!.post('/confirm', { token: new URL(again).searchParams.get('token')! })).status).toBe(200);
    expect(await entry(dir, 'newcomer@example.org')).toMatchObject({ status: 'active' });
  });

  it('accepts the one-click POST as multipart/form-data too, and the unsubscribe page has one button', async () => {
    const dir = await project();
    const token = signToken(TEST_SECRET, { email: 'ana.lopez@example.org', purpose: 'unsubscribe', expires: Math.floor(Date.now() / 1000) + 3600 });
    const page = await web!.get(`/unsubscribe?token=${token}`);
    expect(page.status).toBe(200);
    expect((await page.text()).match(/<button/g)).toHaveLength(1);
    const body = new FormData();
    body.append('List-Unsubscribe', 'One-Click');
    const res = await fetch(`${web!.url}/unsubscribe?token=${token}`, { method: 'POST', body });
    expect(res.status).toBe(200);
    expect((await entry(dir, 'ana.lopez@example.org')).history.at(-1)).toMatchObject({ event: 'unsubscribed', by: 'one-click' });
  });

  it('answers the same for a known, unknown, active and suppressed address, and does not disturb an active one', async () => {
    const dir = await project();
    const answers = await Promise.all(
      ['ana.lopez@example.org', 'stranger@example.org', 'olivia.chen@example.com'].map(async (email) => {
        const res = await web!.post('/subscribe', { email });
        return [res.status, (await res.text()).replace(/\s+/g, ' ')];
      }),
    );
    expect(new Set(answers.map((a) => JSON.stringify(a))).size).toBe(1);
    await web!.mailer.drain();
    // The active reader gets a notice with their preferences link, the suppressed one nothing.
    expect(mailsTo(sink!, 'ana.lopez@example.org')).toHaveLength(1);
    expect((await simpleParser(mailsTo(sink!, 'ana.lopez@example.org')[0]!.raw)).subject).toMatch(/already subscribed/);
    expect(mailsTo(sink!, 'olivia.chen@example.com')).toHaveLength(0);
    expect(mailsTo(sink!, 'stranger@example.org')).toHaveLength(1);
    expect(await entry(dir, 'ana.lopez@example.org')).toMatchObject({ status: 'active' });
    // Nothing was recorded for the active address since it came in from the subscribers file.
    expect((await entry(dir, 'ana.lopez@example.org')).history.map((h: { event: string }) => h.event)).toEqual(['imported']);
  });

  it('limits confirmation emails per address', async () => {
    await project();
    for (let i = 0; i < 5; i++) expect((await web!.post('/subscribe', { email: 'eager@example.org' })).status).toBe(200);
    await web!.mailer.drain();
    expect(mailsTo(sink!, 'eager@example.org')).toHaveLength(3);
  });

  it('keeps counting confirmation emails per address across a restart of the web app', async () => {
    const dir = await project();
    for (let i = 0; i < 2; i++) expect((await web!.post('/subscribe', { email: 'Eager@example.org' })).status).toBe(200);
    await web!.mailer.drain();
    await web!.close();
    web = await startApp(dir);
    for (let i = 0; i < 3; i++) expect((await web.post('/subscribe', { email: 'eager@example.org' })).status).toBe(200);
    await web.mailer.drain();
    // 3 an hour (web.confirmationsPerAddressPerHour), however the address is spelled and however often the server restarted.
    expect(sink!.messages.filter((m) => m.to[0]!.toLowerCase() === 'eager@example.org')).toHaveLength(3);
  });
});

describe('tokens on the web', () => {
  it('refuses forged, tampered, wrong-purpose and expired tokens with 403 and changes nothing', async () => {
    const dir = await project();
    const before = JSON.stringify(await storeFile(dir));
    const now = Math.floor(Date.now() / 1000);
    const good = signToken(TEST_SECRET, { email: 'ana.lopez@example.org', purpose: 'unsubscribe', expires: now + 3600 });
    const [v, payload, sig] = good.split('.');
    const otherPayload = Buffer.from(JSON.stringify({ e: 'jonas.weber@example.com', p: 'unsubscribe', x: now + 3600 })).toString('base64url');
    const bad = {
      forged: signToken('an-attacker-secret-that-is-long-enough-123', { email: 'ana.lopez@example.org', purpose: 'unsubscribe', expires: now + 3600 }),
      tampered: `${v}.${otherPayload}.${sig}`,
      wrongPurpose: signToken(TEST_SECRET, { email: 'ana.lopez@example.org', purpose: 'manage', expires: now + 3600 }),
      expired: signToken(TEST_SECRET, { email: 'ana.lopez@example.org', purpose: 'unsubscribe', expires: now - 1 }),
      garbage: 'v1.bm9wZQ.xx',
    };
    void payload;
    for (const [kind, token] of Object.entries(bad)) {
      expect((await web!.post(`/unsubscribe?token=${token}`, 'List-Unsubscribe=One-Click')).status, kind).toBe(403);
      expect((await web!.get(`/unsubscribe?token=${token}`)).status, kind).toBe(403);
      expect((await web!.post('/unsubscribe', { token })).status, kind).toBe(403);
    }
    const confirmForManage = signToken(TEST_SECRET, { email: 'ana.lopez@example.org', purpose: 'confirm', expires: now + 3600 });
    expect((await web!.get(`/preferences?token=${confirmForManage}`)).status).toBe(403);
    expect((await web!.post('/preferences', { token: confirmForManage, topics: 'rl' })).status).toBe(403);
    expect((await web!.get(`/confirm?token=${bad.expired.replace('unsubscribe', 'confirm')}`)).status).toBe(403);
    const expiredConfirm = signToken(TEST_SECRET, { email: 'tom.becker@example.org', purpose: 'confirm', expires: now - 10 });
    const expiredPage = await web!.get(`/confirm?token=${expiredConfirm}`);
    expect(expiredPage.status).toBe(403);
    expect(await expiredPage.text()).toContain('This link has expired');
    expect(JSON.stringify(await storeFile(dir))).toBe(before);
  });
});

describe('serve --schedule', () => {
  it('runs the web app and the schedule in one process', async () => {
    const dir = await makeProject();
    await configure(dir, { schedule: { cron: '* * * * * *' } });
    const server = spawnCli(dir, ['serve', '--schedule', '--port', '0'], { DIGEST_MAILER_SECRET: TEST_SECRET });
    await waitFor(() => /listening on/.test(server.output().stdout), 20_000, 'the server');
    await waitFor(() => /"msg":"run finished/.test(server.output().stderr), 30_000, 'a scheduled pass');
    const url = /listening on (\S+)/.exec(server.output().stdout)![1]!;
    expect((await fetch(`${url}/healthz`)).status).toBe(200);
    server.child.kill('SIGTERM');
    expect((await server.exited).code).toBe(0);
    expect(await withProjectStore(dir, (store) => store.lastRunAt())).not.toBeNull();
  });
});

describe('confirmation email', () => {
  it('passes MJML strict validation and carries a signed, expiring confirm link', async () => {
    const { loadConfig } = await import('../../src/config/load.js');
    const { ConfirmationMailer } = await import('../../src/web/confirmation.js');
    const { OutboxTransport } = await import('../../src/mail/transports/outbox.js');
    const { verifyToken } = await import('../../src/tokens/tokens.js');
    const dir = await makeProject();
    const config = await loadConfig(join(dir, 'config.json'));
    await expect(ConfirmationMailer.check(config)).resolves.toBeUndefined();
    const now = new Date('2026-01-01T00:00:00Z');
    const mailer = await ConfirmationMailer.create(config, new OutboxTransport(join(dir, 'outbox')), { baseUrl: config.baseUrl, secret: TEST_SECRET, ttlDays: 365 }, () => undefined, () => now);
    const { raw, confirmUrl } = await mailer.compose({ email: 'Ana@Example.org', status: 'pending', topics: [], excludeTopics: [], authors: [], keywords: [] }, 'g1');
    const token = new URL(confirmUrl).searchParams.get('token')!;
    const at = (hours: number) => Math.floor(now.getTime() / 1000) + hours * 3600;
    expect(verifyToken(TEST_SECRET, token, 'confirm', at(47))).toMatchObject({ ok: true, claims: { email: 'ana@example.org', generation: 'g1' } });
    expect(verifyToken(TEST_SECRET, token, 'confirm', at(49))).toEqual({ ok: false, reason: 'expired' });
    const mail = await simpleParser(raw);
    expect(mail.headers.has('list-unsubscribe')).toBe(false);
    expect(mail.text).toContain(confirmUrl);
    await mailer.close();
  });
});
