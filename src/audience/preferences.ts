import { z } from 'zod';
import type { ReaderTiming } from '../cadence/due.js';
import { ianaTimeZone, weekdayNames, weekdayNumber } from '../cadence/time.js';
import { normalizeName } from './select.js';

/** Most entries one list of a subscriber may hold, after duplicates are removed. */
export const PREFERENCE_LIMITS = { topics: 100, excludeTopics: 100, authors: 100, keywords: 100 } as const;

/** How two entries of a list count as the same: topic ids exactly, names and keywords loosely. */
export const sameKey = {
  topics: (s: string) => s,
  excludeTopics: (s: string) => s,
  authors: normalizeName,
  keywords: (s: string) => s.normalize('NFC').toLowerCase().replace(/\s+/g, ' ').trim(),
} as const;

/** The first of each group of entries that are the same by `key`, in order. */
export function withoutDuplicates(items: readonly string[], key: (s: string) => string = (s) => s): string[] {
  const seen = new Set<string>();
  return items.filter((item) => {
    const k = key(item);
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}

/** A preference list: duplicates dropped (first kept), then at most the list's limit. */
export function preferenceList(list: keyof typeof PREFERENCE_LIMITS, item: z.ZodType<string> = z.string()) {
  const max = PREFERENCE_LIMITS[list];
  return z
    .array(item)
    .default([])
    .transform((items) => withoutDuplicates(items, sameKey[list]))
    .pipe(z.array(z.string()).max(max, `holds at most ${max} entries`));
}

/** When and how often a subscriber hears from the digest; all absent means today's behaviour. */
export const deliveryPreferenceFields = {
  /** `daily` (absent: daily, one email per section) or `weekly` on `weekday` (absent: monday). */
  cadence: z.enum(['daily', 'weekly']).optional(),
  weekday: z.enum(weekdayNames).optional(),
  /** IANA zone the hour is read in; absent: the list's zone. */
  timeZone: ianaTimeZone.optional(),
  /** Local hour 0-23; absent: the list's hour. */
  hour: z.number().int().min(0).max(23).optional(),
  /** First day (YYYY-MM-DD, in the reader's zone) mail resumes; absent or past: not paused. */
  pausedUntil: z.iso.date().optional(),
};

/** Topics both wanted and never wanted: a contradiction the preference centre refuses. */
export function contradictoryTopics(prefs: { topics: readonly string[]; excludeTopics: readonly string[] }): string[] {
  const excluded = new Set(prefs.excludeTopics);
  return prefs.topics.filter((t) => excluded.has(t));
}

export function contradictionMessage(topics: readonly string[]): string {
  const list = topics.map((t) => `"${t}"`).join(', ');
  return `${list} ${topics.length === 1 ? 'is' : 'are'} both in the topics to receive and the topics never to receive: untick ${topics.length === 1 ? 'it' : 'them'} in one of the two lists`;
}

type TimingFields = { [K in keyof typeof deliveryPreferenceFields]?: z.infer<(typeof deliveryPreferenceFields)[K]> };

/** The cadence rules' view of a subscriber (src/cadence), with the defaults filled in. */
export function readerTiming(subscriber: TimingFields): ReaderTiming {
  return {
    cadence: subscriber.cadence ?? 'daily',
    weekday: weekdayNumber(subscriber.weekday ?? 'monday'),
    timeZone: subscriber.timeZone,
    hour: subscriber.hour,
    pausedUntil: subscriber.pausedUntil,
  };
}
