import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { FAST_DELIVERY, RECIPIENTS_2025_11_13, TEST_SECRET, cli, configure, makeProject, smtpTransport } from '../cli/cli-helpers.js';
import { makeTestCertificates, type TestCertificates } from './certs.js';
import { startSmtpSink, type SmtpSink, type SmtpSinkOptions } from './servers.js';
import { storedDeliveries, withProjectStore } from '../store/project-store.js';

const env = { DIGEST_MAILER_SECRET: TEST_SECRET };
const DATE = '2025-11-13';

let sink: SmtpSink | null = null;
let certs: TestCertificates;
beforeAll(async () => {
  certs = await makeTestCertificates();
});
afterAll(async () => {
  await rm(certs.dir, { recursive: true, force: true });
});
afterEach(async () => {
  await sink?.close();
  sink = null;
});

async function sinkWith(options: SmtpSinkOptions): Promise<SmtpSink> {
  sink = await startSmtpSink(options);
  return sink;
}

/** What the store holds for the section: per-recipient outcomes and the section status. */
async function ledgerOf(dir: string) {
  const deliveries = await storedDeliveries(dir, DATE);
  const status = (await withProjectStore(dir, (store) => store.section(DATE)))?.status;
  return { deliveries, failed: deliveries.filter((d) => d.status === 'failed'), status };
}

function delivered(s: SmtpSink): string[] {
  return s.messages.map((m) => m.to[0]!).sort();
}

/** The same project run twice: broken, then fixed. Everyone delivered exactly once in the end. */
async function expectRecoveryAfterFix(dir: string, s: SmtpSink, extraEnv: Record<string, string> = {}) {
  const again = await cli(dir, ['run'], { ...env, ...extraEnv });
  expect(again.stdout + again.stderr).toMatch(/sent 6/);
  expect(again.code).toBe(0);
  expect(delivered(s)).toEqual(RECIPIENTS_2025_11_13);
  expect((await ledgerOf(dir)).status).toBe('sent');
}

describe('session-scope failures against smtp-server: nobody is marked failed, the run stops, a rerun delivers', () => {
  it('535 on login: exit 5, everyone pending, the reply and the password variable printed; fixed password delivers everyone once', async () => {
    const s = await sinkWith({ auth: { user: 'digest', pass: 'right-password' } });
    const dir = await makeProject();
    await configure(dir, { transport: smtpTransport(s.port, { user: 'digest', passwordEnv: 'RELAY_PASSWORD' }), delivery: FAST_DELIVERY });
    const run = await cli(dir, ['run'], { ...env, RELAY_PASSWORD: 'rotated-away' });
    expect(run.code).toBe(5);
    expect(run.stdout).toMatch(/Stopped: the mail server refused the session at the login stage/);
    expect(run.stdout).toMatch(/Server said: 535/);
    expect(run.stdout).toMatch(/Check: .*RELAY_PASSWORD/);
    expect(run.stdout).toMatch(/failed 0/);
    expect(run.stdout).not.toContain('rotated-away');
    const ledger = await ledgerOf(dir);
    expect(ledger.failed).toEqual([]);
    expect(ledger.status).toBe('sending');
    expect(s.messages).toHaveLength(0);
    await expectRecoveryAfterFix(dir, s, { RELAY_PASSWORD: 'right-password' });
  });

  it('553 for the sender: exit 5 after a few tries, not one per recipient; the fixed sender delivers everyone once', async () => {
    let refuse = true;
    const s = await sinkWith({ mailFrom: () => (refuse ? 553 : undefined) });
    const dir = await makeProject();
    await configure(dir, { transport: smtpTransport(s.port), delivery: { ...FAST_DELIVERY, concurrency: 1, sessionFailureLimit: 3 } });
    const run = await cli(dir, ['run'], env);
    expect(run.code).toBe(5);
    expect(run.stdout).toMatch(/at the sender stage/);
    expect(run.stdout).toMatch(/Server said: 553 .*\(after MAIL FROM\)/);
    expect(run.stdout).toMatch(/pending 6|pending [3-6]/);
    expect(s.greetings.length).toBe(3);
    expect((await ledgerOf(dir)).failed).toEqual([]);
    refuse = false;
    await expectRecoveryAfterFix(dir, s);
  });

  it('requireTLS and a server without STARTTLS: exit 5 at the tls stage; with STARTTLS and the CA configured it delivers', async () => {
    const plain = await sinkWith({});
    const dir = await makeProject();
    await configure(dir, { transport: smtpTransport(plain.port, { requireTLS: true }), delivery: FAST_DELIVERY });
    const run = await cli(dir, ['run'], env);
    expect(run.code).toBe(5);
    expect(run.stdout).toMatch(/at the tls stage/);
    expect(run.stdout).toMatch(/STARTTLS/);
    expect(plain.messages).toHaveLength(0);
    expect((await ledgerOf(dir)).failed).toEqual([]);
    await plain.close();

    const secured = await sinkWith({ tls: { key: certs.key, cert: certs.cert } });
    await configure(dir, {
      transport: smtpTransport(secured.port, { requireTLS: true, tls: { caFile: certs.caFile, servername: certs.serverName } }),
      delivery: FAST_DELIVERY,
    });
    await expectRecoveryAfterFix(dir, secured);
  });

  it('an untrusted certificate is reported once as a session failure, never retried per recipient', async () => {
    const s = await sinkWith({ tls: { key: certs.key, cert: certs.cert } });
    const dir = await makeProject();
    await configure(dir, { transport: smtpTransport(s.port, { requireTLS: true }), delivery: { ...FAST_DELIVERY, sessionFailureLimit: 3 } });
    const run = await cli(dir, ['run'], env);
    expect(run.code).toBe(5);
    expect(run.stdout).toMatch(/at the tls stage/);
    expect(run.stdout).toMatch(/certificate/i);
    expect(run.stdout).toMatch(/transport\.tls\.caFile/);
    expect(run.stdout.match(/Server said:/g)).toHaveLength(1);
    // One probe for the whole run: a certificate that does not verify will not verify later in it.
    expect(s.connections).toBe(1);
    expect((await ledgerOf(dir)).failed).toEqual([]);
    await configure(dir, { transport: smtpTransport(s.port, { requireTLS: true, tls: { caFile: certs.caFile } }), delivery: FAST_DELIVERY });
    await expectRecoveryAfterFix(dir, s);
  });

  it('transport.user with a server that offers no login is a session failure', async () => {
    const s = await sinkWith({});
    const dir = await makeProject();
    await configure(dir, { transport: smtpTransport(s.port, { user: 'digest' }), delivery: FAST_DELIVERY });
    const run = await cli(dir, ['run'], { ...env, SMTP_PASSWORD: 'x' });
    expect(run.code).toBe(5);
    expect(run.stdout).toMatch(/transport\.user is set \(digest\) but the server offers no login/);
    expect(s.messages).toHaveLength(0);
    await configure(dir, { transport: smtpTransport(s.port), delivery: FAST_DELIVERY });
    await expectRecoveryAfterFix(dir, s);
  });

  it('greets with transport.name', async () => {
    const s = await sinkWith({});
    const dir = await makeProject();
    await configure(dir, { transport: smtpTransport(s.port, { name: 'mailer.example.org' }), delivery: FAST_DELIVERY });
    expect((await cli(dir, ['run'], env)).code).toBe(0);
    expect(new Set(s.greetings)).toEqual(new Set(['mailer.example.org']));
  });
});

