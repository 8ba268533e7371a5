import { analysePaper, compileTaxonomy, termPoints, type AnalysedPaper } from './classify.js';
import type { LabelledSet } from './corpus.js';
import type { LearnedModel, Taxonomy } from './schema.js';
import { seededRandom } from '../seeded-random.js';

export interface TrainOptions {
  /** Passes over the training papers. */
  epochs: number;
  /** Step size of stochastic gradient descent. */
  rate: number;
  /** L2 penalty that keeps single words from deciding alone (used when `l2PerPositive` is 0). */
  l2: number;
  /**
   * Each topic's L2 penalty is this divided by its number of positive training papers: the fewer
   * examples a topic has, the more its words are held back and the more its listed terms decide
   * (common words such as "visual" otherwise learn to veto a rare topic from a few examples).
   */
  l2PerPositive: number;
  /** A word must occur in this many training papers to get a weight. */
  minCount: number;

  /** Topics with fewer positive training papers keep the term score alone. */
  minPositives: number;
  /** Seed of the order papers are visited in. */
  seed: number;
  /** Decision value written into the model (below 0 trades precision for recall). */
  cut: number;
  /** Positive papers weigh (negatives / positives) to this power, so rare topics are not fitted towards "never". */
  balance: number;
  /** Score from which a paper with no topic gets its most likely one (see the model's `fallback`). */
  fallback: number;
}

export const DEFAULT_TRAINING: TrainOptions = { epochs: 40, rate: 0.05, l2: 0.002, l2PerPositive: 0.6, minCount: 3, minPositives: 8, seed: 15, cut: -1.5, balance: 0.5, fallback: 0.1 };


export function shuffled<T>(items: readonly T[], random: () => number): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

/**
 * Fits, per topic, a logistic model over the paper's words and the topic's term score, on
 * hand-labelled papers; pure. It starts from the term score's own decision (points at the
 * threshold give 0.5), so with little evidence the terms still decide. Acceptable topics are
 * left out of that topic's fit: they are neither positive nor negative examples.
 */
export function trainModel(set: LabelledSet, taxonomy: Taxonomy, options: Partial<TrainOptions> = {}, file = 'training set'): LearnedModel {
  const opts = { ...DEFAULT_TRAINING, ...options };
  const compiled = compileTaxonomy({ ...taxonomy, learned: undefined });
  const analysed: AnalysedPaper[] = set.papers.map((p) => analysePaper(p, compiled));
  const counts = new Map<string, number>();
  for (const a of analysed) for (const key of a.features.keys()) counts.set(key, (counts.get(key) ?? 0) + 1);
  const vocabulary = new Set([...counts].filter(([, n]) => n >= opts.minCount).map(([k]) => k));
  const features = analysed.map((a) => [...a.features.keys()].filter((k) => vocabulary.has(k)));

  const topics: LearnedModel['topics'] = {};
  for (const topic of compiled.topics) {
    const id = topic.topic.id;
    const examples: { x: string[]; rule: number; y: number }[] = [];
    set.papers.forEach((paper, i) => {
      if (set.acceptable[paper.id]?.includes(id)) return;
      const rule = termPoints(analysed[i]!, topic, taxonomy.weights).points / taxonomy.threshold;
      examples.push({ x: features[i]!, rule, y: set.labels[paper.id]?.includes(id) ? 1 : 0 });
    });
    const positives = examples.filter((e) => e.y === 1).length;
    if (positives < opts.minPositives) continue;
    // Rare topics would otherwise be fitted towards "never".
    const positiveWeight = ((examples.length - positives) / positives) ** opts.balance;
    const l2 = opts.l2PerPositive ? opts.l2PerPositive / positives : opts.l2;
    let bias = -2;
    let rule = 2;
    const w = new Map<string, number>();
    const random = seededRandom(opts.seed);
    for (let epoch = 0; epoch < opts.epochs; epoch++) {
      for (const e of shuffled(examples, random)) {
        let z = bias + rule * e.rule;
        for (const k of e.x) z += w.get(k) ?? 0;
        const p = 1 / (1 + Math.exp(-z));
        const g = (p - e.y) * (e.y === 1 ? positiveWeight : 1);
        bias -= opts.rate * g;
        rule -= opts.rate * g * e.rule;
        for (const k of e.x) {
          const old = w.get(k) ?? 0;
          w.set(k, old - opts.rate * (g + l2 * old));
        }
      }
    }
    const weights: Record<string, number> = {};
    for (const [k, v] of [...w].sort(([a], [b]) => (a < b ? -1 : 1))) if (Math.abs(v) >= 0.02) weights[k] = Math.round(v * 1000) / 1000;
    topics[id] = { bias: Math.round(bias * 1000) / 1000, rule: Math.round(rule * 1000) / 1000, weights };
  }
  return {
    trainedOn: { file, papers: set.papers.length, terms: termsFingerprint(taxonomy) },
    cut: opts.cut,
    fallback: opts.fallback,
    topics,
  };
}

/**
 * A short fingerprint of the topics' terms, the field weights and the contribution context (what
 * the term points were computed from), so a model trained on other terms can be noticed.
 */
export function termsFingerprint(taxonomy: Taxonomy): string {
  let h = 2166136261;
  for (const ch of JSON.stringify([taxonomy.topics.map((t) => [t.id, t.terms, t.not]), taxonomy.weights, taxonomy.contribution])) {
    h ^= ch.charCodeAt(0);
    h = Math.imul(h, 16777619);
  }
  return (h >>> 0).toString(16).padStart(8, '0');
}
