import { describe, expect, it } from 'vitest';
import { matcherFor, selectPapers } from '../../src/audience/select.js';
import { NO_PREFS, classified, seedSections } from '../helpers.js';

const section = seedSections().find((s) => s.date === '2025-11-12')!;
const papers = classified(section);
const ids = (xs: { paper: { id: string } }[]) => xs.map((x) => x.paper.id);

describe('select', () => {
  it('gives everything to a subscriber with no preferences', () => {
    const selected = selectPapers(papers, NO_PREFS);
    expect(ids(selected)).toEqual(papers.map((p) => p.id));
    expect(selected.every((s) => s.why.everything)).toBe(true);
  });

  it('includes papers with an included topic, and says which', () => {
    const selected = selectPapers(papers, { ...NO_PREFS, topics: ['video'] });
    expect(selected.length).toBeGreaterThan(0);
    expect(selected.length).toBeLessThan(papers.length);
    for (const s of selected) {
      expect(s.paper.topics).toContain('video');
      expect(s.why.topics).toEqual(['video']);
    }
    // Ranked for the reader (rank.test.ts), so compared as a set here.
    expect(ids(selected).sort()).toEqual(papers.filter((p) => p.topics.includes('video')).map((p) => p.id).sort());
  });

  it('includes papers by a followed author, whatever the case and accents', () => {
    const target = papers.find((p) => p.id === '2511.07080')!; // Wasm
    const author = target.authors[0]!;
    const selected = selectPapers(papers, { ...NO_PREFS, authors: [author.toUpperCase()] });
    expect(ids(selected)).toEqual(['2511.07080']);
    expect(selected[0]!.why.authors).toEqual([author]);
  });

  it('includes papers matching a keyword anywhere in the text', () => {
    const selected = selectPapers(papers, { ...NO_PREFS, keywords: ['Arabic'] });
    expect(ids(selected)).toEqual(['2511.07080']);
    expect(selected[0]!.why.keywords).toEqual(['Arabic']);
  });

  it('lets an excluded topic beat an included topic, author and keyword', () => {
    const wasm = papers.find((p) => p.id === '2511.07080')!;
    expect(wasm.topics).toContain('data');
    const selected = selectPapers(papers, {
      topics: ['multilingual'],
      excludeTopics: ['data'],
      authors: [wasm.authors[0]!],
      keywords: ['Arabic'],
    });
    expect(ids(selected)).not.toContain('2511.07080');
    for (const s of selected) expect(s.paper.topics).not.toContain('data');
  });

  it('excludes from everything when only exclusions are set', () => {
    const selected = selectPapers(papers, { ...NO_PREFS, excludeTopics: ['video'] });
    expect(ids(selected)).toEqual(papers.filter((p) => !p.topics.includes('video')).map((p) => p.id));
  });

  it('selects nothing when nothing matches', () => {
    expect(selectPapers(papers, { ...NO_PREFS, keywords: ['photosynthesis'] })).toEqual([]);
    expect(matcherFor({ ...NO_PREFS, topics: ['multilingual'] }).select([])).toEqual([]);
  });
});
