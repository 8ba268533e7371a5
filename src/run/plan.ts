import type { Section } from '../digest/types.js';
import type { DeliveryStatus, SectionRecord } from '../store/types.js';
import { dueIssue, maxCarryDays, readerHour, readerZone, type ListTiming, type ReaderTiming } from '../cadence/due.js';
import { addDays, hourStart, localDay } from '../cadence/time.js';

/** What `sections` shows: stored statuses plus the derived `future` and `pending`. */
export type SectionState = 'pending' | 'sending' | 'sent' | 'before-start' | 'empty' | 'future' | 'failed';

export type SectionAction = 'send' | 'mark-before-start' | 'mark-empty' | 'none';

export interface SectionPlan {
  section: Section;
  state: SectionState;
  action: SectionAction;
  /** The text differs from what was sent: reported, never resent. */
  changedAfterSend: boolean;
}

export interface PlanOptions {
  /** YYYY-MM-DD in the configured time zone; later sections are not sent yet. */
  today: string;
  /** Send sections older than the first run too. */
  backfill: boolean;
  /** Only this section (`run --section DATE`), sent even if it was before-start. */
  only?: string | undefined;
}

function stateOf(section: Section, record: SectionRecord | undefined, today: string): SectionState {
  if (section.date > today) return 'future';
  if (section.papers.length === 0) return 'empty';
  return record?.status ?? 'pending';
}

/**
 * Decides per section what this run does; pure.
 *
 * - A section dated after today waits; an empty one is recorded and reported, not sent.
 * - First run (nothing ever sent): only the newest section is sent; older ones become
 *   before-start, unless `backfill`.
 * - Later runs send new sections dated on or after the first one ever sent; new sections
 *   dated before it (an old archive dropped in) become before-start unless `backfill`.
 * - `sending` and `failed` sections are resumed; `sent` ones never again.
 */
export function planSections(
  sections: readonly Section[],
  records: ReadonlyMap<string, SectionRecord>,
  options: PlanOptions,
): SectionPlan[] {
  const started = [...records].filter(([, r]) => r.status === 'sent' || r.status === 'sending' || r.status === 'failed');
  const cutoff = started.length > 0 ? started.map(([date]) => date).sort()[0]! : null;
  const sendable = sections.filter((s) => stateOf(s, records.get(s.date), options.today) === 'pending');
  const newest = sendable[sendable.length - 1]?.date;

  return sections
    .filter((s) => options.only === undefined || s.date === options.only)
    .map((section): SectionPlan => {
      const record = records.get(section.date);
      const state = stateOf(section, record, options.today);
      const changedAfterSend = record !== undefined && record.status === 'sent' && record.hash !== section.hash;
      const plan = (action: SectionAction): SectionPlan => ({ section, state, action, changedAfterSend });
      switch (state) {
        case 'future':
        case 'sent':
          return plan(options.only && state === 'sent' ? 'send' : 'none');
        case 'empty':
          return plan(record ? 'none' : 'mark-empty');
        case 'sending':
        case 'failed':
          return plan('send');
        case 'before-start':
          return plan(options.backfill || options.only ? 'send' : 'none');
        case 'pending': {
          if (options.backfill || options.only) return plan('send');
          const isNew = cutoff === null ? section.date === newest : section.date >= cutoff;
          return plan(isNew ? 'send' : 'mark-before-start');
        }
      }
    });
}

/** Today's date (YYYY-MM-DD) in an IANA time zone. */
export function todayIn(timeZone: string, now: Date): string {
  return new Intl.DateTimeFormat('en-CA', { timeZone, year: 'numeric', month: '2-digit', day: '2-digit' }).format(now);
}

// --- roll-ups (issue 12, weekly cadence) -----------------------------------------------------

/** What roll-up planning reads of one reader's delivery rows (see Store#readerDeliveries). */
export interface HistoryRow {
  issue: string;
  status: DeliveryStatus;
  permanent?: boolean | undefined;
  sections: readonly string[];
  papers: readonly string[] | null;
}

