import { generateKeyPairSync, createSign } from 'node:crypto';
import { createServer as createHttpServer } from 'node:http';
import { createServer as createNetServer, type AddressInfo } from 'node:net';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { scaled } from '../timeouts.js';
import { FAST_DELIVERY, TEST_SECRET, cli, configure, makeProject, smtpTransport, spawnCli, waitFor } from '../cli/cli-helpers.js';
import { startSmtpSink, type SmtpSink } from '../integration/servers.js';
import { entry, startApp, storeFile, type RunningApp } from './web-helpers.js';

const env = { DIGEST_MAILER_SECRET: TEST_SECRET };
let web: RunningApp | null = null;
let sink: SmtpSink | null = null;
afterEach(async () => {
  await web?.close();
  web = null;
  await sink?.close();
  sink = null;
});

async function freePort(): Promise<number> {
  const server = createNetServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}

describe('the subscriber store under load', () => {
  it('keeps all 500 of 500 concurrent subscribes', async () => {
    const dir = await makeProject();
    await configure(dir, { web: { subscribePerIpPerMinute: 10_000 }, delivery: FAST_DELIVERY });
    web = await startApp(dir);
    const emails = Array.from({ length: 500 }, (_, i) => `burst${i}@example.org`);
    const statuses = await Promise.all(emails.map((email) => web!.post('/subscribe', { email, topics: 'video' }).then((r) => r.status)));
    expect(statuses.every((s) => s === 200)).toBe(true);
    // Each answer stored one intake row; the drainer then adds the subscribers.
    await web!.mailer.drain();
    const stored = await storeFile(dir);
    const keys = new Set(stored.subscribers.map((s) => s.email));
    for (const email of emails) expect(keys.has(email), email).toBe(true);
    expect(stored.subscribers).toHaveLength(11 + 500);
  });

  it('a server killed with SIGKILL while writing keeps every acknowledged write (drained by the next start)', async () => {
    const dir = await makeProject();
    await configure(dir, { web: { subscribePerIpPerMinute: 100_000 } });
    const port = await freePort();
    const server = spawnCli(dir, ['serve', '--port', String(port)], { DIGEST_MAILER_SECRET: TEST_SECRET });
    await waitFor(() => /listening on/.test(server.output().stdout), 20_000, 'the server to listen');
    const acknowledged: string[] = [];
    let stop = false;
    const worker = async (w: number) => {
      for (let i = 0; !stop && i < 1000; i++) {
        const email = `w${w}-${i}@example.org`;
        try {
          const res = await fetch(`http://127.0.0.1:${port}/subscribe`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: `email=${encodeURIComponent(email)}` });
          if (res.status === 200) acknowledged.push(email);
        } catch {
          return; // the server is gone
        }
      }
    };
    const workers = Array.from({ length: 16 }, (_, w) => worker(w));
    await waitFor(() => acknowledged.length >= 150, 60_000, '150 acknowledged subscribes');
    server.child.kill('SIGKILL');
    stop = true;
    await server.exited;
    await Promise.all(workers);
    // An acknowledged subscribe is an intake row; what the killed server had not drained yet,
    // the next start drains.
    const again = spawnCli(dir, ['serve', '--port', String(port)], { DIGEST_MAILER_SECRET: TEST_SECRET });
    let lost: string[] = acknowledged;
    try {
      await waitFor(() => /listening on/.test(again.output().stdout), 20_000, 'the server to listen again');
      const deadline = Date.now() + scaled(60_000);
      while (Date.now() < deadline) {
        const keys = new Set((await storeFile(dir)).subscribers.map((s) => s.email));
        lost = acknowledged.filter((e) => !keys.has(e));
        if (lost.length === 0) break;
        await new Promise((r) => setTimeout(r, 200));
      }
    } finally {
      again.child.kill('SIGTERM');
      await again.exited;
    }
    expect(lost).toEqual([]);
  });
});

