import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { simpleParser } from 'mailparser';
import { describe, expect, it } from 'vitest';
import type { Subscriber } from '../../src/audience/schema.js';
import { selectPapers } from '../../src/audience/select.js';
import { MAX_LINE_CHARS, parseDigest } from '../../src/digest/parse.js';
import { renderEmail, type RenderSettings } from '../../src/render/render.js';
import { compileTemplates, readTemplateSources } from '../../src/render/templates.js';
import { composeFor } from '../../src/run/deliver.js';
import { parseConfig } from '../../src/config/load.js';
import { EXTRA_SECTION, FAST_DELIVERY, cli, configure, makeProject } from '../cli/cli-helpers.js';
import { NO_PREFS, ROOT, bareLineFeeds, classified, seedTaxonomy, seedRenderSettings } from '../helpers.js';
import { readFileSync } from 'node:fs';
import { scaled } from '../timeouts.js';

const templatesDir = join(ROOT, 'templates');
const taxonomy = seedTaxonomy();
const settings: RenderSettings = seedRenderSettings({ maxFieldChars: 5_000 });

describe('bounded sizes', () => {
  it('turns a 20 MB abstract into a message under the cap, HTML and text shortened by the same rule', async () => {
    const words = 'tokens frames '.repeat(Math.ceil(20_000_000 / 14)).slice(0, 20_000_000);
    const markdown = EXTRA_SECTION('2025-11-20', '2025-11-19').replace('We evaluate video models on Swahili and find large gaps.', `Start of the abstract. ${words}`);
    const section = parseDigest(markdown, 'digests/huge.md').sections[0]!;
    // The parser reads the first MAX_LINE_CHARS of the line, still far more than the field cap.
    expect(section.papers[0]!.abstract!.text.length).toBeGreaterThan(MAX_LINE_CHARS - 1_000);
    expect(section.papers[0]!.abstract!.text.length).toBeLessThanOrEqual(MAX_LINE_CHARS);
    const templates = compileTemplates(await readTemplateSources(templatesDir));
    const selected = selectPapers(classified(section), NO_PREFS);
    const rendered = await renderEmail(templates, templatesDir, section, selected, settings);
    const config = parseConfig(JSON.parse(readFileSync(join(ROOT, 'digest-mailer.config.json'), 'utf8')), join(ROOT, 'digest-mailer.config.json'));
    const reader: Subscriber = { ...NO_PREFS, email: 'ana@example.org', name: 'Ana', status: 'active' };
    const message = await composeFor(config, rendered, section, reader, { baseUrl: 'https://d.example.org', secret: 'x'.repeat(40), ttlDays: 30 }, new Date());
    expect(message.raw.length).toBeLessThan(config.limits.maxMessageBytes);
    expect(message.raw.length).toBeLessThan(100_000);
    expect(bareLineFeeds(message.raw)).toBe(0);
    const mail = await simpleParser(message.raw);
    const textAbstract = /Abstract\. ([\s\S]*?)\n\n/.exec(mail.text!)![1]!.replace(/\s+/g, ' ').trim();
    const htmlAbstract = /<strong>Abstract\.<\/strong> ([^<]*)/.exec(mail.html as string)![1]!.trim();
    expect(textAbstract.length).toBeLessThanOrEqual(5_000);
    expect(textAbstract.startsWith('Start of the abstract. tokens frames')).toBe(true);
    expect(textAbstract.endsWith('…')).toBe(true);
    // The same cut in both parts.
    expect(htmlAbstract).toBe(textAbstract);
    expect(mail.html).toContain('Read the full abstract');
  }, scaled(240_000));

  it('reports a digest file over the size cap by name and still sends the other files', async () => {
    const dir = await makeProject();
    const section = EXTRA_SECTION('2025-11-14', '2025-11-13').replace('We evaluate video models', `${'Padding words. '.repeat(10_000)} We evaluate video models`);
    await writeFile(join(dir, 'digests/2025-11-14-huge.md'), section);
    await configure(dir, { limits: { maxDigestFileBytes: 100_000 } });
    const run = await cli(dir, ['run']);
    expect(`${run.stdout}\n${run.stderr}`).toMatch(/2025-11-14-huge\.md.*over limits\.maxDigestFileBytes/);
    // The seed file (83 KB) went: its newest section was sent, as one .eml per recipient.
    const files = await readdir(join(dir, 'outbox/2025-11-13'));
    expect(files.length).toBeGreaterThan(3);
    expect(files.every((f) => f.endsWith('.eml'))).toBe(true);
    for (const f of files) expect(bareLineFeeds(await readFile(join(dir, 'outbox/2025-11-13', f)))).toBe(0);
  }, scaled(120_000));

  it('does not send a message over limits.maxMessageBytes: a permanent failure naming the limit', async () => {
    const dir = await makeProject();
    await configure(dir, { limits: { maxMessageBytes: 10_000 }, delivery: FAST_DELIVERY });
    const run = await cli(dir, ['run']);
    expect(run.code).not.toBe(0);
    // Outcomes live in the store: read them the way an operator does.
    const listed = await cli(dir, ['deliveries', '--section', '2025-11-13', '--status', 'failed', '--json']);
    expect(listed.code).toBe(0);
    const failed = listed.stdout.trim().split('\n').map((l) => JSON.parse(l) as { permanent: boolean; reason: string });
    expect(failed.length).toBeGreaterThan(3);
    expect(failed.every((e) => e.permanent === true && /over limits\.maxMessageBytes \(10000\)/.test(e.reason))).toBe(true);
    await expect(readdir(join(dir, 'outbox/2025-11-13'))).rejects.toThrow();
  }, scaled(120_000));
});
