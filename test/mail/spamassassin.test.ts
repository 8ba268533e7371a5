import { execFileSync, spawn } from 'node:child_process';
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { Subscriber } from '../../src/audience/schema.js';
import { selectPapers } from '../../src/audience/select.js';
import { parseConfig } from '../../src/config/load.js';
import { renderEmail } from '../../src/render/render.js';
import { compileTemplates, readTemplateSources } from '../../src/render/templates.js';
import { renderSettings } from '../../src/run/context.js';
import { composeFor } from '../../src/run/deliver.js';
import { createTransport } from '../../src/mail/transports/index.js';
import { ConfirmationMailer } from '../../src/web/confirmation.js';
import { NO_PREFS, ROOT, classified, seedSections, seedTaxonomy } from '../helpers.js';
import { scaled } from '../timeouts.js';

/**
 * Every seed email, as a run sends it, scored by SpamAssassin 4 with its local rules only (-L:
 * no DNS, no network). Debian's `spamassassin` package: .ci/run installs it, and under CI the
 * test must run, not skip.
 */
function spamassassinVersion(): string | null {
  try {
    return execFileSync('spamassassin', ['--version'], { encoding: 'utf8' }).split('\n')[0]!;
  } catch {
    return null;
  }
}

const version = spamassassinVersion();
const required = process.env.CI === 'true';
const ARTIFACTS = join(ROOT, 'test-artifacts');

const raw = JSON.parse(readFileSync(join(ROOT, 'digest-mailer.config.json'), 'utf8'));
raw.list.postalAddress = 'Digest Lab, 1 Example Street, 10115 Berlin, Germany';
const config = parseConfig(raw, join(ROOT, 'digest-mailer.config.json'));
const links = { baseUrl: config.baseUrl, secret: 'k'.repeat(43), ttlDays: 365 };

const readers: Subscriber[] = [
  { ...NO_PREFS, email: 'ana.lopez@example.org', name: 'Ana López', status: 'active' },
  { ...NO_PREFS, email: 'kwame.mensah@example.com', name: 'Kwame Mensah', status: 'active', topics: ['video', 'spatial-3d', 'reasoning'], format: 'full' },
  { ...NO_PREFS, email: 'li.ming@example.com', name: '李明', status: 'active', topics: ['agents-tools', 'benchmarks'], authors: ['Ming Li'], keywords: ['hallucination'] },
];

/** Each message with its name, in one mbox, so one spamassassin process scores them all. */
async function seedMessages(): Promise<{ name: string; raw: Buffer }[]> {
  const templates = compileTemplates(await readTemplateSources(config.paths.templates));
  const settings = renderSettings(config, seedTaxonomy());
  const out: { name: string; raw: Buffer }[] = [];
  for (const section of seedSections().filter((s) => s.papers.length > 0)) {
    for (const reader of readers) {
      const selected = selectPapers(classified(section), reader);
      if (!selected.length) continue;
      const rendered = await renderEmail(templates, config.paths.templates, section, selected, settings, reader.format);
      const message = await composeFor(config, rendered, section, reader, links, new Date(`${section.date}T07:00:00Z`));
      out.push({ name: `${section.date} ${reader.email} (${rendered.format})`, raw: message.raw });
    }
  }
  const outbox = await mkdtemp(join(tmpdir(), 'dm-sa-'));
  const mailer = await ConfirmationMailer.create({ ...config, paths: { ...config.paths, outbox } }, createTransport({ ...config, paths: { ...config.paths, outbox } }), links, () => undefined);
  const newcomer: Subscriber = { ...NO_PREFS, email: 'newcomer@example.org', status: 'pending' };
  out.push({ name: 'confirmation', raw: (await mailer.compose(newcomer, 'g1')).raw });
  out.push({ name: 'already subscribed', raw: (await mailer.composeNotice({ ...newcomer, status: 'active' })).raw });
  await mailer.close(0);
  return out;
}

/** A header's value, unfolded, from the header block of a message. */
function headerOf(message: string, name: string): string {
  const head = message.replace(/\r\n/g, '\n').split(/\n\n/)[0]!;
  const match = new RegExp(`^${name}:(.*(?:\\n[ \\t].*)*)`, 'im').exec(head);
  return match ? match[1]!.replace(/\s+/g, ' ').trim() : '';
}

const messageIdOf = (message: string) => headerOf(message, 'Message-ID');

function mbox(messages: { raw: Buffer }[]): string {
  return messages
    .map(({ raw }) => `From digest@example.org Thu Nov 13 07:00:00 2025\n${raw.toString('utf8').replace(/\r\n/g, '\n').replace(/^(>*From )/gm, '>$1')}\n`)
    .join('\n');
}

async function score(input: string): Promise<string> {
  const prefs = join(await mkdtemp(join(tmpdir(), 'dm-sa-prefs-')), 'user_prefs');
  await writeFile(prefs, '');
  return new Promise((resolve, reject) => {
    // -L: local tests only; no Bayes (its database differs per machine), no auto-whitelist.
    const sa = spawn('spamassassin', ['-L', '--mbox', '-p', prefs, '--cf=use_bayes 0', '--cf=use_auto_whitelist 0'], { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    sa.stdout.on('data', (d: Buffer) => (stdout += d.toString('utf8')));
    sa.stderr.on('data', (d: Buffer) => (stderr += d.toString('utf8')));
    sa.on('error', reject);
    sa.on('close', (code) => (code === 0 ? resolve(stdout) : reject(new Error(`spamassassin exited ${code}: ${stderr}`))));
    sa.stdin.end(input);
  });
}

describe.skipIf(!version && !required)('SpamAssassin (local rules) on every seed email', () => {
  it('scores each at most 0.0, the hidden preheader included', async () => {
    expect(version, 'spamassassin is not installed: apt-get install spamassassin (.ci/run does)').not.toBeNull();
    expect(version).toMatch(/SpamAssassin version 4\./);
    const messages = await seedMessages();
    expect(messages.length).toBeGreaterThan(20);
    const output = await score(mbox(messages));
    // Each scored message comes back with its X-Spam-Status header; matched by Message-ID.
    const byId = new Map(messages.map((m) => [messageIdOf(m.raw.toString('utf8')), m.name]));
    const results = output
      .split(/^From digest@example\.org .*$/m)
      .filter((m) => m.trim())
      .map((message) => {
        const status = headerOf(message, 'X-Spam-Status');
        return {
          name: byId.get(messageIdOf(message)) ?? '(unknown message)',
          score: Number(/score=(-?[\d.]+)/.exec(status)![1]),
          tests: (/tests=(.*?) (?:autolearn|version)=/.exec(status)?.[1] ?? '').replace(/\s+/g, ''),
        };
      });
    expect(results.map((r) => r.name).sort()).toEqual(messages.map((m) => m.name).sort());
    await mkdir(ARTIFACTS, { recursive: true });
    await writeFile(join(ARTIFACTS, 'spamassassin.txt'), `${version}\n${results.map((r) => `${r.score.toFixed(1).padStart(5)}  ${r.name}  ${r.tests}`).join('\n')}\n`);
    for (const r of results) expect(r.score, `${r.name}: ${r.tests}`).toBeLessThanOrEqual(0);
    // The rule the old preheader tripped, named so a regression says what it is.
    for (const r of results) expect(r.tests, r.name).not.toMatch(/HTML_FONT_LOW_CONTRAST|HTML_FONT_SIZE|T_HTML_ATTACH|MIME_HTML_ONLY/);
  }, scaled(240_000));
});
