import { generateKeyPairSync } from 'node:crypto';
import { readFile, rm } from 'node:fs/promises';
import { dkimVerify } from 'mailauth/lib/dkim/verify.js';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { FAST_DELIVERY, RECIPIENTS_2025_11_13, TEST_SECRET, cli, configure, makeProject, smtpTransport } from '../cli/cli-helpers.js';
import { makeTestCertificates, type TestCertificates } from './certs.js';
import { dovecotAvailable, startDovecotAuth, type DovecotAuth } from './dovecot.js';
import { postfixAvailable, startPostfix, type PostfixInstance } from './postfix.js';
import { storedDeliveries, withProjectStore } from '../store/project-store.js';
import { scaled } from '../timeouts.js';

/**
 * Debian's Postfix on 127.0.0.1 (installed by .ci/run), a private instance per test file:
 * STARTTLS with a CA made here, catch-all Maildir delivery, messages counted by Delivered-To.
 * SMTP AUTH on a second (submission) port through a private Dovecot's SASL socket.
 */
const missing = postfixAvailable() ?? dovecotAvailable();
if (missing && process.env.CI === 'true') throw new Error(`CI=true but ${missing}`);
if (missing) console.log(`postfix tests skipped: ${missing}`);

const env = { DIGEST_MAILER_SECRET: TEST_SECRET };
const DATE = '2025-11-13';
const RETRYING = { ...FAST_DELIVERY, concurrency: 2, maxAttempts: 100, retryBaseDelayMs: 200, maxRetryDelayMs: 2000, retryWindowMs: 120_000 };

const SASL_USER = 'digest';
const SASL_PASSWORD = 'current-relay-password';

let postfix: PostfixInstance;
let dovecot: DovecotAuth;
let certs: TestCertificates;

beforeAll(async () => {
  if (missing) return;
  certs = await makeTestCertificates();
  dovecot = await startDovecotAuth({ [SASL_USER]: SASL_PASSWORD });
  postfix = await startPostfix({ certFile: certs.certFile, keyFile: certs.keyFile }, { sasl: { socket: dovecot.socket } });
});

afterAll(async () => {
  if (missing) return;
  await postfix?.destroy();
  await dovecot?.destroy();
  await rm(certs.dir, { recursive: true, force: true });
});

beforeEach(async () => {
  if (missing) return;
  await postfix.configure({ smtpd_tls_security_level: 'may', smtpd_client_message_rate_limit: '0' });
  await postfix.clearMaildir();
});

/** The project's SMTP settings for this Postfix: STARTTLS required, the test CA trusted. */
function viaPostfix(extra: Record<string, unknown> = {}) {
  return smtpTransport(postfix.port, { requireTLS: true, name: 'digest.example.org', tls: { caFile: certs.caFile, servername: certs.serverName }, ...extra });
}

/** Failures recorded in the store for the section (must stay empty after a session failure). */
async function failedInLedger(dir: string) {
  return (await storedDeliveries(dir, DATE)).filter((d) => d.status === 'failed');
}

/** After a session failure: nobody failed or sent, the section still open for the next run. */
async function expectEveryonePending(dir: string) {
  const deliveries = await storedDeliveries(dir, DATE);
  expect(deliveries.filter((d) => d.status === 'failed' || d.status === 'sent')).toEqual([]);
  expect(await withProjectStore(dir, async (store) => (await store.section(DATE))?.status)).toBe('sending');
}

