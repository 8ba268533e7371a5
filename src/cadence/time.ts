import { DateTime } from 'luxon';
import { z } from 'zod';

/** A calendar day, YYYY-MM-DD, always read in some reader's or the list's time zone. */
export type LocalDay = string;

/** ISO weekday: 1 = Monday ... 7 = Sunday. */
export type Weekday = 1 | 2 | 3 | 4 | 5 | 6 | 7;

export const weekdayNames = ['monday', 'tuesday', 'wednesday', 'thursday', 'friday', 'saturday', 'sunday'] as const;
export type WeekdayName = (typeof weekdayNames)[number];

export function weekdayNumber(name: WeekdayName): Weekday {
  return (weekdayNames.indexOf(name) + 1) as Weekday;
}

/** True for a zone this Node's ICU knows (IANA names such as "Europe/Berlin", and "UTC"). */
export function isIanaTimeZone(zone: string): boolean {
  if (zone.trim() === '') return false;
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: zone });
    return true;
  } catch {
    return false;
  }
}

/** Zod schema for an IANA time zone name, with a message that says what to write. */
export const ianaTimeZone = z.string().refine(isIanaTimeZone, {
  message: 'is not an IANA time zone (e.g. "Europe/Berlin", "America/New_York", "UTC")',
});

const dayPattern = /^\d{4}-\d{2}-\d{2}$/;

function parseDay(day: LocalDay, zone = 'UTC'): DateTime {
  const parsed = dayPattern.test(day) ? DateTime.fromISO(day, { zone }) : DateTime.invalid('not YYYY-MM-DD');
  if (!parsed.isValid) throw new RangeError(`"${day}" is not a calendar day (YYYY-MM-DD)`);
  return parsed;
}

/** The calendar day `instant` falls on in `zone`. */
export function localDay(instant: Date, zone: string): LocalDay {
  return DateTime.fromJSDate(instant, { zone }).toISODate() as LocalDay;
}

/** `day` moved by `days` calendar days (negative goes back). Pure calendar arithmetic, no zone. */
export function addDays(day: LocalDay, days: number): LocalDay {
  return parseDay(day).plus({ days }).toISODate() as LocalDay;
}

export function weekdayOf(day: LocalDay): Weekday {
  return parseDay(day).weekday as Weekday;
}

/**
 * The instant `hour`:00 starts on `day` in `zone`. When the clocks jump forward over that hour
 * (02:00 on the spring day in Berlin), it is the first instant after the gap (03:00 local), so the
 * day is never skipped; when the hour happens twice (autumn), the first one, so it is never doubled.
 */
export function hourStart(day: LocalDay, hour: number, zone: string): Date {
  if (!Number.isInteger(hour) || hour < 0 || hour > 23) throw new RangeError(`hour ${hour} is not a whole hour 0-23`);
  const wanted = parseDay(day, zone).set({ hour });
  // Most days: the same offset three hours either side, so the local time is unambiguous.
  if (wanted.hour === hour && wanted.minute === 0 && wanted.minus({ hours: 3 }).offset === wanted.plus({ hours: 3 }).offset) {
    return wanted.toJSDate();
  }
  // luxon resolves an ambiguous or missing local time one way or the other depending on the call;
  // look at the instants around it (quarter hours cover every offset change in the tz database)
  // and take the earliest that reads exactly hour:00 on that day.
  for (let minutes = -180; minutes <= 180; minutes += 15) {
    const candidate = wanted.plus({ minutes });
    if (candidate.toISODate() === day && candidate.hour === hour && candidate.minute === 0) return candidate.toJSDate();
  }
  // Inside a gap: luxon has already moved it to the first instant after the gap.
  return wanted.toJSDate();
}
