import type { HistoryEntry, SubscriberStatus } from '../audience/schema.js';
import type { Problem } from '../errors.js';
import type {
  ClaimQuery,
  ClaimedDelivery,
  DeliveryFilter,
  DeliveryOutcome,
  DeliveryRecord,
  DeliveryStatus,
  GrowthDay,
  SectionDeliveryStats,
  LinkGenerations,
  FeedbackCounts,
  FeedbackEvent,
  MigrationState,
  Mutation,
  NewDelivery,
  PageQuery,
  PreferenceGroup,
  SearchQuery,
  SearchResult,
  SectionRecord,
  StoredSubscriber,
  SubscriberPage,
  SubscribeIntakeJob,
  SubscribeIntakeRequest,
  GivenUpIntake,
  GivenUpSelection,
} from './types.js';

export type * from './types.js';

/**
 * All persisted state of digest-mailer, behind one seam: `run`, `schedule`, `serve`, `preview`
 * and the CLI use this and nothing else touches storage. Two engines implement it with the
 * same schema and queries (src/store/kysely-store.ts): SQLite (embedded default) and
 * PostgreSQL (to scale). Every method is one transaction unless it says otherwise.
 */
export interface Store {
  readonly engine: 'sqlite' | 'postgres';
  /** Where the data lives, for messages (a file path, or the database name; never a password). */
  readonly location: string;
  close(): Promise<void>;

  // --- schema ---------------------------------------------------------------------------
  migrate(): Promise<string[]>;
  migrationState(): Promise<MigrationState>;

  // --- subscribers ----------------------------------------------------------------------
  getSubscriber(email: string): Promise<StoredSubscriber | undefined>;
  /** By store id (the compact feedback token names a subscriber so); undefined when unknown or no longer valid. */
  getSubscriberById(id: number): Promise<StoredSubscriber | undefined>;
  /**
   * Reads the subscriber row (or its absence), lets `decide` choose, and applies the choice in
   * the same single-row write transaction: concurrent changes to one address serialise, others
   * do not wait on each other (PostgreSQL) or wait microseconds (SQLite's single writer).
   */
  mutateSubscriber<T>(email: string, decide: (current: StoredSubscriber | undefined) => Mutation<T>): Promise<T>;
  /** One page in id order (keyset pagination: cost does not grow with the offset). */
  subscriberPage(query: PageQuery): Promise<SubscriberPage>;
  /** Pages until the end; memory holds one page at a time. */
  streamSubscribers(query: Omit<PageQuery, 'after'>): AsyncIterable<SubscriberPage>;
  countSubscribers(query?: Pick<PageQuery, 'status' | 'firstSeenBy' | 'includeUnseen'>): Promise<number>;
  /** Subscribers whose address or name holds the text, in address order (a picker, not a send). */
  searchSubscribers(query: SearchQuery): Promise<SearchResult>;
  /**
   * Subscribers of `status` grouped by identical stored preferences, one counted example per
   * group (one grouped query: statistics over 100,000 readers need not load them), and the rows
   * that no longer validate.
   */
  preferenceGroups(status: SubscriberStatus): Promise<{ groups: PreferenceGroup[]; problems: Problem[] }>;
  /**
   * Changes whenever a subscriber is added, changed or removed through this interface (count,
   * highest id, latest consent event): lets a reader of the whole list (the preview) cache
   * what it derived from it.
   */
  subscribersVersion(): Promise<string>;
  consentHistory(email: string): Promise<HistoryEntry[]>;
  /** Adds consent rows from an earlier record (imports), in order, keeping their times. */
  appendConsentEvents(email: string, events: readonly HistoryEntry[]): Promise<void>;
  /** Bulk insert-or-replace (imports): one transaction per call, a consent event per row. */
  importSubscribers(entries: readonly { subscriber: Omit<StoredSubscriber, 'id' | 'tokenGeneration' | 'firstSeenAt'>; history: readonly HistoryEntry[] }[], by: string): Promise<number>;
  /** Deletes pending subscribers who subscribed before `cutoff` and never confirmed; returns how many. */
  expirePending(cutoff: string): Promise<number>;
  /** Records "first seen" = `at` for every active subscriber not seen before; returns how many. */
  markFirstSeen(at: string): Promise<number>;
  setFirstSeen(email: string, at: string): Promise<void>;
  /** Current token generation (0 for a new subscriber); undefined when unknown. */
  tokenGeneration(email: string): Promise<number | undefined>;
  /** The token generation and the oldest generation an unsubscribe link may carry; undefined when unknown. */
  linkGenerations(email: string): Promise<LinkGenerations | undefined>;

