import { mkdtemp, readFile, readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { simpleParser } from 'mailparser';
import { describe, expect, it, vi } from 'vitest';
import type { Subscriber } from '../../src/audience/schema.js';
import { selectPapers } from '../../src/audience/select.js';
import { parseConfig } from '../../src/config/load.js';
import { composeMessage } from '../../src/mail/compose.js';
import { messageIdFor } from '../../src/mail/message-id.js';
import { OutboxTransport, outboxFileStem } from '../../src/mail/transports/outbox.js';
import { renderEmail } from '../../src/render/render.js';
import { compileTemplates, readTemplateSources } from '../../src/render/templates.js';
import { renderSettings } from '../../src/run/context.js';
import { composeFor } from '../../src/run/deliver.js';
import { verifyToken } from '../../src/tokens/tokens.js';
import { NO_PREFS, ROOT, bareLineFeeds, classified, seedSections, seedTaxonomy } from '../helpers.js';
import { readFileSync } from 'node:fs';

const config = parseConfig(JSON.parse(readFileSync(join(ROOT, 'digest-mailer.config.json'), 'utf8')), join(ROOT, 'digest-mailer.config.json'));
const links = { baseUrl: config.baseUrl, secret: 's'.repeat(40), ttlDays: 365 };
const section = seedSections()[7]!;

async function messageFor(subscriber: Subscriber, date = new Date('2025-11-13T07:00:00Z')) {
  const templates = compileTemplates(await readTemplateSources(config.paths.templates));
  const selected = selectPapers(classified(section), subscriber);
  const rendered = await renderEmail(templates, config.paths.templates, section, selected, renderSettings(config, seedTaxonomy()));
  return composeFor(config, rendered, section, subscriber, links, date);
}

const ana: Subscriber = { ...NO_PREFS, email: 'ana.lopez@example.org', name: 'Ana López', status: 'active' };

describe('outbox .eml, parsed back with mailparser', () => {
  it('writes a multipart/alternative message with every list header', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'dm-outbox-'));
    const message = await messageFor(ana);
    const outbox = new OutboxTransport(dir, { htmlCopy: true });
    const result = await outbox.send({
      sectionDate: section.date,
      recipient: ana.email,
      messageId: message.messageId,
      raw: message.raw,
      html: message.html,
      envelope: { from: config.list.from.address, to: ana.email },
    });
    expect(result.ok).toBe(true);
    expect((await readdir(join(dir, section.date))).sort()).toEqual(['ana.lopez_at_example.org.eml', 'ana.lopez_at_example.org.html']);

    const raw = await readFile(join(dir, section.date, 'ana.lopez_at_example.org.eml'));
    expect(raw.toString()).toMatch(/^Content-Type: multipart\/alternative;/m);
    const mail = await simpleParser(raw);
    expect(mail.from?.value[0]).toEqual({ name: 'Multimodal LLM Digest', address: 'digest@example.org' });
    const to = Array.isArray(mail.to) ? mail.to[0]! : mail.to!;
    expect(to.value[0]).toEqual({ name: 'Ana López', address: 'ana.lopez@example.org' });
    expect(mail.subject).toMatch(/^4 new papers — Multimodal Large Language Models for/);
    expect(mail.date?.toISOString()).toBe('2025-11-13T07:00:00.000Z');
    expect(mail.messageId).toBe(messageIdFor('2025-11-13', 'ana.lopez@example.org', 'mllm-digest.example.org'));
    expect(mail.text).toContain('Hi Ana López,');
    expect(mail.html).toContain('Hi Ana López,');
    expect(mail.html).toBe(await readFile(join(dir, section.date, 'ana.lopez_at_example.org.html'), 'utf8'));
    const header = (key: string) => mail.headerLines.find((h) => h.key === key)?.line.replace(/\r?\n\s+/g, ' ');
    expect(header('list-id')).toBe('List-ID: Multimodal LLM Digest <mllm-digest.example.org>');
    expect(header('list-unsubscribe-post')).toBe('List-Unsubscribe-Post: List-Unsubscribe=One-Click');
    const list = mail.headers.get('list') as { id: object; unsubscribe: { url: string; mail: string } };
    expect(list.id).toEqual({ name: 'Multimodal LLM Digest', id: 'mllm-digest.example.org' });
    const unsubscribe = list.unsubscribe;
    expect(header('list-unsubscribe')).toBe(`List-Unsubscribe: <${unsubscribe.url}>, <mailto:unsubscribe@example.org?subject=unsubscribe>`);
    expect(unsubscribe.mail).toBe('unsubscribe@example.org?subject=unsubscribe');
    expect(unsubscribe.url).toMatch(/^https:\/\/digest\.example\.org\/unsubscribe\?token=v1\./);
    const token = new URL(unsubscribe.url).searchParams.get('token')!;
    const verified = verifyToken(links.secret, token, 'unsubscribe', Date.parse('2025-11-14T00:00:00Z') / 1000);
    expect(verified).toMatchObject({ ok: true, claims: { email: 'ana.lopez@example.org' } });
    expect(mail.html).toContain(unsubscribe.url);
  });

  it('writes only the .eml by default, with CRLF line breaks only', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'dm-outbox-'));
    const message = await messageFor({ ...ana, name: 'Zoë "Z" Martin' });
    const html = vi.fn(() => message.html);
    const outbox = new OutboxTransport(dir);
    await outbox.send({ sectionDate: section.date, recipient: ana.email, messageId: message.messageId, raw: message.raw, html, envelope: { from: config.list.from.address, to: ana.email } });
    expect(await readdir(join(dir, section.date))).toEqual(['ana.lopez_at_example.org.eml']);
    expect(html).not.toHaveBeenCalled();
    const raw = await readFile(join(dir, section.date, 'ana.lopez_at_example.org.eml'));
    expect(raw.length).toBeGreaterThan(10_000);
    expect(bareLineFeeds(raw)).toBe(0);
  });

  it('keeps the Message-ID stable across runs and distinct per section and subscriber', async () => {
    const first = await simpleParser((await messageFor(ana, new Date('2025-11-13T07:00:00Z'))).raw);
    const again = await simpleParser((await messageFor(ana, new Date('2025-11-14T07:00:00Z'))).raw);
    expect(again.messageId).toBe(first.messageId);
    expect(messageIdFor('2025-11-13', 'ANA.LOPEZ@example.org', 'x.org')).toBe(messageIdFor('2025-11-13', 'ana.lopez@example.org', 'x.org'));
    expect(messageIdFor('2025-11-12', 'ana.lopez@example.org', 'x.org')).not.toBe(messageIdFor('2025-11-13', 'ana.lopez@example.org', 'x.org'));
    expect(messageIdFor('2025-11-13', 'bob@example.org', 'x.org')).not.toBe(messageIdFor('2025-11-13', 'ana.lopez@example.org', 'x.org'));
  });

  it('lets no CR or LF from a name or a title reach a header', async () => {
    const raw = await composeMessage({
      from: { name: 'Digest\r\nBcc: a@evil.example', address: 'digest@example.org' },
      to: { name: 'Eve\r\nBcc: victim@evil.example', address: 'eve@example.org' },
      subject: 'Title\r\nBcc: x@evil.example\nX-Injected: yes',
      text: 't',
      html: '<p>h</p>',
      messageId: '<a@example.org>',
      date: new Date(0),
      list: { name: 'List\r\nX-Evil: 1', id: 'l.example.org', unsubscribeUrl: 'https://x/u', unsubscribeMailto: 'u@example.org' },
      headers: { 'X-Extra': 'a\r\nX-Evil: 2' },
    });
    const head = raw.toString().split('\r\n\r\n')[0]!;
    expect(head).not.toMatch(/^Bcc:/im);
    expect(head).not.toMatch(/^X-Injected:/im);
    expect(head).not.toMatch(/^X-Evil:/im);
    const mail = await simpleParser(raw);
    expect(mail.bcc).toBeUndefined();
    expect(mail.subject).toBe('Title Bcc: x@evil.example X-Injected: yes');
  });
});

describe('outbox file names', () => {
  it('never give two addresses the same file (one message would overwrite the other)', () => {
    const addresses = ['a_at_b@c.org', 'a@b_at_c.org', 'müller@bücher.example', 'm_ller@bücher.example', 'x y@example.org', 'x_y@example.org', 'ana.lopez@example.org'];
    const stems = addresses.map(outboxFileStem);
    expect(new Set(stems).size).toBe(addresses.length);
    expect(outboxFileStem('Ana.Lopez@Example.org')).toBe('ana.lopez_at_example.org');
    for (const stem of stems) expect(stem).toMatch(/^[a-z0-9._+-]+$/);
  });
});
