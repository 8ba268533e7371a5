import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { simpleParser } from 'mailparser';
import { afterEach, describe, expect, it } from 'vitest';
import { messageIdFor } from '../../src/mail/message-id.js';
import { FAST_DELIVERY, RECIPIENTS_2025_11_13, TEST_SECRET, cli, configure, makeProject, smtpTransport } from '../cli/cli-helpers.js';
import { bareLineFeeds } from '../helpers.js';
import { startSmtpSink, type SmtpSink } from './servers.js';
import { storedDeliveries, withProjectStore } from '../store/project-store.js';

const EXPECTED = RECIPIENTS_2025_11_13;
const env = { DIGEST_MAILER_SECRET: TEST_SECRET };

let sink: SmtpSink | null = null;
afterEach(async () => {
  await sink?.close();
  sink = null;
});

/** The per-recipient outcomes the ledger recorded for a section. */
async function deliveries(dir: string, date: string) {
  return storedDeliveries(dir, date);
}

describe('SMTP delivery to a real smtp-server on 127.0.0.1', () => {
  it('delivers exactly one message per expected recipient, over pooled connections', async () => {
    sink = await startSmtpSink();
    const dir = await makeProject();
    await configure(dir, { transport: smtpTransport(sink.port), delivery: FAST_DELIVERY });
    const run = await cli(dir, ['run'], env);
    expect(run.stderr).not.toMatch(/DEVELOPMENT secret/);
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/Emails: 6 sent/);
    expect(sink.messages.map((m) => m.to[0]).sort()).toEqual(EXPECTED);
    expect(sink.connections).toBeLessThan(sink.messages.length);

    for (const received of sink.messages) {
      expect(bareLineFeeds(received.raw)).toBe(0);
      const mail = await simpleParser(received.raw);
      expect(mail.text).toContain('Unsubscribe: https://digest.example.org/unsubscribe?token=');
      expect(mail.html).toContain('href="https://digest.example.org/unsubscribe?token=');
      expect(mail.messageId).toBe(messageIdFor('2025-11-13', received.to[0]!, 'mllm-digest.example.org'));
      const header = (key: string) => mail.headerLines.find((h) => h.key === key)?.line;
      expect(header('list-unsubscribe-post')).toBe('List-Unsubscribe-Post: List-Unsubscribe=One-Click');
      expect(header('list-id')).toBe('List-ID: Multimodal LLM Digest <mllm-digest.example.org>');
      expect(header('list-unsubscribe')).toMatch(/<https:\/\/digest\.example\.org\/unsubscribe\?token=v1\.[^>]+>,\s+<mailto:unsubscribe@example\.org\?subject=unsubscribe>/);
    }

    const again = await cli(dir, ['run'], env);
    expect(again.code).toBe(0);
    expect(sink.messages).toHaveLength(6);
  });

  it('retries a 421 answer and delivers once; records a 550 as permanent and never retries it', async () => {
    sink = await startSmtpSink({
      rcpt: (address, attempt) => {
        if (address === 'ana.lopez@example.org' && attempt === 1) return 421;
        if (address === 'priya.raman@example.org') return 550;
        return undefined;
      },
    });
    const dir = await makeProject();
    await configure(dir, { transport: smtpTransport(sink.port), delivery: FAST_DELIVERY });
    const run = await cli(dir, ['run'], env);
    expect(run.code).toBe(3); // partial: one permanent failure
    expect(run.stdout).toMatch(/sent 5, no match 3, failed 1/);
    expect(sink.attempts.get('ana.lopez@example.org')).toBe(2);
    expect(sink.messages.filter((m) => m.to[0] === 'ana.lopez@example.org')).toHaveLength(1);
    expect(sink.attempts.get('priya.raman@example.org')).toBe(1);
    expect(sink.messages.some((m) => m.to[0] === 'priya.raman@example.org')).toBe(false);

    const failure = (await deliveries(dir, '2025-11-13')).find((e) => e.email === 'priya.raman@example.org');
    expect(failure).toMatchObject({ status: 'failed', permanent: true, reason: expect.stringMatching(/550/) });

    const again = await cli(dir, ['run'], env);
    expect(again.code).toBe(0);
    expect(sink.attempts.get('priya.raman@example.org')).toBe(1);
    expect(sink.messages).toHaveLength(5);
  });

  it('refuses a real transport without the token secret in the environment', async () => {
    sink = await startSmtpSink();
    const dir = await makeProject();
    await configure(dir, { transport: smtpTransport(sink.port), delivery: FAST_DELIVERY });
    const run = await cli(dir, ['run']);
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/DIGEST_MAILER_SECRET \(tokens\.secretEnv\) is not set/);
    expect(sink.messages).toHaveLength(0);
  });

  it('send-test sends one [TEST] message and leaves the ledger alone', async () => {
    sink = await startSmtpSink();
    const dir = await makeProject();
    await configure(dir, { transport: smtpTransport(sink.port), delivery: FAST_DELIVERY });
    const result = await cli(dir, ['send-test', '--to', 'editor@example.org', '--section', '2025-11-12', '--topics', 'video'], env);
    expect(result.code).toBe(0);
    expect(sink.messages).toHaveLength(1);
    const mail = await simpleParser(sink.messages[0]!.raw);
    expect(mail.subject).toMatch(/^\[TEST\] \d+ new papers? on Video — /);
    expect(mail.messageId).toMatch(/^<test-[0-9a-f]{16}@mllm-digest\.example\.org>$/);
    expect(await withProjectStore(dir, (store) => store.listDeliveries({}))).toEqual([]);
  });
});

describe('SMTP DKIM signing', () => {
  it('signs the raw message with the key from the environment', async () => {
    const { generateKeyPairSync } = await import('node:crypto');
    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    sink = await startSmtpSink();
    const dir = await makeProject();
    await configure(dir, {
      transport: smtpTransport(sink.port, { dkim: { domainName: 'example.org', keySelector: 'digest', privateKeyEnv: 'DKIM_KEY' } }),
      delivery: FAST_DELIVERY,
    });
    const run = await cli(dir, ['run'], { ...env, DKIM_KEY: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString() });
    expect(run.code).toBe(0);
    expect(sink.messages).toHaveLength(6);
    for (const m of sink.messages) {
      const signature = (await simpleParser(m.raw)).headerLines.find((h) => h.key === 'dkim-signature')?.line.replace(/\r?\n\s+/g, ' ');
      expect(signature).toMatch(/^DKIM-Signature: v=1; a=rsa-sha256;/);
      expect(signature).toMatch(/ d=example\.org;/);
      expect(signature).toMatch(/ s=digest;/);
    }
  });

  it('names the missing DKIM key variable', async () => {
    sink = await startSmtpSink();
    const dir = await makeProject();
    await configure(dir, {
      transport: smtpTransport(sink.port, { dkim: { domainName: 'example.org', keySelector: 'digest', privateKeyEnv: 'DKIM_KEY' } }),
    });
    const run = await cli(dir, ['run'], env);
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/transport\.dkim\.privateKeyEnv: the environment variable DKIM_KEY is not set/);
  });
});
