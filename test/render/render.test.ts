import { describe, expect, it } from 'vitest';
import mjml2html from 'mjml';
import { selectPapers, type Preferences } from '../../src/audience/select.js';
import type { Section } from '../../src/digest/types.js';
import { fill, personalFields } from '../../src/render/personalise.js';
import { escapeHtml } from '../../src/digest/html.js';
import { renderEmail, type RenderSettings } from '../../src/render/render.js';
import { compileTemplates, readTemplateSources } from '../../src/render/templates.js';
import { validateTemplates } from '../../src/render/validate.js';
import { compileTaxonomy } from '../../src/topics/classify.js';
import { parseDigest } from '../../src/digest/parse.js';
import { settings, taxonomy, templates, templatesDir } from './render-fixture.js';
import { NO_PREFS, classified, seedSections } from '../helpers.js';

const person = {
  greeting: 'Hi Ana,',
  email: 'ana@example.org',
  manageUrl: 'https://digest.example.org/preferences?token=v1.abc.def',
  unsubscribeUrl: 'https://digest.example.org/unsubscribe?token=v1.ghi.jkl',
  webUrl: 'https://digest.example.org/archive/2025-11-12/yours?token=v1.mno.pqr',
  feedbackUrl: 'https://digest.example.org/feedback?token=v1.stu.vwx',
};

async function render(section: Section, prefs: Preferences = NO_PREFS, overrides: Partial<RenderSettings> = {}) {
  const selected = selectPapers(classified(section), prefs);
  const rendered = await renderEmail(templates, templatesDir, section, selected, { ...settings, ...overrides }, prefs.format);
  const personal = personalFields(rendered, person);
  return { selected, rendered, html: fill(rendered.html, personal, true), text: fill(rendered.text, personal, false) };
}

const sections = seedSections();
const largest = sections.find((s) => s.date === '2025-11-12')!;

