import { randomBytes } from 'node:crypto';
import { escapeHtml } from '../digest/html.js';
import { wrapText } from './templates.js';

/**
 * What differs between two recipients of the same rendered variant. A variant is keyed by its
 * papers (and the followed authors among them); everything here is filled in per recipient.
 */
export interface RecipientFields {
  greeting: string;
  email: string;
  manageUrl: string;
  unsubscribeUrl: string;
  /** "View in browser": this email's web version (see tokens/links.ts webVersionUrl). */
  webUrl: string;
  /** The signed base of every paper's "more / less like this" link (see tokens/links.ts recipientLinks). */
  feedbackUrl: string;
}

export interface PersonalFields extends RecipientFields {
  /** "Here are all 18 new papers of the day." or "5 of today's 18 papers match your interests." */
  summary: string;
  preheader: string;
  /** Per paper shown in full, in order: the "why you got this" line, or null for no line at all. */
  reasons: readonly (string | null)[];
}

/** A reader's copy of a variant (see render.ts ReaderCopy) with the recipient's own fields. */
export function personalFields(copy: Pick<PersonalFields, 'summary' | 'preheader' | 'reasons'>, recipient: RecipientFields): PersonalFields {
  return { ...recipient, summary: copy.summary, preheader: copy.preheader, reasons: copy.reasons };
}

export const SCALAR_FIELDS = ['greeting', 'email', 'manageUrl', 'unsubscribeUrl', 'webUrl', 'feedbackUrl', 'summary', 'preheader'] as const;
export type ScalarField = (typeof SCALAR_FIELDS)[number];

/**
 * A per-recipient hole. A reason slot owns the element around it (`<p …>…</p>` in HTML, the
 * blank line and indent in text) so a recipient without a reason gets no empty paragraph.
 */
export type Slot = { field: ScalarField } | { field: 'reason'; index: number; before: string; after: string };

/**
 * A rendered body cut at its per-recipient slots. Filling it is a join of strings, so the
 * expensive MJML compile happens once per variant, not once per recipient.
 */
export interface Fillable {
  parts: string[];
  slots: Slot[];
}

export interface Placeholders extends Record<ScalarField, string> {
  reason(index: number): string;
}

/** Plain-text reason lines are wrapped at this width, as the text template wraps its fields. */
export const TEXT_WIDTH = 72;

/**
 * Markers that survive Handlebars escaping and MJML untouched. The nonce is random per process,
 * so no digest text can hold a marker, and the same for every render, so variants of one layout
 * compile to the same layout (see mjml-layout.ts).
 */
const PROCESS_NONCE = randomBytes(6).toString('hex');

export function makePlaceholders(nonce = PROCESS_NONCE): Placeholders {
  const scalars = Object.fromEntries(SCALAR_FIELDS.map((f) => [f, `@@dm${nonce}${f}@@`])) as Record<ScalarField, string>;
  return { ...scalars, reason: (i: number) => `@@dm${nonce}reason${i}@@` };
}

function nonceOf(placeholders: Placeholders): string {
  return /^@@dm([0-9a-f]+)greeting@@$/.exec(placeholders.greeting)![1]!;
}

/**
 * Cuts a rendered body at the placeholders. In HTML a reason marker that is the whole content of
 * a `<p>` takes the element (and the white space before it) with it; in text it takes the blank line and indent before it.
 */
export function toFillable(rendered: string, placeholders: Placeholders, kind: 'html' | 'text'): Fillable {
  const marker = new RegExp(`@@dm${nonceOf(placeholders)}([a-zA-Z]+?)(\\d*)@@`, 'g');
  const parts: string[] = [];
  const slots: Slot[] = [];
  let last = 0;
  // Markers are found by their literal prefix; what a reason slot takes around its marker is
  // looked for backwards from it (a leading optional group in the pattern made the regex try
  // every position of a 70 KB email).
  for (const match of rendered.matchAll(marker)) {
    const [whole, field, index] = match as unknown as [string, string, string];
    let start = match.index;
    let end = start + whole.length;
    let lead = '';
    let trail = '';
    if (kind === 'html') {
      // An optional `<p ...>` right before (with the white space before it) and `</p>` right after.
      const gt = start - 1;
      const lt = rendered[gt] === '>' ? rendered.lastIndexOf('<p', gt) : -1;
      if (lt >= last && !/\w/.test(rendered[lt + 2] ?? '') && !rendered.slice(lt + 2, gt).includes('>')) {
        let from = lt;
        while (from > last && /\s/.test(rendered[from - 1]!)) from--;
        lead = rendered.slice(from, start);
        start = from;
      }
      if (rendered.startsWith('</p>', end)) trail = '</p>';
    } else {
      // Newlines then spaces or tabs right before.
      let from = start;
      while (from > last && (rendered[from - 1] === ' ' || rendered[from - 1] === '\t')) from--;
      const indent = rendered.slice(from, start);
      let nl = from;
      while (nl > last && rendered[nl - 1] === '\n') nl--;
      lead = `${rendered.slice(nl, from)}\u0000${indent}`;
      start = nl;
    }
    if (field === 'reason') {
      parts.push(rendered.slice(last, start));
      slots.push({ field: 'reason', index: Number(index), before: lead, after: trail });
      last = end + trail.length;
    } else {
      // Whatever was taken around a plain field belongs to the template, not the slot.
      parts.push(rendered.slice(last, start) + lead.replace('\u0000', ''));
      slots.push({ field: field as ScalarField });
      last = end;
    }
  }
  parts.push(rendered.slice(last));
  return { parts, slots };
}

/** The bytes of one slot's value as it appears in the filled body. */
export function slotValue(slot: Slot, values: PersonalFields, html: boolean): string {
  if (slot.field !== 'reason') return html ? escapeHtml(values[slot.field]) : values[slot.field];
  const reason = values.reasons[slot.index];
  if (!reason) return '';
  if (html) return `${slot.before}${escapeHtml(reason)}${slot.after}`;
  const [newlines, indent] = slot.before.split('\u0000') as [string, string];
  return newlines + wrapText(reason, TEXT_WIDTH, indent);
}

/** Puts one recipient's values in; `html` escapes them for element text and attributes. */
export function fill(fillable: Fillable, values: PersonalFields, html: boolean): string {
  let out = fillable.parts[0]!;
  for (let i = 0; i < fillable.slots.length; i++) out += slotValue(fillable.slots[i]!, values, html) + fillable.parts[i + 1]!;
  return out;
}

/** Puts in the values of the slots `which` picks; the other slots stay, for a later fill. */
export function fillSome(fillable: Fillable, values: PersonalFields, html: boolean, which: (slot: Slot) => boolean): Fillable {
  const parts = [fillable.parts[0]!];
  const slots: Slot[] = [];
  for (let i = 0; i < fillable.slots.length; i++) {
    const slot = fillable.slots[i]!;
    if (which(slot)) {
      parts[parts.length - 1] += slotValue(slot, values, html) + fillable.parts[i + 1]!;
    } else {
      slots.push(slot);
      parts.push(fillable.parts[i + 1]!);
    }
  }
  return { parts, slots };
}
