import type { EmailFormat } from '../audience/schema.js';
import type { SelectedPaper, Why } from '../audience/select.js';
import { normalizeName } from '../audience/select.js';
import { escapeHtml } from '../digest/html.js';
import type { RichText, Section } from '../digest/types.js';
import { paperLinks, withoutDistrustedLinks } from './links.js';
import { fitSubject, listPhrase, truncateText } from './templates.js';

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

/** The names an author line shows: the first ones, any followed ones, the last (often the lab head). */
function shownAuthors(authors: readonly string[], max: number, keep: ReadonlySet<string>): { names: string[]; cut: boolean } {
  if (authors.length <= max) return { names: [...authors], cut: false };
  const head = authors.slice(0, Math.max(1, max - 1));
  const middle = authors.slice(head.length, -1).filter((a) => keep.has(normalizeName(a)));
  return { names: [...head, ...middle, authors[authors.length - 1]!], cut: true };
}

/** "A, B, C, D, E, … Z (9 authors)": the last author (often the lab head) and followed ones stay. */
export function shortenAuthors(authors: readonly string[], max: number, keep: readonly string[] = []): string {
  return authorLine(authors, max, keep).text.replace(/\*/g, '');
}

/**
 * The author line in both parts, followed authors highlighted: `<strong>` in HTML, `*Name*` in
 * text. Past `max` authors it is shortened as shortenAuthors says.
 */
export function authorLine(authors: readonly string[], max: number, followed: readonly string[] = []): RichText {
  const keep = new Set(followed.map(normalizeName));
  const { names, cut } = shownAuthors(authors, max, keep);
  const html = names.map((n) => (keep.has(normalizeName(n)) ? `<strong class="dm-followed">${escapeHtml(n)}</strong>` : escapeHtml(n)));
  const text = names.map((n) => (keep.has(normalizeName(n)) ? `*${n}*` : n));
  if (!cut) return { html: html.join(', '), text: text.join(', ') };
  const join = (xs: string[]) => `${xs.slice(0, -1).join(', ')}, … ${xs[xs.length - 1]} (${authors.length} authors)`;
  return { html: join(html), text: join(text) };
}

export const REASON_MAX_CHARS = 160;

/**
 * The part of a paper's "more / less like this" links after the reader's signed feedback URL
 * (`…/feedback?token=…`): the section, the paper and the direction, as plain query parameters
 * (the token names the reader only, so one signed value serves every link of an email).
 */
export function feedbackQueries(date: string, paperId: string): { more: string; less: string; moreHtml: string; lessHtml: string } {
  const base = `&date=${encodeURIComponent(date)}&paper=${encodeURIComponent(paperId)}&want=`;
  // Escaped here for the HTML part ("&" only: Handlebars would also write "=" as an entity,
  // which MJML's whole-document compile decodes and the layout compile keeps).
  return { more: `${base}more`, less: `${base}less`, moreHtml: escapeHtml(`${base}more`), lessHtml: escapeHtml(`${base}less`) };
}

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
const smaller = (a: number | null, b: number) => (a === null ? b : Math.min(a, b));

/** A headline's motivation and a compact paper's summary are one sentence: cut past this. */
export const ONE_LINE_CHARS = 200;

/** The first sentence of a text (for a compact summary when a paper has no method or motivation). */
function firstSentence(field: RichText): RichText {
  const end = /[.!?](?=\s+[A-Z])/.exec(field.text);
  if (!end) return field;
  const text = field.text.slice(0, end.index + 1);
  return { text, html: escapeHtml(text) };
}

/** Topic labels of the reader's papers, those on most papers first (ties: first seen). */
function topicsByCount(selected: readonly SelectedPaper[], ofPaper: (s: SelectedPaper) => readonly string[], labels: Readonly<Record<string, string>>): string[] {
  const counts = new Map<string, number>();
  for (const s of selected) for (const t of ofPaper(s)) counts.set(t, (counts.get(t) ?? 0) + 1);
  return [...counts].sort((a, b) => b[1] - a[1]).map(([t]) => labels[t] ?? t);
}

