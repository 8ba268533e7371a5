import type { Paper } from '../digest/types.js';
import { paperFeatures, type FeatureHit } from './features.js';
import { taxonomySchema, type LearnedModel, type PaperField, type Taxonomy, type Topic } from './schema.js';
import { isAcronym, stemWord, tokenize, type Token } from './text.js';

export interface MatchedTerm {
  /** A term of topics.json, or words that weighed in the learned part. */
  term: string;
  /** The field where it scored highest. */
  field: PaperField;
  /** What it added: term points, or the learned weight. */
  points?: number;
  /** True when this evidence comes from the learned weights rather than a listed term. */
  learned?: boolean;
  /** True when the term scored as part of what the paper says it contributes ("we introduce ..."). */
  contribution?: boolean;
}

export interface TopicMatch {
  id: string;
  /** Confidence from 0 to 1; a topic is given from 0.5 up. */
  score: number;
  /** Points from the topic's listed terms. */
  points: number;
  /** Why the topic was given: the terms that matched, where, and what they added. */
  terms: MatchedTerm[];
}

export interface ClassifiedPaper extends Paper {
  /** Topic ids, strongest first. */
  topics: string[];
  /** Why each topic was given. */
  matches: TopicMatch[];
}

type Part = { kind: 'stem'; stem: string } | { kind: 'exact'; raw: string } | { kind: 'word'; word: string } | { kind: 'prefix'; prefix: string };

export interface Phrase {
  text: string;
  parts: Part[];
}

interface CompiledTopic {
  topic: Topic;
  terms: Phrase[];
  not: Phrase[];
  learned?: LearnedModel['topics'][string];
}

export interface CompiledTaxonomy {
  taxonomy: Taxonomy;
  topics: CompiledTopic[];
  contribution: CompiledContribution;
}

interface CompiledContribution {
  subjects: Phrase[];
  verbs: Set<string>;
  window: number;
}

/** A paper's text split into words, field by field; computed once, scored against every topic. */
export interface AnalysedPaper {
  /** `contribution`: positions of the words that say what the paper contributes. */
  fields: { field: PaperField; tokens: Token[]; contribution: Set<number> }[];
  features: Map<string, FeatureHit>;
}

export const FIELDS: PaperField[] = ['title', 'motivation', 'method', 'abstract'];

