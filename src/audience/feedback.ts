import { normalizeName } from './select.js';
import type { LearnedPreferences } from './schema.js';

/** What one "more like this" or "less like this" moves a topic's learned weight by (weights stay in -1..1). */
export const FEEDBACK_STEP = 0.5;

export type FeedbackDirection = 'more' | 'less';

/** What the reader chose on a feedback page (already checked against the paper's own topics and authors). */
export interface FeedbackChoice {
  want: FeedbackDirection;
  /** Topics whose weight moves (up for more, down for less). */
  topics: readonly string[];
  /** "more": authors of the paper to follow. */
  follow: readonly string[];
  /** "less": one topic of the paper never to receive again. */
  exclude: string | null;
}

/** One thing learned, as the preference centre lists it and its undo button names it. */
export type LearnedItem = { kind: 'topic'; id: string } | { kind: 'author'; name: string } | { kind: 'exclude'; id: string };

const round = (n: number) => Math.round(n * 100) / 100;
const clamp = (n: number) => Math.max(-1, Math.min(1, n));

function tidy(learned: LearnedPreferences): LearnedPreferences | undefined {
  const topics = Object.fromEntries(Object.entries(learned.topics).filter(([, w]) => w !== 0));
  const authors = learned.authors?.length ? learned.authors : undefined;
  const excludeTopics = learned.excludeTopics?.length ? learned.excludeTopics : undefined;
  if (Object.keys(topics).length === 0 && !authors && !excludeTopics) return undefined;
  return { topics, ...(authors ? { authors } : {}), ...(excludeTopics ? { excludeTopics } : {}) };
}

/**
 * The reader's learned preferences after one feedback (pure): the chosen topics move by
 * FEEDBACK_STEP, chosen authors are followed (once, names compared loosely), a chosen topic is
 * excluded. Authors the reader already follows explicitly are not added again.
 */
export function applyFeedback(learned: LearnedPreferences | undefined, choice: FeedbackChoice, explicitAuthors: readonly string[] = []): LearnedPreferences | undefined {
  const topics = { ...(learned?.topics ?? {}) };
  const sign = choice.want === 'more' ? 1 : -1;
  for (const topic of new Set(choice.topics)) topics[topic] = round(clamp((topics[topic] ?? 0) + sign * FEEDBACK_STEP));
  const authors = [...(learned?.authors ?? [])];
  const known = new Set([...authors, ...explicitAuthors].map(normalizeName));
  for (const name of choice.want === 'more' ? choice.follow : []) {
    if (known.has(normalizeName(name))) continue;
    known.add(normalizeName(name));
    authors.push(name);
  }
  const excludeTopics = [...(learned?.excludeTopics ?? [])];
  if (choice.want === 'less' && choice.exclude && !excludeTopics.includes(choice.exclude)) excludeTopics.push(choice.exclude);
  return tidy({ topics, authors, excludeTopics });
}

/** The learned preferences without one item (pure): a topic back to neutral, an author unfollowed, an exclusion lifted. */
export function undoLearned(learned: LearnedPreferences | undefined, item: LearnedItem): LearnedPreferences | undefined {
  if (!learned) return undefined;
  if (item.kind === 'topic') {
    const { [item.id]: _dropped, ...topics } = learned.topics;
    return tidy({ ...learned, topics });
  }
  if (item.kind === 'author') return tidy({ ...learned, authors: (learned.authors ?? []).filter((a) => normalizeName(a) !== normalizeName(item.name)) });
  return tidy({ ...learned, excludeTopics: (learned.excludeTopics ?? []).filter((t) => t !== item.id) });
}

/** The form value of an undo button, and back (`topic:ID`, `author:NAME`, `exclude:ID`). */
export function learnedItemValue(item: LearnedItem): string {
  return item.kind === 'author' ? `author:${item.name}` : `${item.kind}:${item.id}`;
}

export function parseLearnedItem(value: string): LearnedItem | null {
  const match = /^(topic|author|exclude):(.{1,120})$/su.exec(value);
  if (!match) return null;
  const [, kind, rest] = match as unknown as [string, LearnedItem['kind'], string];
  return kind === 'author' ? { kind, name: rest } : { kind, id: rest };
}

/** What the preference centre lists: each learned item with its label and undo value. */
export function learnedList(learned: LearnedPreferences | undefined, labels: Readonly<Record<string, string>>) {
  const label = (id: string) => labels[id] ?? id;
  const topics = Object.entries(learned?.topics ?? {})
    .filter(([, w]) => w !== 0)
    .sort(([, a], [, b]) => b - a)
    .map(([id, weight]) => ({ label: label(id), more: weight > 0, strength: `${weight > 0 ? '+' : '−'}${Math.round(Math.abs(weight) * 100)}%`, undo: learnedItemValue({ kind: 'topic', id }) }));
  const authors = (learned?.authors ?? []).map((name) => ({ name, undo: learnedItemValue({ kind: 'author', name }) }));
  const excluded = (learned?.excludeTopics ?? []).map((id) => ({ label: label(id), undo: learnedItemValue({ kind: 'exclude', id }) }));
  return { topics, authors, excluded, any: topics.length + authors.length + excluded.length > 0 };
}
