import { termPattern, FIELDS, fieldText, type ClassifiedPaper } from '../topics/classify.js';
import { learnedKey, rankPapers } from './rank.js';
import type { Subscriber } from './schema.js';

/** Why a paper is in someone's email: shown in the email ("Because you follow ..."). */
export interface Why {
  /** True for a subscriber who asked for everything. */
  everything: boolean;
  topics: string[];
  authors: string[];
  keywords: string[];
}

export interface SelectedPaper {
  paper: ClassifiedPaper;
  why: Why;
}

/** What decides a reader's papers and their order (format and learned weights are optional). */
export type Preferences = Pick<Subscriber, 'topics' | 'excludeTopics' | 'authors' | 'keywords'> & Partial<Pick<Subscriber, 'format' | 'learned'>>;

/** Names normalised so far: every preference set is matched against the same few hundred authors. */
const normalizedNames = new Map<string, string>();
const NORMALIZED_NAMES_KEPT = 50_000;

/** Author names compare without case, accents or extra spaces ("José  Núñez" = "jose nunez"). */
export function normalizeName(name: string): string {
  let normalized = normalizedNames.get(name);
  if (normalized === undefined) {
    normalized = name
      .normalize('NFKD')
      .replace(/\p{M}/gu, '')
      .toLowerCase()
      .replace(/[\s.]+/g, ' ')
      .trim();
    if (normalizedNames.size >= NORMALIZED_NAMES_KEPT) normalizedNames.clear();
    normalizedNames.set(name, normalized);
  }
  return normalized;
}

/** Compiled once per preference set and reused for every paper. */
export interface Matcher {
  /** The reader's papers, ranked for them (src/audience/rank.ts). */
  select(papers: readonly ClassifiedPaper[]): SelectedPaper[];
}

export function matcherFor(prefs: Preferences): Matcher {
  const include = new Set(prefs.topics);
  // Topics excluded and authors followed from feedback count as the reader's own, except that
  // following an author from feedback never turns "everything" into "only that author".
  const exclude = new Set([...prefs.excludeTopics, ...(prefs.learned?.excludeTopics ?? [])]);
  const explicitAuthors = prefs.authors.length;
  const authors = new Map([...(prefs.learned?.authors ?? []), ...prefs.authors].map((a) => [normalizeName(a), a]));
  const keywords = prefs.keywords.map((k) => ({ keyword: k, pattern: termPattern(k) }));
  const everything = include.size === 0 && explicitAuthors === 0 && keywords.length === 0;

  return {
    select(papers) {
      const out: SelectedPaper[] = [];
      for (const paper of papers) {
        // Exclusion wins over every reason to include.
        if (paper.topics.some((t) => exclude.has(t))) continue;
        const why: Why = {
          everything,
          topics: paper.topics.filter((t) => include.has(t)),
          authors: paper.authors.flatMap((a) => {
            const followed = authors.get(normalizeName(a));
            return followed ? [a] : [];
          }),
          keywords: keywords
            .filter(({ pattern }) => FIELDS.some((f) => pattern.test(fieldText(paper, f))))
            .map(({ keyword }) => keyword),
        };
        if (everything || why.topics.length > 0 || why.authors.length > 0 || why.keywords.length > 0) {
          out.push({ paper, why });
        }
      }
      return rankPapers(out, prefs.learned);
    },
  };
}

/**
 * The papers of a section one subscriber gets. Included when a paper has an included topic,
 * a followed author or a keyword; never when it has an excluded topic. A subscriber with no
 * topics, authors or keywords at all gets everything (minus exclusions). Ranked for the reader:
 * followed authors first, then by how strongly they matched (src/audience/rank.ts).
 */
export function selectPapers(papers: readonly ClassifiedPaper[], prefs: Preferences): SelectedPaper[] {
  return matcherFor(prefs).select(papers);
}

/** A stable key for a preference set: subscribers with equal keys get the same email (papers, order, format). */
export function preferenceKey(prefs: Preferences): string {
  const sorted = (xs: readonly string[]) => [...xs].sort().join('\u0001');
  return [
    sorted(prefs.topics),
    sorted(prefs.excludeTopics),
    sorted(prefs.authors.map(normalizeName)),
    sorted(prefs.keywords.map((k) => k.toLowerCase())),
    prefs.format ?? '',
    learnedKey(prefs.learned),
  ].join('\u0002');
}
