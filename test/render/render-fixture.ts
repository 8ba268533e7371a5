import { join } from 'node:path';
import { selectPapers, type Preferences } from '../../src/audience/select.js';
import type { Section } from '../../src/digest/types.js';
import { fill, personalFields } from '../../src/render/personalise.js';
import { renderEmail, type RenderSettings } from '../../src/render/render.js';
import { compileTemplates, readTemplateSources } from '../../src/render/templates.js';
import { NO_PREFS, ROOT, classified, seedTaxonomy } from '../helpers.js';

/** The project's templates and render settings, shared by the render tests. */
export const templatesDir = join(ROOT, 'templates');
export const templates = compileTemplates(await readTemplateSources(templatesDir));
export const taxonomy = seedTaxonomy();
export const settings: RenderSettings = {
  list: { name: 'Multimodal LLM Digest' },
  topicLabels: Object.fromEntries(taxonomy.topics.map((t) => [t.id, t.label])),
  maxAuthors: 6,
  maxHtmlBytes: 100_000,
};

export const person = { greeting: 'Hi Ana,', email: 'ana@example.org', manageUrl: 'https://d.example.org/m?t=1', unsubscribeUrl: 'https://d.example.org/u?t=1', webUrl: 'https://d.example.org/archive/2025-11-12', feedbackUrl: 'https://d.example.org/feedback?token=v1.f.g' };

/** One reader's email for a section, filled for `person`, as a run sends it. */
export async function renderFor(section: Section, prefs: Partial<Preferences> = {}, overrides: Partial<RenderSettings> = {}) {
  const selected = selectPapers(classified(section), { ...NO_PREFS, ...prefs });
  const rendered = await renderEmail(templates, templatesDir, section, selected, { ...settings, ...overrides }, prefs.format);
  const personal = personalFields(rendered, person);
  return { selected, rendered, html: fill(rendered.html, personal, true), text: fill(rendered.text, personal, false) };
}
