import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { matcherFor, preferenceKey, selectPapers, type Preferences } from '../../src/audience/select.js';
import { fill, personalFields } from '../../src/render/personalise.js';
import { renderEmail, renderWhole, variantKey, type RenderSettings } from '../../src/render/render.js';
import { compileTemplates, readTemplateSources } from '../../src/render/templates.js';
import { VariantCache } from '../../src/run/deliver.js';
import { generateSubscribers } from '../../bench/population.js';
import { NO_PREFS, ROOT, classified, seedSections, seedTaxonomy, seedRenderSettings } from '../helpers.js';
import { scaled } from '../timeouts.js';

const templatesDir = join(ROOT, 'templates');
const templates = compileTemplates(await readTemplateSources(templatesDir));
const taxonomy = seedTaxonomy();
const settings: RenderSettings = seedRenderSettings({ list: { name: 'Multimodal LLM Digest', postalAddress: '1 Rue & "Quai", Paris' } });
const recipient = {
  greeting: 'Hi Zoë "Z" <Martin> & 李明,',
  email: 'zoe+news@example.org',
  manageUrl: 'https://digest.example.org/preferences?token=v1.abc.def&x=1',
  unsubscribeUrl: 'https://digest.example.org/unsubscribe?token=v1.ghi.jkl',
  webUrl: 'https://digest.example.org/archive/2025-11-12/yours?token=v1.mno.pqr&x=1',
  feedbackUrl: 'https://digest.example.org/feedback?token=v1.stu.vwx',
};
// Handlebars also escapes "=" and "`" and writes &#x27; for &#39;; the splice uses the minimal HTML escaping. Same text either way.
const sameEscaping = (html: string) => html.replace(/&#x3D;/g, '=').replace(/&#x60;/g, '`').replace(/&#x27;/g, '&#39;');

describe('render once per paper set, fill per reader', () => {
  const sections = seedSections().filter((s) => s.papers.length > 0);

  it('a filled variant equals the whole email rendered with the values in place, for every seed section and preference mix', async () => {
    let compared = 0;
    for (const section of sections) {
      const papers = classified(section);
      const authors = papers.flatMap((p) => p.authors);
      const mixes: Preferences[] = [
        NO_PREFS,
        { ...NO_PREFS, topics: ['video', 'reasoning'] },
        { ...NO_PREFS, topics: ['benchmarks'], excludeTopics: ['video'] },
        { ...NO_PREFS, authors: authors.slice(-2), keywords: ['model'] },
      ];
      for (const prefs of mixes) {
        const selected = selectPapers(papers, prefs);
        if (!selected.length) continue;
        const email = await renderEmail(templates, templatesDir, section, selected, settings);
        const personal = personalFields(email, recipient);
        const whole = await renderWhole(templates, templatesDir, section, selected, settings, email.trim, recipient);
        expect(fill(email.html, personal, true), `${section.date} ${JSON.stringify(prefs)}`).toBe(sameEscaping(whole.html));
        expect(fill(email.text, personal, false), `${section.date} ${JSON.stringify(prefs)}`).toBe(whole.text);
        compared++;
      }
    }
    expect(compared).toBeGreaterThan(sections.length * 2);
  }, scaled(120_000));

  it('gives readers of the same papers with different reasons one variant and their own reason lines', async () => {
    const section = sections.find((s) => s.date === '2025-11-12')!;
    const papers = classified(section);
    const everything = selectPapers(papers, NO_PREFS);
    // Every topic: the same papers as "everything" when each paper has a topic, but with reasons.
    const allTopics = selectPapers(papers, { ...NO_PREFS, topics: taxonomy.topics.map((t) => t.id) });
    // The same papers in the same order (the reader of every topic has them ranked), without reasons.
    const withReasons = allTopics.filter((s) => s.paper.topics.length > 0);
    const covered = withReasons.map((s) => everything.find((e) => e.paper.id === s.paper.id)!);
    expect(variantKey(withReasons)).toBe(variantKey(covered));
    const cache = new VariantCache(templates, templatesDir, settings);
    const a = await cache.render(section, covered);
    const b = await cache.render(section, withReasons);
    expect(cache.renderCount).toBe(1);
    const textA = fill(a.text, personalFields(a, recipient), false);
    const textB = fill(b.text, personalFields(b, recipient), false);
    expect(textA).not.toContain('Why you got this');
    expect(textB).toContain('Why you got this: your topic');
    const htmlA = fill(a.html, personalFields(a, recipient), true);
    expect(htmlA).not.toContain('class="dm-why"');
  });

  it('compiles once per distinct paper set on a generated list', async () => {
    const section = sections.find((s) => s.date === '2025-11-12')!;
    const papers = classified(section);
    const subscribers = generateSubscribers(400, { topicIds: taxonomy.topics.map((t) => t.id), sections: [section] }, 7);
    // Room for every variant: this loop visits readers in list order, not grouped by paper set as a run does.
    const cache = new VariantCache(templates, templatesDir, settings, 1024 * 1024 * 1024);
    const keys = new Set<string>();
    const reasonSets = new Set<string>();
    const selections = new Map<string, ReturnType<typeof selectPapers>>();
    for (const s of subscribers) {
      const key = preferenceKey(s);
      if (!selections.has(key)) selections.set(key, matcherFor(s).select(papers));
      const selected = selections.get(key)!;
      if (!selected.length) continue;
      keys.add(variantKey(selected));
      reasonSets.add(JSON.stringify(selected.map((x) => [x.paper.id, x.why])));
      await cache.render(section, selected);
    }
    expect(keys.size).toBeGreaterThan(10);
    // Reasons differ far more often than paper sets: they are not part of the key.
    expect(reasonSets.size).toBeGreaterThan(keys.size);
    expect(cache.renderCount).toBe(keys.size);
    expect(cache.size).toBe(keys.size);
  }, scaled(300_000));
});
