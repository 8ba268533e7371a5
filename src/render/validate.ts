import type { EmailFormat } from '../audience/schema.js';
import type { Problem } from '../errors.js';
import { selectPapers } from '../audience/select.js';
import { UserError } from '../errors.js';
import type { CompiledTaxonomy } from '../topics/classify.js';
import { classifyPaper } from '../topics/classify.js';
import { renderVariantAtTrim, type RenderSettings } from './render.js';
import { sampleSection } from './sample.js';
import type { CompiledTemplates } from './templates.js';

/**
 * Renders the sample section through every template and partial (full and compact, one paper
 * without headlines, shortened and with the "N more papers" list) with MJML's strict validation; returns what failed.
 */
export async function validateTemplates(
  templates: CompiledTemplates,
  templatesDir: string,
  taxonomy: CompiledTaxonomy,
  settings: RenderSettings,
): Promise<Problem[]> {
  const section = sampleSection();
  const papers = section.papers.map((p) => classifyPaper(p, taxonomy));
  const everything = selectPapers(papers, { topics: [], excludeTopics: [], authors: [], keywords: [] });
  const followed = selectPapers(papers, { topics: [], excludeTopics: [], authors: ['Zoë Martin'], keywords: ['second paper'] });
  const cases: { name: string; selected: typeof everything; trim: { abstractChars: number | null; fullPapers: number }; format: EmailFormat }[] = [
    { name: 'all papers in full', selected: everything, trim: { abstractChars: null, fullPapers: everything.length }, format: 'full' },
    { name: 'all papers, compact', selected: everything, trim: { abstractChars: null, fullPapers: everything.length }, format: 'compact' },
    { name: 'one paper (no headlines)', selected: everything.slice(0, 1), trim: { abstractChars: null, fullPapers: 1 }, format: 'full' },
    { name: 'shortened abstracts with "more papers" list', selected: followed, trim: { abstractChars: 100, fullPapers: 1 }, format: 'full' },
  ];
  const problems: Problem[] = [];
  for (const c of cases) {
    try {
      await renderVariantAtTrim(templates, templatesDir, section, c.selected, settings, c.trim, undefined, c.format);
    } catch (err) {
      if (!(err instanceof UserError)) throw err;
      problems.push({ where: templatesDir, message: `rendering ${c.name}: ${err.message}`, ...(err.hint ? { hint: err.hint } : {}) });
    }
  }
  return problems;
}
