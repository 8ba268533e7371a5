import type { RenderSettings } from '../src/render/render.js';
import type { Preferences } from '../src/audience/select.js';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import { parseDigest } from '../src/digest/parse.js';
import type { Section } from '../src/digest/types.js';
import { loadTaxonomySync } from '../src/topics/load.js';
import { compileTaxonomy, classifyPaper, type ClassifiedPaper } from '../src/topics/classify.js';

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
export const SEED_FILE = join(ROOT, 'digests', '2025-11.md');

export function seedSections(): Section[] {
  const result = parseDigest(readFileSync(SEED_FILE, 'utf8'), 'digests/2025-11.md');
  if (result.problems.length) throw new Error(`seed has problems: ${JSON.stringify(result.problems)}`);
  return result.sections;
}

/** The repository's topics.json with the learned weights it names (as a run loads them). */
export function seedTaxonomy() {
  return loadTaxonomySync(join(ROOT, 'topics.json'));
}

export function classified(section: Section): ClassifiedPaper[] {
  const compiled = compileTaxonomy(seedTaxonomy());
  return section.papers.map((p) => classifyPaper(p, compiled));
}

export const NO_PREFS: Preferences = { topics: [], excludeTopics: [], authors: [], keywords: [] };

/** LF bytes not preceded by CR: RFC 5322 allows only CRLF line breaks. */
export function bareLineFeeds(raw: Buffer): number {
  let count = 0;
  for (let i = 0; i < raw.length; i++) if (raw[i] === 0x0a && raw[i - 1] !== 0x0d) count++;
  return count;
}

/** Render settings for the seed list and topics (tests). */
export function seedRenderSettings(overrides: Partial<RenderSettings> = {}): RenderSettings {
  const taxonomy = seedTaxonomy();
  return {
    list: { name: 'Multimodal LLM Digest' },
    topicLabels: Object.fromEntries(taxonomy.topics.map((t) => [t.id, t.label])),
    maxAuthors: 6,
    maxHtmlBytes: 100_000,
    ...overrides,
  };
}