/** One reader's roll-up that is due now and not planned yet. */
export interface RollupIssue {
  /** `weekly:DAY` (a weekly reader's issue sent on DAY) or `catchup:DAY` (see planRollup). */
  key: string;
  dueAt: Date;
  /** Dates of the sections it rolls up, oldest first: deferred for the reader, in no roll-up yet. */
  sections: string[];
}

/** Issue keys of roll-ups; a daily issue is keyed by its section's date. */
export function isRollupIssue(issue: string): boolean {
  return issue.startsWith('weekly:') || issue.startsWith('catchup:');
}

/** Sections deferred for the reader (they read weekly when each was sent) that no roll-up row covers yet, oldest first. */
export function owedSections(history: readonly HistoryRow[]): string[] {
  const rolled = new Set(history.filter((r) => isRollupIssue(r.issue)).flatMap((r) => r.sections));
  const deferred = new Set(history.filter((r) => r.status === 'deferred').flatMap((r) => r.sections));
  return [...deferred].filter((date) => !rolled.has(date)).sort();
}

/** Rows whose papers the reader has had or is about to have: sent, or queued, claimed or to be retried. */
function carries(row: HistoryRow): boolean {
  return row.status === 'sent' || row.status === 'queued' || row.status === 'claimed' || (row.status === 'failed' && !row.permanent);
}

/**
 * Paper ids the reader has been sent (or has in flight) in any issue, daily or roll-up: a row
 * records the ids it carried (migration 008); an older sent row without them counts as having
 * carried every paper of its sections (`papersOf`), so nothing it may have held is repeated.
 */
export function papersTaken(history: readonly HistoryRow[], papersOf: (date: string) => readonly string[]): Set<string> {
  const taken = new Set<string>();
  for (const row of history) {
    if (!carries(row)) continue;
    if (row.papers) for (const id of row.papers) taken.add(id);
    else if (row.status === 'sent') for (const date of row.sections) for (const id of papersOf(date)) taken.add(id);
  }
  return taken;
}

/**
 * The roll-up a reader would be sent at `now` if anything is owed to them, or null; pure. A
 * weekly reader's issue is the latest one due (src/cadence dueIssue: their weekday, at their
 * hour or the list's, in their zone, not while paused); it rolls up sections dated in the seven
 * days before it, reaching back `maxCarryDays` more for any a missed roll-up left. A reader who
 * reads daily now gets a catch-up, `catchup:DAY` (their local day), on the first pass at or after
 * their hour, of anything deferred in the two weeks before.
 */
export function rollupDue(reader: ReaderTiming, list: ListTiming, now: Date): { key: string; dueAt: Date; from: string; to: string } | null {
  if (reader.cadence === 'weekly') {
    const issue = dueIssue(now, reader, list);
    return issue ? { key: issue.key, dueAt: issue.dueAt, from: addDays(issue.covers.from, -maxCarryDays), to: issue.covers.to } : null;
  }
  const zone = readerZone(reader, list);
  const today = localDay(now, zone);
  if (reader.pausedUntil !== undefined && today < reader.pausedUntil) return null;
  const dueAt = hourStart(today, readerHour(reader, list), zone);
  if (dueAt.getTime() > now.getTime()) return null;
  return { key: `catchup:${today}`, dueAt, from: addDays(today, -(7 + maxCarryDays)), to: today };
}

/**
 * The roll-up due for a reader at `now` and not planned yet, or null; pure (see rollupDue for
 * when). It covers the sections deferred for the reader (they read weekly when each was sent)
 * that no roll-up row covers yet, in its window, none dated before `pausedUntil`; later
 * sections reach a daily reader daily. Planned once per key: a reader with a row for the key
 * already is left to the send step.
 */
export function planRollup(reader: ReaderTiming, list: ListTiming, now: Date, history: readonly HistoryRow[]): RollupIssue | null {
  const due = rollupDue(reader, list, now);
  if (!due || history.some((r) => r.issue === due.key)) return null;
  const sections = owedSections(history).filter((date) => date >= due.from && date <= due.to && (reader.pausedUntil === undefined || date >= reader.pausedUntil));
  return sections.length > 0 ? { key: due.key, dueAt: due.dueAt, sections } : null;
}
