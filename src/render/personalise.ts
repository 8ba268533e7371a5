import { randomBytes } from 'node:crypto';
import { escapeHtml } from '../digest/html.js';

/** What differs between two recipients of the same rendered variant. */
export interface PersonalFields {
  greeting: string;
  email: string;
  manageUrl: string;
  unsubscribeUrl: string;
}

export const PERSONAL_FIELDS = ['greeting', 'email', 'manageUrl', 'unsubscribeUrl'] as const satisfies readonly (keyof PersonalFields)[];

/**
 * A rendered body cut at its per-recipient slots. Filling it is a join of strings, so the
 * expensive MJML compile happens once per variant, not once per recipient.
 */
export interface Fillable {
  parts: string[];
  slots: (keyof PersonalFields)[];
}

export type Placeholders = Record<keyof PersonalFields, string>;

/** Markers that survive Handlebars escaping and MJML untouched, unique per render. */
export function makePlaceholders(): Placeholders {
  const nonce = randomBytes(6).toString('hex');
  return Object.fromEntries(PERSONAL_FIELDS.map((f) => [f, `@@dm${nonce}${f}@@`])) as Placeholders;
}

export function toFillable(rendered: string, placeholders: Placeholders): Fillable {
  const byMarker = new Map(PERSONAL_FIELDS.map((f) => [placeholders[f], f]));
  const pattern = new RegExp(PERSONAL_FIELDS.map((f) => placeholders[f]).join('|'), 'g');
  const parts: string[] = [];
  const slots: (keyof PersonalFields)[] = [];
  let last = 0;
  for (const match of rendered.matchAll(pattern)) {
    parts.push(rendered.slice(last, match.index));
    slots.push(byMarker.get(match[0])!);
    last = match.index + match[0].length;
  }
  parts.push(rendered.slice(last));
  return { parts, slots };
}

/** Puts one recipient's values in; `html` escapes them for element text and attributes. */
export function fill(fillable: Fillable, values: PersonalFields, html: boolean): string {
  let out = fillable.parts[0]!;
  for (let i = 0; i < fillable.slots.length; i++) {
    const value = values[fillable.slots[i]!];
    out += (html ? escapeHtml(value) : value) + fillable.parts[i + 1]!;
  }
  return out;
}