/** The top paper's motivation (else its abstract's first sentence) for the preheader, links to distrusted domains left out. */
function topMotivation(top: SelectedPaper | undefined): string {
  const field = top?.paper.motivation ?? (top?.paper.abstract ? firstSentence(top.paper.abstract) : null);
  return field ? withoutDistrustedLinks(field, null).text : '';
}

const papersWord = (n: number) => (n === 1 ? '1 new paper' : `${n} new papers`);

/** What the subject may say before the top title, most telling first, with the topics each names. */
export function subjectHeads(selected: readonly SelectedPaper[], labels: Readonly<Record<string, string>>): { head: string; names: string[] }[] {
  const count = selected.length;
  const heads: { head: string; names: string[] }[] = [];
  const followed = selected[0]?.why.authors[0];
  if (followed) heads.push({ head: count === 1 ? `New from ${followed}` : `New from ${followed} + ${count - 1} more`, names: [] });
  const topics = topicsByCount(selected, (s) => s.why.topics, labels);
  const keywords = [...new Set(selected.flatMap((s) => s.why.keywords))];
  if (topics.length >= 2) heads.push({ head: `${papersWord(count)} on ${topics[0]} and ${topics[1]}`, names: topics.slice(0, 2) });
  if (topics.length >= 1) heads.push({ head: `${papersWord(count)} on ${topics[0]}`, names: topics.slice(0, 1) });
  else if (keywords.length) heads.push({ head: `${papersWord(count)} on “${keywords[0]}”`, names: [] });
  heads.push({ head: papersWord(count), names: [] });
  return heads;
}

export const SUBJECT_MAX_CHARS = 70;
export const SUBJECT_SEPARATOR = ' — ';

/**
 * The subject (README "Subject and preheader"): at most 70 characters, the first head that leaves
 * room for enough of the top title (fitSubject), then the title cut at a word boundary. Also
 * returns the topics it named, so the preheader names the others.
 */
export function subjectFor(selected: readonly SelectedPaper[], labels: Readonly<Record<string, string>>): { subject: string; named: string[] } {
  const heads = subjectHeads(selected, labels);
  const title = selected[0]?.paper.title.text ?? '';
  const subject = fitSubject(heads.map((h) => h.head), SUBJECT_SEPARATOR, title, SUBJECT_MAX_CHARS);
  const chosen = heads.find((h) => subject.startsWith(h.head + SUBJECT_SEPARATOR) || subject === h.head);
  return { subject, named: chosen?.names ?? [] };
}

/**
 * The data every template sees, for one reader's selection; pure. The variant render replaces
 * the per-reader parts (summary, reason lines, preheader, recipient) with placeholders.
 */
