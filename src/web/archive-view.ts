import type { SelectedPaper } from '../audience/select.js';
import type { Paper } from '../digest/types.js';
import { paperLinks } from '../render/links.js';
import { rangeLabel, whyLine } from '../render/view.js';
import type { ClassifiedPaper } from '../topics/classify.js';
import type { Taxonomy } from '../topics/schema.js';
import type { PublishedSection } from './archive.js';

const longDate = new Intl.DateTimeFormat('en-GB', { weekday: 'long', day: 'numeric', month: 'long', year: 'numeric', timeZone: 'UTC' });
const utc = (date: string) => new Date(`${date}T00:00:00Z`);

/** The anchor of a paper in its issue page (ids are arXiv ids or hex hashes: safe in a fragment). */
export const paperAnchor = (paper: Pick<Paper, 'id'>) => `paper-${paper.id}`;

export type TopicLabels = Readonly<Record<string, string>>;
export const topicLabelsOf = (taxonomy: Taxonomy): TopicLabels => Object.fromEntries(taxonomy.topics.map((t) => [t.id, t.label]));

/**
 * One paper as the archive pages show it. Digest text arrives as escaped HTML (RichText.html)
 * and is inserted as such; everything else is escaped by the templates.
 */
function paperView(paper: ClassifiedPaper, labels: TopicLabels, why: string | null) {
  return {
    anchor: paperAnchor(paper),
    title: paper.title,
    authors: paper.authors.join(', '),
    topics: paper.topics.map((id) => ({ id, label: labels[id] ?? id })),
    motivation: paper.motivation?.html ?? null,
    method: paper.method?.html ?? null,
    abstract: paper.abstract?.html ?? null,
    extra: Object.entries(paper.extra).map(([label, value]) => ({ label, html: value.html })),
    links: paperLinks(paper),
    why,
  };
}

/** The issue page's data: headlines first (linked to their papers), then every paper in full. */
export function issueView(published: PublishedSection, labels: TopicLabels, selected?: readonly SelectedPaper[]) {
  const { section } = published;
  const papers = selected
    ? selected.map(({ paper, why }) => paperView(paper as ClassifiedPaper, labels, whyLine(why, labels)))
    : published.papers.map((p) => paperView(p, labels, null));
  return {
    date: section.date,
    dateLabel: longDate.format(utc(section.date)),
    rangeLabel: rangeLabel(section.range),
    count: papers.length,
    total: section.papers.length,
    papers,
  };
}

/** The archive index: one row per published section, newest first, with its first headlines. */
export function archiveIndexView(published: readonly PublishedSection[], labels: TopicLabels) {
  const byMonth = new Map<string, { month: string; issues: unknown[] }>();
  const monthName = new Intl.DateTimeFormat('en-GB', { month: 'long', year: 'numeric', timeZone: 'UTC' });
  for (const p of published) {
    const month = monthName.format(utc(p.section.date));
    let group = byMonth.get(month);
    if (!group) byMonth.set(month, (group = { month, issues: [] }));
    const topics = [...new Set(p.papers.flatMap((paper) => paper.topics))].slice(0, 6).map((id) => labels[id] ?? id);
    group.issues.push({
      date: p.section.date,
      dateLabel: longDate.format(utc(p.section.date)),
      count: p.papers.length,
      headlines: p.papers.slice(0, 3).map((paper) => ({ anchor: paperAnchor(paper), title: paper.title.text })),
      more: Math.max(0, p.papers.length - 3),
      topics,
    });
  }
  return { months: [...byMonth.values()], empty: published.length === 0 };
}