  // --- sections -------------------------------------------------------------------------
  sections(): Promise<Map<string, SectionRecord>>;
  section(date: string): Promise<SectionRecord | undefined>;
  putSection(date: string, record: SectionRecord): Promise<void>;
  /**
   * Marks a section `sending` for a pass that sends it, atomically (several workers may start
   * it at once): its opening time stays the first one recorded (else `at`), and the hash of
   * what first went out stays once it was sending or sent (else `hash`). A section already
   * sent stays sent (a worker that came late finds nothing to do) unless `reopenSent` (run
   * --section on a sent section). Returns the record.
   */
  openSection(date: string, hash: string, at: string, reopenSent?: boolean): Promise<SectionRecord>;
  /** Sections every recipient has been handled for, oldest first (archive, feeds). */
  sentSections(): Promise<{ date: string; sentAt: string | null; hash: string }[]>;
  /**
   * One planner per section: takes (or renews) the planner lease of `date` for `owner` unless
   * another owner holds an unexpired one whose holder `isDead` does not say is gone (a killed
   * process on this host). Returns whether `owner` holds it now.
   */
  acquirePlanner(date: string, owner: string, now: Date, ttlMs: number, isDead?: (owner: string) => boolean): Promise<boolean>;
  releasePlanner(date: string, owner: string): Promise<void>;
  /** Who holds the planner lease of `date` and until when (ISO); null when nobody does. */
  plannerOf(date: string): Promise<{ owner: string; expiresAt: string } | null>;

  // --- deliveries -----------------------------------------------------------------------
  /** The records of `issue` for these addresses (lower-cased keys), by key. */
  deliveriesFor(issue: string, emailKeys: readonly string[]): Promise<Map<string, DeliveryRecord>>;
  /** Inserts rows that do not exist yet (one transaction); existing (issue, address) rows stay. Returns how many were new. */
  insertDeliveries(rows: readonly NewDelivery[]): Promise<number>;
  /**
   * Claims up to `limit` queued (or expired-claim) deliveries of an issue for `owner`: expired
   * claims first, then queued rows by render group (equal renders together), oldest first
   * within; on PostgreSQL with FOR UPDATE SKIP LOCKED, so concurrent senders take disjoint batches.
   */
  claimDeliveries(query: ClaimQuery): Promise<ClaimedDelivery[]>;
  /** Records outcomes of claimed deliveries in one transaction (group commit) and drops their claims. */
  completeDeliveries(outcomes: readonly DeliveryOutcome[]): Promise<void>;
  /**
   * Extends the lease of every claim `owner` holds on `issue` to now + ttlMs (a live sender
   * renews while it works, so only a dead or stuck one's claims expire). Returns how many.
   */
  renewClaims(issue: string, owner: string, now: Date, ttlMs: number): Promise<number>;
  /** Puts `owner`'s unfinished claims back in the queue (a clean stop). */
  releaseClaims(issue: string, owner: string): Promise<number>;
  /** Frees claims that expired or whose owner `isDead` says is gone; returns how many. */
  resetStaleClaims(issue: string, now: Date, isDead: (owner: string) => boolean): Promise<number>;
  countDeliveries(issue: string): Promise<Record<DeliveryStatus, number>>;
  /** Deliveries of `issue` without a final outcome: queued, claimed, or failed but not permanently. */
  unfinishedDeliveries(issue: string): Promise<number>;
  /**
   * Every delivery row of these readers (lower-cased keys) that covers one of `sectionDates`, in
   * id order, by key: what a roll-up or a cadence switch needs to know was deferred, sent (and
   * with which papers) or is still in flight for them.
   */
  readerDeliveries(emailKeys: readonly string[], sectionDates: readonly string[]): Promise<Map<string, DeliveryRecord[]>>;
  /** Readers with a `deferred` row for one of these sections (owed a roll-up), by key. */
  deferredReaders(sectionDates: readonly string[]): Promise<Set<string>>;
  /** Deliveries matching the filter, in id order, a page at a time. */
  listDeliveries(filter: DeliveryFilter, page?: { after?: number; limit?: number }): Promise<DeliveryRecord[]>;
  /** Puts matching deliveries (default: non-permanent failures) back in the queue; returns how many. */
  requeueDeliveries(filter: DeliveryFilter & { includePermanent?: boolean }, at: string): Promise<number>;

  // --- statistics -------------------------------------------------------------------------
  /**
   * Per section (all, or those of `dates`), in date order: delivery outcomes, and bounces and
   * complaints reported by SES after the send, attributed to the section(s) of the latest email
   * sent to that reader at or before the report (one grouped query each).
   */
  sectionStats(dates?: readonly string[]): Promise<SectionDeliveryStats[]>;
  /** Subscriber growth per UTC day from the consent events (from `since`, YYYY-MM-DD), oldest first; days without events left out. */
  subscriberGrowth(since?: string): Promise<GrowthDay[]>;

