import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { dkimVerify } from 'mailauth/lib/dkim/verify.js';
import { simpleParser } from 'mailparser';
import { afterEach, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import { composeMessage } from '../../src/mail/compose.js';
import { SmtpTransport } from '../../src/mail/transports/smtp.js';
import { cli, makeProject } from '../cli/cli-helpers.js';
import { startSmtpSink, type SmtpSink } from './servers.js';

let sink: SmtpSink | null = null;
afterEach(async () => {
  await sink?.close();
  sink = null;
});

/** A DNS stub for the verifier: only the one TXT record we publish; nothing goes to the network. */
function resolverFor(name: string, value: string) {
  return async (domain: string, type: string) => {
    if (type === 'TXT' && domain.toLowerCase() === name) return [[value]];
    throw Object.assign(new Error(`no ${type} record for ${domain}`), { code: 'ENOTFOUND' });
  };
}

async function verify(raw: Buffer | string, resolver: ReturnType<typeof resolverFor>) {
  const { results } = await dkimVerify(raw, { resolver: resolver as never });
  return results;
}

/** Sends one list message through the real SMTP transport (DKIM on) and returns what arrived. */
async function signedThroughSmtp(privateKey: string): Promise<Buffer> {
  sink = await startSmtpSink();
  const config = parseConfig(
    {
      list: { name: 'Digest', id: 'mllm-digest.example.org', from: { name: 'Digest', address: 'digest@example.org' }, unsubscribeMailto: 'unsubscribe@example.org' },
      baseUrl: 'https://digest.example.org',
      transport: {
        type: 'smtp', host: '127.0.0.1', port: sink.port, requireTLS: false,
        dkim: { domainName: 'example.org', keySelector: 'digest', privateKeyEnv: 'DKIM_KEY' },
      },
    },
    join(process.cwd(), 'config.json'),
  );
  const transport = new SmtpTransport(config, { DKIM_KEY: privateKey });
  const raw = await composeMessage({
    from: config.list.from,
    to: { name: 'Ana López', address: 'ana.lopez@example.org' },
    subject: 'Digest for 13 Nov 2025: video and agents',
    text: 'Hello',
    html: '<p>Hello</p>',
    messageId: '<digest-2025-11-13.0123456789abcdef01234567@mllm-digest.example.org>',
    date: new Date('2025-11-13T07:00:00Z'),
    list: {
      name: 'Digest',
      id: 'mllm-digest.example.org',
      unsubscribeUrl: 'https://digest.example.org/unsubscribe?token=v1.abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz',
      unsubscribeMailto: 'unsubscribe@example.org',
    },
  });
  const result = await transport.send({ sectionDate: '2025-11-13', recipient: 'ana.lopez@example.org', messageId: 'x', raw, html: '', envelope: { from: 'digest@example.org', to: 'ana.lopez@example.org' } });
  await transport.close();
  expect(result.ok).toBe(true);
  return sink.messages[0]!.raw;
}

describe('DKIM: keygen, signing through SMTP, and an independent verifier (mailauth)', () => {
  it('keygen writes a 0600 key, refuses to overwrite it, and prints a TXT record that verifies what the transport signs', async () => {
    const dir = await makeProject();
    const gen = await cli(dir, ['dkim', 'keygen', '--out', 'dkim.pem', '--selector', 'digest', '--domain', 'example.org']);
    expect(gen.code).toBe(0);
    expect((await stat(join(dir, 'dkim.pem'))).mode & 0o777).toBe(0o600);
    expect(gen.stdout).toMatch(/digest\._domainkey\.example\.org\. IN TXT \( "v=DKIM1; k=rsa; p=[A-Za-z0-9+/=]+" "[A-Za-z0-9+/=]+" \)/);
    const value = gen.stdout.match(/^v=DKIM1; k=rsa; p=[A-Za-z0-9+/=]+$/m)![0];
    expect(gen.stdout).not.toMatch(/PRIVATE KEY/);

    const again = await cli(dir, ['dkim', 'keygen', '--out', 'dkim.pem']);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/exists; not overwriting/);

    const { readFile } = await import('node:fs/promises');
    const raw = await signedThroughSmtp(await readFile(join(dir, 'dkim.pem'), 'utf8'));
    const resolver = resolverFor('digest._domainkey.example.org', value);

    const [result] = await verify(raw, resolver);
    expect(result?.status.result).toBe('pass');
    const signed = result!.signingHeaders!.keys.toLowerCase().split(': ');
    for (const header of ['from', 'to', 'subject', 'date', 'message-id', 'mime-version', 'content-type', 'list-id', 'list-unsubscribe', 'list-unsubscribe-post']) {
      expect(signed).toContain(header);
    }

    // Either one-click header changed after signing: the signature must no longer verify.
    const text = raw.toString('latin1');
    const post = text.replace('List-Unsubscribe-Post: List-Unsubscribe=One-Click', 'List-Unsubscribe-Post: List-Unsubscribe=One-Clack');
    expect(post).not.toBe(text);
    expect((await verify(post, resolver))[0]?.status.result).toBe('fail');
    const url = text.replace('unsubscribe?token=v1.abc', 'unsubscribe?token=v1.abd');
    expect(url).not.toBe(text);
    expect((await verify(url, resolver))[0]?.status.result).toBe('fail');
    // And a header outside the list does not break it (the verifier is not just failing everything).
    expect((await verify(text.replace(/^/, 'X-Relay-Note: added later\r\n'), resolver))[0]?.status.result).toBe('pass');
  });

  it('writes the Message-ID on one line, never folded', async () => {
    const { generateDkimKeyPair } = await import('../../src/mail/dkim.js');
    const raw = await signedThroughSmtp(generateDkimKeyPair().privateKeyPem);
    const lines = raw.toString().split('\r\n');
    const index = lines.findIndex((l) => /^Message-ID:/i.test(l));
    expect(lines[index]).toBe('Message-ID: <digest-2025-11-13.0123456789abcdef01234567@mllm-digest.example.org>');
    expect(lines[index + 1]).not.toMatch(/^\s/);
    expect(lines.filter((l) => /^Message-ID:/i.test(l))).toHaveLength(1);
    expect((await simpleParser(raw)).messageId).toBe('<digest-2025-11-13.0123456789abcdef01234567@mllm-digest.example.org>');
  });
});
