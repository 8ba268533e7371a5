import { z } from 'zod';

export const topicSchema = z.strictObject({
  id: z.string().regex(/^[a-z0-9][a-z0-9-]*$/, 'must be lower-case letters, digits and dashes, e.g. "spatial-3d"'),
  label: z.string().min(1).max(40),
  description: z.string().min(1).max(200),
  /**
   * Words or phrases that mark the topic. Case-insensitive unless written with a capital
   * letter in every letter position (acronyms like "CLIP" or "RL" match only as written).
   * A trailing `*` matches any word ending ("hallucinat*"); plurals and -ing/-ed/-er forms match on their own.
   */
  terms: z.array(z.string().min(1)).min(1),
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
    })
    .prefault({}),
  /** A paper gets a topic when its terms add up to at least this many points. */
  threshold: z.number().positive().default(4),
  topics: z.array(topicSchema).min(1),
});

export type Topic = z.infer<typeof topicSchema>;
export type Taxonomy = z.infer<typeof taxonomySchema>;
export type PaperField = Exclude<keyof Taxonomy['weights'], 'repeat'>;
