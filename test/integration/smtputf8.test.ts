import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { simpleParser } from 'mailparser';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.js';
import { composeMessage } from '../../src/mail/compose.js';
import { SmtpTransport } from '../../src/mail/transports/smtp.js';
import { FAST_DELIVERY, TEST_SECRET, cli, configure, makeProject, smtpTransport } from '../cli/cli-helpers.js';
import { startSmtpSink, type SmtpSink } from './servers.js';

const IDN = 'müller@bücher.example';
const PLUS = 'a+b=c@example.net';
const IDN_DOMAIN = 'ana@bücher.example';

let sink: SmtpSink | null = null;
afterEach(async () => {
  await sink?.close();
  sink = null;
});

async function transportTo(hideSmtpUtf8: boolean) {
  sink = await startSmtpSink({ hideSmtpUtf8 });
  const dir = await makeProject();
  await configure(dir, { transport: smtpTransport(sink.port), delivery: FAST_DELIVERY });
  return new SmtpTransport(await loadConfig(join(dir, 'config.json')));
}

const message = async (to: string) => ({
  sectionDate: '2025-11-13',
  recipient: to,
  messageId: `<t-${Math.random().toString(36).slice(2)}@example.org>`,
  html: '<p>hi</p>',
  envelope: { from: 'digest@example.org', to },
  raw: await composeMessage({
    from: { name: 'Digest', address: 'digest@example.org' },
    to: { address: to },
    subject: 'Hello',
    text: 'hi',
    html: '<p>hi</p>',
    messageId: '<t@example.org>',
    date: new Date(),
  }),
});

describe('internationalised addresses over SMTP', () => {
  it('sends with SMTPUTF8 where the server offers it', async () => {
    const transport = await transportTo(false);
    try {
      for (const to of [IDN, PLUS, IDN_DOMAIN]) expect(await transport.send(await message(to)), to).toMatchObject({ ok: true });
      expect(sink!.messages.map((m) => [m.to[0], m.smtpUtf8])).toEqual([
        [IDN, true],
        [PLUS, false],
        // smtp-server shows the punycode domain decoded; no SMTPUTF8 was needed for it.
        [IDN_DOMAIN, false],
      ]);
      expect((await simpleParser(sink!.messages[0]!.raw)).to).toMatchObject({ value: [{ address: IDN }] });
    } finally {
      await transport.close();
    }
  });

  it('refuses a non-ASCII mailbox with a clear message where the server does not offer SMTPUTF8', async () => {
    const transport = await transportTo(true);
    try {
      const refused = await transport.send(await message(IDN));
      expect(refused).toMatchObject({ ok: false, kind: 'permanent', stage: 'recipient' });
      expect(refused.ok ? '' : refused.reason).toMatch(/müller@bücher\.example .*SMTPUTF8.*127\.0\.0\.1 does not offer it/);
      // The others need no SMTPUTF8: the domain travels as punycode.
      for (const to of [PLUS, IDN_DOMAIN]) expect(await transport.send(await message(to)), to).toMatchObject({ ok: true });
      expect(sink!.messages.map((m) => [m.to[0], m.smtpUtf8])).toEqual([[PLUS, false], [IDN_DOMAIN, false]]);
    } finally {
      await transport.close();
    }
  });

  it('a run reports the refusal and its reason, and sends the rest', async () => {
    sink = await startSmtpSink({ hideSmtpUtf8: true });
    const dir = await makeProject();
    await configure(dir, { transport: smtpTransport(sink.port), delivery: FAST_DELIVERY });
    await writeFile(join(dir, 'subscribers.json'), JSON.stringify({ subscribers: [{ email: IDN }, { email: PLUS }, { email: IDN_DOMAIN }] }));
    const run = await cli(dir, ['run'], { DIGEST_MAILER_SECRET: TEST_SECRET });
    expect(run.code, run.stderr).toBe(3);
    expect(run.stdout).toMatch(/Failures by reason:\n\s+1 {2}address has non-ASCII characters before the @, which needs SMTPUTF8 \(RFC 6531\), and 127\.0\.0\.1 does not offer it/);
    expect(sink.messages.map((m) => m.to[0]).sort()).toEqual([PLUS, IDN_DOMAIN]);
  });
});
