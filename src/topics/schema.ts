import { z } from 'zod';

export const topicSchema = z.strictObject({
  id: z.string().regex(/^[a-z0-9][a-z0-9-]*$/, 'must be lower-case letters, digits and dashes, e.g. "spatial-3d"'),
  label: z.string().min(1).max(40),
  description: z.string().min(1).max(200),
  /**
   * Words or phrases that mark the topic, matched on word stems: "benchmark" also matches
   * "benchmarks" and "benchmarking", a phrase matches its words in order however they are
   * hyphenated. Acronyms written in capitals ("CLIP", "RL", "3D") match only in capitals.
   * A trailing `*` matches any word that starts so ("hallucinat*").
   */
  terms: z.array(z.string().min(1)).min(1),
  /**
   * Phrases in which a term does not count for this topic: "spatial sparsity" is not about
   * 3D, a "diffusion language model" does not generate images.
   */
  not: z.array(z.string().min(1)).default([]),
});

export const taxonomySchema = z.strictObject({
  /** Points a term scores by where it appears; the best place of each distinct term counts. */
  weights: z
    .strictObject({
      title: z.number().min(0).default(4),
      motivation: z.number().min(0).default(2),
      method: z.number().min(0).default(2),
      abstract: z.number().min(0).default(1),
      /** Added for each further field in which the same term appears again. */
      repeat: z.number().min(0).default(1),
      /** Added for each further use of the term within one field (at most two count). */
      again: z.number().min(0).default(0.5),
      /**
       * What a term scores in the abstract when it names what the paper itself contributes
       * ("we introduce X, a dataset of ..."): as much as in the method summary.
       */
      contribution: z.number().min(0).default(2),
    })
    .prefault({}),
  /**
   * Context of a paper's own contribution: the words after "we introduce", "this paper
   * presents" and the like, in the same sentence, up to `window` words. A term there scores
   * `weights.contribution` instead of the field's weight.
   */
  contribution: z
    .strictObject({
      /** Who contributes: a verb counts when one of these phrases ends at most three words before it. */
      subjects: z.array(z.string().min(1)).default(['we', 'this paper', 'this work', 'this study', 'our work', 'our paper']),
      verbs: z
        .array(z.string().min(1))
        .default(['introduce', 'present', 'propose', 'construct', 'build', 'collect', 'curate', 'release', 'create', 'develop', 'design', 'contribute', 'establish', 'assemble', 'compile', 'annotate', 'synthesize', 'offer', 'provide']),
      window: z.number().int().min(0).default(8),
    })
    .prefault({}),
  /** A paper gets a topic when its terms add up to at least this many points. */
  threshold: z.number().positive().default(4),
  /**
   * Learned weights (JSON, path relative to this file) that refine the term scores for the
   * topics they were trained on; `npm run topics:train` writes it. Topics without learned
   * weights use the term scores alone.
   */
  model: z.string().min(1).optional(),
  topics: z.array(topicSchema).min(1),
});

/** Weights of a per-topic linear model over stemmed words (see train.ts). */
export const learnedModelSchema = z.strictObject({
  _comment: z.string().optional(),
  /** What it was trained on, so a stale model is visible. */
  trainedOn: z.strictObject({ file: z.string(), papers: z.number().int(), terms: z.string() }),
  /** A topic is given when the linear score reaches this value (0 is even odds). */
  cut: z.number().default(0),
  /**
   * A paper no topic reaches the cut for still gets its most likely topic when a listed term
   * speaks for it and its score (0 to 1) is at least this; 0 leaves such papers untagged.
   */
  fallback: z.number().min(0).max(1).default(0),
  topics: z.record(
    z.string(),
    z.strictObject({
      bias: z.number(),
      /** Weight of the topic's term score (points / threshold). */
      rule: z.number(),
      /** Feature ("t:" title or "b:" body, then a stem or two stems joined by "_") -> weight. */
      weights: z.record(z.string(), z.number()),
    }),
  ),
});

export type LearnedModel = z.infer<typeof learnedModelSchema>;
export type Topic = z.infer<typeof topicSchema>;
export type Taxonomy = z.infer<typeof taxonomySchema> & {
  /** The learned weights named by `model`, once loaded. */
  learned?: LearnedModel;
};
export type PaperField = Exclude<keyof Taxonomy['weights'], 'repeat' | 'again' | 'contribution'>;