describe('render', () => {
  it('passes MJML strict validation for every template and partial', async () => {
    expect(await validateTemplates(templates, templatesDir, compileTaxonomy(taxonomy), settings)).toEqual([]);
  });

  it('would catch an invalid MJML template (the check is real)', async () => {
    const sources = await readTemplateSources(templatesDir);
    const broken = compileTemplates({ ...sources, partials: { ...sources.partials, paper: '<mj-text padding="oops">x</mj-text><mj-bogus />' } });
    const problems = await validateTemplates(broken, templatesDir, compileTaxonomy(taxonomy), settings);
    expect(problems.length).toBeGreaterThan(0);
    expect(problems[0]!.message).toMatch(/invalid MJML/);
    await expect(mjml2html('<mjml><mj-body><mj-bogus /></mj-body></mjml>', { validationLevel: 'strict' })).rejects.toThrow();
  });

  it('holds exactly the selected papers, in HTML and text', async () => {
    const { selected, html, text } = await render(largest, { ...NO_PREFS, topics: ['video'] });
    expect(selected.length).toBeGreaterThan(1);
    for (const paper of largest.papers) {
      const chosen = selected.some((s) => s.paper.id === paper.id);
      expect(html.includes(`href="${paper.link}"`), paper.title.text).toBe(chosen);
      expect(text.includes(paper.link!), paper.title.text).toBe(chosen);
      if (chosen) expect(text).toContain(paper.title.text.slice(0, 40));
    }
  });

  it('keeps the largest seed section under the clipping limit for an all-topics subscriber, with every title and link', async () => {
    const { rendered, html, text } = await render(largest);
    expect(Buffer.byteLength(html)).toBeLessThan(102_000);
    expect(rendered.htmlBytes).toBeLessThanOrEqual(100_000);
    for (const paper of largest.papers) {
      expect(html).toContain(`href="${paper.link}"`);
      expect(text).toContain(paper.link!);
    }
    expect(html).not.toMatch(/\\(textbf|textit|emph|times|rightarrow)/);
    expect(text).not.toMatch(/\\[a-zA-Z%]/);
  });

  it('shortens a section too big for the limit by the documented ladder, listing "N more papers"', async () => {
    // 60 papers: the 18-paper section three times over, with distinct ids.
    const big: Section = {
      ...largest,
      papers: [0, 1, 2, 3].flatMap((copy) => largest.papers.map((p) => ({ ...p, id: `${p.id}-${copy}`, link: `${p.link}v${copy + 1}` }))),
    };
    const { rendered, html, text } = await render(big, { ...NO_PREFS, format: 'full' });
    expect(Buffer.byteLength(html)).toBeLessThan(100_000);
    expect(rendered.trim.abstractChars).toBe(0);
    expect(rendered.trim.fullPapers).toBeLessThan(big.papers.length);
    const more = big.papers.length - rendered.trim.fullPapers;
    expect(html).toContain(`${more} more papers for you`);
    // Nothing is lost: every paper is still linked (its abstract page), in full or in the list.
    for (const paper of big.papers) expect(html).toContain(`href="${paper.link!.replace('/pdf/', '/abs/')}"`);
    expect(text).toContain(`${more} more papers for you`);
  });

  it('shortens abstracts first when that is enough', async () => {
    // The default 100 KB budget (room reserved for 24 per-recipient slots, 18 of them reason lines,
    // and the 36 feedback links' URL): the 18 papers in full format fit with abstracts cut to 350
    // characters (700 before the "more / less like this" links: 105,309 bytes with them).
    const { rendered, html } = await render(largest, { ...NO_PREFS, format: 'full' });
    expect(rendered.trim.abstractChars).toBe(350);
    expect(rendered.trim.fullPapers).toBe(18);
    expect(Buffer.byteLength(html)).toBeLessThan(100_000);
    expect(html).toContain('Read the full abstract');
  });

  it('escapes a <script> title and other digest values in HTML', async () => {
    const { sections: [section] } = parseDigest(
      '## 2025-12-01\n\n### <script>alert("x")</script> "Quoted" & <b>bold</b>\n\n**Authors:** <img src=x onerror=alert(1)>\n\n**Link:** https://arxiv.org/abs/2512.00001\n\n**Abstract:** a <iframe> b\n',
      'x.md',
    );
    const { html, text } = await render(section!);
    expect(html).not.toMatch(/<script>alert/);
    expect(html).not.toMatch(/<img src=x/);
    expect(html).not.toMatch(/<iframe>/);
    expect(html).toContain('&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;');
    expect(text).toContain('<script>alert("x")</script> "Quoted" & <b>bold</b>');
  });

  it('escapes the per-recipient values too', async () => {
    const { rendered } = await render(sections[7]!);
    const html = fill(rendered.html, personalFields(rendered, { ...person, greeting: 'Hi <b>Eve</b> & "co",' }), true);
    expect(html).toContain('Hi &lt;b&gt;Eve&lt;/b&gt; &amp; &quot;co&quot;,');
    expect(html).not.toContain('<b>Eve</b>');
  });

  it('writes a subject that leads with the count and the top title, and a preheader in the hidden preview', async () => {
    const { rendered, html } = await render(largest);
    // Subject and preheader rules on every seed section: subject.test.ts.
    expect(rendered.subject).toBe('18 new papers — Simulating the Visual World with Artificial…');
    expect(rendered.preheader).toMatch(/^Tackles the shift from generating appealing videos/);
    expect(html).toContain(escapeHtml(rendered.preheader.slice(0, 30)));
  });

  it('says why each paper was chosen for a subscriber with preferences', async () => {
    const wasm = largest.papers.find((p) => p.id === '2511.07080')!;
    const { text, html } = await render(largest, { ...NO_PREFS, topics: ['multilingual'], authors: [wasm.authors[0]!], keywords: ['Arabic'] });
    expect(text.replace(/\s+/g, ' ')).toMatch(/Why you got this: your topic Multilingual; you follow [^;]+; your keyword “Arabic”\./);
    expect(html).toContain('Why you got this: your topic Multilingual');
  });

  it('has manage and unsubscribe links in the footer of both parts', async () => {
    const { html, text } = await render(sections[7]!);
    expect(html).toContain(`href="${person.unsubscribeUrl}"`);
    expect(html).toContain(`href="${person.manageUrl}"`);
    expect(text).toContain(`Unsubscribe: ${person.unsubscribeUrl}`);
    expect(text).toContain(`Manage your topics and format: ${person.manageUrl}`);
  });
});

describe('template errors', () => {
  it('names the partial file and line of an MJML error', async () => {
    const sources = await readTemplateSources(templatesDir);
    const paper = sources.partials.paper!.split('\n');
    paper.splice(0, 0, '<mj-text padding="bogus">x</mj-text>');
    const broken = compileTemplates({ ...sources, partials: { ...sources.partials, paper: paper.join('\n') } });
    const section = seedSections()[7]!;
    const error = await renderEmail(broken, templatesDir, section, selectPapers(classified(section), NO_PREFS), settings).catch((e: Error) => e);
    expect(error).toBeInstanceOf(Error);
    expect((error as Error).message).toMatch(/templates\/partials\/paper\.mjml\.hbs:1: Attribute padding/);
  });

  it('names the file and line of a Handlebars syntax error', async () => {
    const sources = await readTemplateSources(templatesDir);
    expect(() => compileTemplates({ ...sources, partials: { ...sources.partials, footer: '<mj-section>\n{{#if x}}\n</mj-section>' } })).toThrow(
      /templates\/partials\/footer\.mjml\.hbs: Parse error on line 3/,
    );
  });
});

describe('privacy', () => {
  it('loads nothing from outside: no web fonts, scripts or remote styles', async () => {
    const { html } = await render(largest);
    expect(html).not.toMatch(/fonts\.googleapis|<link\b|@import|<script/i);
  });
});