/** A project pointed at a loopback port where nothing listens (yet), with short backoff. */
async function projectWithRelayDown(retryWindowMs: number) {
  const placeholder = await startSmtpSink({});
  const port = placeholder.port;
  await placeholder.close();
  const dir = await makeProject();
  await configure(dir, {
    transport: smtpTransport(port),
    delivery: { ...FAST_DELIVERY, maxAttempts: 100, retryBaseDelayMs: 50, maxRetryDelayMs: 300, retryWindowMs },
  });
  return { dir, port };
}

describe('temporary failures finish within the same run', () => {
  it('a relay that answers 450 for a while, then accepts: everyone delivered once, exit 0', async () => {
    let firstAt = 0;
    let deferred = 0;
    const s = await sinkWith({
      // A rate-limit window: every sender is deferred for 1.5 s from the first attempt.
      mailFrom: () => {
        firstAt ||= Date.now();
        if (Date.now() - firstAt < 1500) {
          deferred++;
          return 450;
        }
        return undefined;
      },
    });
    const dir = await makeProject();
    await configure(dir, {
      transport: smtpTransport(s.port),
      delivery: { ...FAST_DELIVERY, maxAttempts: 100, retryBaseDelayMs: 100, maxRetryDelayMs: 400, retryWindowMs: 60_000 },
    });
    const run = await cli(dir, ['run'], env);
    expect(run.code).toBe(0);
    expect(deferred).toBeGreaterThan(0);
    expect(delivered(s)).toEqual(RECIPIENTS_2025_11_13);
    expect((await ledgerOf(dir)).status).toBe('sent');
  });

  it('a relay that is down when the run starts and comes back: delivered in the same run', async () => {
    const { dir, port } = await projectWithRelayDown(60_000);
    const running = cli(dir, ['run'], env);
    await new Promise((r) => setTimeout(r, 1500));
    const s = await sinkWith({ port });
    const run = await running;
    expect(run.code).toBe(0);
    expect(delivered(s)).toEqual(RECIPIENTS_2025_11_13);
  });

  it('a relay that stays down past the retry window: exit 5 at the connection stage, everyone pending', async () => {
    const { dir } = await projectWithRelayDown(1000);
    const run = await cli(dir, ['run'], env);
    expect(run.code).toBe(5);
    expect(run.stdout).toMatch(/at the connection stage/);
    expect(run.stdout).toMatch(/ECONNREFUSED/);
    expect((await ledgerOf(dir)).failed).toEqual([]);
  });
});
