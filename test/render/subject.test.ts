import { describe, expect, it } from 'vitest';
import type { Preferences } from '../../src/audience/select.js';
import { escapeHtml } from '../../src/digest/html.js';
import { cutAtWord, fitSubject } from '../../src/render/templates.js';
import { renderFor, settings } from './render-fixture.js';
import { NO_PREFS, classified, seedSections } from '../helpers.js';

const sections = seedSections().filter((s) => s.papers.length > 0);
const labels = settings.topicLabels;

/** Kinds of reader, some built from the section itself (its authors). */
function readers(date: string): Record<string, Preferences> {
  const section = sections.find((s) => s.date === date)!;
  const last = section.papers[section.papers.length - 1]!;
  return {
    everything: NO_PREFS,
    'one topic': { ...NO_PREFS, topics: ['video'] },
    'two topics': { ...NO_PREFS, topics: ['benchmarks', 'reasoning'] },
    'many topics': { ...NO_PREFS, topics: Object.keys(labels) },
    keyword: { ...NO_PREFS, keywords: ['hallucination', 'token'] },
    'follows an author': { ...NO_PREFS, topics: ['efficiency'], authors: [last.authors[0]!] },
    excludes: { ...NO_PREFS, excludeTopics: ['benchmarks'] },
  };
}

const DATE_FIRST = /^(?:\d{1,2} (?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)|\d{4}-\d\d|(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)|(?:January|February|March|April|May|June|July|August|September|October|November|December))/;

/** The title as the subject shows it: whole, or cut at a word boundary. */
function showsTitle(subject: string, title: string): boolean {
  const shown = subject.slice(subject.indexOf(' — ') + 3);
  if (shown === title) return true;
  const stem = shown.replace(/…$/, '');
  return stem.length >= 8 && title.startsWith(stem) && /[\s?!:]/.test(title[stem.length] ?? ' ');
}

describe('subject and preheader rules on every seed section', () => {
  for (const section of sections) {
    it(`section ${section.date}`, async () => {
      let checked = 0;
      for (const [who, prefs] of Object.entries(readers(section.date))) {
        const { selected, rendered, html } = await renderFor(section, prefs);
        if (!selected.length) continue;
        checked++;
        const { subject, preheader } = rendered;
        const at = `${who}: ${subject}`;
        const top = selected[0]!;
        expect(subject.length, at).toBeLessThanOrEqual(70);
        expect(subject, at).not.toMatch(DATE_FIRST);
        expect(subject, at).not.toContain('and 17 more');
        // What is in it for this reader: how many papers, their topic or keyword, the top title.
        const followed = top.why.authors[0];
        if (followed) expect(subject, at).toMatch(new RegExp(`^New from ${followed}${selected.length > 1 ? ` \\+ ${selected.length - 1} more` : ''} — `));
        else expect(subject, at).toMatch(new RegExp(`^${selected.length} new papers? `));
        const readerTopics = new Set(selected.flatMap((s) => s.why.topics));
        if (!followed && readerTopics.size > 0) expect([...readerTopics].some((t) => subject.includes(` on ${labels[t]}`)), at).toBe(true);
        if (!followed && readerTopics.size === 0 && prefs.keywords.length) expect(subject, at).toMatch(/ on “[^”]+” — /);
        expect(showsTitle(subject, top.paper.title.text), at).toBe(true);
        // The preheader adds to the subject: why the top paper matters, not the subject again.
        expect(preheader.length, `${who}: ${preheader}`).toBeGreaterThan(30);
        expect(preheader.length, `${who}: ${preheader}`).toBeLessThanOrEqual(170);
        expect(preheader).not.toContain(subject);
        if (top.paper.motivation) expect(preheader.startsWith(top.paper.motivation.text.slice(0, 40)), `${who}: ${preheader}`).toBe(true);
        // In the HTML: first, hidden without a low-contrast colour or tiny font, then padded.
        const hidden = /<div class="dm-preheader" style="([^"]*)">([\s\S]*?)<\/div>/.exec(html);
        expect(hidden, who).not.toBeNull();
        expect(hidden![1]).toMatch(/display:none/);
        expect(hidden![1]).not.toMatch(/color|font-size|opacity/);
        expect(hidden![2]!.startsWith(escapeHtml(preheader).slice(0, 40)), `${who}: ${hidden![2]!.slice(0, 60)}`).toBe(true);
        expect(hidden![2]!.split('&zwnj;').length - 1).toBeGreaterThanOrEqual(80);
        expect(html.indexOf('dm-preheader')).toBeLessThan(html.indexOf('class="dm-title'));
      }
      expect(checked).toBeGreaterThanOrEqual(2);
    });
  }
});

describe('shortening', () => {
  it('cuts a title at a word boundary, without a dangling small word, and keeps a whole main title whole', () => {
    expect(cutAtWord('Simulating the Visual World with Artificial Intelligence: A Roadmap', 43)).toBe('Simulating the Visual World…');
    expect(cutAtWord('Can MLLMs Read the Room? A Multimodal Benchmark', 30)).toBe('Can MLLMs Read the Room?');
    expect(cutAtWord('TIR-Bench: A Comprehensive Benchmark for Agentic Thinking', 12)).toBe('TIR-Bench');
    expect(cutAtWord('Short', 10)).toBe('Short');
  });

  it('takes the first head that leaves room for enough of the title', () => {
    const heads = ['5 new papers on Retrieval & embeddings and Benchmarks & evaluation', '5 new papers on Retrieval & embeddings', '5 new papers'];
    const subject = fitSubject(heads, ' — ', 'MVU-Eval: Towards Multi-Video Understanding Evaluation for Multimodal LLMs', 70);
    // "Towards" would dangle, and the cut then ends the main title: no ellipsis.
    expect(subject).toBe('5 new papers on Retrieval & embeddings — MVU-Eval');
    expect(subject.length).toBeLessThanOrEqual(70);
    expect(fitSubject(['1 new paper'], ' — ', 'Short title', 70)).toBe('1 new paper — Short title');
  });

  it('names the reader’s topics by how many of their papers carry them', async () => {
    const section = sections.find((s) => s.date === '2025-11-12')!;
    const { selected, rendered } = await renderFor(section, { ...NO_PREFS, topics: ['video', 'efficiency'] });
    const count = (t: string) => selected.filter((s) => s.why.topics.includes(t)).length;
    const named = /^\d+ new papers on (Video|Efficiency)/.exec(rendered.subject)?.[1];
    const [first, second] = named === 'Video' ? ['video', 'efficiency'] : ['efficiency', 'video'];
    expect(count(first!)).toBeGreaterThanOrEqual(count(second!));
    expect(classified(section).length).toBe(18);
  });
});
