import { Feed } from 'feed';
import { escapeHtml } from '../digest/html.js';
import type { ClassifiedPaper } from '../topics/classify.js';
import type { PublishedSection } from './archive.js';
import { paperLinks } from '../render/links.js';
import { paperAnchor, type TopicLabels } from './archive-view.js';

/** Entries per feed: the newest papers; older ones stay in the archive. */
export const FEED_MAX_ENTRIES = 200;

export interface FeedSettings {
  baseUrl: string;
  list: { name: string; id: string };
  labels: TopicLabels;
  /** A topic's feed; absent: every paper. */
  topic?: { id: string; label: string; description?: string | undefined } | undefined;
  maxEntries?: number;
}

/**
 * An entry's id: a tag URI (RFC 4151) from the list id, the section's date and the paper's id.
 * It never changes for a paper of a section, whatever the feed, the base URL or a later edit of
 * the text, so feed readers never show a paper twice.
 */
export function entryId(listId: string, date: string, paper: Pick<ClassifiedPaper, 'id'>): string {
  return `tag:${listId},${date}:${paper.id}`;
}

/** Topic labels go into XML attributes, where the feed library escapes `&` and `"` but not `<`. */
const attributeSafe = (label: string) => label.replace(/[<>]/g, '');

function entryContent(paper: ClassifiedPaper): string {
  const parts: string[] = [];
  if (paper.authors.length) parts.push(`<p>${escapeHtml(paper.authors.join(', '))}</p>`);
  for (const [label, field] of [['Motivation', paper.motivation], ['Method', paper.method], ['Abstract', paper.abstract]] as const) {
    if (field) parts.push(`<p><strong>${label}.</strong> ${field.html}</p>`);
  }
  for (const [label, value] of Object.entries(paper.extra)) parts.push(`<p><strong>${escapeHtml(label)}.</strong> ${value.html}</p>`);
  const links = paperLinks(paper);
  if (links.length) parts.push(`<p>${links.map((l) => `<a href="${escapeHtml(l.url)}">${escapeHtml(l.label)}</a>`).join(' · ')}</p>`);
  return parts.join('\n');
}

/**
 * An Atom 1.0 feed of published sections (newest first): one entry per paper, its topics as
 * categories (term = topic id, label = its name), linked to the paper in its archive page.
 * Pure: the same sections give the same bytes, so the ETag is stable.
 */
export function atomFeed(published: readonly PublishedSection[], settings: FeedSettings): { xml: string; updated: Date } {
  const max = settings.maxEntries ?? FEED_MAX_ENTRIES;
  const entries: { section: PublishedSection; paper: ClassifiedPaper }[] = [];
  for (const section of published) {
    for (const paper of section.papers) {
      if (entries.length >= max) break;
      if (!settings.topic || paper.topics.includes(settings.topic.id)) entries.push({ section, paper });
    }
  }
  // The feed changed when its latest entry was published (a late send of an older section
  // counts); with no entry yet, when any section was.
  const latest = (times: string[]) => times.reduce<string | undefined>((max, t) => (max === undefined || t > max ? t : max), undefined);
  const updated = new Date(latest(entries.map((e) => e.section.sentAt)) ?? latest(published.map((p) => p.sentAt)) ?? 0);
  const self = `${settings.baseUrl}/feeds/${settings.topic?.id ?? 'all'}.atom`;
  const feed = new Feed({
    id: self,
    title: settings.topic ? `${settings.list.name}: ${settings.topic.label}` : settings.list.name,
    description: settings.topic?.description ?? `Every paper of ${settings.list.name}, as each day's email goes out.`,
    link: `${settings.baseUrl}/archive`,
    feed: self,
    updated,
    author: { name: settings.list.name, link: settings.baseUrl },
    generator: 'digest-mailer',
    language: 'en',
  });
  for (const { section, paper } of entries) {
    const date = section.section.date;
    const at = new Date(section.sentAt);
    feed.addItem({
      id: entryId(settings.list.id, date, paper),
      title: paper.title.html,
      link: `${settings.baseUrl}/archive/${date}#${paperAnchor(paper)}`,
      date: at,
      published: at,
      description: paper.motivation?.html,
      content: entryContent(paper),
      author: paper.authors.map((name) => ({ name })),
      category: paper.topics.map((id) => ({ term: id, name: attributeSafe(settings.labels[id] ?? id) })),
    });
  }
  return { xml: feed.atom1(), updated };
}
