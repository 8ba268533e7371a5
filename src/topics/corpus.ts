import { z } from 'zod';
import { escapeHtml } from '../digest/html.js';
import type { Paper, RichText } from '../digest/types.js';
import { describeZodIssues } from '../config/load.js';
import { InputError } from '../errors.js';

const topicList = z.array(z.string().regex(/^[a-z0-9][a-z0-9-]*$/));

/**
 * A hand-labelled file (test/fixtures/corpus-topics.json, test/fixtures/seed-topics.json):
 * required topics per paper id, optional acceptable ones, and the papers themselves unless
 * they come from a digest.
 */
export const labelledFileSchema = z.object({
  _comment: z.string().optional(),
  labels: z.record(z.string(), topicList),
  acceptable: z.record(z.string(), topicList).default({}),
  papers: z
    .array(
      z.object({
        id: z.string().min(1),
        title: z.string().min(1),
        authors: z.array(z.string()).default([]),
        motivation: z.string().optional(),
        method: z.string().optional(),
        abstract: z.string().optional(),
      }),
    )
    .optional(),
});

export interface LabelledSet {
  papers: Paper[];
  /** Required topics: a paper must get each of them. */
  labels: Record<string, string[]>;
  /** Defensible topics: neither credited nor counted against the tagger. */
  acceptable: Record<string, string[]>;
}

const rich = (text: string | undefined): RichText | null => (text === undefined ? null : { text, html: escapeHtml(text) });

/**
 * Validates a labelled file; `digestPapers` supplies the papers of a labels-only file. Every
 * labelled id must have a paper, so a typo in an id cannot silently shrink the evaluation.
 */
export function parseLabelledFile(raw: unknown, file: string, digestPapers?: readonly Paper[]): LabelledSet {
  const result = labelledFileSchema.safeParse(raw);
  if (!result.success) {
    throw new InputError(`${file} is not a labelled topics file:\n  ${describeZodIssues(result.error.issues).join('\n  ')}`, 'See README.md, "Topics", for the format.');
  }
  const { labels, acceptable } = result.data;
  let papers: Paper[];
  if (result.data.papers) {
    papers = result.data.papers.map((p, i) => ({
      id: p.id,
      title: rich(p.title)!,
      authors: p.authors,
      link: null,
      motivation: rich(p.motivation),
      method: rich(p.method),
      abstract: rich(p.abstract),
      extra: {},
      source: `${file}:papers.${i}`,
    }));
  } else if (digestPapers) {
    papers = digestPapers.filter((p) => p.id in labels);
  } else {
    throw new InputError(`${file} has labels but no "papers"`, 'Give the digest the labels refer to with --digest FILE.');
  }
  const have = new Set(papers.map((p) => p.id));
  const unknown = Object.keys(labels).filter((id) => !have.has(id));
  if (unknown.length > 0) {
    throw new InputError(`${file}: labels.${unknown[0]} names a paper that is not in the file or the digest (${unknown.length} such ids)`, 'Check the paper ids.');
  }
  return { papers: papers.filter((p) => p.id in labels), labels, acceptable };
}
