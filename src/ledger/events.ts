/** Stored per section; `future` and `pending` are derived each run, never stored. */
export type SectionStatus = 'sending' | 'sent' | 'before-start' | 'empty' | 'failed';
export type DeliveryStatus = 'sent' | 'skipped-no-match' | 'failed';

export interface SectionRecord {
  status: SectionStatus;
  /** Hash of the section text when it was first opened for sending. */
  hash: string;
  at: string;
  /** When sending began: only subscribers first seen by then receive it (no backlog storm). */
  openedAt?: string | undefined;
  reason?: string | undefined;
}

export interface DeliveryRecord {
  status: DeliveryStatus;
  at: string;
  messageId?: string | undefined;
  reason?: string | undefined;
  /** For failures: where the exchange failed (recipient, data). */
  stage?: string | undefined;
  /** For failures: true when retrying cannot help (SMTP 5xx, rejected address). */
  permanent?: boolean | undefined;
}

export type LedgerEvent =
  | ({ t: 'section'; date: string } & SectionRecord)
  | ({ t: 'delivery'; date: string; email: string } & DeliveryRecord)
  | { t: 'subscriber'; email: string; firstSeen: string }
  /** A finished pass (not a dry run): the scheduler's catch-up looks at the last one. */
  | { t: 'run'; at: string };

export interface LedgerState {
  sections: Map<string, SectionRecord>;
  deliveries: Map<string, DeliveryRecord>;
  /** Address key -> when a run first saw this subscriber active. */
  firstSeen: Map<string, string>;
  lastRunAt: string | null;
}

export function emptyState(): LedgerState {
  return { sections: new Map(), deliveries: new Map(), firstSeen: new Map(), lastRunAt: null };
}

export function deliveryKey(date: string, email: string): string {
  return `${date}\n${email}`;
}

/** Folds one event into the state; later events win. Pure apart from mutating `state`. */
export function applyEvent(state: LedgerState, event: LedgerEvent): void {
  switch (event.t) {
    case 'section': {
      const { t: _t, date, ...record } = event;
      state.sections.set(date, record);
      break;
    }
    case 'delivery': {
      const { t: _t, date, email, ...record } = event;
      state.deliveries.set(deliveryKey(date, email), record);
      break;
    }
    case 'subscriber':
      if (!state.firstSeen.has(event.email)) state.firstSeen.set(event.email, event.firstSeen);
      break;
    case 'run':
      if (!state.lastRunAt || event.at > state.lastRunAt) state.lastRunAt = event.at;
      break;
  }
}

/** A delivery that no later run should attempt again. */
export function isFinal(record: DeliveryRecord | undefined): boolean {
  return record !== undefined && (record.status !== 'failed' || record.permanent === true);
}