describe('Amazon SES feedback over SNS', () => {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const CERT_URL = 'https://sns.test.example/SimpleNotificationService-test.pem';
  const TOPIC = 'arn:aws:sns:eu-west-1:123456789012:ses-feedback';

  /** Signs like SNS (SignatureVersion 2: SHA256withRSA over the documented key/value lines). */
  function signed(fields: Record<string, string>, key = privateKey) {
    const order =
      fields.Type === 'Notification'
        ? ['Message', 'MessageId', 'Subject', 'Timestamp', 'TopicArn', 'Type']
        : ['Message', 'MessageId', 'SubscribeURL', 'Timestamp', 'Token', 'TopicArn', 'Type'];
    const text = order.filter((k) => fields[k] !== undefined).map((k) => `${k}\n${fields[k]}\n`).join('');
    const signature = createSign('RSA-SHA256').update(text).sign(key, 'base64');
    return JSON.stringify({ ...fields, SignatureVersion: '2', Signature: signature, SigningCertURL: CERT_URL });
  }
  const notification = (message: object) =>
    signed({ Type: 'Notification', MessageId: `m-${Math.random()}`, TopicArn: TOPIC, Message: JSON.stringify(message), Timestamp: new Date().toISOString() });
  const bounce = (email: string, bounceType: string) => notification({ notificationType: 'Bounce', bounce: { bounceType, bounceSubType: 'General', bouncedRecipients: [{ emailAddress: email, diagnosticCode: 'smtp; 550 5.1.1 user unknown' }] }, mail: {} });
  const complaint = (email: string) => notification({ notificationType: 'Complaint', complaint: { complaintFeedbackType: 'abuse', complainedRecipients: [{ emailAddress: email }] }, mail: {} });

  async function feedbackProject() {
    sink = await startSmtpSink();
    const dir = await makeProject();
    await writeFile(join(dir, 'sns-cert.pem'), publicKey.export({ type: 'spki', format: 'pem' }));
    await configure(dir, {
      transport: smtpTransport(sink.port),
      delivery: FAST_DELIVERY,
      webhooks: { ses: { trustedHosts: ['^sns\\.test\\.example$', '^127\\.0\\.0\\.1$'], topicArns: [TOPIC], pinnedCertificates: { [CERT_URL]: 'sns-cert.pem' }, allowHttp: true } },
    });
    web = await startApp(dir);
    return dir;
  }
  const post = (body: string) => web!.post('/webhooks/ses', body, 'text/plain; charset=UTF-8');

  it('confirms an SNS subscription by visiting its SubscribeURL', async () => {
    await feedbackProject();
    let visited = 0;
    const snsEndpoint = createHttpServer((_req, res) => {
      visited++;
      res.end('<ConfirmSubscriptionResponse/>');
    });
    await new Promise<void>((r) => snsEndpoint.listen(0, '127.0.0.1', r));
    const subscribeUrl = `http://127.0.0.1:${(snsEndpoint.address() as AddressInfo).port}/?Action=ConfirmSubscription&Token=abc`;
    const res = await post(signed({ Type: 'SubscriptionConfirmation', MessageId: 'm1', TopicArn: TOPIC, Message: 'You have chosen to subscribe', SubscribeURL: subscribeUrl, Token: 'abc', Timestamp: new Date().toISOString() }));
    expect(res.status).toBe(200);
    expect(visited).toBe(1);
    snsEndpoint.close();
  });

  it('never follows a redirect from a SubscribeURL (the host checked is the host visited)', async () => {
    await feedbackProject();
    let elsewhere = 0;
    const target = createHttpServer((_req, res) => {
      elsewhere++;
      res.end('<ConfirmSubscriptionResponse/>');
    });
    await new Promise<void>((r) => target.listen(0, '::1', r));
    const redirector = createHttpServer((_req, res) => res.writeHead(302, { location: `http://[::1]:${(target.address() as AddressInfo).port}/` }).end());
    await new Promise<void>((r) => redirector.listen(0, '127.0.0.1', r));
    const subscribeUrl = `http://127.0.0.1:${(redirector.address() as AddressInfo).port}/?Action=ConfirmSubscription&Token=abc`;
    const res = await post(signed({ Type: 'SubscriptionConfirmation', MessageId: 'm-redirect', TopicArn: TOPIC, Message: 'x', SubscribeURL: subscribeUrl, Token: 'abc', Timestamp: new Date().toISOString() }));
    expect(res.status).toBeGreaterThanOrEqual(500);
    expect(elsewhere).toBe(0);
    redirector.close();
    target.close();
  });

  it('takes a notification larger than the forms\' body limit (SNS sends up to 256 KB), and refuses a deeply nested body with 4xx', async () => {
    const dir = await feedbackProject();
    await cli(dir, ['subscribers', 'add', 'big@example.org'], env);
    // A bounce with the original headers included, as SES sends them when asked: ~200 KB.
    const headers = Array.from({ length: 2000 }, (_, i) => ({ name: `X-Header-${i}`, value: 'v'.repeat(80) }));
    const body = notification({ notificationType: 'Bounce', bounce: { bounceType: 'Permanent', bounceSubType: 'General', bouncedRecipients: [{ emailAddress: 'big@example.org' }] }, mail: { headers } });
    expect(body.length).toBeGreaterThan(150_000);
    const res = await post(body);
    expect(res.status, await res.text()).toBe(200);
    expect((await entry(dir, 'big@example.org')).status).toBe('suppressed');
    const nested = await post(`${'['.repeat(100_000)}${']'.repeat(100_000)}`);
    expect(nested.status).toBeGreaterThanOrEqual(400);
    expect(nested.status).toBeLessThan(500);
    expect((await web!.get('/healthz')).status).toBe(200);
  });

  it('suppresses a permanent bounce, unsubscribes a complaint, counts a transient bounce', async () => {
    const dir = await feedbackProject();
    expect((await post(bounce('ana.lopez@example.org', 'Permanent'))).status).toBe(200);
    expect((await post(complaint('jonas.weber@example.com'))).status).toBe(200);
    expect((await post(bounce('reader@example.com', 'Transient'))).status).toBe(200);
    expect(await entry(dir, 'ana.lopez@example.org')).toMatchObject({ status: 'suppressed' });
    expect((await entry(dir, 'ana.lopez@example.org')).history.at(-1)).toMatchObject({ event: 'suppressed', by: 'ses-webhook', detail: expect.stringMatching(/Permanent\/General bounce: smtp; 550/) });
    expect(await entry(dir, 'jonas.weber@example.com')).toMatchObject({ status: 'unsubscribed' });
    expect(await entry(dir, 'reader@example.com')).toMatchObject({ status: 'active', transientBounces: 1 });

    // A suppressed address is never sent to again, not by a run and not by subscribing anew.
    expect((await web!.post('/subscribe', { email: 'ana.lopez@example.org' })).status).toBe(200);
    await web!.mailer.drain();
    const run = await cli(dir, ['run'], env);
    expect(run.code).toBe(0);
    const recipients = sink!.messages.map((m) => m.to[0]);
    expect(recipients).not.toContain('ana.lopez@example.org');
    expect(recipients).not.toContain('jonas.weber@example.com');
    expect(recipients).toContain('reader@example.com');
    expect(await entry(dir, 'ana.lopez@example.org')).toMatchObject({ status: 'suppressed' });
  });

  it('counts the bounces and complaints the webhook records for the section that was sent (digest-mailer stats)', async () => {
    const dir = await feedbackProject();
    const run = await cli(dir, ['run', '--section', '2025-11-12'], env);
    expect(run.code, run.stderr).toBe(0);
    const sent = sink!.messages.length;
    expect(sent).toBeGreaterThan(3);
    expect((await post(bounce('ana.lopez@example.org', 'Permanent'))).status).toBe(200);
    expect((await post(bounce('reader@example.com', 'Transient'))).status).toBe(200);
    expect((await post(complaint('jonas.weber@example.com'))).status).toBe(200);
    // About an address that was never sent this section (or anything): counted nowhere.
    expect((await post(complaint('tom.becker@example.org'))).status).toBe(200);
    const stats = await cli(dir, ['stats', '--json'], env);
    expect(stats.code, stats.stderr).toBe(0);
    expect(JSON.parse(stats.stdout).sections).toEqual([
      { date: '2025-11-12', sent, failed: 0, rejected: 0, skipped: 9 - sent, cancelled: 0, deferred: 0, pending: 0, bounces: { permanent: 1, transient: 1 }, complaints: 1 },
    ]);
  });

  it('applies a replayed message once, even across a restart, and ignores messages older than an hour', async () => {
    const dir = await feedbackProject();
    const transient = bounce('reader@example.com', 'Transient');
    expect((await post(transient)).status).toBe(200);
    expect((await post(transient)).status).toBe(200);
    expect(await entry(dir, 'reader@example.com')).toMatchObject({ transientBounces: 1 });
    // The seen MessageIds live in the store: a restarted server still knows them.
    await web!.close();
    web = await startApp(dir);
    expect((await post(transient)).status).toBe(200);
    expect(await entry(dir, 'reader@example.com')).toMatchObject({ transientBounces: 1 });

    const at = (ms: number) => new Date(Date.now() + ms).toISOString();
    const complaintAt = (timestamp: string) =>
      signed({ Type: 'Notification', MessageId: `m-${Math.random()}`, TopicArn: TOPIC, Timestamp: timestamp, Message: JSON.stringify({ notificationType: 'Complaint', complaint: { complainedRecipients: [{ emailAddress: 'ana.lopez@example.org' }] } }) });
    for (const stale of [at(-61 * 60_000), at(-3 * 86_400_000), at(30 * 60_000), 'yesterday']) {
      expect((await post(complaintAt(stale))).status, stale).toBe(200);
      expect(await entry(dir, 'ana.lopez@example.org'), stale).toMatchObject({ status: 'active' });
    }
    expect((await post(complaintAt(at(-59 * 60_000)))).status).toBe(200);
    expect(await entry(dir, 'ana.lopez@example.org')).toMatchObject({ status: 'unsubscribed' });
  });

  it('creates no subscriber for feedback about an unknown or malformed address', async () => {
    const dir = await feedbackProject();
    const before = (await storeFile(dir)).subscribers.length;
    for (const address of ['not-an-address', 'x@y', '"Eve" <eve@@example.org>', 'stranger@example.net', 'Stranger <other@example.net>']) {
      expect((await post(bounce(address, 'Permanent'))).status, address).toBe(200);
      expect((await post(complaint(address))).status, address).toBe(200);
    }
    expect((await storeFile(dir)).subscribers).toHaveLength(before);
    // A known address in display-name form is still found.
    expect((await post(bounce('Ana <ana.lopez@example.org>', 'Permanent'))).status).toBe(200);
    expect(await entry(dir, 'ana.lopez@example.org')).toMatchObject({ status: 'suppressed' });
  });

  it('refuses forged, unsigned, wrong-topic and untrusted-certificate messages with 403, changing nothing', async () => {
    const dir = await feedbackProject();
    const before = JSON.stringify(await storeFile(dir));
    const { privateKey: attacker } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const forged = JSON.parse(bounce('ana.lopez@example.org', 'Permanent'));
    const bad = {
      forgedKey: signed({ Type: 'Notification', MessageId: 'x', TopicArn: TOPIC, Message: '{"notificationType":"Complaint","complaint":{"complainedRecipients":[{"emailAddress":"ana.lopez@example.org"}]}}', Timestamp: 't' }, attacker),
      tampered: JSON.stringify({ ...forged, Message: forged.Message.replace('ana.lopez@example.org', 'sofia.rossi@example.org') }),
      unsigned: JSON.stringify({ ...forged, Signature: undefined }),
      wrongTopic: JSON.stringify({ ...JSON.parse(signed({ Type: 'Notification', MessageId: 'y', TopicArn: 'arn:aws:sns:eu-west-1:999:other', Message: '{}', Timestamp: 't' })) }),
      untrustedCert: JSON.stringify({ ...forged, SigningCertURL: 'https://evil.example/cert.pem' }),
    };
    for (const [kind, body] of Object.entries(bad)) expect((await post(body)).status, kind).toBe(403);
    expect(JSON.stringify(await storeFile(dir))).toBe(before);
  });
});

