import mjml2html from 'mjml';
import type { SelectedPaper } from '../audience/select.js';
import type { Section } from '../digest/types.js';
import { InputError } from '../errors.js';
import { makePlaceholders, toFillable, type Fillable, type Placeholders } from './personalise.js';
import { locateRenderedLine, type CompiledTemplates } from './templates.js';
import { join, relative } from 'node:path';
import { buildView, type Trim, type ViewSettings } from './view.js';

export interface RenderSettings extends ViewSettings {
  /** HTML budget in bytes, per-recipient values included (Gmail clips at about 102 KB). */
  maxHtmlBytes: number;
}

export interface RenderedEmail {
  subject: string;
  preheader: string;
  html: Fillable;
  text: Fillable;
  /** Bytes of HTML with every per-recipient slot at its allowance: the worst case a recipient gets. */
  htmlBytes: number;
  trim: Trim;
  /** Ids of every selected paper, in order (full ones first, then "more"). */
  paperIds: string[];
}

/** Bytes allowed for each per-recipient value (signed URLs are about 200, names up to 120 characters). */
export const SLOT_ALLOWANCE = 400;

/**
 * The trim ladder, tried in order until the HTML fits: full text; abstracts cut to 700, then
 * 350 characters; no abstracts; then fewer papers in full with the rest listed as "N more papers".
 */
export function trimLadder(paperCount: number): Trim[] {
  const steps: Trim[] = [700, 350, 0].map((abstractChars) => ({ abstractChars, fullPapers: paperCount }));
  return [{ abstractChars: null, fullPapers: paperCount }, ...steps];
}

export class TemplateRenderError extends InputError {}

async function compileMjml(source: string, templatesDir: string): Promise<string> {
  try {
    // fonts: {} stops MJML from linking Google Fonts for "Roboto" in the font stack: no tracking,
    // no external request; the stack falls back to system fonts.
    const result = await mjml2html(source, { validationLevel: 'strict', keepComments: false, filePath: templatesDir, fonts: {} });
    return result.html;
  } catch (err) {
    const details = (err as { errors?: { line?: number; message?: string }[] }).errors;
    const lines = details?.map((e) => {
      if (!e.line) return e.message ?? 'invalid MJML';
      const at = locateRenderedLine(source, e.line);
      return `${relative(process.cwd(), join(templatesDir, at.file))}:${at.line}: ${e.message}`;
    }) ?? [(err as Error).message];
    throw new TemplateRenderError(
      `the digest template produced invalid MJML:\n  ${[...new Set(lines)].join('\n  ')}`,
      'Check the MJML tags and attributes at the lines named above.',
    );
  }
}

function tidyText(text: string): string {
  return `${text
    .replace(/[ \t]+$/gm, '')
    .replace(/\n{3,}/g, '\n\n')
    .trim()}\n`;
}

function oneLine(text: string): string {
  // Subjects and preheaders are single lines whatever a title holds: no CR/LF reaches a header.
  return text.replace(/[\r\n\t\u2028\u2029]+/g, ' ').replace(/\s{2,}/g, ' ').trim();
}

/** Renders one variant at one trim level (exported for template validation and previews). */
export async function renderAtTrim(
  templates: CompiledTemplates,
  templatesDir: string,
  section: Section,
  selected: readonly SelectedPaper[],
  settings: RenderSettings,
  trim: Trim,
  placeholders: Placeholders = makePlaceholders(),
): Promise<RenderedEmail> {
  const view = buildView(section, selected, settings, trim, placeholders);
  const subject = oneLine(templates.subject(view));
  const preheader = oneLine(templates.preheader(view));
  const html = toFillable(await compileMjml(templates.mjml({ ...view, preheader }), templatesDir), placeholders);
  const text = toFillable(tidyText(templates.text(view)), placeholders);
  const htmlBytes = Buffer.byteLength(html.parts.join('')) + html.slots.length * SLOT_ALLOWANCE;
  return { subject, preheader, html, text, htmlBytes, trim, paperIds: selected.map((s) => s.paper.id) };
}

/**
 * Renders one variant: the email for one selected paper set. Pure apart from MJML's compile.
 * Tries the trim ladder until the HTML is under budget; a section too big even as a title
 * list is rendered as small as it goes and reported by `htmlBytes`.
 */
export async function renderEmail(
  templates: CompiledTemplates,
  templatesDir: string,
  section: Section,
  selected: readonly SelectedPaper[],
  settings: RenderSettings,
): Promise<RenderedEmail> {
  const placeholders = makePlaceholders();
  const attempt = (trim: Trim) => renderAtTrim(templates, templatesDir, section, selected, settings, trim, placeholders);

  let best: RenderedEmail | null = null;
  for (const trim of trimLadder(selected.length)) {
    best = await attempt(trim);
    if (best.htmlBytes <= settings.maxHtmlBytes) return best;
  }
  // Still too big without abstracts: binary-search how many papers fit in full.
  let low = 0;
  let high = selected.length - 1;
  while (low <= high) {
    const mid = (low + high) >> 1;
    const candidate = await attempt({ abstractChars: 0, fullPapers: mid });
    if (candidate.htmlBytes <= settings.maxHtmlBytes) {
      best = candidate;
      low = mid + 1;
    } else {
      high = mid - 1;
      if (mid === 0) best = candidate;
    }
  }
  return best!;
}
