import type { SelectedPaper, Why } from '../audience/select.js';
import { normalizeName } from '../audience/select.js';
import { escapeHtml } from '../digest/html.js';
import type { RichText, Section } from '../digest/types.js';
import { truncateText } from './templates.js';

/** How much of the content fits: see README "Staying under Gmail's clipping limit". */
export interface Trim {
  /** Characters of abstract kept: null keeps all, 0 drops abstracts. */
  abstractChars: number | null;
  /** Papers shown in full; the rest are listed by title and link under "N more papers". */
  fullPapers: number;
}

export interface ViewSettings {
  list: { name: string; postalAddress?: string | undefined };
  topicLabels: Readonly<Record<string, string>>;
  maxAuthors: number;
  /** Every text field is cut to this many characters, in the HTML and the text part alike. */
  maxFieldChars?: number | undefined;
}

const DAY = 86_400_000;
const longDate = new Intl.DateTimeFormat('en-GB', { weekday: 'long', day: 'numeric', month: 'long', year: 'numeric', timeZone: 'UTC' });
const shortDate = new Intl.DateTimeFormat('en-GB', { day: 'numeric', month: 'short', year: 'numeric', timeZone: 'UTC' });
const dayMonth = new Intl.DateTimeFormat('en-GB', { day: 'numeric', month: 'short', timeZone: 'UTC' });

function utc(date: string): Date {
  return new Date(`${date}T00:00:00Z`);
}

/** "31 Oct to 2 Nov 2025" for the window [2025-10-31, 2025-11-03); the end is exclusive. */
export function rangeLabel(range: Section['range']): string | null {
  if (!range) return null;
  const from = utc(range.from);
  const last = new Date(utc(range.to).getTime() - DAY);
  if (last <= from) return shortDate.format(from);
  return `${dayMonth.format(from)} to ${shortDate.format(last)}`;
}

/** "A, B, C, D, E, … Z (9 authors)": the last author (often the lab head) and followed ones stay. */
export function shortenAuthors(authors: readonly string[], max: number, keep: readonly string[] = []): string {
  if (authors.length <= max) return authors.join(', ');
  const kept = new Set(keep.map(normalizeName));
  const head = authors.slice(0, Math.max(1, max - 1));
  const middle = authors.slice(head.length, -1).filter((a) => kept.has(normalizeName(a)));
  return `${[...head, ...middle].join(', ')}, … ${authors[authors.length - 1]} (${authors.length} authors)`;
}

function listPhrase(items: string[]): string {
  if (items.length <= 1) return items.join('');
  return `${items.slice(0, -1).join(', ')} and ${items[items.length - 1]}`;
}

export const REASON_MAX_CHARS = 160;

export function whyLine(why: Why, labels: Readonly<Record<string, string>>): string | null {
  if (why.everything) return null;
  const reasons: string[] = [];
  if (why.topics.length) reasons.push(`your ${why.topics.length > 1 ? 'topics' : 'topic'} ${listPhrase(why.topics.map((t) => labels[t] ?? t))}`);
  if (why.authors.length) reasons.push(`you follow ${listPhrase(why.authors)}`);
  if (why.keywords.length) reasons.push(`your ${why.keywords.length > 1 ? 'keywords' : 'keyword'} ${listPhrase(why.keywords.map((k) => `“${k}”`))}`);
  // Cut so a reason fits its byte allowance in the variant's budget (render.ts REASON_ALLOWANCE).
  return truncateText(`Why you got this: ${reasons.join('; ')}.`, REASON_MAX_CHARS);
}

/** A field cut to `chars` characters (null: all). Cut fields lose inline formatting: cutting HTML mid-tag is not worth the risk. */
function shorten(field: RichText, chars: number | null): RichText & { shortened: boolean } {
  if (chars === null || field.text.length <= chars) return { ...field, shortened: false };
  const text = truncateText(field.text, chars);
  return { text, html: escapeHtml(text), shortened: true };
}

const capped = (field: RichText | null, max: number | null) => (field ? shorten(field, max) : null);

/**
 * The data every template sees, for one reader's selection; pure. The variant render replaces
 * the per-reader parts (summary, reason lines, preheader, recipient) with placeholders.
 */
export function buildView(section: Section, selected: readonly SelectedPaper[], settings: ViewSettings, trim: Trim) {
  const max = settings.maxFieldChars ?? null;
  // The abstract follows the trim ladder and the field cap, in HTML and text alike.
  const abstractChars = trim.abstractChars === null ? max : max === null ? trim.abstractChars : Math.min(trim.abstractChars, max);
  const papers = selected.slice(0, trim.fullPapers).map(({ paper, why }) => {
    const abstract = paper.abstract && trim.abstractChars !== 0 ? shorten(paper.abstract, abstractChars) : null;
    return {
      id: paper.id,
      title: capped(paper.title, max)!,
      link: paper.link,
      authors: shortenAuthors(paper.authors, settings.maxAuthors, why.authors),
      topics: paper.topics.map((id) => ({ id, label: settings.topicLabels[id] ?? id })),
      motivation: capped(paper.motivation, max),
      method: capped(paper.method, max),
      abstract: abstract?.html ?? null,
      abstractShortened: abstract?.shortened ?? false,
      abstractText: abstract?.text ?? null,
      extra: Object.entries(paper.extra).map(([label, value]) => ({ label, ...shorten(value, max) })),
      why: whyLine(why, settings.topicLabels),
    };
  });
  const more = selected.slice(trim.fullPapers).map(({ paper }) => ({ title: capped(paper.title, max)!, link: paper.link }));
  const count = selected.length;
  const everything = selected.every((s) => s.why.everything);
  const topicIds = [...new Set(selected.flatMap((s) => (everything ? s.paper.topics : s.why.topics)))];
  return {
    list: settings.list,
    section: {
      date: section.date,
      dateLabel: longDate.format(utc(section.date)),
      dateShort: shortDate.format(utc(section.date)),
      rangeLabel: rangeLabel(section.range),
    },
    papers,
    more,
    count,
    othersCount: count - 1,
    firstTitle: truncateText(selected[0]?.paper.title.text ?? '', 200),
    firstMotivation: truncateText(selected[0]?.paper.motivation?.text ?? '', 200),
    topicLabels: topicIds.slice(0, 4).map((t) => settings.topicLabels[t] ?? t),
    summary:
      everything && count === section.papers.length
        ? `Here ${count === 1 ? 'is the 1 new paper' : `are all ${count} new papers`} of the day.`
        : `${count} of today's ${section.papers.length} papers match your interests.`,
  };
}

