import type { HistoryEntry, Subscriber, SubscriberStatus } from '../audience/schema.js';
import type { Problem } from '../errors.js';

/** A subscriber's link generations: which signed links still work (see Store#linkGenerations). */
export interface LinkGenerations {
  /** Manage and web-version links must carry exactly this generation. */
  current: number;
  /** Unsubscribe links must carry a generation from this up to `current`. */
  unsubscribeFloor: number;
}

/** A subscriber as stored: the validated entry plus what the database keeps beside it. */
export interface StoredSubscriber extends Omit<Subscriber, 'history'> {
  id: number;
  /** Raised to revoke every older link of this subscriber. */
  tokenGeneration: number;
  /** When a run first saw them active (ISO); null before that. */
  firstSeenAt: string | null;
}

/** One consent-history row appended with a change. */
export interface Change {
  event: HistoryEntry['event'];
  by: string;
  detail?: string | undefined;
}

/** What a `mutateSubscriber` callback decides, applied in the same single-row transaction. */
export interface Mutation<T> {
  result: T;
  /** Insert or replace the row and append a consent event. */
  put?: { subscriber: Omit<Subscriber, 'history'>; change: Change } | undefined;
  /** Append a consent event without changing the row (e.g. "confirmation-sent"). */
  event?: Change | undefined;
  remove?: boolean | undefined;
  /**
   * Raise the token generation: `true` revokes every link issued so far; `'keep-unsubscribe'`
   * revokes the manage and web-version links but keeps older unsubscribe links working (a
   * reader's link request: anyone can ask for one, and must not disable one-click unsubscribe).
   */
  revokeLinks?: boolean | 'keep-unsubscribe' | undefined;
  /** Rewrite the row unchanged: a known address costs the same write as a new one. */
  touch?: boolean | undefined;
}

export interface SubscriberPage {
  subscribers: StoredSubscriber[];
  /** Rows whose stored data no longer validates: reported, left out, never dropped. */
  problems: Problem[];
  /** Pass as `after` for the next page; null at the end. */
  next: number | null;
}

/** A subscriber search (the preview's audience picker): a part of the address or the name. */
export interface SearchQuery {
  /** Matched anywhere in the address or the name, ignoring case (SQLite: ASCII letters only); empty: everyone. */
  text: string;
  limit: number;
}

export interface SearchResult {
  /** Matches in address order, at most `limit`. */
  subscribers: StoredSubscriber[];
  /** More rows matched than `limit`. */
  more: boolean;
}

/** Subscribers of one status with the same stored preferences, counted (audience statistics). */
export interface PreferenceGroup {
  /** One of them, as stored (its address and name are the lowest-id member's). */
  example: StoredSubscriber;
  count: number;
}

export interface PageQuery {
  /** Last id of the previous page (keyset pagination), 0 or undefined to start. */
  after?: number | undefined;
  limit: number;
  status?: SubscriberStatus | undefined;
  /** Only subscribers first seen at or before this time (a section's opening). */
  firstSeenBy?: string | undefined;
  /** With `firstSeenBy`: also those never seen by a run yet. */
  includeUnseen?: boolean | undefined;
}

/** Stored per section; `future` and `pending` are derived each run, never stored. */
export type SectionStatus = 'sending' | 'sent' | 'before-start' | 'empty' | 'failed';

export interface SectionRecord {
  status: SectionStatus;
  /** Hash of the section text when it was first opened for sending. */
  hash: string;
  at: string;
  /** When sending began: only subscribers first seen by then receive it (no backlog storm). */
  openedAt?: string | undefined;
  sentAt?: string | undefined;
  reason?: string | undefined;
}

/**
 * queued: to send (a sender claims it); claimed: a sender holds it until `claimExpiresAt`;
 * sent / skipped-no-match / cancelled (no longer active when its turn came): final;
 * deferred: a section a weekly reader was not sent on its own (final for the section): it goes
 * in their next roll-up (src/run/rollup.ts), whose row lists it among its sections;
 * failed: final when `permanent`, else re-queued by the next run.
 */
export type DeliveryStatus = 'queued' | 'claimed' | 'sent' | 'skipped-no-match' | 'cancelled' | 'failed' | 'deferred';

/**
 * What happened to the emails of one section (`Store#sectionStats`): delivery outcomes, and the
 * bounces and complaints reported after the send (SES feedback), each attributed to the section
 * of the latest email sent to that reader before the report arrived.
 */
export interface SectionDeliveryStats {
  date: string;
  sent: number;
  /** Failed for good or for now (`rejected` of them refused permanently at send: a hard bounce). */
  failed: number;
  rejected: number;
  skipped: number;
  cancelled: number;
  /** Weekly readers' rows: the section goes to them in a roll-up (counted under `sent` again once that is sent). */
  deferred: number;
  /** Queued or claimed: not handled yet. */
  pending: number;
  /** Reported after the send: permanent (the address is suppressed) and transient bounces. */
  bounces: { permanent: number; transient: number };
  complaints: number;
}