  // --- shared send rate ---------------------------------------------------------------------
  /**
   * Reserves `count` send slots `intervalMs` apart from the bucket `name`, shared by every
   * worker process: one atomic upsert moves the bucket's next free slot on, so slots handed
   * to different workers never overlap and the total rate is 1000/intervalMs per second. Time
   * is the database's clock (workers on several machines need not agree on theirs).
   * Returns how long until the first reserved slot (0 when it is now) and when it is (ms since
   * the epoch, database clock); the others follow every `intervalMs`. Idle time is not saved
   * up: a bucket never allows a burst.
   */
  reserveSendSlots(name: string, count: number, intervalMs: number): Promise<{ waitMs: number; startAt: number }>;

  // --- runs -----------------------------------------------------------------------------
  startRun(at: string, command: string): Promise<number>;
  finishRun(id: number, at: string): Promise<void>;
  /** When the last finished pass started (the scheduler's catch-up); null before the first. */
  lastRunAt(): Promise<string | null>;

  // --- small persisted counters -----------------------------------------------------------
  /** Adds one to (name, key, window) and returns the new count. */
  incrementCounter(name: string, key: string, windowStart: string, expiresAt: string): Promise<number>;
  counterValue(name: string, key: string, windowStart: string): Promise<number>;
  /** Records an id (e.g. an SNS MessageId); false when it was already recorded (a replay). */
  markSeen(kind: string, id: string, at: string, expiresAt: string): Promise<boolean>;
  /** Forgets a recorded id (its handling failed, so a redelivery must be applied). */
  forgetSeen(kind: string, id: string): Promise<void>;
  /** Deletes counters and seen ids past their expiry. */
  pruneExpired(now: string): Promise<void>;

  // --- subscribe intake (the form's durable queue) ----------------------------------------
  /** Stores one subscribe request for the drainer: one single-row insert, the same for every address. Returns its id. */
  enqueueSubscribe(request: SubscribeIntakeRequest, at: string): Promise<number>;
  /**
   * Claims the oldest intake row that is due (not given up, its retry time reached, unclaimed or
   * its claim expired) for `owner` until now + ttlMs, counting the attempt; undefined when none.
   */
  claimSubscribeIntake(owner: string, now: Date, ttlMs: number): Promise<SubscribeIntakeJob | undefined>;
  /** Deletes a handled intake row. */
  completeSubscribeIntake(id: number): Promise<void>;
  /**
   * Records a failed attempt and drops the claim: retried from `retryAt`, or given up
   * (`failed_at` = `at`, kept for the operator) when `retryAt` is null.
   */
  failSubscribeIntake(id: number, error: string, at: string, retryAt: string | null): Promise<void>;
  /** Drops the claims of `owner` (a clean stop), or of every owner `isDead` says is gone (a start after a crash); returns how many. */
  releaseSubscribeIntake(which: { owner: string } | { isDead: (owner: string) => boolean }): Promise<number>;
  /** Intake rows waiting (or in hand) and given up. */
  subscribeIntakeCounts(): Promise<{ queued: number; failed: number }>;
  /** The given-up rows for the operator (`db status`): how many, the oldest, the last one's error, the first `limit` ids. */
  givenUpSubscribeIntake(limit: number): Promise<GivenUpIntake>;
  /**
   * Puts given-up rows back in the queue as new (attempts from 0, due at `at`): the drainer of
   * a running `serve` takes them on its next poll. Rows not given up are left alone. Returns
   * the ids queued again.
   */
  retrySubscribeIntake(which: GivenUpSelection, at: string): Promise<number[]>;
  /** Deletes given-up rows (and with them the address and name); rows not given up are left alone. Returns the ids deleted. */
  discardSubscribeIntake(which: GivenUpSelection): Promise<number[]>;
  /** Deletes rows given up before `cutoff` (personal data retention, `web.intakeRetentionDays`); returns how many. */
  purgeSubscribeIntake(givenUpBefore: string): Promise<number>;

  // --- "more / less like this" ----------------------------------------------------------
  /** Adds one applied feedback to the aggregate counts of its paper and of each of its topics (one transaction). */
  recordFeedback(event: FeedbackEvent): Promise<void>;
  /** The aggregate counts, of one section or all; no reader is ever named. */
  feedbackCounts(query?: { section?: string }): Promise<FeedbackCounts>;
}