export function buildView(section: Section, selected: readonly SelectedPaper[], settings: ViewSettings, trim: Trim, format: EmailFormat = 'full') {
  const max = settings.maxFieldChars ?? null;
  const labels = settings.topicLabels;
  // The abstract follows the trim ladder and the field cap, in HTML and text alike.
  const abstractChars = trim.abstractChars === null ? max : max === null ? trim.abstractChars : Math.min(trim.abstractChars, max);
  const compact = format === 'compact';
  // A roll-up's papers come from several days, in order (section.days).
  const dayOf: string[] = (section.days ?? []).flatMap((d) => Array<string>(d.count).fill(d.date));
  const papers = selected.slice(0, trim.fullPapers).map(({ paper: original, why }, index) => {
    const links = paperLinks(original);
    const page = links.find((l) => l.label === 'Abstract' || l.label === 'Link')?.url ?? null;
    const clean = (field: RichText | null) => (field ? withoutDistrustedLinks(field, page) : null);
    const paper = {
      ...original,
      motivation: clean(original.motivation),
      method: clean(original.method),
      abstract: clean(original.abstract),
      extra: Object.fromEntries(Object.entries(original.extra).map(([label, value]) => [label, clean(value)!])),
    };
    const abstract = paper.abstract && trim.abstractChars !== 0 && !compact ? shorten(paper.abstract, abstractChars) : null;
    const summarySource = paper.method ?? paper.motivation ?? (paper.abstract ? firstSentence(paper.abstract) : null);
    return {
      id: paper.id,
      anchor: `paper-${index + 1}`,
      compact,
      number: index + 1,
      first: index === 0,
      title: capped(paper.title, max)!,
      /** What the title opens: the abstract page for arXiv papers, else the link as written. */
      url: links[0]?.label === 'Code' ? null : (links[0]?.url ?? null),
      links,
      authors: paper.authors.length ? authorLine(paper.authors, settings.maxAuthors, why.authors) : null,
      topics: paper.topics.map((id) => ({ id, label: labels[id] ?? id })),
      motivation: compact ? null : capped(paper.motivation, max),
      method: compact ? null : capped(paper.method, max),
      summary: compact ? capped(summarySource, smaller(max, ONE_LINE_CHARS)) : null,
      abstract: abstract?.html ?? null,
      abstractShortened: abstract?.shortened ?? false,
      abstractText: abstract?.text ?? null,
      extra: compact ? [] : Object.entries(paper.extra).map(([label, value]) => ({ label, ...shorten(value, max) })),
      headline: capped(paper.motivation, smaller(max, ONE_LINE_CHARS)),
      why: whyLine(why, labels),
      /** What each "more / less like this" link adds to the reader's feedback URL (recipient.feedbackUrl); a roll-up's paper names its own day. */
      feedback: feedbackQueries(dayOf[index] ?? section.date, paper.id),
    };
  });
  // A roll-up: the first paper of each day carries the day's heading (headlines, text part).
  const withDays = papers.map((p, i) => {
    const day = dayOf[i];
    return { ...p, dayHeading: day !== undefined && (i === 0 || dayOf[i - 1] !== day) ? longDate.format(utc(day)) : null };
  });
  const rollUp = section.days !== undefined && section.days.length > 0;
  const firstDay = section.days?.[0]?.date ?? section.date;
  const more = selected.slice(trim.fullPapers).map(({ paper }) => ({ title: capped(paper.title, max)!, link: paperLinks(paper).find((l) => l.label !== 'Code')?.url ?? null }));
  const count = selected.length;
  const everything = selected.every((s) => s.why.everything);
  const readerTopics = topicsByCount(selected, (s) => s.why.topics, labels);
  const dayTopics = topicsByCount(selected, (s) => s.paper.topics, labels);
  const { subject, named } = subjectFor(selected, labels);
  return {
    list: settings.list,
    format,
    compact,
    section: {
      date: section.date,
      dateLabel: rollUp ? `Your week: ${rangeLabel({ from: firstDay, to: new Date(utc(section.date).getTime() + DAY).toISOString().slice(0, 10) })}` : longDate.format(utc(section.date)),
      dateShort: shortDate.format(utc(section.date)),
      rangeLabel: rollUp ? null : rangeLabel(section.range),
    },
    rollUp,
    papers: withDays,
    /** The list at the top: every paper shown in the email, in its order (none for a single paper); a roll-up's under day headings. */
    headlines: withDays.length >= 2 || rollUp ? withDays : [],
    more,
    count,
    othersCount: count - 1,
    subject,
    topTitle: selected[0]?.paper.title.text ?? '',
    topMotivation: topMotivation(selected[0]),
    /** For the preheader: topics the subject does not name (the day's for a reader of everything). */
    otherTopics: (everything ? dayTopics : readerTopics).filter((t) => !named.includes(t)).slice(0, 2),
    topicLabels: (everything ? dayTopics : readerTopics).slice(0, 4),
    summary: rollUp
      ? `${count} of the week's ${section.papers.length} new ${section.papers.length === 1 ? 'paper' : 'papers'} ${count === 1 ? 'matches' : 'match'} your interests, from ${section.days!.length === 1 ? '1 day' : `${section.days!.length} days`}.`
      :
      everything && count === section.papers.length
        ? count === 1 ? "Here is today's new paper." : count === 2 ? "Here are both of today's new papers." : `Here are all ${count} new papers of the day.`
        : `${count} of today's ${section.papers.length} papers ${count === 1 ? 'matches' : 'match'} your interests.`,
  };
}

export type View = ReturnType<typeof buildView>;
