import { describe, expect, it } from 'vitest';
import { rankPapers, relevance } from '../../src/audience/rank.js';
import { preferenceKey, selectPapers } from '../../src/audience/select.js';
import { NO_PREFS, classified, seedSections } from '../helpers.js';

const sections = seedSections().filter((s) => s.papers.length > 1);
const largest = sections.find((s) => s.date === '2025-11-12')!;
const papers = classified(largest);
const ids = (xs: { paper: { id: string } }[]) => xs.map((x) => x.paper.id);

describe('ranking for a reader', () => {
  it('puts a followed author’s paper first on every seed section, whatever its place in the digest', () => {
    for (const section of sections) {
      const ps = classified(section);
      const last = ps[ps.length - 1]!;
      const selected = selectPapers(ps, { ...NO_PREFS, topics: ['reasoning', 'video', 'benchmarks'], authors: [last.authors[0]!.toUpperCase()] });
      expect(selected[0]!.paper.id, section.date).toBe(last.id);
      expect(selected[0]!.why.authors).toEqual([last.authors[0]]);
    }
  });

  it('orders the rest by how strongly the reader’s topics and keywords matched, digest order breaking ties', () => {
    const selected = selectPapers(papers, { ...NO_PREFS, topics: ['video', 'reasoning'], keywords: ['benchmark'] });
    const scores = selected.map((s) => relevance(s));
    expect(scores).toEqual([...scores].sort((a, b) => b - a));
    const digestIndex = new Map(papers.map((p, i) => [p.id, i]));
    for (let i = 1; i < selected.length; i++) {
      if (scores[i] === scores[i - 1]) expect(digestIndex.get(selected[i]!.paper.id)!).toBeGreaterThan(digestIndex.get(selected[i - 1]!.paper.id)!);
    }
    // A paper with two of the reader's topics and the keyword outranks one with a single topic.
    const strongest = selected[0]!;
    expect(strongest.why.topics.length + strongest.why.keywords.length).toBeGreaterThan(1);
    expect(new Set(scores).size).toBeGreaterThan(2);
  });

  it('keeps the digest order for a reader of everything without learned weights', () => {
    expect(ids(selectPapers(papers, NO_PREFS))).toEqual(papers.map((p) => p.id));
  });

  it('moves papers of a topic the reader asked more of up, and of one they asked less of down', () => {
    const base = selectPapers(papers, NO_PREFS);
    const videoIds = papers.filter((p) => p.topics.includes('video')).map((p) => p.id);
    expect(videoIds.length).toBeGreaterThan(1);
    const more = ids(selectPapers(papers, { ...NO_PREFS, learned: { topics: { video: 1 } } }));
    expect(more.slice(0, videoIds.length).sort()).toEqual([...videoIds].sort());
    const less = ids(selectPapers(papers, { ...NO_PREFS, learned: { topics: { video: -1 } } }));
    expect(less.slice(-videoIds.length).sort()).toEqual([...videoIds].sort());
    // Same papers either way: learned weights reorder, they never select or drop.
    expect([...more].sort()).toEqual(ids(base).sort());
    expect(more).not.toEqual(ids(base));
  });

  it('ranks a followed author above any learned preference', () => {
    const last = papers[papers.length - 1]!;
    const other = papers.find((p) => p.topics.includes('video') && p.id !== last.id)!;
    const ranked = rankPapers(selectPapers(papers, { ...NO_PREFS, authors: [last.authors[0]!], topics: other.topics, learned: { topics: Object.fromEntries(other.topics.map((t) => [t, 1])) } }));
    expect(ranked[0]!.paper.id).toBe(last.id);
  });

  it('gives readers with other learned weights or another format another preference key', () => {
    const key = preferenceKey(NO_PREFS);
    expect(preferenceKey({ ...NO_PREFS, learned: { topics: { video: 0.5 } } })).not.toBe(key);
    expect(preferenceKey({ ...NO_PREFS, format: 'full' })).not.toBe(key);
    // Zero weights change nothing, so they share the key.
    expect(preferenceKey({ ...NO_PREFS, learned: { topics: { video: 0 } } })).toBe(key);
  });
});