/** Regular expression for a subscriber keyword (used by audience selection on raw text). */
export function termPattern(term: string): RegExp {
  const prefix = term.endsWith('*');
  const body = (prefix ? term.slice(0, -1) : term).trim();
  const escaped = body
    .split(/[\s-]+/)
    .map((w) => w.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'))
    .join('[\\s-]+');
  const caseSensitive = /[A-Z]/.test(body) && body === body.toUpperCase();
  const tail = prefix ? '[\\p{L}\\p{N}]*' : '(?:s|es|ing|ed|er|ers)?';
  return new RegExp(`(?<![\\p{L}\\p{N}])${escaped}${tail}(?![\\p{L}\\p{N}])`, caseSensitive ? 'u' : 'iu');
}

/**
 * Compiles a term or phrase into word matchers: stems, acronyms as written, a word marked `=`
 * in exactly that form ("benchmark =datasets" is not "a benchmark dataset"; "=demonstrations"
 * is not "demonstrated"), or a prefix.
 */
export function compilePhrase(text: string): Phrase {
  const prefix = text.endsWith('*');
  const body = prefix ? text.slice(0, -1) : text;
  const literal = new Set([...body.matchAll(/=([\p{L}\p{N}]+)/gu)].map((m) => m[1]!.toLowerCase()));
  const words = tokenize(body);
  const parts: Part[] = words.map((w, i) => {
    if (prefix && i === words.length - 1) return { kind: 'prefix', prefix: w.raw.toLowerCase() };
    if (literal.has(w.raw.toLowerCase())) return { kind: 'word', word: w.raw.toLowerCase() };
    if (isAcronym(w.raw)) return { kind: 'exact', raw: w.raw };
    return { kind: 'stem', stem: w.stem };
  });
  return { text: text.replace(/=(?=[\p{L}\p{N}])/gu, ''), parts };
}

function partMatches(part: Part, token: { raw: string; stem: string }): boolean {
  switch (part.kind) {
    case 'stem':
      return token.stem === part.stem;
    case 'exact':
      return token.raw === part.raw || token.raw === `${part.raw}s`;
    case 'word':
      return token.raw.toLowerCase() === part.word;
    case 'prefix':
      return token.raw.toLowerCase().startsWith(part.prefix);
  }
}

/**
 * Start positions where the phrase's words occur in order. A word of the phrase matches one
 * token, or a whole CamelCase name (all its pieces) when the name as written is that word.
 */
export function findPhrase(tokens: readonly Token[], phrase: Phrase): number[] {
  const out: number[] = [];
  if (phrase.parts.length === 0) return out;
  for (let i = 0; i < tokens.length; i++) {
    let at = i;
    let ok = true;
    for (const part of phrase.parts) {
      const token = tokens[at];
      if (!token) ok = false;
      else if (partMatches(part, token)) at += 1;
      else if (token.whole && partMatches(part, token.whole)) at += token.whole.pieces;
      else ok = false;
      if (!ok) break;
    }
    if (ok) out.push(i);
  }
  return out;
}

const signature = (p: Phrase) =>
  p.parts.map((x) => (x.kind === 'stem' ? x.stem : x.kind === 'exact' ? `=${x.raw}` : x.kind === 'word' ? `==${x.word}` : `${x.prefix}*`)).join(' ');

/** Terms that stem alike ("benchmark", "benchmarking") count once, under the first spelling. */
function distinct(phrases: Phrase[]): Phrase[] {
  const seen = new Set<string>();
  return phrases.filter((p) => {
    const key = signature(p);
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

const DEFAULT_CONTRIBUTION = taxonomySchema.shape.contribution.parse(undefined);

function compileContribution(c: Taxonomy['contribution'] | undefined): CompiledContribution {
  const { subjects, verbs, window } = c ?? DEFAULT_CONTRIBUTION;
  return { subjects: subjects.map(compilePhrase), verbs: new Set(verbs.map(stemWord)), window };
}

/**
 * Positions of the words after a contribution verb whose subject is the paper ("we introduce",
 * "we first construct", "this paper presents"; the subject ends at most three words before the
 * verb), in the same sentence, up to the window.
 */
export function contributionSpan(tokens: readonly Token[], c: CompiledContribution): Set<number> {
  const out = new Set<number>();
  const subjectEnds = new Set<number>();
  for (const phrase of c.subjects) for (const start of findPhrase(tokens, phrase)) subjectEnds.add(start + phrase.parts.length - 1);
  for (let i = 0; i < tokens.length; i++) {
    const verb = tokens[i]!;
    if (!c.verbs.has(verb.stem)) continue;
    let subject = false;
    for (let j = Math.max(0, i - 3); j < i; j++) if (subjectEnds.has(j) && tokens[j]!.sentence === verb.sentence) subject = true;
    if (!subject) continue;
    for (let k = i + 1; k <= i + c.window && k < tokens.length && tokens[k]!.sentence === verb.sentence; k++) out.add(k);
  }
  return out;
}

export function compileTaxonomy(taxonomy: Taxonomy): CompiledTaxonomy {
  return {
    taxonomy,
    contribution: compileContribution(taxonomy.contribution),
    topics: taxonomy.topics.map((topic) => ({
      topic,
      terms: distinct(topic.terms.map(compilePhrase)),
      not: (topic.not ?? []).map(compilePhrase),
      learned: taxonomy.learned?.topics[topic.id],
    })),
  };
}

/**
 * How much of a field the tagger and keyword matching read: more than any real title or abstract
 * (arXiv caps abstracts at 1,920 characters), and above the default `limits.maxFieldChars` that
 * readers see. Without it a 20 MB abstract cost 32 s of CPU and 1.9 GB peak RSS in tagging alone
 * on every run that sent its section, and one keyword test per reader over all of it.
 */
export const READ_FIELD_CHARS = 20_000;

export function fieldText(paper: Paper, field: PaperField): string {
  const text = field === 'title' ? paper.title.text : (paper[field]?.text ?? '');
  if (text.length <= READ_FIELD_CHARS) return text;
  // At a word boundary, so no half word is tagged or matched.
  const cut = text.lastIndexOf(' ', READ_FIELD_CHARS);
  return text.slice(0, cut > READ_FIELD_CHARS / 2 ? cut : READ_FIELD_CHARS);
}

export function analysePaper(paper: Paper, compiled?: Pick<CompiledTaxonomy, 'contribution'>): AnalysedPaper {
  const contribution = compiled?.contribution ?? compileContribution(undefined);
  const fields = FIELDS.map((field) => {
    const tokens = tokenize(fieldText(paper, field));
    return { field, tokens, contribution: field === 'title' ? new Set<number>() : contributionSpan(tokens, contribution) };
  });
  // The learned part reads what it was trained on, title and abstract; the digest's motivation
  // and method summaries stand in only for a paper without an abstract.
  const hasAbstract = fields.some((f) => f.field === 'abstract' && f.tokens.length > 0);
  return { fields, features: paperFeatures(fields.filter((f) => f.field === 'title' || (f.field === 'abstract') === hasAbstract)) };
}

/** Points a topic's listed terms earn in one paper, with the terms as evidence; pure. */
export function termPoints(analysed: AnalysedPaper, topic: CompiledTopic, weights: Taxonomy['weights']): { points: number; terms: MatchedTerm[] } {
  let points = 0;
  const terms: MatchedTerm[] = [];
  const blocked = analysed.fields.map(({ tokens }) => {
    const covered = new Set<number>();
    for (const phrase of topic.not) for (const start of findPhrase(tokens, phrase)) for (let k = 0; k < phrase.parts.length; k++) covered.add(start + k);
    return covered;
  });
  for (const term of topic.terms) {
    let best: { field: PaperField; weight: number; contribution: boolean } | null = null;
    let fieldsHit = 0;
    let extra = 0;
    analysed.fields.forEach(({ field, tokens, contribution }, f) => {
      if (!weights[field]) return;
      const hits = findPhrase(tokens, term).filter((start) => !term.parts.some((_, k) => blocked[f]!.has(start + k)));
      if (hits.length === 0) return;
      fieldsHit++;
      extra += hits.length - 1;
      // In the sentence that says what the paper contributes, a term weighs as in a method summary.
      const introduced = hits.some((start) => contribution.has(start)) && weights.contribution > weights[field];
      const weight = introduced ? weights.contribution : weights[field];
      if (weight > (best?.weight ?? 0)) best = { field, weight, contribution: introduced };
    });
    if (best) {
      const { field, weight, contribution } = best as { field: PaperField; weight: number; contribution: boolean };
      // The best place counts in full; the same term in another field corroborates it, and
      // saying it again in one field adds a little (a term used throughout an abstract).
      const p = weight + (fieldsHit - 1) * weights.repeat + Math.min(extra, 2) * weights.again;
      points += p;
      terms.push({ term: term.text, field, points: p, ...(contribution ? { contribution: true } : {}) });
    }
  }
  terms.sort((a, b) => (b.points ?? 0) - (a.points ?? 0));
  return { points, terms };
}

const sigmoid = (z: number) => 1 / (1 + Math.exp(-z));

export interface TopicVerdict extends TopicMatch {
  /** Whether the topic is given. */
  given: boolean;
  /** Why not, when it is not and something matched (for `topics explain`). */
  note?: string;
}

/** Scores every topic for an analysed paper, given or not (for explaining); pure. */
export function scoreTopics(analysed: AnalysedPaper, compiled: CompiledTaxonomy): TopicVerdict[] {
  const { weights, threshold } = compiled.taxonomy;
  const out: TopicVerdict[] = [];
  for (const topic of compiled.topics) {
    const id = topic.topic.id;
    const { points, terms } = termPoints(analysed, topic, weights);
    if (!topic.learned) {
      // Terms only (a topic added to topics.json without training): the threshold decides.
      const given = points >= threshold;
      out.push({ id, score: Math.min(1, 0.5 * (points / threshold)), points, terms, given, ...(given ? {} : { note: `term points ${points} < threshold ${threshold}` }) });
      continue;
    }
    const { bias, rule, weights: w } = topic.learned;
    let z = bias + rule * (points / threshold);
    const learned: MatchedTerm[] = [];
    for (const [key, hit] of analysed.features) {
      const weight = w[key];
      if (weight === undefined) continue;
      z += weight;
      if (weight > 0) learned.push({ term: hit.surface, field: hit.field, points: Math.round(weight * 100) / 100, learned: true });
    }
    learned.sort((a, b) => (b.points ?? 0) - (a.points ?? 0));
    // Every topic given carries evidence: its matched terms, else the words that weighed most.
    const evidence = [...terms, ...learned.slice(0, Math.max(1, 4 - terms.length))];
    const cut = compiled.taxonomy.learned?.cut ?? 0;
    // The cut sits below even odds to favour recall, but only where a listed term speaks for the
    // topic; words the learned part picked up alone must carry it past even odds (z >= 0).
    const given = evidence.length > 0 && z >= (terms.length > 0 ? cut : Math.max(cut, 0));
    out.push({ id, score: Math.round(sigmoid(z) * 1000) / 1000, points, terms: evidence, given, ...(given ? {} : { note: `learned score ${z.toFixed(2)} < ${cut}` }) });
  }
  out.sort((a, b) => b.score - a.score || b.points - a.points);
  // A paper nothing reaches the cut for would reach no reader's topic filter: it gets its most
  // likely topic when a listed term speaks for it and the learned score puts it at `fallback` odds.
  const fallback = compiled.taxonomy.learned?.fallback ?? 0;
  const best = out.find((v) => v.points > 0 && compiled.taxonomy.learned?.topics[v.id]);
  if (best && fallback > 0 && !out.some((v) => v.given) && best.score >= fallback) {
    best.given = true;
    best.note = `the paper's most likely topic (score ${best.score} >= ${fallback}; no topic reached the cut)`;
  }
  return out;
}

/** The topics given to an analysed paper, strongest first; pure. */
export function classifyAnalysed(analysed: AnalysedPaper, compiled: CompiledTaxonomy): TopicMatch[] {
  return scoreTopics(analysed, compiled)
    .filter((v) => v.given)
    .map(({ id, score, points, terms }) => ({ id, score, points, terms }));
}

/** Tags one paper with topics and the evidence for each; pure. */
export function classifyPaper(paper: Paper, compiled: CompiledTaxonomy): ClassifiedPaper {
  const matches = classifyAnalysed(analysePaper(paper, compiled), compiled);
  return { ...paper, topics: matches.map((m) => m.id), matches };
}
