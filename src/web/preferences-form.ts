import { z } from 'zod';
import { PREFERENCE_LIMITS, contradictionMessage, contradictoryTopics, sameKey, withoutDuplicates } from '../audience/preferences.js';
import type { Subscriber } from '../audience/schema.js';
import { ianaTimeZone, localDay, weekdayNames } from '../cadence/time.js';
import { FULL_FORMAT_UP_TO } from '../render/format.js';

/** A form field sent empty (null here) clears the preference; a field not sent at all keeps it. */
const clearable = <T extends z.ZodType<unknown, string>>(schema: T) =>
  z
    .string()
    .trim()
    .max(100)
    .optional()
    .transform((v) => (v === '' ? null : v))
    .pipe(schema.nullable().optional());

/** The delivery part of the preference form (all optional: old forms and API posts keep working). */
export const deliveryFormFields = {
  cadence: z.enum(['daily', 'weekly'], 'choose daily or weekly').optional(),
  weekday: z.enum(weekdayNames, 'choose a day of the week').optional(),
  timeZone: clearable(ianaTimeZone),
  hour: clearable(z.string().regex(/^(?:[01]?\d|2[0-3])$/, 'choose an hour from 0 to 23').transform(Number)),
  pausedUntil: clearable(z.iso.date('write a date as YYYY-MM-DD')),
  /** `auto` clears the choice: the default by paper count (src/render/format.ts). */
  format: z.enum(['auto', 'full', 'compact'], 'choose automatic, full or compact').optional(),
};

/** Lines of a textarea: trimmed, empty ones dropped, duplicates removed, then capped. */
export const uniqueLines = (list: 'authors' | 'keywords', maxItems: number, item: z.ZodType<string, string>) =>
  z
    .string()
    .max(10_000)
    .optional()
    .transform((v) => withoutDuplicates((v ?? '').split(/\r?\n/).map((l) => l.trim()).filter(Boolean), sameKey[list]))
    .pipe(z.array(item).max(maxItems, `at most ${maxItems} entries, one per line`));

/** Checkbox lists: duplicates removed, capped. */
export const uniqueChoices = (list: 'topics' | 'excludeTopics') =>
  z
    .union([z.string(), z.array(z.string())])
    .optional()
    .transform((v) => withoutDuplicates(v === undefined ? [] : Array.isArray(v) ? v : [v]))
    .pipe(z.array(z.string()).max(PREFERENCE_LIMITS[list], `at most ${PREFERENCE_LIMITS[list]} topics`));

type DeliveryForm = { [K in keyof typeof deliveryFormFields]?: z.output<(typeof deliveryFormFields)[K]> };

/** Problems only visible with the whole form: a topic both wanted and excluded, a pause in the past. */
export function crossFieldErrors(form: DeliveryForm & { topics: string[]; excludeTopics: string[] }, zone: string, now: Date): Record<string, string> {
  const errors: Record<string, string> = {};
  const both = contradictoryTopics(form);
  if (both.length > 0) errors.excludeTopics = contradictionMessage(both);
  if (form.pausedUntil && form.pausedUntil < localDay(now, form.timeZone || zone)) {
    errors.pausedUntil = 'is in the past: leave it empty to get mail again now';
  }
  return errors;
}

/** The subscriber with the delivery fields the form sent: empty clears, absent keeps. */
export function applyDelivery(subscriber: Subscriber, form: DeliveryForm): Subscriber {
  const next: Subscriber = { ...subscriber };
  if (form.cadence !== undefined) next.cadence = form.cadence;
  if (form.weekday !== undefined) next.weekday = form.weekday;
  if (form.timeZone !== undefined) next.timeZone = form.timeZone ?? undefined;
  if (form.hour !== undefined) next.hour = form.hour ?? undefined;
  if (form.pausedUntil !== undefined) next.pausedUntil = form.pausedUntil ?? undefined;
  if (form.format !== undefined) next.format = form.format === 'auto' ? undefined : form.format;
  return next;
}

/** Zod issues keyed by the form field they are about (first message per field). */
export function fieldErrorsOf(issues: readonly z.core.$ZodIssue[]): Record<string, string> {
  const errors: Record<string, string> = {};
  for (const issue of issues) {
    const field = String(issue.path[0] ?? 'form');
    errors[field] ??= issue.message;
  }
  return errors;
}

/** The list's hour from a daily cron expression ("0 7 * * *" is 7), when it has one. */
export function listHourOf(cron: string): number | undefined {
  const hour = cron.trim().split(/\s+/)[1];
  return hour !== undefined && /^\d{1,2}$/.test(hour) ? Number(hour) : undefined;
}

/** What the delivery fieldset shows: the reader's choices, with the list's defaults named. */
export function deliveryView(subscriber: Subscriber, listZone: string, listHour: number | undefined) {
  const pad = (h: number) => `${String(h).padStart(2, '0')}:00`;
  return {
    weekly: subscriber.cadence === 'weekly',
    weekdays: weekdayNames.map((day) => ({ value: day, label: day[0]!.toUpperCase() + day.slice(1), selected: (subscriber.weekday ?? 'monday') === day })),
    hours: Array.from({ length: 24 }, (_, h) => ({ value: String(h), label: pad(h), selected: subscriber.hour === h })),
    listHourLabel: listHour === undefined ? "the list's hour" : `the list's hour, ${pad(listHour)}`,
    timeZone: subscriber.timeZone ?? '',
    listZone,
    pausedUntil: subscriber.pausedUntil ?? '',
    formats: [
      { value: 'auto', label: `Automatic: full for ${FULL_FORMAT_UP_TO} papers or fewer, compact for more`, checked: subscriber.format === undefined },
      { value: 'compact', label: 'Compact: title, authors, one line and links for each paper (abstracts on the web)', checked: subscriber.format === 'compact' },
      { value: 'full', label: 'Full: motivation, method and abstract of every paper', checked: subscriber.format === 'full' },
    ],
  };
}
