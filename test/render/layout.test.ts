import { describe, expect, it } from 'vitest';
import type { Preferences } from '../../src/audience/select.js';
import { selectPapers } from '../../src/audience/select.js';
import { parseDigest } from '../../src/digest/parse.js';
import { FULL_FORMAT_UP_TO, formatFor } from '../../src/render/format.js';
import { codeLink, paperLinks } from '../../src/render/links.js';
import { variantKey } from '../../src/render/render.js';
import { VariantCache } from '../../src/run/deliver.js';
import { renderFor, settings, templates, templatesDir } from './render-fixture.js';
import { NO_PREFS, classified, seedSections } from '../helpers.js';

const sections = seedSections().filter((s) => s.papers.length > 0);
const largest = sections.find((s) => s.date === '2025-11-12')!;
const decode = (html: string) => html.replace(/<[^>]+>/g, '').replace(/&amp;/g, '&').replace(/&quot;/g, '"').replace(/&#39;|&#x27;/g, "'").replace(/&lt;/g, '<').replace(/&gt;/g, '>').trim();

/** The headline list and the paper blocks of a rendered email, in document order. */
function structure(html: string) {
  const headlines = [...html.matchAll(/<a class="dm-hl-title" href="#([^"]+)"[^>]*>([\s\S]*?)<\/a>/g)].map((m) => ({ anchor: m[1]!, title: decode(m[2]!) }));
  const blocks = [...html.matchAll(/<a id="([^"]+)" name="[^"]+"[^>]*><\/a>\s*<h2 class="dm-title"[^>]*>([\s\S]*?)<\/h2>/g)].map((m) => ({ anchor: m[1]!, title: decode(m[2]!), href: /href="([^"]+)"/.exec(m[2]!)?.[1] }));
  return { headlines, blocks };
}

function readersOf(date: string): Record<string, Preferences> {
  const section = sections.find((s) => s.date === date)!;
  const last = section.papers[section.papers.length - 1]!;
  return {
    everything: NO_PREFS,
    topics: { ...NO_PREFS, topics: ['reasoning', 'video', 'benchmarks'] },
    author: { ...NO_PREFS, topics: ['efficiency'], authors: [last.authors[0]!] },
    full: { ...NO_PREFS, format: 'full' },
  };
}

describe('headlines at the top', () => {
  it('list every paper of the email, in the email’s order, each linked to its block, on every seed section (HTML and text)', async () => {
    let checked = 0;
    for (const section of sections) {
      for (const [who, prefs] of Object.entries(readersOf(section.date))) {
        const { selected, html, text } = await renderFor(section, prefs);
        if (selected.length < 2) continue;
        checked++;
        const at = `${section.date} ${who}`;
        const { headlines, blocks } = structure(html);
        const titles = selected.map((s) => s.paper.title.text);
        expect(blocks.map((b) => b.title), at).toEqual(titles);
        expect(headlines.map((h) => h.title), at).toEqual(titles);
        expect(headlines.map((h) => h.anchor), at).toEqual(blocks.map((b) => b.anchor));
        expect(new Set(blocks.map((b) => b.anchor)).size).toBe(blocks.length);
        // Each headline carries its topic badges and its one-line motivation.
        for (const [i, s] of selected.entries()) {
          const item = new RegExp(`href="#${blocks[i]!.anchor}"[^>]*>[\\s\\S]*?</a><br>([\\s\\S]*?)</p>`).exec(html)![1]!;
          for (const topic of s.paper.topics) expect(item, at).toContain(`>${settings.topicLabels[topic]!.replace('&', '&amp;')}</span>`);
          if (s.paper.motivation) expect(decode(item), at).toContain(s.paper.motivation.text.slice(0, 60));
        }
        // The text part: the same list, numbered as the papers below it.
        const list = text.slice(text.indexOf('IN THIS EMAIL'), text.indexOf('\n---'));
        const numbered = [...text.slice(text.indexOf('\n---')).matchAll(/^-{72}\n(\d+)\. (.+)$/gm)].map((m) => [Number(m[1]), m[2]!]);
        expect(numbered.map(([n]) => n), at).toEqual(selected.map((_, i) => i + 1));
        for (const [i, title] of titles.entries()) {
          expect(list.replace(/\s+/g, ' '), at).toContain(`${i + 1}. ${title}`);
          expect(String(numbered[i]![1]), at).toBe(title.slice(0, String(numbered[i]![1]).length));
        }
      }
    }
    expect(checked).toBeGreaterThan(12);
  });

  it('are left out of a one-paper email, where the paper is the top', async () => {
    const one = sections.find((s) => s.papers.length === 1)!;
    const { html, text } = await renderFor(one);
    expect(structure(html).headlines).toEqual([]);
    expect(text).not.toContain('IN THIS EMAIL');
  });

  it('put a followed author’s paper first, highlighted in its author line', async () => {
    const last = largest.papers[largest.papers.length - 1]!;
    const followed = last.authors[1]!;
    const { selected, html, text } = await renderFor(largest, { ...NO_PREFS, topics: ['video'], authors: [followed] });
    expect(selected[0]!.paper.id).toBe(last.id);
    expect(structure(html).headlines[0]!.title).toBe(last.title.text);
    expect(html).toMatch(new RegExp(`<strong class="dm-followed"[^>]*>${followed}</strong>`));
    expect(text).toContain(`*${followed}*`);
  });

  it('keep a followed author in the middle of a long author list, highlighted', async () => {
    const long = largest.papers.find((p) => p.authors.length > 10)!;
    const middle = long.authors[8]!;
    const { html, text } = await renderFor(largest, { ...NO_PREFS, authors: [middle] });
    const line = /<p class="dm-meta"[^>]*>([\s\S]*?)<\/p>/.exec(html.slice(html.indexOf('<a id="paper-1"')))![1]!;
    expect(line).toContain(`<strong class="dm-followed" style="color:#1f2328;font-weight:700">${middle}</strong>`);
    expect(line).toContain(`(${long.authors.length} authors)`);
    expect(text.replace(/\s+/g, ' ')).toContain(`*${middle}*`);
  });
});

describe('links per paper', () => {
  it('give the abstract page, PDF and HTML version of each arXiv paper, and the title opens the abstract page (HTML and text)', async () => {
    for (const section of sections) {
      const { selected, html, text } = await renderFor(section);
      const { blocks } = structure(html);
      for (const [i, { paper }] of selected.entries()) {
        const id = /arxiv\.org\/pdf\/([\d.]+)/.exec(paper.link!)![1]!;
        expect(blocks[i]!.href).toBe(`https://arxiv.org/abs/${id}`);
        for (const [label, url] of [['Abstract', `https://arxiv.org/abs/${id}`], ['PDF', `https://arxiv.org/pdf/${id}`], ['HTML', `https://arxiv.org/html/${id}`]] as const) {
          expect(html, `${paper.id} ${label}`).toMatch(new RegExp(`<a href="${url}"[^>]*>${label}</a>`));
          expect(text, `${paper.id} ${label}`).toMatch(new RegExp(`^   ${label} +${url.replace(/\./g, '\\.')}$`, 'm'));
        }
      }
    }
  });

  it('give the code when the digest has a repository URL or a Code field, in both parts', async () => {
    let withCode = 0;
    for (const section of sections) {
      const { selected, rendered, html, text } = await renderFor(section, { ...NO_PREFS, format: 'full' });
      for (const { paper } of selected) {
        const repo = /https:\/\/github\.com\/[\w.-]+\/[\w-]+(?:\.[\w-]+)*/.exec(paper.abstract?.text ?? '')?.[0]?.replace(/\.$/, '');
        expect(codeLink(paper), paper.id).toBe(repo ?? null);
        if (!repo) continue;
        withCode++;
        expect(html).toContain(`<a href="${repo}" style="color:#0b57d0;font-weight:600;text-decoration:none">Code</a>`);
        expect(text).toMatch(new RegExp(`^   Code +${repo.replace(/[.]/g, '\\.')}$`, 'm'));
        // The URL inside the abstract is a link too (where the abstract is shown whole).
        if (rendered.trim.abstractChars === null) expect(html).toMatch(new RegExp(`<a href="${repo}"[^>]*>${repo}</a>`));
      }
    }
    expect(withCode).toBe(5);
    const { sections: [digest] } = parseDigest('## 2025-12-01\n\n### A\n\n**Authors:** X\n\n**Link:** https://example.org/paper.pdf\n\n**Code:** https://gitlab.com/a/b\n\n**Abstract:** See https://github.com/c/d.\n', 'x.md');
    const paper = digest!.papers[0]!;
    expect(paperLinks(paper)).toEqual([{ label: 'Link', url: 'https://example.org/paper.pdf' }, { label: 'Code', url: 'https://gitlab.com/a/b' }]);
  });

  it('turn URLs inside abstracts into links, which the text part keeps readable', async () => {
    const section = sections.find((s) => s.papers.some((p) => p.abstract?.text.includes('https://mmjee-eval.github.io')))!;
    const { html, text } = await renderFor(section, { ...NO_PREFS, format: 'full' });
    expect(html).toMatch(/<a href="https:\/\/mmjee-eval\.github\.io"[^>]*>https:\/\/mmjee-eval\.github\.io<\/a>/);
    expect(text).toContain('https://mmjee-eval.github.io');
  });
});

describe('formats', () => {
  it('default to full up to FULL_FORMAT_UP_TO papers and compact past it; a reader’s choice wins', () => {
    expect(formatFor(undefined, FULL_FORMAT_UP_TO)).toBe('full');
    expect(formatFor(undefined, FULL_FORMAT_UP_TO + 1)).toBe('compact');
    expect(formatFor('full', 18)).toBe('full');
    expect(formatFor('compact', 1)).toBe('compact');
  });

  it('compact: title, authors, one-line summary and links, no abstract; full: today’s blocks', async () => {
    const compact = await renderFor(largest, { ...NO_PREFS, format: 'compact' });
    const full = await renderFor(largest, { ...NO_PREFS, format: 'full' });
    expect(compact.rendered.format).toBe('compact');
    expect(compact.html).not.toContain('<strong>Abstract.</strong>');
    expect(compact.text).not.toMatch(/^ {3}Abstract\. /m);
    expect(full.html).toMatch(/<strong>Abstract\.<\/strong>/);
    expect(full.html).toMatch(/<strong>Method\.<\/strong>/);
    for (const { paper } of compact.selected) {
      expect(compact.html).toContain(paper.method!.html.slice(0, 50));
      expect(compact.text.replace(/\s+/g, ' ')).toContain(paper.method!.text.slice(0, 50));
    }
    expect(Buffer.byteLength(compact.html)).toBeLessThan(Buffer.byteLength(full.html) * 0.75);
    // The default for 18 papers is compact.
    expect((await renderFor(largest)).rendered.format).toBe('compact');
  });

  it('are part of the render key: one compile per paper set and format', async () => {
    const selected = selectPapers(classified(largest), NO_PREFS);
    expect(variantKey(selected, 'full')).not.toBe(variantKey(selected, 'compact'));
    expect(variantKey(selected)).toBe(variantKey(selected, 'compact'));
    const cache = new VariantCache(templates, templatesDir, settings);
    await cache.render(largest, selected);
    await cache.render(largest, selected, 'compact');
    await cache.render(largest, selected, 'full');
    expect(cache.renderCount).toBe(2);
  });
});

describe('links spam filters distrust', () => {
  it('point to the arXiv abstract page instead of a URL on a distrusted domain (.online), in both parts', async () => {
    const univa = largest.papers.find((p) => p.abstract?.text.includes('https://univa.online/'))!;
    const { html, text } = await renderFor(largest, { ...NO_PREFS, topics: ['video'], format: 'full' });
    expect(html).toContain(univa.title.html);
    expect(html).not.toContain('univa.online');
    expect(text).not.toContain('univa.online');
    expect(html).toMatch(new RegExp(`\\(<a href="https://arxiv\\.org/abs/${univa.id}"[^>]*>link on the arXiv abstract page</a>\\)`));
    expect(text).toContain('(link on the arXiv abstract page)');
    // Links on other domains stay links.
    const withRepo = await renderFor(sections.find((s) => s.date === '2025-11-05')!, { ...NO_PREFS, format: 'full' });
    expect(withRepo.html).toMatch(/<a href="https:\/\/github\.com\/BytedanceDouyinContent\/SAIL-RL"[^>]*>https:\/\/github\.com/);
  });
});
