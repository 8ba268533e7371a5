import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { selectPapers } from '../../src/audience/select.js';
import type { Config } from '../../src/config/load.js';
import { SpliceThreads } from '../../src/mail/splice-threads.js';
import { HeaderWriter } from '../../src/mail/splice.js';
import { compileTemplates, readTemplateSources } from '../../src/render/templates.js';
import { VariantCache, spliceFor } from '../../src/run/deliver.js';
import { selectRollup } from '../../src/run/rollup.js';
import type { StoredSubscriber } from '../../src/store/types.js';
import { NO_PREFS, ROOT, bareLineFeeds, classified, seedRenderSettings, seedSections } from '../helpers.js';
import { scaled } from '../timeouts.js';

const templatesDir = join(ROOT, 'templates');
const templates = compileTemplates(await readTemplateSources(templatesDir));
const list = { name: 'Multimodal LLM Digest', id: 'mllm-digest.example.org', from: { name: 'MLLM Digest', address: 'digest@example.org' }, replyTo: 'editor@example.org', unsubscribeMailto: 'unsubscribe@example.org' };
const config = { list } as unknown as Config;
const links = { baseUrl: 'https://digest.example.org', secret: 'splice-threads-secret-splice-threads-secret', ttlDays: 30 };
const readers = [
  { name: 'Ana López', email: 'ana@example.org', id: 1, tokenGeneration: 0 },
  { name: '李明 (Li Ming)', email: 'li.ming@example.org', id: 2, tokenGeneration: 3 },
  { name: '.=Dot=Equals.', email: 'dot@example.org', id: 3, tokenGeneration: 1 },
  { name: undefined, email: 'noname@example.org', id: 4, tokenGeneration: 0 },
] as unknown as StoredSubscriber[];

describe('splicing in worker threads', () => {
  const threads = new SpliceThreads(2, { list, links });
  afterAll(() => threads.close());

  it('gives the bytes spliceFor gives in the run thread, for every seed variant, with copies posted once per thread', async () => {
    const date = new Date('2025-11-12T07:00:00Z');
    let n = 0;
    for (const section of seedSections().filter((s) => s.papers.length > 0)) {
      const cache = new VariantCache(templates, templatesDir, seedRenderSettings());
      for (const prefs of [NO_PREFS, { ...NO_PREFS, topics: ['agents-tools'] }]) {
        const selected = selectPapers(classified(section), prefs);
        if (!selected.length) continue;
        const rendered = await cache.render(section, selected);
        const posted = () => ({
          rendered: { subject: rendered.subject, preheader: rendered.preheader, summary: rendered.summary, reasons: rendered.reasons, paperIds: rendered.paperIds, encoded: rendered.encoded },
          section: { date: section.date, papers: section.papers.map((p) => ({ id: p.id })) },
        });
        const results = await Promise.all(readers.map((r) => threads.splice(rendered, posted, { subscriber: r, date: date.getTime(), issue: section.date })));
        for (const [i, reader] of readers.entries()) {
          const here = spliceFor(config, rendered, section, reader, links, date, new HeaderWriter(), section.date);
          expect(results[i]!.messageId).toBe(here.messageId);
          expect(Buffer.isBuffer(results[i]!.raw)).toBe(true);
          expect(results[i]!.raw.equals(here.raw)).toBe(true);
          expect(bareLineFeeds(results[i]!.raw)).toBe(0);
          n++;
        }
      }
    }
    expect(n).toBeGreaterThan(10);
  }, scaled(120_000));

  it('gives the same bytes for a weekly roll-up (its days posted along), which now sends through the same step', async () => {
    const date = new Date('2025-11-17T07:00:00Z');
    const sections = seedSections().filter((s) => s.papers.length > 0).slice(0, 3);
    const byDate = new Map(sections.map((s) => [s.date, { section: s, papers: classified(s) }]));
    const reader = { ...readers[1]!, status: 'active', ...NO_PREFS } as StoredSubscriber;
    const selection = selectRollup(reader, [...byDate.keys()], (d) => byDate.get(d), new Set())!;
    expect(selection.section.days!.length).toBeGreaterThan(1);
    const cache = new VariantCache(templates, templatesDir, seedRenderSettings());
    const rendered = await cache.render(selection.section, selection.selected);
    const posted = () => ({
      rendered: { subject: rendered.subject, preheader: rendered.preheader, summary: rendered.summary, reasons: rendered.reasons, paperIds: rendered.paperIds, encoded: rendered.encoded },
      section: { date: selection.section.date, days: selection.section.days, papers: selection.section.papers.map((p) => ({ id: p.id })) },
    });
    const issue = 'weekly:2025-11-17';
    const result = await threads.splice(rendered, posted, { subscriber: reader, date: date.getTime(), issue });
    const here = spliceFor(config, rendered, selection.section, reader, links, date, new HeaderWriter(), issue);
    expect(result.messageId).toBe(here.messageId);
    expect(result.raw.equals(here.raw)).toBe(true);
  }, scaled(120_000));
});
