import type { Config } from '../config/load.js';
import type { Subscriber } from '../audience/schema.js';
import type { Section } from '../digest/types.js';
import type { Problem } from '../errors.js';
import type { CompiledTemplates } from '../render/templates.js';
import type { Taxonomy } from '../topics/schema.js';
import { join } from 'node:path';
import { loadDigests } from '../digest/load.js';
import { readAllSubscribers } from '../audience/stored.js';
import type { Store } from '../store/store.js';
import { loadTaxonomy } from '../topics/load.js';
import { compileTemplates, readTemplateSources } from '../render/templates.js';
import { compileTaxonomy, type CompiledTaxonomy } from '../topics/classify.js';
import type { RenderSettings } from '../render/render.js';

/** Everything a pass reads from disk, validated: the edge between files and the pure stages. */
export interface Inputs {
  sections: Section[];
  taxonomy: Taxonomy;
  compiledTaxonomy: CompiledTaxonomy;
  subscribers: Subscriber[];
  templates: CompiledTemplates;
  /** Malformed sections and subscriber entries: reported, each skipped on its own. */
  problems: Problem[];
}

/**
 * Reads the inputs. With `audience`, every stored subscriber is loaded too (preview, render);
 * a run passes none and streams subscribers from the store per section instead.
 */
export async function loadInputs(config: Config, audience?: Store): Promise<Inputs> {
  const taxonomy = await loadTaxonomy(config.paths.topics);
  const topicIds = new Set(taxonomy.topics.map((t) => t.id));
  const [digests, stored, templateSources] = await Promise.all([
    loadDigests(config.paths.digests, { maxFileBytes: config.limits.maxDigestFileBytes, cacheDir: join(config.paths.state, 'cache', 'digests') }),
    audience ? readAllSubscribers(audience, topicIds) : { subscribers: [], problems: [] },
    readTemplateSources(config.paths.templates),
  ]);
  const audienceResult = stored;
  return {
    sections: digests.sections,
    taxonomy,
    compiledTaxonomy: compileTaxonomy(taxonomy),
    subscribers: audienceResult.subscribers,
    templates: compileTemplates(templateSources),
    problems: [...digests.problems, ...audienceResult.problems],
  };
}

export function renderSettings(config: Config, taxonomy: Taxonomy): RenderSettings {
  return {
    list: { name: config.list.name, postalAddress: config.list.postalAddress },
    topicLabels: Object.fromEntries(taxonomy.topics.map((t) => [t.id, t.label])),
    maxAuthors: config.render.maxAuthors,
    maxHtmlBytes: config.render.maxHtmlBytes,
    maxFieldChars: config.limits.maxFieldChars,
  };
}
