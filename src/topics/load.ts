import { describeZodIssues } from '../config/load.js';
import { InputError } from '../errors.js';
import { readJsonFile } from '../json-file.js';
import { taxonomySchema, type Taxonomy } from './schema.js';

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

export async function loadTaxonomy(file: string): Promise<Taxonomy> {
  return parseTaxonomy(await readJsonFile(file, 'the topics file', 'Set paths.topics in the config file.'), file);
}