describe.skipIf(missing !== null)("Debian's Postfix on 127.0.0.1", () => {
  it('delivers a full send over STARTTLS, counted once each in the Maildir; a rerun sends nothing', async () => {
    const dir = await makeProject();
    await configure(dir, { transport: viaPostfix(), delivery: RETRYING });
    const run = await cli(dir, ['run'], env);
    expect(run.stdout + run.stderr).toMatch(/sent 6/);
    expect(run.code).toBe(0);
    await postfix.drained();
    expect(await postfix.delivered()).toEqual(RECIPIENTS_2025_11_13);
    const log = await postfix.log();
    // Every session went through STARTTLS; Postfix, with its strict options, had nothing to warn about.
    expect(log).toMatch(/disconnect from localhost\[127\.0\.0\.1\] ehlo=2 starttls=1 mail=\d+ rcpt=\d+ data=\d+/);
    expect(log).not.toMatch(/disconnect from .* starttls=0/);
    expect(log).not.toMatch(/warning:/);

    const again = await cli(dir, ['run'], env);
    expect(again.code).toBe(0);
    await postfix.drained();
    expect(await postfix.delivered()).toEqual(RECIPIENTS_2025_11_13);
  });

  it('STARTTLS switched off on the relay: exit 5, everyone pending; back on, a rerun delivers everyone once', async () => {
    await postfix.configure({ smtpd_tls_security_level: 'none' });
    const dir = await makeProject();
    await configure(dir, { transport: viaPostfix(), delivery: RETRYING });
    const run = await cli(dir, ['run'], env);
    expect(run.code).toBe(5);
    expect(run.stdout).toMatch(/at the tls stage/);
    expect(await failedInLedger(dir)).toEqual([]);
    await expectEveryonePending(dir);

    await postfix.configure({ smtpd_tls_security_level: 'may' });
    const rerun = await cli(dir, ['run'], env);
    expect(rerun.code).toBe(0);
    await postfix.drained();
    expect(await postfix.delivered()).toEqual(RECIPIENTS_2025_11_13);
  });

  it('a sender the relay refuses (answered at RCPT TO): exit 5, nobody failed; the fixed sender delivers everyone once', async () => {
    const dir = await makeProject();
    const config = JSON.parse(await readFile(join(dir, 'config.json'), 'utf8'));
    const goodFrom = config.list.from;
    await configure(dir, { list: { ...config.list, from: { ...goodFrom, address: 'refused-sender@example.org' } }, transport: viaPostfix(), delivery: RETRYING });
    const run = await cli(dir, ['run'], env);
    expect(run.code).toBe(5);
    expect(run.stdout).toMatch(/at the sender stage/);
    expect(run.stdout).toMatch(/Sender address rejected/);
    expect(await failedInLedger(dir)).toEqual([]);
    await expectEveryonePending(dir);

    await configure(dir, { list: { ...config.list, from: goodFrom } });
    const rerun = await cli(dir, ['run'], env);
    expect(rerun.code).toBe(0);
    await postfix.drained();
    expect(await postfix.delivered()).toEqual(RECIPIENTS_2025_11_13);
  });

  it('an untrusted certificate (no CA configured): exit 5 at the tls stage, one handshake for the whole run, nobody failed', async () => {
    const dir = await makeProject();
    await configure(dir, { transport: viaPostfix({ tls: { servername: certs.serverName } }), delivery: RETRYING });
    const logBefore = (await postfix.log()).length;
    const run = await cli(dir, ['run'], env);
    expect(run.code).toBe(5);
    expect(run.stdout).toMatch(/at the tls stage/);
    expect(run.stdout).toMatch(/certificate/i);
    // Reported once: the probe's handshake, not one (or five) per recipient.
    const handshakes = ((await postfix.log()).slice(logBefore).match(/starttls=0\/1/g) ?? []).length;
    expect(handshakes).toBe(1);
    expect(await failedInLedger(dir)).toEqual([]);
    await expectEveryonePending(dir);
    expect(await postfix.delivered()).toEqual([]);
  });

  it('a rate-limit window (smtpd_client_message_rate_limit) inside the retry window finishes in the same run', async () => {
    await postfix.configure({ smtpd_client_message_rate_limit: '2', anvil_rate_time_unit: '4s' });
    const dir = await makeProject();
    await configure(dir, { transport: viaPostfix(), delivery: RETRYING });
    const run = await cli(dir, ['run'], env);
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/sent 6/);
    expect(await postfix.log()).toMatch(/too much mail from|Message delivery request rate limit exceeded/);
    await postfix.drained();
    expect(await postfix.delivered()).toEqual(RECIPIENTS_2025_11_13);
    await postfix.configure({ anvil_rate_time_unit: '60s' });
  });

  it('a relay restart in the middle of a send: everyone delivered once in the same run', async () => {
    const dir = await makeProject();
    await configure(dir, { transport: viaPostfix(), delivery: { ...RETRYING, concurrency: 1, ratePerSecond: 2 } });
    const running = cli(dir, ['run'], env);
    // Stop the relay once the first message is in, start it again a few seconds later.
    const deadline = Date.now() + scaled(60_000);
    while ((await postfix.delivered()).length < 1 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    await postfix.stop();
    await new Promise((r) => setTimeout(r, 3000));
    await postfix.start();
    const run = await running;
    expect(run.code).toBe(0);
    await postfix.drained();
    expect(await postfix.delivered()).toEqual(RECIPIENTS_2025_11_13);
  });

  it('SMTP AUTH through Dovecot: a wrong password (535) exits 5 with everyone pending; after the fix a rerun delivers everyone once', async () => {
    const dir = await makeProject();
    await configure(dir, { transport: viaPostfix({ port: postfix.submissionPort, user: SASL_USER, passwordEnv: 'RELAY_PASSWORD' }), delivery: RETRYING });
    const run = await cli(dir, ['run'], { ...env, RELAY_PASSWORD: 'rotated-away' });
    expect(run.code, run.stdout + run.stderr).toBe(5);
    expect(run.stdout).toMatch(/refused the session at the login stage/);
    expect(run.stdout).toMatch(/Server said: 535 5\.7\.8 .*authentication failed/i);
    expect(run.stdout).toMatch(/Check: .*RELAY_PASSWORD/);
    expect(run.stdout + run.stderr).not.toContain('rotated-away');
    await expectEveryonePending(dir);
    // One login attempt per try, not one per recipient: Dovecot saw a handful, never six or more per try.
    const refusals = ((await dovecot.log()).match(/Password mismatch|unknown user|password mismatch/gi) ?? []).length;
    expect(refusals).toBeGreaterThan(0);
    expect(refusals).toBeLessThan(RECIPIENTS_2025_11_13.length);
    expect(await postfix.delivered()).toEqual([]);

    const rerun = await cli(dir, ['run'], { ...env, RELAY_PASSWORD: SASL_PASSWORD });
    expect(rerun.code, rerun.stdout + rerun.stderr).toBe(0);
    expect(rerun.stdout).toMatch(/sent 6/);
    await postfix.drained();
    expect(await postfix.delivered()).toEqual(RECIPIENTS_2025_11_13);
    expect(await postfix.log()).toMatch(/sasl_method=PLAIN, sasl_username=digest/);
  });

  it('without transport.user the submission port refuses every recipient (554 5.7.1 at RCPT TO): exit 5, nobody failed; with the login everyone once', async () => {
    const dir = await makeProject();
    await configure(dir, { transport: viaPostfix({ port: postfix.submissionPort }), delivery: RETRYING });
    const run = await cli(dir, ['run'], env);
    expect(run.code, run.stdout + run.stderr).toBe(5);
    expect(run.stdout).toMatch(/Server said: 554 5\.7\.1 .*Access denied \(after RCPT TO\)/);
    expect(run.stdout).toMatch(/failed 0, pending 6/);
    await expectEveryonePending(dir);

    await configure(dir, { transport: viaPostfix({ port: postfix.submissionPort, user: SASL_USER, passwordEnv: 'RELAY_PASSWORD' }) });
    const rerun = await cli(dir, ['run'], { ...env, RELAY_PASSWORD: SASL_PASSWORD });
    expect(rerun.code, rerun.stdout + rerun.stderr).toBe(0);
    await postfix.drained();
    expect(await postfix.delivered()).toEqual(RECIPIENTS_2025_11_13);
  });

  it('transport.user against the port that offers no login: a session-scope error (exit 5), nobody failed', async () => {
    const dir = await makeProject();
    await configure(dir, { transport: viaPostfix({ user: SASL_USER, passwordEnv: 'RELAY_PASSWORD' }), delivery: RETRYING });
    const run = await cli(dir, ['run'], { ...env, RELAY_PASSWORD: SASL_PASSWORD });
    expect(run.code, run.stdout + run.stderr).toBe(5);
    expect(run.stdout).toMatch(/at the login stage/);
    expect(run.stdout).toMatch(/transport\.user is set \(digest\) but the server offers no login/);
    await expectEveryonePending(dir);
    expect(await postfix.delivered()).toEqual([]);
  });

  it('DKIM through Postfix: the copies in the Maildir verify independently (mailauth), and fail with either one-click header changed', async () => {
    const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const record = `v=DKIM1; k=rsa; p=${publicKey.export({ type: 'spki', format: 'der' }).toString('base64')}`;
    const resolver = async (domain: string, type: string) => {
      if (type === 'TXT' && domain.toLowerCase() === 'digest._domainkey.example.org') return [[record]];
      throw Object.assign(new Error(`no ${type} record for ${domain}`), { code: 'ENOTFOUND' });
    };
    const verify = async (raw: Buffer | string) => (await dkimVerify(raw, { resolver: resolver as never })).results[0]?.status.result;
    const dir = await makeProject();
    await configure(dir, { transport: viaPostfix({ dkim: { domainName: 'example.org', keySelector: 'digest', privateKeyEnv: 'DKIM_KEY' } }), delivery: RETRYING });
    const run = await cli(dir, ['run'], { ...env, DKIM_KEY: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString() });
    expect(run.code, run.stdout + run.stderr).toBe(0);
    await postfix.drained();
    const stored = await postfix.messages();
    expect(stored).toHaveLength(RECIPIENTS_2025_11_13.length);
    for (const raw of stored) {
      expect(await verify(raw)).toBe('pass');
      const text = raw.toString('latin1');
      const post = text.replace('List-Unsubscribe-Post: List-Unsubscribe=One-Click', 'List-Unsubscribe-Post: List-Unsubscribe=One-Clack');
      expect(post).not.toBe(text);
      expect(await verify(post)).toBe('fail');
      // One character of the token in the List-Unsubscribe header (it may be folded, with the mailto first).
      const at = text.indexOf('token=', text.search(/^List-Unsubscribe:/m)) + 'token=v1.'.length;
      const url = `${text.slice(0, at)}${text[at] === 'A' ? 'B' : 'A'}${text.slice(at + 1)}`;
      expect(url).not.toBe(text);
      expect(await verify(url)).toBe('fail');
    }
  });
});
