import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { describeZodIssues } from '../config/load.js';
import { InputError } from '../errors.js';
import { readJsonFile } from '../json-file.js';
import { learnedModelSchema, taxonomySchema, type LearnedModel, type Taxonomy } from './schema.js';
import { termsFingerprint } from './train.js';

export function parseTaxonomy(raw: unknown, file: string): Taxonomy {
  const result = taxonomySchema.safeParse(raw);
  if (!result.success) {
    throw new InputError(`${file} is not a valid topic taxonomy:\n  ${describeZodIssues(result.error.issues).join('\n  ')}`);
  }
  const ids = new Set<string>();
  for (const [index, topic] of result.data.topics.entries()) {
    if (ids.has(topic.id)) throw new InputError(`${file}: topics.${index}.id "${topic.id}" is used twice`, 'Topic ids must be unique.');
    ids.add(topic.id);
  }
  return result.data;
}

/**
 * Validates learned weights against the taxonomy they refine. Weights for a topic that is no
 * longer in the taxonomy are an error; weights trained on other terms still work (the
 * fingerprint only tells `topics explain` to suggest retraining).
 */
export function parseLearnedModel(raw: unknown, file: string, taxonomy: Taxonomy): LearnedModel {
  const result = learnedModelSchema.safeParse(raw);
  if (!result.success) {
    throw new InputError(`${file} is not a learned topic model:\n  ${describeZodIssues(result.error.issues).join('\n  ')}`, 'Rebuild it with `npm run topics:train`.');
  }
  const ids = new Set(taxonomy.topics.map((t) => t.id));
  const stray = Object.keys(result.data.topics).find((id) => !ids.has(id));
  if (stray) throw new InputError(`${file}: topics.${stray} has weights but no such topic is in the taxonomy`, 'Rebuild it with `npm run topics:train`.');
  return result.data;
}

/** True when the learned weights were trained on the taxonomy's current terms. */
export function modelIsCurrent(taxonomy: Taxonomy): boolean {
  return !taxonomy.learned || taxonomy.learned.trainedOn.terms === termsFingerprint(taxonomy);
}

export function modelPath(taxonomy: Taxonomy, file: string): string | null {
  return taxonomy.model ? resolve(dirname(file), taxonomy.model) : null;
}

/** Reads the topics file and, unless `terms only` is asked for, the learned weights it names. */
export async function loadTaxonomy(file: string, options: { termsOnly?: boolean } = {}): Promise<Taxonomy> {
  const taxonomy = parseTaxonomy(await readJsonFile(file, 'the topics file', 'Set paths.topics in the config file.'), file);
  const path = modelPath(taxonomy, file);
  if (!path || options.termsOnly) return taxonomy;
  const raw = await readJsonFile(path, 'the learned topic model', `Fix "model" in ${file}, or run \`npm run topics:train\`.`);
  return { ...taxonomy, learned: parseLearnedModel(raw, path, taxonomy) };
}

/** The same, synchronously (tests and the benchmark). */
export function loadTaxonomySync(file: string): Taxonomy {
  const taxonomy = parseTaxonomy(JSON.parse(readFileSync(file, 'utf8')), file);
  const path = modelPath(taxonomy, file);
  return path ? { ...taxonomy, learned: parseLearnedModel(JSON.parse(readFileSync(path, 'utf8')), path, taxonomy) } : taxonomy;
}
