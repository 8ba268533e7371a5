import mjml2html from 'mjml';
import type { EmailFormat } from '../audience/schema.js';
import type { SelectedPaper } from '../audience/select.js';
import type { Section } from '../digest/types.js';
import { InputError } from '../errors.js';
import { makePlaceholders, toFillable, type Fillable, type Placeholders, type RecipientFields, type Slot } from './personalise.js';
import { locateRenderedLine, type CompiledTemplates } from './templates.js';
import { LayoutCompiler, type LayoutStats } from './mjml-layout.js';
import { join, relative } from 'node:path';
import { formatFor } from './format.js';
import { buildView, type Trim, type ViewSettings } from './view.js';

export interface RenderSettings extends ViewSettings {
  /** HTML budget in bytes, per-recipient values included (Gmail clips at about 102 KB). */
  maxHtmlBytes: number;
}

/** One variant: the email for one paper set, cut at its per-recipient slots. */
export interface RenderedVariant {
  html: Fillable;
  text: Fillable;
  /** Bytes of HTML with every per-recipient slot at its allowance: the worst case a recipient gets. */
  htmlBytes: number;
  trim: Trim;
  format: EmailFormat;
  /** Ids of every selected paper, in order (full ones first, then "more"). */
  paperIds: string[];
}

/** The per-reader text of a variant: computed per preference set, filled into the slots. */
export interface ReaderCopy {
  subject: string;
  preheader: string;
  summary: string;
  /** Per paper shown in full: its "why you got this" line, or null. */
  reasons: (string | null)[];
}

/** A variant with one reader's copy: everything but the recipient's name, address and links. */
export type RenderedEmail = RenderedVariant & ReaderCopy;

/**
 * The render key (shared contract): the format and the ordered paper ids with, per paper, the
 * followed authors it names (highlighted in its author line, and kept in a shortened one).
 * Reasons, greeting, links, summary, preheader and subject are per-recipient slots, so readers
 * with the same papers in the same order and format share one MJML compile. `format` is the
 * reader's preference (absent: the default for the paper count, see format.ts).
 */
export function variantKey(selected: readonly SelectedPaper[], format?: EmailFormat, days?: Section['days']): string {
  const papers = selected.map(({ paper, why }) => (why.authors.length ? [paper.id, ...why.authors] : paper.id));
  // A roll-up groups its papers by day: the grouping is part of what renders (and of the key).
  const head = days ? [formatFor(format, selected.length), days.map((d) => `${d.date}:${d.count}`).join(',')] : [formatFor(format, selected.length)];
  return JSON.stringify([...head, ...papers]);
}

/** Bytes allowed for each per-recipient value (signed URLs are about 200, names up to 120 characters). */
export const SLOT_ALLOWANCE = 400;
/** Bytes allowed for a reason line's text (lines are cut at REASON_MAX_CHARS), besides its element. */
export const REASON_ALLOWANCE = 300;

/**
 * Bytes allowed for the feedback URL, repeated in every paper's two links: a base URL of up to
 * 60 characters, "/feedback?token=" and a compact token of at most 64 (src/tokens/feedback.ts).
 */
export const FEEDBACK_SLOT_ALLOWANCE = 140;

function slotAllowance(slot: Slot): number {
  if (slot.field === 'feedbackUrl') return FEEDBACK_SLOT_ALLOWANCE;
  return slot.field === 'reason' ? slot.before.length + slot.after.length + REASON_ALLOWANCE : SLOT_ALLOWANCE;
}

/**
 * The trim ladder, tried in order until the HTML fits: full text; abstracts cut to 700, then
 * 350 characters; no abstracts; then fewer papers in full with the rest listed as "N more papers".
 */
export function trimLadder(paperCount: number): Trim[] {
  const steps: Trim[] = [700, 350, 0].map((abstractChars) => ({ abstractChars, fullPapers: paperCount }));
  return [{ abstractChars: null, fullPapers: paperCount }, ...steps];
}

export class TemplateRenderError extends InputError {}

/** One MJML compile of a whole document (strict validation, or none), compacted (see compactHtml). */
export function mjmlCompile(templatesDir: string) {
  return async (source: string, strict: boolean): Promise<string> => {
    // fonts: {} stops MJML from linking Google Fonts for "Roboto" in the font stack: no tracking,
    // no external request; the stack falls back to system fonts.
    const result = await mjml2html(source, { validationLevel: strict ? 'strict' : 'skip', keepComments: false, filePath: templatesDir, fonts: {} });
    return compactHtml(result.html);
  };
}

/** Per compiled template set: its compiled layouts (see mjml-layout.ts) and which shapes passed validation. */
const compilers = new WeakMap<CompiledTemplates, LayoutCompiler>();

function compilerFor(templates: CompiledTemplates, templatesDir: string): LayoutCompiler {
  let compiler = compilers.get(templates);
  if (!compiler) {
    compiler = new LayoutCompiler(
      mjmlCompile(templatesDir),
      (reason) => process.emitWarning(`${reason}: every email is compiled whole from now on (slower, same result)`, 'DigestMailerWarning'),
      // Compacting works line by line and inside style attributes, so a trimmed block compacts
      // alone as it does in the document (the check per shape compares).
      compactHtml,
    );
    compilers.set(templates, compiler);
  }
  return compiler;
}

