import type { Section } from '../digest/types.js';
import type { SectionRecord } from '../store/types.js';

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