describe('bad requests', () => {
  it('answers oversized and malformed bodies with 4xx and keeps serving', async () => {
    const dir = await makeProject();
    web = await startApp(dir);
    const big = await web.post('/subscribe', { email: 'a@example.org', name: 'x'.repeat(40_000) });
    expect(big.status).toBe(413);
    expect((await web.post('/subscribe', { email: 'not-an-address' })).status).toBe(400);
    expect((await web.post('/subscribe', { email: 'a@example.org', name: 'Eve\r\nBcc: x@example.com' })).status).toBe(400);
    expect((await web.post('/subscribe', { email: 'a@example.org', topics: 'astrology' })).status).toBe(400);
    expect((await web.post('/subscribe', '{"email": ', 'application/json')).status).toBe(400);
    expect((await web.post('/subscribe', 'email=a@example.org', 'application/x-unknown')).status).toBe(415);
    expect((await web.post('/webhooks/ses', 'not json', 'text/plain')).status).toBe(400);
    expect((await web.post('/webhooks/ses', '{"Type":"Notification"}', 'application/json')).status).toBe(403);
    expect((await web.get('/nowhere')).status).toBe(404);
    const health = await web.get('/healthz');
    expect(health.status).toBe(200);
    expect(await entry(dir, 'a@example.org')).toBeUndefined();
  });

  it('sends strict security headers and escapes what users typed', async () => {
    const dir = await makeProject();
    web = await startApp(dir);
    const page = await web.get('/subscribe');
    expect(page.headers.get('content-security-policy')).toBe("default-src 'none';style-src 'self';img-src 'self';form-action 'self';frame-ancestors 'none';base-uri 'none'");
    expect(page.headers.get('x-frame-options')).toBe('DENY');
    expect(page.headers.get('x-content-type-options')).toBe('nosniff');
    const echoed = await web.post('/subscribe', { email: '"><script>alert(1)</script>@x' });
    expect(echoed.status).toBe(400);
    const html = await echoed.text();
    expect(html).not.toContain('<script>alert(1)</script>');
    expect(html).toContain('&quot;&gt;&lt;script&gt;');
    void dir;
  });

  it('rate-limits subscribe posts per client address', async () => {
    const dir = await makeProject();
    await configure(dir, { web: { subscribePerIpPerMinute: 3 } });
    web = await startApp(dir);
    const statuses = [];
    for (let i = 0; i < 5; i++) statuses.push((await web.post('/subscribe', { email: `r${i}@example.org` })).status);
    expect(statuses).toEqual([200, 200, 200, 429, 429]);
    expect((await web.get('/subscribe')).status).toBe(200);
  });
});