/** Consent events of one UTC day (`Store#subscriberGrowth`). */
export interface GrowthDay {
  /** YYYY-MM-DD */
  day: string;
  /** Subscribe requests (form) and operator adds. */
  new: number;
  /** Rows brought in by an import. */
  imported: number;
  confirmed: number;
  /** Unsubscribes (link, one-click, complaint). */
  unsubscribed: number;
}

export interface DeliveryRecord {
  id: number;
  issue: string;
  sections: string[];
  emailKey: string;
  subscriberId: number | null;
  status: DeliveryStatus;
  permanent: boolean;
  attempts: number;
  messageId: string | null;
  reason: string | null;
  /** Where a failure happened (connection, recipient, data ...), as the transport reports it. */
  stage: string | null;
  /** Paper ids a sent delivery carried (migration 008); null when not recorded (older rows, unsent). */
  papers: string[] | null;
  claimedBy: string | null;
  claimExpiresAt: string | null;
  createdAt: string;
  updatedAt: string;
}

export interface NewDelivery {
  issue: string;
  /** Sections this issue covers (one for a daily reader). */
  sections: string[];
  emailKey: string;
  subscriberId: number | null;
  status: 'queued' | 'sent' | 'skipped-no-match' | 'cancelled' | 'failed' | 'deferred';
  permanent?: boolean | undefined;
  stage?: string | null | undefined;
  messageId?: string | null | undefined;
  reason?: string | null | undefined;
  /** Rows with equal groups are claimed together (a hash of what the row renders); null: none. */
  renderGroup?: string | null | undefined;
  /** A roll-up's papers, fixed when it is planned (ids in the order it shows them). */
  papers?: readonly string[] | undefined;
  at: string;
}

export interface ClaimQuery {
  issue: string;
  /** Who claims: `host:pid:random`, so a claim of a dead local process can be recognised. */
  owner: string;
  limit: number;
  now: Date;
  /** A claim not completed within this time is free to take again. */
  ttlMs: number;
}

export interface ClaimedDelivery extends DeliveryRecord {
  /** null when the subscriber row was removed after queueing. */
  subscriber: StoredSubscriber | null;
}

export interface DeliveryOutcome {
  id: number;
  status: 'sent' | 'failed' | 'skipped-no-match' | 'cancelled';
  messageId?: string | null | undefined;
  /** With `sent`: the paper ids the message carried (a roll-up or a switch never repeats them). */
  papers?: readonly string[] | undefined;
  reason?: string | null | undefined;
  stage?: string | null | undefined;
  permanent?: boolean | undefined;
  at: string;
}

export interface DeliveryFilter {
  section?: string | undefined;
  issue?: string | undefined;
  status?: DeliveryStatus | readonly DeliveryStatus[] | undefined;
  /** Substring of the stored reason (e.g. "550"). */
  reason?: string | undefined;
  emailKey?: string | undefined;
}

export interface MigrationState {
  applied: string[];
  pending: string[];
}

/** One "more / less like this" applied by a reader: what the aggregate counts add (nobody is named). */
export interface FeedbackEvent {
  /** The section the paper was sent in (YYYY-MM-DD). */
  section: string;
  paper: string;
  want: 'more' | 'less';
  /** The topics the reader boosted or lowered (or excluded, counted as less). */
  topics: readonly string[];
}

export interface FeedbackCountRow {
  section: string;
  more: number;
  less: number;
}

/** The operator's view of feedback: per section and paper, per section and topic, most clicks first. */
export interface FeedbackCounts {
  papers: (FeedbackCountRow & { paper: string })[];
  topics: (FeedbackCountRow & { topic: string })[];
}

/** A subscribe form post as the intake stores it (validated before it was written). */
export interface SubscribeIntakeRequest {
  email: string;
  name?: string | undefined;
  topics: string[];
}

/** One claimed intake row: the request, and how many times it was claimed (this one included). */
export interface SubscribeIntakeJob {
  id: number;
  request: SubscribeIntakeRequest;
  receivedAt: string;
  attempts: number;
}

/** The intake rows the drainer gave up on, as the operator sees them (`db status`): never an address or name. */
export interface GivenUpIntake {
  count: number;
  /** When the oldest of them was received (ISO); null when there are none. */
  oldestReceivedAt: string | null;
  /** The one given up last: its id, when, and its last error as recorded (may name the address: mask it to show). */
  latest: { id: number; failedAt: string; error: string | null } | null;
  /** Their ids, oldest first, at most `limit` (for `db intake retry|discard IDS`). */
  ids: number[];
}

/** Which given-up intake rows an operator command acts on. */
export type GivenUpSelection = 'all' | { ids: readonly number[] };
