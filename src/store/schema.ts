import type { ColumnType, Generated } from 'kysely';

/**
 * The database as Kysely sees it: one schema for SQLite and PostgreSQL. Times are ISO 8601
 * UTC strings (`Date#toISOString`), which sort as text in both engines and need no per-engine
 * conversion; booleans are 0/1 integers for the same reason.
 */
export interface Database {
  subscribers: SubscribersTable;
  consent_events: ConsentEventsTable;
  sections: SectionsTable;
  deliveries: DeliveriesTable;
  delivery_sections: DeliverySectionsTable;
  runs: RunsTable;
  counters: CountersTable;
  seen_ids: SeenIdsTable;
  rate_buckets: RateBucketsTable;
  feedback_counts: FeedbackCountsTable;
  subscribe_intake: SubscribeIntakeTable;
}

export interface SubscribersTable {
  /** Keyset pagination walks this. */
  id: Generated<number>;
  email: string;
  /** Lower-cased address: one person, one row. */
  email_key: string;
  name: string | null;
  status: string;
  /** JSON object: topics, excludeTopics, authors, keywords and any later preference field. */
  preferences: string;
  subscribed_at: string | null;
  transient_bounces: ColumnType<number, number | undefined, number>;
  /** Raised to revoke every older link of this subscriber. */
  token_generation: ColumnType<number, number | undefined, number>;
  /** Unsubscribe links of an older generation than this are refused (revoke-links raises it, a link request does not). */
  unsubscribe_floor: ColumnType<number, number | undefined, number>;
  /** When a run first saw this subscriber active: they get sections opened from then on. */
  first_seen_at: string | null;
  created_at: string;
  updated_at: string;
}

export interface ConsentEventsTable {
  id: Generated<number>;
  subscriber_id: number;
  at: string;
  event: string;
  by: string;
  detail: string | null;
}

export interface SectionsTable {
  date: string;
  status: string;
  hash: string;
  /** When the status last changed. */
  at: string;
  opened_at: string | null;
  sent_at: string | null;
  reason: string | null;
  /** One planner per section: who holds it and until when (renewed while planning). */
  planner_id: string | null;
  planner_expires_at: string | null;
}

/**
 * One email to one subscriber: an *issue*, keyed by `issue` (a section date for daily readers,
 * a roll-up key for weekly ones) and linked to the sections it covers by delivery_sections.
 * `queued` rows are claimed in batches by senders (`claimed_by`, `claim_expires_at`); a claim
 * past its expiry is free to take again.
 */
export interface DeliveriesTable {
  id: Generated<number>;
  issue: string;
  email_key: string;
  subscriber_id: number | null;
  status: string;
  /** 1 when retrying cannot help (SMTP 5xx, rejected address). */
  permanent: ColumnType<number, number | undefined, number>;
  attempts: ColumnType<number, number | undefined, number>;
  message_id: string | null;
  reason: string | null;
  /** Added by 002. */
  stage: ColumnType<string | null, string | null | undefined, string | null>;
  /** Added by 005: claims take queued rows in this order, so equal renders go out together. */
  render_group: ColumnType<string | null, string | null | undefined, string | null>;
  /** Added by 008: JSON array of the paper ids a sent delivery carried; null before 008 and on unsent rows. */
  papers: ColumnType<string | null, string | null | undefined, string | null>;
  claimed_by: string | null;
  claim_expires_at: string | null;
  created_at: string;
  updated_at: string;
}

export interface DeliverySectionsTable {
  delivery_id: number;
  section_date: string;
}

export interface RunsTable {
  id: Generated<number>;
  /** When the pass started. */
  at: string;
  finished_at: string | null;
  command: string;
}

/** Small persisted counters: (name, key, window) -> count, e.g. confirmations per address per hour. */
export interface CountersTable {
  name: string;
  key: string;
  window_start: string;
  count: number;
  expires_at: string;
}

/** Ids already applied (SNS MessageIds ...): a replay changes nothing. */
export interface SeenIdsTable {
  kind: string;
  id: string;
  at: string;
  expires_at: string;
}

/** A send rate shared by every worker process: the next free send slot, on the database clock. */
export interface RateBucketsTable {
  name: string;
  /** Milliseconds since the epoch. */
  next_at: number;
}

/** Added by 006: "more / less like this" clicks applied, per section and paper or topic (no reader named). */
export interface FeedbackCountsTable {
  section_date: string;
  /** `paper` (item: a paper id) or `topic` (item: a topic id). */
  scope: string;
  item: string;
  more_count: ColumnType<number, number | undefined, number>;
  less_count: ColumnType<number, number | undefined, number>;
}

/** Added by 010: subscribe requests answered and not yet handled (the drainer's queue). */
export interface SubscribeIntakeTable {
  id: Generated<number>;
  email: string;
  name: string | null;
  /** JSON array of topic ids. */
  topics: string;
  received_at: string;
  attempts: ColumnType<number, number | undefined, number>;
  next_attempt_at: string;
  claimed_by: string | null;
  claim_expires_at: string | null;
  /** Set when the drainer gave up on the row (attempts used up): kept and reported, not retried. */
  failed_at: string | null;
  last_error: string | null;
}
