import { describe, expect, it } from 'vitest';
import { applyFeedback, learnedList, parseLearnedItem, undoLearned, learnedItemValue } from '../../src/audience/feedback.js';
import { learnedPreferences } from '../../src/audience/schema.js';
import { preferenceKey, selectPapers } from '../../src/audience/select.js';
import { buildView } from '../../src/render/view.js';
import { NO_PREFS, classified, seedSections } from '../helpers.js';

const largest = seedSections().find((s) => s.date === '2025-11-12')!;
const papers = classified(largest);
const ids = (xs: { paper: { id: string } }[]) => xs.map((x) => x.paper.id);

describe('what feedback teaches (pure)', () => {
  it('moves topic weights by half a step per click, within -1..1, and undoes one item at a time', () => {
    let learned = applyFeedback(undefined, { want: 'more', topics: ['video', 'video'], follow: [], exclude: null });
    expect(learned).toEqual({ topics: { video: 0.5 } });
    learned = applyFeedback(learned, { want: 'more', topics: ['video'], follow: ['Ana López'], exclude: null });
    learned = applyFeedback(learned, { want: 'more', topics: ['video'], follow: ['ana lopez', 'Li Ming'], exclude: null }, ['Li Ming']);
    expect(learned).toEqual({ topics: { video: 1 }, authors: ['Ana López'] });
    learned = applyFeedback(learned, { want: 'less', topics: ['reasoning'], follow: ['Ignored Author'], exclude: 'benchmarks' });
    expect(learned).toEqual({ topics: { video: 1, reasoning: -0.5 }, authors: ['Ana López'], excludeTopics: ['benchmarks'] });
    expect(learnedPreferences.safeParse(learned).success).toBe(true);
    const items = learnedList(learned, { video: 'Video' });
    expect(items.topics.map((t) => [t.label, t.more, t.strength])).toEqual([['Video', true, '+100%'], ['reasoning', false, '−50%']]);
    for (const value of [...items.topics, ...items.authors, ...items.excluded].map((i) => i.undo)) learned = undoLearned(learned, parseLearnedItem(value)!);
    expect(learned).toBeUndefined();
    expect(parseLearnedItem('nonsense')).toBeNull();
    expect(parseLearnedItem(learnedItemValue({ kind: 'author', name: 'O\'Brien: "X"' }))).toEqual({ kind: 'author', name: 'O\'Brien: "X"' });
  });

  it('an author followed from feedback adds their papers first but never narrows a reader of everything', () => {
    const last = papers[papers.length - 1]!;
    const everything = selectPapers(papers, NO_PREFS);
    const followed = selectPapers(papers, { ...NO_PREFS, learned: { topics: {}, authors: [last.authors[0]!] } });
    expect(new Set(ids(followed))).toEqual(new Set(ids(everything)));
    expect(followed[0]!.paper.id).toBe(last.id);
    // For a reader with topics, the author's paper joins the selection whatever its topics.
    const other = papers.find((p) => !p.topics.includes('video') && p.authors.length > 0)!;
    const video = selectPapers(papers, { ...NO_PREFS, topics: ['video'] });
    expect(ids(video)).not.toContain(other.id);
    const withAuthor = selectPapers(papers, { ...NO_PREFS, topics: ['video'], learned: { topics: {}, authors: [other.authors[0]!] } });
    expect(ids(withAuthor)[0]).toBe(other.id);
    expect(preferenceKey({ ...NO_PREFS, learned: { topics: {}, authors: [other.authors[0]!] } })).not.toBe(preferenceKey(NO_PREFS));
  });

  it('a topic excluded from feedback drops its papers, like an excluded topic', () => {
    const topic = papers.find((p) => p.topics.length > 0)!.topics[0]!;
    const viaFeedback = selectPapers(papers, { ...NO_PREFS, learned: { topics: {}, excludeTopics: [topic] } });
    expect(ids(viaFeedback)).toEqual(ids(selectPapers(papers, { ...NO_PREFS, excludeTopics: [topic] })));
    expect(viaFeedback.length).toBeLessThan(papers.length);
  });
});

describe('the links a paper carries', () => {
  const settings = { list: { name: 'Digest' }, topicLabels: {}, maxAuthors: 6 };
  it('name the section, the paper (encoded) and the direction; in a roll-up each paper names its own day', () => {
    const selected = selectPapers(papers, NO_PREFS).slice(0, 3);
    const daily = buildView(largest, selected, settings, { abstractChars: null, fullPapers: 3 });
    expect(daily.papers[0]!.feedback.more).toBe(`&date=2025-11-12&paper=${encodeURIComponent(selected[0]!.paper.id)}&want=more`);
    expect(daily.papers[0]!.feedback.lessHtml).toBe(`&amp;date=2025-11-12&amp;paper=${encodeURIComponent(selected[0]!.paper.id)}&amp;want=less`);
    const rollUp = buildView({ ...largest, date: '2025-11-13', days: [{ date: '2025-11-10', count: 1 }, { date: '2025-11-12', count: 2 }] }, selected, settings, { abstractChars: null, fullPapers: 3 });
    expect(rollUp.papers.map((p) => new URLSearchParams(p.feedback.more).get('date'))).toEqual(['2025-11-10', '2025-11-12', '2025-11-12']);
    const odd = buildView(largest, [{ ...selected[0]!, paper: { ...selected[0]!.paper, id: 'cs/0701001&x=<1>' } }], settings, { abstractChars: null, fullPapers: 1 });
    expect(new URLSearchParams(odd.papers[0]!.feedback.more).get('paper')).toBe('cs/0701001&x=<1>');
    expect(odd.papers[0]!.feedback.moreHtml).not.toMatch(/[<>"]/);
  });
});
