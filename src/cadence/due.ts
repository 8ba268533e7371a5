import { addDays, hourStart, localDay, weekdayOf, type LocalDay, type Weekday } from './time.js';

/** What a reader chose about when they hear from the digest (all optional but the cadence). */
export interface ReaderTiming {
  cadence: 'daily' | 'weekly';
  /** Send day of a weekly reader (ISO: 1 = Monday); ignored for daily readers. */
  weekday?: Weekday | undefined;
  /** IANA zone the reader's hour and days are read in; the list's zone when absent. */
  timeZone?: string | undefined;
  /** Local hour 0-23 the reader's email becomes due; the list's hour when absent. */
  hour?: number | undefined;
  /** First local day the reader hears from the digest again (YYYY-MM-DD); nothing before it. */
  pausedUntil?: LocalDay | undefined;
}

/** The operator's defaults: the list's zone and the hour of its daily tick. */
export interface ListTiming {
  timeZone: string;
  hour: number;
}

/** An email to one reader: which sections (by date) it covers and when it becomes due. */
export interface ReaderIssue {
  /** Stable across reruns, e.g. "daily:2026-03-30" or "weekly:2026-03-30": the delivery key. */
  key: string;
  cadence: 'daily' | 'weekly';
  /** The local day it is sent on. */
  sendDay: LocalDay;
  /** First instant it may be sent: the reader's hour on `sendDay` in their zone. */
  dueAt: Date;
  /** Sections dated from..to (inclusive) belong to it. */
  covers: { from: LocalDay; to: LocalDay };
}

/** How far back an issue reaches for days no earlier issue covered (a cadence switch, an outage). */
export const maxCarryDays = 7;

export function readerZone(reader: ReaderTiming, list: ListTiming): string {
  return reader.timeZone ?? list.timeZone;
}

export function readerHour(reader: ReaderTiming, list: ListTiming): number {
  return reader.hour ?? list.hour;
}

/** The sections a reader's issue sent on `sendDay` covers, before carry-over and pause. */
export function nominalCover(reader: ReaderTiming, sendDay: LocalDay): { from: LocalDay; to: LocalDay } {
  if (reader.cadence === 'daily') return { from: sendDay, to: sendDay };
  // A weekly roll-up sent on day S covers the seven days before it, S-7 .. S-1; a section dated on
  // the send day itself goes into the next one (it may not be published at the reader's hour).
  return { from: addDays(sendDay, -7), to: addDays(sendDay, -1) };
}

/** Whether the reader has an issue on `day` at all (every day for daily, the weekday for weekly). */
export function isSendDay(reader: ReaderTiming, day: LocalDay): boolean {
  return reader.cadence === 'daily' || weekdayOf(day) === (reader.weekday ?? 1);
}

/** The send day of the issue a section dated `sectionDate` nominally goes out in. */
export function sendDayFor(reader: ReaderTiming, sectionDate: LocalDay): LocalDay {
  if (reader.cadence === 'daily') return sectionDate;
  let day = addDays(sectionDate, 1);
  while (!isSendDay(reader, day)) day = addDays(day, 1);
  return day;
}

/**
 * The reader's issue sent on `sendDay`, or null when they have none that day or are paused then.
 * `coveredThrough` is the last section day the reader's previous issue covered (from the delivery
 * record): the issue reaches back to the day after it (at most `maxCarryDays` before its nominal
 * start), so a cadence switch or a missed day loses nothing; papers already sent are dropped by the
 * roll-up, so reaching back never repeats one. Nothing dated before `pausedUntil` is covered.
 */
export function issueOn(
  sendDay: LocalDay,
  reader: ReaderTiming,
  list: ListTiming,
  coveredThrough?: LocalDay | null,
): ReaderIssue | null {
  if (!isSendDay(reader, sendDay)) return null;
  if (reader.pausedUntil !== undefined && sendDay < reader.pausedUntil) return null;
  const nominal = nominalCover(reader, sendDay);
  let from = nominal.from;
  if (coveredThrough) {
    const carryFrom = addDays(coveredThrough, 1);
    const limit = addDays(nominal.from, -maxCarryDays);
    if (carryFrom < from) from = carryFrom < limit ? limit : carryFrom;
  }
  if (reader.pausedUntil !== undefined && from < reader.pausedUntil) from = reader.pausedUntil;
  return {
    key: `${reader.cadence}:${sendDay}`,
    cadence: reader.cadence,
    sendDay,
    dueAt: hourStart(sendDay, readerHour(reader, list), readerZone(reader, list)),
    covers: { from, to: nominal.to },
  };
}

/**
 * The issue a scheduler tick at `now` should make sure is sent: the latest one whose due instant
 * is at or before `now`, looking back over the last week. Null when there is none (paused, not a
 * send day yet). Sending is idempotent by `key`, so a tick that finds the same issue again does
 * nothing, and an issue is due on the first tick at or after the reader's local hour: a day whose
 * hour falls in a DST gap is due just after the gap, an hour that happens twice is due the first
 * time, and no day is skipped or doubled.
 */
export function dueIssue(
  now: Date,
  reader: ReaderTiming,
  list: ListTiming,
  coveredThrough?: LocalDay | null,
): ReaderIssue | null {
  const today = localDay(now, readerZone(reader, list));
  for (let back = 0; back <= 7; back += 1) {
    const day = addDays(today, -back);
    if (!isSendDay(reader, day)) continue;
    const issue = issueOn(day, reader, list, coveredThrough);
    if (issue === null) {
      // A send day inside the pause: that issue is never sent, and nothing older either.
      if (reader.pausedUntil !== undefined && day < reader.pausedUntil) return null;
      continue;
    }
    if (issue.dueAt.getTime() <= now.getTime()) return issue;
  }
  return null;
}

/** Whether anything is due for the reader at `now` that has not gone out (by issue key). */
export function isDue(now: Date, reader: ReaderTiming, list: ListTiming, sentKeys: ReadonlySet<string>, coveredThrough?: LocalDay | null): boolean {
  const issue = dueIssue(now, reader, list, coveredThrough);
  return issue !== null && !sentKeys.has(issue.key);
}
