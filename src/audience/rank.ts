import type { LearnedPreferences } from './schema.js';
import { normalizeName, type SelectedPaper } from './select.js';

/** What a matched keyword adds to a paper's relevance: as much as a topic matched with full confidence. */
export const KEYWORD_WEIGHT = 1;

/**
 * How strongly a paper matched this reader: the classifier's confidence (0.5 to 1) for each of
 * the reader's topics it carries, plus KEYWORD_WEIGHT per matched keyword, plus, for each topic
 * of the paper, the reader's learned weight for it (-1 to 1) times that topic's confidence.
 */
export function relevance(selected: SelectedPaper, learned?: LearnedPreferences): number {
  const { paper, why } = selected;
  const confidence = new Map((paper.matches ?? []).map((m) => [m.id, m.score]));
  let score = why.keywords.length * KEYWORD_WEIGHT;
  for (const topic of why.topics) score += confidence.get(topic) ?? 0;
  if (learned) {
    for (const topic of paper.topics) score += (learned.topics[topic] ?? 0) * (confidence.get(topic) ?? 0);
  }
  // Rounded so float noise in sums never reorders papers that matched equally.
  return Math.round(score * 1e6) / 1e6;
}

/**
 * The reader's papers, most relevant first (pure): papers by a followed author first, then by
 * relevance (see `relevance`), the digest order breaking ties. A reader who gets everything and
 * has no learned weights keeps the digest order.
 */
export function rankPapers(selected: readonly SelectedPaper[], learned?: LearnedPreferences): SelectedPaper[] {
  return selected
    .map((s, index) => ({ s, index, followed: s.why.authors.length > 0, score: relevance(s, learned) }))
    .sort((a, b) => Number(b.followed) - Number(a.followed) || b.score - a.score || a.index - b.index)
    .map(({ s }) => s);
}

/** The learned weights as a stable string, for preference keys (entries sorted, zeros dropped). */
export function learnedKey(learned?: LearnedPreferences): string {
  if (!learned) return '';
  const order = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
  const weights = Object.entries(learned.topics)
    .filter(([, w]) => w !== 0)
    .sort(([a], [b]) => order(a, b))
    .map(([t, w]) => `${t}=${w}`)
    .join(',');
  const authors = [...new Set((learned.authors ?? []).map(normalizeName))].sort(order).join('\u0001');
  const excluded = [...new Set(learned.excludeTopics ?? [])].sort(order).join('\u0001');
  return authors || excluded ? `${weights}\u0003${authors}\u0003${excluded}` : weights;
}
