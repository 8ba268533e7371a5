import { cp, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import mjml2html from 'mjml';
import { describe, expect, it, vi } from 'vitest';
import { loadConfig } from '../../src/config/load.js';
import { OutboxTransport } from '../../src/mail/transports/outbox.js';
import { transactionalHandlebars } from '../../src/render/templates.js';
import { ConfirmationMailer } from '../../src/web/confirmation.js';
import { TEST_SECRET, makeProject } from '../cli/cli-helpers.js';

// Counts MJML compiles while keeping the real compiler.
const compiles = vi.hoisted(() => ({ count: 0 }));
vi.mock('mjml', async (importOriginal) => {
  const real = ((await importOriginal()) as { default: typeof mjml2html }).default;
  return { default: (...args: Parameters<typeof mjml2html>) => (compiles.count++, real(...args)) };
});

const reader = (email: string) => ({ email, status: 'pending' as const, topics: [], excludeTopics: [], authors: [], keywords: [] });
const ADDRESSES = ['ana@example.org', 'o\'neil+x=y@example.net', '"a&b <c>"@example.com', 'müller@bücher.example', '李明@例子.中国'];

async function mailerFor(dir: string) {
  const config = await loadConfig(join(dir, 'config.json'));
  const now = new Date('2026-01-01T00:00:00Z');
  const mailer = await ConfirmationMailer.create(config, new OutboxTransport(join(dir, 'outbox')), { baseUrl: config.baseUrl, secret: TEST_SECRET, ttlDays: 365 }, () => undefined, () => now);
  return { config, mailer };
}

/** What MJML makes of the template for this view, rendered directly (the reference). */
async function direct(templates: string, file: string, view: Record<string, unknown>): Promise<string> {
  const hb = await transactionalHandlebars(templates);
  return (await mjml2html(hb.compile(await readFile(join(templates, file), 'utf8'))(view), { validationLevel: 'strict', fonts: {} })).html;
}

describe('subscribe-form emails', () => {
  it('compile MJML once per template, whatever the number of readers, with the bytes of a direct render', async () => {
    const { config, mailer } = await mailerFor(await makeProject());
    const before = compiles.count;
    const confirms = [];
    for (let round = 0; round < 4; round++) for (const email of ADDRESSES) confirms.push({ email, ...(await mailer.compose(reader(email), `g${round}`)) });
    const notices = [];
    for (const email of ADDRESSES) notices.push({ email, ...(await mailer.composeNotice({ ...reader(email), status: 'active' })) });
    // One render with slots and two self-checks per template, not one per email (25 emails).
    expect(compiles.count - before).toBe(6);
    for (const c of confirms.slice(0, ADDRESSES.length)) {
      const view = { list: config.list, email: c.email, confirmUrl: c.confirmUrl, ttlHours: config.web.confirmTtlHours };
      expect(c.html).toBe(await direct(config.paths.templates, 'confirm.mjml.hbs', view));
    }
    for (const n of notices) {
      expect(n.html).toBe(await direct(config.paths.templates, 'already-subscribed.mjml.hbs', { list: config.list, email: n.email, manageUrl: n.manageUrl }));
      expect(n.html).not.toContain('dm-slot');
    }
    await mailer.close();
  });

  it('render every email directly when a customised template transforms the address', async () => {
    const dir = await makeProject();
    const templates = join(dir, 'custom-templates');
    const config0 = await loadConfig(join(dir, 'config.json'));
    await cp(config0.paths.templates, templates, { recursive: true });
    const file = join(templates, 'confirm.mjml.hbs');
    // The address unescaped ({{{email}}}): a slot filled with the escaped value would differ.
    await writeFile(file, (await readFile(file, 'utf8')).replace('{{email}}', '{{{email}}}'));
    const raw = JSON.parse(await readFile(join(dir, 'config.json'), 'utf8'));
    raw.paths = { ...raw.paths, templates };
    await writeFile(join(dir, 'config.json'), JSON.stringify(raw));
    const { config, mailer } = await mailerFor(dir);
    for (const email of ['ana@example.org', '"a&b"@example.org']) {
      const { html, confirmUrl } = await mailer.compose(reader(email), 'g1');
      expect(html).toBe(await direct(templates, 'confirm.mjml.hbs', { list: config.list, email, confirmUrl, ttlHours: config.web.confirmTtlHours }));
    }
    expect((await mailer.compose(reader('"a&b"@example.org'), 'g1')).html).toContain('"a&b"@example.org');
    await mailer.close();
  });
});
