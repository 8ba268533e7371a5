import type { Paper } from '../digest/types.js';
import type { PaperField, Taxonomy, Topic } from './schema.js';

export interface MatchedTerm {
  term: string;
  /** The field where the term scored highest. */
  field: PaperField;
}

export interface TopicMatch {
  id: string;
  score: number;
  terms: MatchedTerm[];
}

export interface ClassifiedPaper extends Paper {
  /** Topic ids, strongest first. */
  topics: string[];
  /** Why each topic was given: the terms that matched and where. */
  matches: TopicMatch[];
}

interface CompiledTerm {
  term: string;
  pattern: RegExp;
}

export interface CompiledTaxonomy {
  taxonomy: Taxonomy;
  topics: { topic: Topic; terms: CompiledTerm[] }[];
}

export const FIELDS: PaperField[] = ['title', 'motivation', 'method', 'abstract'];

export function termPattern(term: string): RegExp {
  const prefix = term.endsWith('*');
  const body = (prefix ? term.slice(0, -1) : term).trim();
  const escaped = body
    .split(/[\s-]+/)
    .map((w) => w.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'))
    .join('[\\s-]+');
  // Acronyms (every letter a capital, like "CLIP" or "3D") match case-sensitively, so "clip" in
  // "video clip" is not CLIP.
  const caseSensitive = /[A-Z]/.test(body) && body === body.toUpperCase();
  // Common English endings match without listing them: agent(s), jailbreak(ing), reward(ed).
  const tail = prefix ? '[\\p{L}\\p{N}]*' : '(?:s|es|ing|ed|er|ers)?';
  return new RegExp(`(?<![\\p{L}\\p{N}])${escaped}${tail}(?![\\p{L}\\p{N}])`, caseSensitive ? 'u' : 'iu');
}

export function compileTaxonomy(taxonomy: Taxonomy): CompiledTaxonomy {
  return {
    taxonomy,
    topics: taxonomy.topics.map((topic) => ({
      topic,
      terms: topic.terms.map((term) => ({ term, pattern: termPattern(term) })),
    })),
  };
}

export function fieldText(paper: Paper, field: PaperField): string {
  return field === 'title' ? paper.title.text : (paper[field]?.text ?? '');
}

/** Scores every topic for one paper; pure. */
export function classifyPaper(paper: Paper, compiled: CompiledTaxonomy): ClassifiedPaper {
  const { weights, threshold } = compiled.taxonomy;
  const texts = FIELDS.map((field) => ({ field, text: fieldText(paper, field) }));
  const matches: TopicMatch[] = [];
  for (const { topic, terms } of compiled.topics) {
    let score = 0;
    const matched: MatchedTerm[] = [];
    for (const { term, pattern } of terms) {
      let best: { field: PaperField; weight: number } | null = null;
      let fieldsHit = 0;
      for (const { field, text } of texts) {
        if (!weights[field] || !pattern.test(text)) continue;
        fieldsHit++;
        if (weights[field] > (best?.weight ?? 0)) best = { field, weight: weights[field] };
      }
      if (best) {
        // The best place counts in full; each further field that repeats the term adds a
        // point of corroboration (a method that "uses RL", and an abstract that says so again).
        score += best.weight + (fieldsHit - 1) * weights.repeat;
        matched.push({ term, field: best.field });
      }
    }
    if (score >= threshold) matches.push({ id: topic.id, score, terms: matched });
  }
  matches.sort((a, b) => b.score - a.score);
  return { ...paper, topics: matches.map((m) => m.id), matches };
}
