import type { Paper } from '../digest/types.js';
import { classifyPaper, type CompiledTaxonomy } from './classify.js';

export interface TaggerScore {
  precision: number;
  recall: number;
  /** Topic assignments that match the labels, extra ones, and missing ones. */
  right: number;
  extra: number;
  missed: number;
}

/** Precision and recall of the tagger against hand labels (paper id -> topic ids); pure. */
export function scoreTagger(papers: readonly Paper[], labels: Readonly<Record<string, readonly string[]>>, taxonomy: CompiledTaxonomy): TaggerScore {
  let right = 0;
  let extra = 0;
  let missed = 0;
  for (const paper of papers) {
    const expected = new Set(labels[paper.id] ?? []);
    const got = new Set(classifyPaper(paper, taxonomy).topics);
    for (const t of got) expected.has(t) ? right++ : extra++;
    for (const t of expected) if (!got.has(t)) missed++;
  }
  return { precision: right / (right + extra), recall: right / (right + missed), right, extra, missed };
}