/** MJML compiles done for a template set so far (layouts, whole documents, documents assembled from a layout). */
export function mjmlStats(templates: CompiledTemplates): LayoutStats {
  return { ...(compilers.get(templates)?.stats ?? { layouts: 0, whole: 0, assembled: 0, inlined: 0 }) };
}

/** `shape` names the template branches this source used (e.g. with or without "more papers"). */
async function compileMjml(source: string, templatesDir: string, templates?: CompiledTemplates, shape = ''): Promise<string> {
  try {
    return templates ? await compilerFor(templates, templatesDir).compile(source, shape) : await mjmlCompile(templatesDir)(source, true);
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

/**
 * MJML's output without its indentation, blank lines and the spaces juice leaves in inlined
 * styles: about 13% of an email's bytes, so more fits under Gmail's clipping limit. Line breaks
 * stay (quoted-printable and the per-line splice rely on them); there is no <pre> to keep.
 */
export function compactHtml(html: string): string {
  return html
    .replace(/^[ \t]+/gm, '')
    .replace(/\n{2,}/g, '\n')
    .replace(/ style="([^"]*)"/g, (_, css: string) => ` style="${css.replace(/;\s+/g, ';').replace(/:\s+/g, ':').replace(/;$/, '')}"`);
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

/** The reader-specific text of a variant, for this reader's selection: cheap, no MJML. */
export function readerCopy(
  templates: CompiledTemplates,
  section: Section,
  selected: readonly SelectedPaper[],
  settings: ViewSettings,
  trim: Trim,
  format?: EmailFormat,
): ReaderCopy {
  const view = buildView(section, selected, settings, trim, formatFor(format, selected.length));
  return {
    subject: oneLine(templates.subject(view)),
    preheader: oneLine(templates.preheader(view)),
    summary: view.summary,
    reasons: view.papers.map((p) => p.why),
  };
}

/** Renders one variant at one trim level, per-reader parts as placeholders (exported for validation and previews). */
export async function renderVariantAtTrim(
  templates: CompiledTemplates,
  templatesDir: string,
  section: Section,
  selected: readonly SelectedPaper[],
  settings: RenderSettings,
  trim: Trim,
  placeholders: Placeholders = makePlaceholders(),
  format?: EmailFormat,
): Promise<RenderedVariant> {
  const real = buildView(section, selected, settings, trim, formatFor(format, selected.length));
  const view = {
    ...real,
    summary: placeholders.summary,
    preheader: placeholders.preheader,
    papers: real.papers.map((p, i) => ({ ...p, why: placeholders.reason(i) })),
    recipient: placeholders,
  };
  const shape = `${real.format}:headlines:${real.headlines.length > 0}:more:${view.more.length > 0}`;
  const html = toFillable(await compileMjml(templates.mjml(view), templatesDir, templates, shape), placeholders, 'html');
  const text = toFillable(tidyText(templates.text(view)), placeholders, 'text');
  const htmlBytes = Buffer.byteLength(html.parts.join('')) + html.slots.reduce((n, slot) => n + slotAllowance(slot), 0);
  return { html, text, htmlBytes, trim, format: real.format, paperIds: selected.map((s) => s.paper.id) };
}

/**
 * One reader's email rendered in one piece with every value in place: what splicing into a
 * variant must equal (the tests compare the two). Not used for sending: it costs a compile.
 */
export async function renderWhole(
  templates: CompiledTemplates,
  templatesDir: string,
  section: Section,
  selected: readonly SelectedPaper[],
  settings: RenderSettings,
  trim: Trim,
  recipient: RecipientFields,
  format?: EmailFormat,
): Promise<{ html: string; text: string }> {
  const view = buildView(section, selected, settings, trim, formatFor(format, selected.length));
  const preheader = oneLine(templates.preheader(view));
  const full = { ...view, preheader, recipient };
  return { html: await compileMjml(templates.mjml(full), templatesDir), text: tidyText(templates.text(full)) };
}

/**
 * Renders one variant: the email for one selected paper set. Pure apart from MJML's compile.
 * Tries the trim ladder until the HTML is under budget; a section too big even as a title
 * list is rendered as small as it goes and reported by `htmlBytes`.
 */
export async function renderVariant(
  templates: CompiledTemplates,
  templatesDir: string,
  section: Section,
  selected: readonly SelectedPaper[],
  settings: RenderSettings,
  format?: EmailFormat,
): Promise<RenderedVariant> {
  const placeholders = makePlaceholders();
  const attempt = (trim: Trim) => renderVariantAtTrim(templates, templatesDir, section, selected, settings, trim, placeholders, format);

  let best: RenderedVariant | null = null;
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

/** One reader's email: the variant of their paper set plus their copy. */
export async function renderEmail(
  templates: CompiledTemplates,
  templatesDir: string,
  section: Section,
  selected: readonly SelectedPaper[],
  settings: RenderSettings,
  format?: EmailFormat,
): Promise<RenderedEmail> {
  const variant = await renderVariant(templates, templatesDir, section, selected, settings, format);
  return { ...variant, ...readerCopy(templates, section, selected, settings, variant.trim, format) };
}
