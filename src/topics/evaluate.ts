import type { Paper } from '../digest/types.js';
import { classifyPaper, compileTaxonomy, type CompiledTaxonomy } from './classify.js';
import type { LabelledSet } from './corpus.js';
import type { Taxonomy } from './schema.js';
import { seededRandom } from '../seeded-random.js';
import { shuffled, trainModel, type TrainOptions } from './train.js';

export interface Counts {
  /** Required topics the tagger gave. */
  right: number;
  /** Topics given that are neither required nor acceptable. */
  extra: number;
  /** Required topics it did not give. */
  missed: number;
}

export interface TopicScore extends Counts {
  precision: number;
  recall: number;
}

export interface Evaluation extends TopicScore {
  papers: number;
  perTopic: Record<string, TopicScore>;
  /** Papers that got no topic at all. */
  untagged: string[];
  /** Papers with a required topic that got no topic at all. */
  centralUntagged: string[];
}

const ratio = (a: number, b: number) => (b === 0 ? 1 : a / b);
const score = (c: Counts): TopicScore => ({ ...c, precision: ratio(c.right, c.right + c.extra), recall: ratio(c.right, c.right + c.missed) });

function tally(papers: readonly Paper[], set: Pick<LabelledSet, 'labels' | 'acceptable'>, tagged: (p: Paper) => string[], into: { total: Counts; perTopic: Map<string, Counts>; untagged: string[]; centralUntagged: string[] }) {
  const bump = (topic: string, key: keyof Counts) => {
    const c = into.perTopic.get(topic) ?? { right: 0, extra: 0, missed: 0 };
    c[key]++;
    into.total[key]++;
    into.perTopic.set(topic, c);
  };
  for (const paper of papers) {
    const required = new Set(set.labels[paper.id] ?? []);
    const acceptable = new Set(set.acceptable[paper.id] ?? []);
    const got = new Set(tagged(paper));
    for (const t of got) {
      if (required.has(t)) bump(t, 'right');
      else if (!acceptable.has(t)) bump(t, 'extra');
    }
    for (const t of required) if (!got.has(t)) bump(t, 'missed');
    if (got.size === 0) {
      into.untagged.push(paper.id);
      if (required.size > 0) into.centralUntagged.push(paper.id);
    }
  }
}

function finish(papers: number, acc: { total: Counts; perTopic: Map<string, Counts>; untagged: string[]; centralUntagged: string[] }): Evaluation {
  const perTopic: Record<string, TopicScore> = {};
  for (const [id, c] of [...acc.perTopic].sort(([a], [b]) => (a < b ? -1 : 1))) perTopic[id] = score(c);
  return { ...score(acc.total), papers, perTopic, untagged: acc.untagged, centralUntagged: acc.centralUntagged };
}

const empty = () => ({ total: { right: 0, extra: 0, missed: 0 }, perTopic: new Map<string, Counts>(), untagged: [] as string[], centralUntagged: [] as string[] });

/** Precision and recall of the tagger against hand labels, overall and per topic; pure. */
export function evaluateTagger(set: LabelledSet, compiled: CompiledTaxonomy): Evaluation {
  const acc = empty();
  tally(set.papers, set, (p) => classifyPaper(p, compiled).topics, acc);
  return finish(set.papers.length, acc);
}

/** The same for labels only (every other topic counts as extra). */
export function scoreTagger(papers: readonly Paper[], labels: Readonly<Record<string, readonly string[]>>, compiled: CompiledTaxonomy): Evaluation {
  return evaluateTagger({ papers: [...papers], labels: labels as Record<string, string[]>, acceptable: {} }, compiled);
}

export interface CrossValidation {
  folds: number;
  seed: number;
  /** Held-out figures with learned weights trained on the other folds only. */
  learned: Evaluation;
  /** Held-out figures of the listed terms alone. */
  termsOnly: Evaluation;
}

/**
 * Seeded k-fold cross-validation: papers are shuffled once by the seed and dealt into k folds;
 * each fold is tagged by a model trained on the other k-1 folds. Pure and repeatable.
 */
export function crossValidate(set: LabelledSet, taxonomy: Taxonomy, options: { folds?: number; seed?: number; training?: Partial<TrainOptions> } = {}): CrossValidation {
  const folds = options.folds ?? 5;
  const seed = options.seed ?? 15;
  const order = shuffled([...set.papers].sort((a, b) => (a.id < b.id ? -1 : 1)), seededRandom(seed));
  const termsOnly = compileTaxonomy({ ...taxonomy, learned: undefined });
  const learnedAcc = empty();
  const termsAcc = empty();
  for (let k = 0; k < folds; k++) {
    const test = order.filter((_, i) => i % folds === k);
    const train = order.filter((_, i) => i % folds !== k);
    const model = trainModel({ ...set, papers: train }, taxonomy, { seed, ...options.training });
    const compiled = compileTaxonomy({ ...taxonomy, learned: model });
    tally(test, set, (p) => classifyPaper(p, compiled).topics, learnedAcc);
    tally(test, set, (p) => classifyPaper(p, termsOnly).topics, termsAcc);
  }
  return { folds, seed, learned: finish(set.papers.length, learnedAcc), termsOnly: finish(set.papers.length, termsAcc) };
}
