import { Migrator, sql, CompiledQuery, type Kysely, type Selectable, type Transaction } from 'kysely';
import { addressKey, historyEntrySchema, subscriberSchema, type HistoryEntry, type SubscriberStatus } from '../audience/schema.js';
import { describeZodIssues } from '../config/load.js';
import type { Problem } from '../errors.js';
import { migrationProvider } from './migrations.js';
import type { Database, DeliveriesTable, SubscribersTable } from './schema.js';
import type { Store } from './store.js';
import type {
  Change,
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
  SectionStatus,
  StoredSubscriber,
  SubscriberPage,
  SubscribeIntakeJob,
  SubscribeIntakeRequest,
  GivenUpIntake,
  GivenUpSelection,
} from './types.js';

type Db = Kysely<Database> | Transaction<Database>;
type SubscriberRow = Selectable<SubscribersTable>;
type DeliveryRow = Selectable<DeliveriesTable>;

const CORE_FIELDS = new Set(['email', 'name', 'status', 'subscribedAt', 'transientBounces', 'history', 'id', 'tokenGeneration', 'firstSeenAt']);
/** Parameters per statement stay well below SQLite's and PostgreSQL's limits. */
const CHUNK = 500;

function chunks<T>(items: readonly T[], size = CHUNK): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

/** Everything but the columned fields goes into `preferences`, so a new preference needs no migration. */
function preferencesOf(subscriber: Record<string, unknown>): string {
  const prefs: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(subscriber)) if (!CORE_FIELDS.has(key) && value !== undefined) prefs[key] = value;
  return JSON.stringify(prefs);
}

function toSubscriber(row: SubscriberRow): { ok: true; value: StoredSubscriber } | { ok: false; problem: Problem } {
  let prefs: Record<string, unknown> = {};
  try {
    prefs = JSON.parse(row.preferences) as Record<string, unknown>;
  } catch {
    /* reported by validation below */
  }
  const candidate = {
    ...prefs,
    email: row.email,
    status: row.status,
    ...(row.name !== null ? { name: row.name } : {}),
    ...(row.subscribed_at !== null ? { subscribedAt: row.subscribed_at } : {}),
    ...(row.transient_bounces > 0 ? { transientBounces: row.transient_bounces } : {}),
  };
  const parsed = subscriberSchema.safeParse(candidate);
  if (!parsed.success) {
    return { ok: false, problem: { where: `subscriber #${row.id} (${row.email})`, message: describeZodIssues(parsed.error.issues).join('; '), hint: 'Fix it with "digest-mailer subscribers add" or remove it.' } };
  }
  const { history: _history, ...subscriber } = parsed.data;
  return { ok: true, value: { ...subscriber, id: Number(row.id), tokenGeneration: row.token_generation, firstSeenAt: row.first_seen_at } };
}

function toDelivery(row: DeliveryRow, sections: string[]): DeliveryRecord {
  return {
    id: Number(row.id),
    issue: row.issue,
    sections,
    emailKey: row.email_key,
    subscriberId: row.subscriber_id === null ? null : Number(row.subscriber_id),
    status: row.status as DeliveryStatus,
    permanent: row.permanent === 1,
    attempts: row.attempts,
    messageId: row.message_id,
    reason: row.reason,
    stage: row.stage ?? null,
    papers: row.papers ? (JSON.parse(row.papers) as string[]) : null,
    claimedBy: row.claimed_by,
    claimExpiresAt: row.claim_expires_at,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

/**
 * A query compiled once with stand-in values, then run with each call's values in their
 * places: the SQL (and so the parameter order) comes from Kysely for the engine, only the
 * values change. Each value must be a column value the builder passes through as a parameter.
 */
function precompiled<V extends Record<string, string | null>, O>(database: () => Kysely<Database>, build: (db: Kysely<Database>, values: V) => { compile(): CompiledQuery<O> }) {
  let compiled: { query: CompiledQuery<O>; slots: (keyof V)[] } | undefined;
  return {
    with(values: V): CompiledQuery<O> {
      if (!compiled) {
        const keys = Object.keys(values) as (keyof V)[];
        const standIns = Object.fromEntries(keys.map((k) => [k, `\u0000precompiled:${String(k)}`])) as V;
        const query = build(database(), standIns).compile();
        const slots = query.parameters.map((p) => keys.find((k) => standIns[k] === p));
        if (slots.some((k) => k === undefined)) throw new Error('precompiled: a parameter that is not one of the values');
        compiled = { query, slots: slots as (keyof V)[] };
      }
      const { query, slots } = compiled;
      return { ...query, parameters: slots.map((k) => values[k]) };
    },
  };
}

// Compiled once: a send commits every few recipients.
const BEGIN_IMMEDIATE = CompiledQuery.raw('begin immediate');
const COMMIT = CompiledQuery.raw('commit');
const ROLLBACK = CompiledQuery.raw('rollback');

/** An outcome's values, in the column order of outcomeUpdate's VALUES rows. */
function outcomeValues(o: DeliveryOutcome): (string | number | null)[] {
  return [o.id, o.status, o.messageId ?? null, o.reason?.slice(0, 1000) ?? null, o.stage ?? null, o.permanent ? 1 : 0, o.at, o.papers ? JSON.stringify(o.papers) : null];
}

/**
 * One UPDATE ... FROM (VALUES ...) for `rows` outcomes (on both engines; VALUES columns are
 * named column1, column2 ... by both), compiled once per row count: a send runs it every
 * few recipients, and building and compiling its nodes again each time was JavaScript work on
 * every message's path.
 */
function outcomeUpdate(db: Kysely<Database>, rows: number): CompiledQuery {
  const slot = (i: number) => `\u0000outcome:${i}`;
  let i = 0;
  const values = Array.from({ length: rows }, () => {
    const v = Array.from({ length: 8 }, () => slot(i++));
    return sql`(CAST(${v[0]} AS bigint), CAST(${v[1]} AS text), CAST(${v[2]} AS text), CAST(${v[3]} AS text), CAST(${v[4]} AS text), CAST(${v[5]} AS integer), CAST(${v[6]} AS text), CAST(${v[7]} AS text))`;
  });
  const query = sql`UPDATE deliveries SET status = v.column2, message_id = v.column3, reason = v.column4, stage = v.column5, permanent = v.column6,
    claimed_by = NULL, claim_expires_at = NULL, updated_at = v.column7, papers = v.column8
    FROM (VALUES ${sql.join(values)}) AS v WHERE deliveries.id = v.column1`.compile(db);
  // The values must come out as parameters in row order, for the flat array of a call's values.
  if (query.parameters.length !== i || query.parameters.some((p, n) => p !== slot(n))) throw new Error('outcomeUpdate: parameters out of order');
  return query;
}

const EMPTY_COUNTS = (): Record<DeliveryStatus, number> => ({ queued: 0, claimed: 0, sent: 0, 'skipped-no-match': 0, cancelled: 0, failed: 0, deferred: 0 });

/**
 * The one implementation of `Store`: the same Kysely queries on both engines. The engine
 * differences are two: how a write transaction starts (SQLite: BEGIN IMMEDIATE, so two
 * processes never deadlock upgrading a read lock; PostgreSQL: a normal transaction with row
 * locks) and FOR UPDATE SKIP LOCKED when claiming deliveries on PostgreSQL.
 */
export class KyselyStore implements Store {
  constructor(
    readonly db: Kysely<Database>,
    readonly engine: 'sqlite' | 'postgres',
    readonly location: string,
    private readonly onClose: () => Promise<void> = async () => {},
  ) {}

  /** completeDeliveries' statement by row count (at most CHUNK entries). */
  private readonly outcomeStatements = new Map<number, CompiledQuery>();

  async close(): Promise<void> {
    await this.db.destroy();
    await this.onClose();
  }

  /** A write transaction. */
  private async write<T>(fn: (trx: Db) => Promise<T>): Promise<T> {
    if (this.engine === 'postgres') return this.db.transaction().execute(fn);
    // Kysely's SQLite driver owns one connection; this holds it for the whole transaction.
    return this.db.connection().execute(async (conn) => {
      await conn.executeQuery(BEGIN_IMMEDIATE);
      try {
        const result = await fn(conn);
        await conn.executeQuery(COMMIT);
        return result;
      } catch (err) {
        await conn.executeQuery(ROLLBACK).catch(() => undefined);
        throw err;
      }
    });
  }

  // --- schema ---------------------------------------------------------------------------

  private migrator(): Migrator {
    return new Migrator({ db: this.db, provider: migrationProvider });
  }

  async migrate(): Promise<string[]> {
    const { error, results } = await this.migrator().migrateToLatest();
    if (error) throw error instanceof Error ? error : new Error(String(error));
    return (results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName);
  }

  async migrationState(): Promise<MigrationState> {
    const all = await this.migrator().getMigrations();
    return {
      applied: all.filter((m) => m.executedAt !== undefined).map((m) => m.name),
      pending: all.filter((m) => m.executedAt === undefined).map((m) => m.name),
    };
  }

  // --- subscribers ----------------------------------------------------------------------

  private async rowByEmail(db: Db, email: string): Promise<SubscriberRow | undefined> {
    return db.selectFrom('subscribers').selectAll().where('email_key', '=', addressKey(email)).executeTakeFirst();
  }

  async getSubscriber(email: string): Promise<StoredSubscriber | undefined> {
    const row = await this.rowByEmail(this.db, email);
    if (!row) return undefined;
    const parsed = toSubscriber(row);
    return parsed.ok ? parsed.value : undefined;
  }

  async getSubscriberById(id: number): Promise<StoredSubscriber | undefined> {
    if (!Number.isSafeInteger(id) || id <= 0) return undefined;
    const row = await this.db.selectFrom('subscribers').selectAll().where('id', '=', id).executeTakeFirst();
    if (!row) return undefined;
    const parsed = toSubscriber(row);
    return parsed.ok ? parsed.value : undefined;
  }

  async mutateSubscriber<T>(email: string, decide: (current: StoredSubscriber | undefined) => Mutation<T>): Promise<T> {
    return this.write(async (trx) => {
      const locked = this.engine === 'postgres'
        ? await trx.selectFrom('subscribers').selectAll().where('email_key', '=', addressKey(email)).forUpdate().executeTakeFirst()
        : await this.rowByEmail(trx, email);
      const parsed = locked ? toSubscriber(locked) : undefined;
      const current = parsed?.ok ? parsed.value : undefined;
      const mutation = decide(current);
      const now = new Date().toISOString();
      let id = locked ? Number(locked.id) : undefined;
      if (mutation.remove) {
        if (id !== undefined) await trx.deleteFrom('subscribers').where('id', '=', id).execute();
        return mutation.result;
      }
      if (mutation.put) id = await this.upsert(trx, mutation.put.subscriber, now, locked);
      if (mutation.touch && !mutation.put && id !== undefined) {
        await trx.updateTable('subscribers').set({ updated_at: sql`updated_at` }).where('id', '=', id).execute();
      }
      if (mutation.revokeLinks && id !== undefined) {
        // Both right-hand sides read the row as it was: the floor becomes the new generation.
        const floor = mutation.revokeLinks === true ? { unsubscribe_floor: sql<number>`token_generation + 1` } : {};
        await trx.updateTable('subscribers').set({ token_generation: sql`token_generation + 1`, ...floor, updated_at: now }).where('id', '=', id).execute();
      }
      const change = mutation.put?.change ?? mutation.event;
      if (change && id !== undefined) await this.addEvent(trx, id, change, now);
      return mutation.result;
    });
  }

  private columns(subscriber: Omit<StoredSubscriber, 'id' | 'tokenGeneration' | 'firstSeenAt'>, now: string) {
    return {
      email: subscriber.email,
      name: subscriber.name ?? null,
      status: subscriber.status,
      preferences: preferencesOf(subscriber as unknown as Record<string, unknown>),
      subscribed_at: subscriber.subscribedAt ?? null,
      transient_bounces: subscriber.transientBounces ?? 0,
      updated_at: now,
    };
  }

  private async upsert(trx: Db, subscriber: Omit<StoredSubscriber, 'id' | 'tokenGeneration' | 'firstSeenAt'>, now: string, existing: SubscriberRow | undefined): Promise<number> {
    const values = this.columns(subscriber, now);
    if (existing) {
      await trx.updateTable('subscribers').set(values).where('id', '=', existing.id).execute();
      return Number(existing.id);
    }
    const row = await trx
      .insertInto('subscribers')
      .values({ ...values, email_key: addressKey(subscriber.email), created_at: now })
      .returning('id')
      .executeTakeFirstOrThrow();
    return Number(row.id);
  }

  private async addEvent(trx: Db, subscriberId: number, change: Change & { at?: string }, now: string): Promise<void> {
    await trx
      .insertInto('consent_events')
      .values({ subscriber_id: subscriberId, at: change.at ?? now, event: change.event, by: change.by, detail: change.detail?.slice(0, 500) ?? null })
      .execute();
  }

  async subscriberPage(query: PageQuery): Promise<SubscriberPage> {
    let q = this.db.selectFrom('subscribers').selectAll().where('id', '>', query.after ?? 0);
    if (query.status) q = q.where('status', '=', query.status);
    if (query.firstSeenBy !== undefined) {
      const by = query.firstSeenBy;
      q = q.where((eb) => (query.includeUnseen ? eb.or([eb('first_seen_at', 'is', null), eb('first_seen_at', '<=', by)]) : eb('first_seen_at', '<=', by)));
    }
    const rows = await q.orderBy('id').limit(query.limit).execute();
    const page: SubscriberPage = { subscribers: [], problems: [], next: rows.length === query.limit ? Number(rows.at(-1)!.id) : null };
    for (const row of rows) {
      const parsed = toSubscriber(row);
      if (parsed.ok) page.subscribers.push(parsed.value);
      else page.problems.push(parsed.problem);
    }
    return page;
  }

  async *streamSubscribers(query: Omit<PageQuery, 'after'>): AsyncIterable<SubscriberPage> {
    let after = 0;
    for (;;) {
      const page = await this.subscriberPage({ ...query, after });
      yield page;
      if (page.next === null) return;
      after = page.next;
    }
  }

  async countSubscribers(query: Pick<PageQuery, 'status' | 'firstSeenBy' | 'includeUnseen'> = {}): Promise<number> {
    let q = this.db.selectFrom('subscribers').select((eb) => eb.fn.countAll<number | string>().as('n'));
    if (query.status) q = q.where('status', '=', query.status);
    if (query.firstSeenBy !== undefined) {
      const by = query.firstSeenBy;
      q = q.where((eb) => (query.includeUnseen ? eb.or([eb('first_seen_at', 'is', null), eb('first_seen_at', '<=', by)]) : eb('first_seen_at', '<=', by)));
    }
    const row = await q.executeTakeFirstOrThrow();
    return Number(row.n);
  }

  async searchSubscribers(query: SearchQuery): Promise<SearchResult> {
    // LIKE's wildcards in the text are literal; lower() on both sides (SQLite folds ASCII only).
    const pattern = `%${query.text.trim().toLowerCase().replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
    const rows = await this.db
      .selectFrom('subscribers')
      .selectAll()
      .where((eb) => eb.or([sql<boolean>`email_key like ${pattern} escape '\\'`, sql<boolean>`lower(name) like ${pattern} escape '\\'`]))
      .orderBy('email_key')
      .limit(query.limit + 1)
      .execute();
    const subscribers: StoredSubscriber[] = [];
    for (const row of rows.slice(0, query.limit)) {
      const parsed = toSubscriber(row);
      if (parsed.ok) subscribers.push(parsed.value);
    }
    return { subscribers, more: rows.length > query.limit };
  }

  async preferenceGroups(status: SubscriberStatus): Promise<{ groups: PreferenceGroup[]; problems: Problem[] }> {
    const counted = await this.db
      .selectFrom('subscribers')
      .select((eb) => [eb.fn.min('id').as('first'), eb.fn.countAll<number | string>().as('n')])
      .where('status', '=', status)
      .groupBy('preferences')
      .execute();
    const countOf = new Map(counted.map((g) => [Number(g.first), Number(g.n)]));
    const groups: PreferenceGroup[] = [];
    const problems: Problem[] = [];
    for (const ids of chunks([...countOf.keys()].sort((a, b) => a - b))) {
      for (const row of await this.db.selectFrom('subscribers').selectAll().where('id', 'in', ids).orderBy('id').execute()) {
        const parsed = toSubscriber(row);
        const count = countOf.get(Number(row.id))!;
        if (parsed.ok) groups.push({ example: parsed.value, count });
        else problems.push(count > 1 ? { ...parsed.problem, message: `${parsed.problem.message} (and ${count - 1} more with the same preferences)` } : parsed.problem);
      }
    }
    return { groups, problems };
  }

  async subscribersVersion(): Promise<string> {
    // Every change a caller can make to a row appends a consent event (ids only grow); a removal
    // lowers the count. So: no scan of a changed-at column, which has no index.
    const rows = await this.db
      .selectFrom('subscribers')
      .select((eb) => [eb.fn.countAll<number | string>().as('n'), eb.fn.max('id').as('last')])
      .executeTakeFirstOrThrow();
    const events = await this.db.selectFrom('consent_events').select((eb) => eb.fn.max('id').as('last')).executeTakeFirstOrThrow();
    return `${Number(rows.n)}:${rows.last ?? 0}:${events.last ?? 0}`;
  }

  async consentHistory(email: string): Promise<HistoryEntry[]> {
    const rows = await this.db
      .selectFrom('consent_events')
      .innerJoin('subscribers', 'subscribers.id', 'consent_events.subscriber_id')
      .select(['consent_events.at', 'consent_events.event', 'consent_events.by', 'consent_events.detail'])
      .where('subscribers.email_key', '=', addressKey(email))
      .orderBy('consent_events.id')
      .execute();
    return rows.flatMap((r) => {
      const parsed = historyEntrySchema.safeParse({ at: r.at, event: r.event, by: r.by, ...(r.detail !== null ? { detail: r.detail } : {}) });
      return parsed.success ? [parsed.data] : [];
    });
  }

  async appendConsentEvents(email: string, events: readonly HistoryEntry[]): Promise<void> {
    await this.write(async (trx) => {
      const row = await this.rowByEmail(trx, email);
      if (!row) return;
      const now = new Date().toISOString();
      for (const event of events) await this.addEvent(trx, Number(row.id), event, now);
    });
  }

  async importSubscribers(
    entries: readonly { subscriber: Omit<StoredSubscriber, 'id' | 'tokenGeneration' | 'firstSeenAt'>; history: readonly HistoryEntry[] }[],
    by: string,
  ): Promise<number> {
    let count = 0;
    // A few statements per 200 rows, not several per row: 100,000 subscribers import in seconds.
    for (const part of chunks(entries, 200)) {
      await this.write(async (trx) => {
        const now = new Date().toISOString();
        // The last entry of an address wins, as one-by-one upserts would have it.
        const byKey = new Map(part.map((e) => [addressKey(e.subscriber.email), e]));
        const keys = [...byKey.keys()];
        const existing = new Map((await trx.selectFrom('subscribers').selectAll().where('email_key', 'in', keys).execute()).map((r) => [r.email_key, r]));
        const ids = new Map<string, number>();
        for (const [key, { subscriber }] of byKey) {
          const row = existing.get(key);
          if (row) ids.set(key, await this.upsert(trx, subscriber, now, row));
        }
        const fresh = keys.filter((k) => !existing.has(k));
        if (fresh.length > 0) {
          const created = await trx
            .insertInto('subscribers')
            .values(fresh.map((key) => ({ ...this.columns(byKey.get(key)!.subscriber, now), email_key: key, created_at: now })))
            .returning(['id', 'email_key'])
            .execute();
          for (const c of created) ids.set(c.email_key, Number(c.id));
        }
        const events = [...byKey].flatMap(([key, { history }]) => {
          const id = ids.get(key)!;
          return [...history.map((h) => ({ ...h, subscriberId: id })), { at: now, event: 'imported' as const, by, subscriberId: id }];
        });
        for (const eventPart of chunks(events)) {
          await trx
            .insertInto('consent_events')
            .values(eventPart.map((e) => ({ subscriber_id: e.subscriberId, at: e.at, event: e.event, by: e.by, detail: e.detail?.slice(0, 500) ?? null })))
            .execute();
        }
        count += part.length;
      });
    }
    return count;
  }

  async expirePending(cutoff: string): Promise<number> {
    const result = await this.db.deleteFrom('subscribers').where('status', '=', 'pending').where('subscribed_at', '<', cutoff).executeTakeFirst();
    return Number(result.numDeletedRows);
  }

  async markFirstSeen(at: string): Promise<number> {
    const result = await this.db
      .updateTable('subscribers')
      .set({ first_seen_at: at })
      .where('status', '=', 'active')
      .where('first_seen_at', 'is', null)
      .executeTakeFirst();
    return Number(result.numUpdatedRows);
  }

  async setFirstSeen(email: string, at: string): Promise<void> {
    await this.db.updateTable('subscribers').set({ first_seen_at: at }).where('email_key', '=', addressKey(email)).execute();
  }

  async tokenGeneration(email: string): Promise<number | undefined> {
    const row = await this.db.selectFrom('subscribers').select('token_generation').where('email_key', '=', addressKey(email)).executeTakeFirst();
    return row?.token_generation;
  }

  async linkGenerations(email: string): Promise<LinkGenerations | undefined> {
    const row = await this.db.selectFrom('subscribers').select(['token_generation', 'unsubscribe_floor']).where('email_key', '=', addressKey(email)).executeTakeFirst();
    return row && { current: row.token_generation, unsubscribeFloor: row.unsubscribe_floor };
  }

  // --- sections -------------------------------------------------------------------------

  async sections(): Promise<Map<string, SectionRecord>> {
    const rows = await this.db.selectFrom('sections').selectAll().orderBy('date').execute();
    return new Map(rows.map((r) => [r.date, sectionRecord(r)]));
  }

  async section(date: string): Promise<SectionRecord | undefined> {
    const row = await this.db.selectFrom('sections').selectAll().where('date', '=', date).executeTakeFirst();
    return row ? sectionRecord(row) : undefined;
  }

  async putSection(date: string, record: SectionRecord): Promise<void> {
    const values = {
      status: record.status,
      hash: record.hash,
      at: record.at,
      opened_at: record.openedAt ?? null,
      sent_at: record.sentAt ?? (record.status === 'sent' ? record.at : null),
      reason: record.reason ?? null,
    };
    await this.db
      .insertInto('sections')
      .values({ date, ...values })
      .onConflict((oc) => oc.column('date').doUpdateSet(values))
      .execute();
  }

  async openSection(date: string, hash: string, at: string, reopenSent = false): Promise<SectionRecord> {
    return this.write(async (trx) => {
      // Two workers may open a new section at once: the first insert wins, the other updates.
      await trx.insertInto('sections').values({ date, status: 'sending', hash, at, opened_at: at }).onConflict((oc) => oc.column('date').doNothing()).execute();
      let pick = trx.selectFrom('sections').selectAll().where('date', '=', date);
      if (this.engine === 'postgres') pick = pick.forUpdate();
      const row = await pick.executeTakeFirstOrThrow();
      if (row.status === 'sent' && !reopenSent) return sectionRecord(row);
      const keepHash = row.status === 'sent' || row.status === 'sending';
      const values = { status: 'sending', hash: keepHash ? row.hash : hash, at, opened_at: row.opened_at ?? at, sent_at: null, reason: null };
      await trx.updateTable('sections').set(values).where('date', '=', date).execute();
      return sectionRecord(values);
    });
  }

  async sentSections(): Promise<{ date: string; sentAt: string | null; hash: string }[]> {
    const rows = await this.db.selectFrom('sections').select(['date', 'sent_at', 'hash']).where('status', '=', 'sent').orderBy('date').execute();
    return rows.map((r) => ({ date: r.date, sentAt: r.sent_at, hash: r.hash }));
  }

  async acquirePlanner(date: string, owner: string, now: Date, ttlMs: number, isDead: (owner: string) => boolean = () => false): Promise<boolean> {
    const at = now.toISOString();
    const until = new Date(now.getTime() + ttlMs).toISOString();
    return this.write(async (trx) => {
      let pick = trx.selectFrom('sections').select(['planner_id', 'planner_expires_at']).where('date', '=', date);
      // Row lock on PostgreSQL: two workers asking at once must not both be told yes.
      if (this.engine === 'postgres') pick = pick.forUpdate();
      const row = await pick.executeTakeFirst();
      if (!row) throw new Error(`section ${date} is not recorded yet; record it before planning`);
      const free = row.planner_id === null || row.planner_id === owner || (row.planner_expires_at ?? '') < at || isDead(row.planner_id);
      if (!free) return false;
      await trx.updateTable('sections').set({ planner_id: owner, planner_expires_at: until }).where('date', '=', date).execute();
      return true;
    });
  }

  async releasePlanner(date: string, owner: string): Promise<void> {
    await this.db.updateTable('sections').set({ planner_id: null, planner_expires_at: null }).where('date', '=', date).where('planner_id', '=', owner).execute();
  }

  async plannerOf(date: string): Promise<{ owner: string; expiresAt: string } | null> {
    const row = await this.db.selectFrom('sections').select(['planner_id', 'planner_expires_at']).where('date', '=', date).executeTakeFirst();
    return row?.planner_id ? { owner: row.planner_id, expiresAt: row.planner_expires_at ?? '' } : null;
  }

  // --- deliveries -----------------------------------------------------------------------

  private async sectionsOf(ids: readonly number[]): Promise<Map<number, string[]>> {
    const map = new Map<number, string[]>();
    for (const part of chunks(ids)) {
      if (part.length === 0) continue;
      const rows = await this.db.selectFrom('delivery_sections').selectAll().where('delivery_id', 'in', part).orderBy('section_date').execute();
      for (const r of rows) {
        const id = Number(r.delivery_id);
        map.set(id, [...(map.get(id) ?? []), r.section_date]);
      }
    }
    return map;
  }

  private async withSections(rows: DeliveryRow[]): Promise<DeliveryRecord[]> {
    const sections = await this.sectionsOf(rows.map((r) => Number(r.id)));
    return rows.map((r) => toDelivery(r, sections.get(Number(r.id)) ?? []));
  }

  async deliveriesFor(issue: string, emailKeys: readonly string[]): Promise<Map<string, DeliveryRecord>> {
    const map = new Map<string, DeliveryRecord>();
    for (const part of chunks(emailKeys)) {
      if (part.length === 0) continue;
      const rows = await this.db.selectFrom('deliveries').selectAll().where('issue', '=', issue).where('email_key', 'in', part).execute();
      for (const record of await this.withSections(rows)) map.set(record.emailKey, record);
    }
    return map;
  }

  async insertDeliveries(rows: readonly NewDelivery[]): Promise<number> {
    let inserted = 0;
    for (const part of chunks(rows, 200)) {
      await this.write(async (trx) => {
        const created = await trx
          .insertInto('deliveries')
          .values(
            part.map((d) => ({
              issue: d.issue,
              email_key: d.emailKey,
              subscriber_id: d.subscriberId,
              status: d.status,
              permanent: d.permanent ? 1 : 0,
              message_id: d.messageId ?? null,
              reason: d.reason ?? null,
              stage: d.stage ?? null,
              render_group: d.renderGroup ?? null,
              papers: d.papers ? JSON.stringify(d.papers) : null,
              created_at: d.at,
              updated_at: d.at,
            })),
          )
          .onConflict((oc) => oc.columns(['issue', 'email_key']).doNothing())
          .returning(['id', 'issue', 'email_key'])
          .execute();
        inserted += created.length;
        const byKey = new Map(part.map((d) => [`${d.issue}\n${d.emailKey}`, d.sections]));
        const links = created.flatMap((c) => (byKey.get(`${c.issue}\n${c.email_key}`) ?? []).map((date) => ({ delivery_id: Number(c.id), section_date: date })));
        for (const linkPart of chunks(links)) {
          if (linkPart.length) await trx.insertInto('delivery_sections').values(linkPart).onConflict((oc) => oc.doNothing()).execute();
        }
      });
    }
    return inserted;
  }

  async claimDeliveries(query: ClaimQuery): Promise<ClaimedDelivery[]> {
    const now = query.now.toISOString();
    const until = new Date(query.now.getTime() + query.ttlMs).toISOString();
    const claimed = this.engine === 'postgres' ? await this.claimOnPostgres(query, now, until) : await this.write(async (trx) => {
      // Two index-ordered picks instead of one OR (which would sort every queued row per
      // claim): expired claims first, then queued rows grouped by what they render.
      const pick = (status: 'claimed' | 'queued', limit: number) => {
        let q = trx
          .selectFrom('deliveries')
          .select('id')
          .where('issue', '=', query.issue)
          .where('status', '=', status)
          .orderBy('render_group')
          .orderBy('id')
          .limit(limit);
        if (status === 'claimed') q = q.where('claim_expires_at', '<', now);
        if (this.engine === 'postgres') q = q.forUpdate().skipLocked();
        return q.execute();
      };
      const ids = (await pick('claimed', query.limit)).map((r) => Number(r.id));
      if (ids.length < query.limit) ids.push(...(await pick('queued', query.limit - ids.length)).map((r) => Number(r.id)));
      if (ids.length === 0) return [];
      return trx
        .updateTable('deliveries')
        .set({ status: 'claimed', claimed_by: query.owner, claim_expires_at: until, attempts: sql`attempts + 1`, updated_at: now })
        .where('id', 'in', ids)
        .returningAll()
        .execute();
    });
    if (claimed.length === 0) return [];
    // In claim order: rows of one render group together, oldest first within it.
    const group = (r: { render_group: string | null }) => r.render_group ?? '';
    claimed.sort((a, b) => (group(a) < group(b) ? -1 : group(a) > group(b) ? 1 : Number(a.id) - Number(b.id)));
    const records = await this.withSections(claimed);
    const subscriberIds = [...new Set(records.flatMap((r) => (r.subscriberId === null ? [] : [r.subscriberId])))];
    const subscribers = new Map<number, StoredSubscriber>();
    for (const part of chunks(subscriberIds)) {
      const rows = await this.db.selectFrom('subscribers').selectAll().where('id', 'in', part).execute();
      for (const row of rows) {
        const parsed = toSubscriber(row);
        if (parsed.ok) subscribers.set(parsed.value.id, parsed.value);
      }
    }
    return records.map((r) => ({ ...r, subscriber: r.subscriberId === null ? null : (subscribers.get(r.subscriberId) ?? null) }));
  }

  /**
   * The claim on PostgreSQL as one statement (one round trip, no transaction around it): the
   * same two index-ordered picks as below, expired claims first, as CTEs read only as far as
   * the limit needs, each row locked with SKIP LOCKED so concurrent claimers get disjoint rows.
   */
  private async claimOnPostgres(query: ClaimQuery, now: string, until: string): Promise<DeliveryRow[]> {
    const result = await sql<DeliveryRow>`WITH expired AS (
        SELECT id FROM deliveries WHERE issue = ${query.issue} AND status = 'claimed' AND claim_expires_at < ${now}
        ORDER BY render_group, id LIMIT ${query.limit} FOR UPDATE SKIP LOCKED
      ), fresh AS (
        SELECT id FROM deliveries WHERE issue = ${query.issue} AND status = 'queued'
        ORDER BY render_group, id LIMIT ${query.limit} FOR UPDATE SKIP LOCKED
      ), picked AS (
        (SELECT id FROM expired) UNION ALL (SELECT id FROM fresh) LIMIT ${query.limit}
      )
      UPDATE deliveries SET status = 'claimed', claimed_by = ${query.owner}, claim_expires_at = ${until}, attempts = attempts + 1, updated_at = ${now}
      WHERE id IN (SELECT id FROM picked) RETURNING *`.execute(this.db);
    return result.rows;
  }

  async completeDeliveries(outcomes: readonly DeliveryOutcome[]): Promise<void> {
    if (outcomes.length === 0) return;
    // One statement per group commit (outcomeUpdate), not one per outcome.
    const statements = chunks(outcomes, 500).map((part): CompiledQuery => {
      let compiled = this.outcomeStatements.get(part.length);
      if (!compiled) this.outcomeStatements.set(part.length, (compiled = outcomeUpdate(this.db, part.length)));
      return { ...compiled, parameters: part.flatMap(outcomeValues) };
    });
    // On PostgreSQL a single statement is its own transaction: one round trip per group commit
    // instead of three (BEGIN, UPDATE, COMMIT), on the path of every message.
    if (this.engine === 'postgres' && statements.length === 1) {
      await this.db.executeQuery(statements[0]!);
      return;
    }
    await this.write(async (trx) => {
      for (const statement of statements) await trx.executeQuery(statement);
    });
  }

  async sectionStats(dates?: readonly string[]): Promise<SectionDeliveryStats[]> {
    if (dates && dates.length === 0) return [];
    const only = (column: string) => (dates ? sql`AND ${sql.ref(column)} IN (${sql.join(dates)})` : sql``);
    const outcomes = await sql<{ date: string; status: string; permanent: number; n: number | string }>`
      SELECT ds.section_date AS date, d.status AS status, d.permanent AS permanent, COUNT(*) AS n
      FROM delivery_sections ds JOIN deliveries d ON d.id = ds.delivery_id
      WHERE 1 = 1 ${only('ds.section_date')}
      GROUP BY ds.section_date, d.status, d.permanent`.execute(this.db);
    // Each SES report goes to the latest email sent to its reader at or before it (ties: the
    // higher id), then to every section that email covered.
    const feedback = await sql<{ date: string; event: string; n: number | string }>`
      SELECT ds.section_date AS date, e.event AS event, COUNT(*) AS n
      FROM consent_events e
      JOIN deliveries d ON d.subscriber_id = e.subscriber_id AND d.status = 'sent' AND d.updated_at <= e.at
      JOIN delivery_sections ds ON ds.delivery_id = d.id
      WHERE e.by = 'ses-webhook' AND e.event IN ('suppressed', 'bounced-transient', 'complained')
        AND NOT EXISTS (
          SELECT 1 FROM deliveries later
          WHERE later.subscriber_id = e.subscriber_id AND later.status = 'sent' AND later.updated_at <= e.at
            AND (later.updated_at > d.updated_at OR (later.updated_at = d.updated_at AND later.id > d.id)))
        ${only('ds.section_date')}
      GROUP BY ds.section_date, e.event`.execute(this.db);
    const byDate = new Map<string, SectionDeliveryStats>();
    const of = (date: string) => {
      let stats = byDate.get(date);
      if (!stats) byDate.set(date, (stats = { date, sent: 0, failed: 0, rejected: 0, skipped: 0, cancelled: 0, deferred: 0, pending: 0, bounces: { permanent: 0, transient: 0 }, complaints: 0 }));
      return stats;
    };
    for (const row of outcomes.rows) {
      const stats = of(row.date);
      const n = Number(row.n);
      if (row.status === 'sent') stats.sent += n;
      else if (row.status === 'failed') {
        stats.failed += n;
        if (Number(row.permanent) === 1) stats.rejected += n;
      } else if (row.status === 'skipped-no-match') stats.skipped += n;
      else if (row.status === 'cancelled') stats.cancelled += n;
      else if (row.status === 'deferred') stats.deferred += n;
      // A weekly reader's section: counted by the roll-up row that covers it (sent, skipped ...).
      else if (row.status !== 'deferred') stats.pending += n;
    }
    for (const row of feedback.rows) {
      const stats = of(row.date);
      const n = Number(row.n);
      if (row.event === 'suppressed') stats.bounces.permanent += n;
      else if (row.event === 'bounced-transient') stats.bounces.transient += n;
      else stats.complaints += n;
    }
    return [...byDate.values()].sort((a, b) => a.date.localeCompare(b.date));
  }

  async subscriberGrowth(since?: string): Promise<GrowthDay[]> {
    const rows = await sql<{ day: string; new: number | string; imported: number | string; confirmed: number | string; unsubscribed: number | string }>`
      SELECT substr(at, 1, 10) AS day,
        SUM(CASE WHEN event IN ('subscribed', 'added') THEN 1 ELSE 0 END) AS new,
        SUM(CASE WHEN event = 'imported' THEN 1 ELSE 0 END) AS imported,
        SUM(CASE WHEN event = 'confirmed' THEN 1 ELSE 0 END) AS confirmed,
        SUM(CASE WHEN event IN ('unsubscribed', 'complained') THEN 1 ELSE 0 END) AS unsubscribed
      FROM consent_events
      WHERE event IN ('subscribed', 'added', 'imported', 'confirmed', 'unsubscribed', 'complained')
        ${since ? sql`AND at >= ${since}` : sql``}
      GROUP BY substr(at, 1, 10)
      ORDER BY day`.execute(this.db);
    return rows.rows.map((r) => ({ day: r.day, new: Number(r.new), imported: Number(r.imported), confirmed: Number(r.confirmed), unsubscribed: Number(r.unsubscribed) }));
  }

  async renewClaims(issue: string, owner: string, now: Date, ttlMs: number): Promise<number> {
    const result = await this.db
      .updateTable('deliveries')
      .set({ claim_expires_at: new Date(now.getTime() + ttlMs).toISOString() })
      .where('issue', '=', issue)
      .where('status', '=', 'claimed')
      .where('claimed_by', '=', owner)
      .executeTakeFirst();
    return Number(result.numUpdatedRows);
  }

  async releaseClaims(issue: string, owner: string): Promise<number> {
    const result = await this.db
      .updateTable('deliveries')
      .set({ status: 'queued', claimed_by: null, claim_expires_at: null, attempts: sql`attempts - 1` })
      .where('issue', '=', issue)
      .where('status', '=', 'claimed')
      .where('claimed_by', '=', owner)
      .executeTakeFirst();
    return Number(result.numUpdatedRows);
  }

  async resetStaleClaims(issue: string, now: Date, isDead: (owner: string) => boolean): Promise<number> {
    const at = now.toISOString();
    const owners = await this.db.selectFrom('deliveries').select('claimed_by').distinct().where('issue', '=', issue).where('status', '=', 'claimed').execute();
    const dead = owners.flatMap((o) => (o.claimed_by !== null && isDead(o.claimed_by) ? [o.claimed_by] : []));
    const result = await this.db
      .updateTable('deliveries')
      .set({ status: 'queued', claimed_by: null, claim_expires_at: null })
      .where('issue', '=', issue)
      .where('status', '=', 'claimed')
      .where((eb) => (dead.length ? eb.or([eb('claim_expires_at', '<', at), eb('claimed_by', 'in', dead)]) : eb('claim_expires_at', '<', at)))
      .executeTakeFirst();
    return Number(result.numUpdatedRows);
  }

  async countDeliveries(issue: string): Promise<Record<DeliveryStatus, number>> {
    const rows = await this.db
      .selectFrom('deliveries')
      .select(['status', (eb) => eb.fn.countAll<number | string>().as('n')])
      .where('issue', '=', issue)
      .groupBy('status')
      .execute();
    const counts = EMPTY_COUNTS();
    for (const r of rows) counts[r.status as DeliveryStatus] = Number(r.n);
    return counts;
  }

  async unfinishedDeliveries(issue: string): Promise<number> {
    const row = await this.db
      .selectFrom('deliveries')
      .select((eb) => eb.fn.countAll<number | string>().as('n'))
      .where('issue', '=', issue)
      .where((eb) => eb.or([eb('status', 'in', ['queued', 'claimed']), eb.and([eb('status', '=', 'failed'), eb('permanent', '=', 0)])]))
      .executeTakeFirstOrThrow();
    return Number(row.n);
  }

  private filtered(db: Db, filter: DeliveryFilter) {
    let q = db.selectFrom('deliveries').selectAll('deliveries');
    if (filter.section !== undefined) {
      const section = filter.section;
      q = q.where((eb) => eb.exists(eb.selectFrom('delivery_sections').select('delivery_id').whereRef('delivery_sections.delivery_id', '=', 'deliveries.id').where('section_date', '=', section)));
    }
    if (filter.issue !== undefined) q = q.where('issue', '=', filter.issue);
    if (filter.status !== undefined) q = q.where('status', 'in', typeof filter.status === 'string' ? [filter.status] : [...filter.status]);
    if (filter.reason !== undefined) {
      // SQLite has no default LIKE escape character: name it, so a '%' or '_' in the text is literal.
      const pattern = `%${filter.reason.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
      q = q.where(sql<boolean>`reason like ${pattern} escape '\\'`);
    }
    if (filter.emailKey !== undefined) q = q.where('email_key', '=', addressKey(filter.emailKey));
    return q;
  }

  async readerDeliveries(emailKeys: readonly string[], sectionDates: readonly string[]): Promise<Map<string, DeliveryRecord[]>> {
    const map = new Map<string, DeliveryRecord[]>();
    if (sectionDates.length === 0) return map;
    for (const part of chunks(emailKeys)) {
      if (part.length === 0) continue;
      const rows = await this.db
        .selectFrom('deliveries')
        .selectAll('deliveries')
        .where('email_key', 'in', part)
        .where((eb) => eb.exists(eb.selectFrom('delivery_sections').select('delivery_id').whereRef('delivery_sections.delivery_id', '=', 'deliveries.id').where('section_date', 'in', [...sectionDates])))
        .orderBy('deliveries.id')
        .execute();
      for (const record of await this.withSections(rows)) map.set(record.emailKey, [...(map.get(record.emailKey) ?? []), record]);
    }
    return map;
  }

  async deferredReaders(sectionDates: readonly string[]): Promise<Set<string>> {
    const keys = new Set<string>();
    for (const part of chunks(sectionDates)) {
      if (part.length === 0) continue;
      // Daily rows are keyed by their section's date: (issue, status) is the claim index's prefix.
      const rows = await this.db.selectFrom('deliveries').select('email_key').distinct().where('issue', 'in', part).where('status', '=', 'deferred').execute();
      for (const r of rows) keys.add(r.email_key);
    }
    return keys;
  }

  async listDeliveries(filter: DeliveryFilter, page: { after?: number; limit?: number } = {}): Promise<DeliveryRecord[]> {
    const rows = await this.filtered(this.db, filter).where('deliveries.id', '>', page.after ?? 0).orderBy('deliveries.id').limit(page.limit ?? 1000).execute();
    return this.withSections(rows);
  }

  async requeueDeliveries(filter: DeliveryFilter & { includePermanent?: boolean }, at: string): Promise<number> {
    const status = filter.status ?? 'failed';
    const ids = this.filtered(this.db, { ...filter, status }).clearSelect().select('deliveries.id');
    const scoped = filter.includePermanent ? ids : ids.where('permanent', '=', 0);
    const result = await this.db
      .updateTable('deliveries')
      .set({ status: 'queued', permanent: 0, claimed_by: null, claim_expires_at: null, updated_at: at })
      .where('id', 'in', scoped)
      .executeTakeFirst();
    return Number(result.numUpdatedRows);
  }

  // --- shared send rate ---------------------------------------------------------------------

  async reserveSendSlots(name: string, count: number, intervalMs: number): Promise<{ waitMs: number; startAt: number }> {
    const span = count * intervalMs;
    // Now, in milliseconds, on the database's clock.
    const clock = this.engine === 'postgres' ? sql<number>`(extract(epoch from clock_timestamp()) * 1000)::double precision` : sql<number>`((julianday('now') - 2440587.5) * 86400000.0)`;
    const later = this.engine === 'postgres' ? sql<number>`greatest(rate_buckets.next_at + ${span}, excluded.next_at)` : sql<number>`max(rate_buckets.next_at + ${span}, excluded.next_at)`;
    // One statement: a new bucket starts now; an existing one continues from its next free
    // slot or from now, whichever is later. Both engines lock the row for the statement.
    const row = await this.db
      .insertInto('rate_buckets')
      .values({ name, next_at: sql<number>`${clock} + ${span}` })
      .onConflict((oc) => oc.column('name').doUpdateSet({ next_at: later }))
      .returning([sql<number>`next_at`.as('next_at'), clock.as('now')])
      .executeTakeFirstOrThrow();
    const startAt = Number(row.next_at) - span;
    return { waitMs: Math.max(0, startAt - Number(row.now)), startAt };
  }

  // --- runs -----------------------------------------------------------------------------

  async startRun(at: string, command: string): Promise<number> {
    const row = await this.db.insertInto('runs').values({ at, command, finished_at: null }).returning('id').executeTakeFirstOrThrow();
    return Number(row.id);
  }

  async finishRun(id: number, at: string): Promise<void> {
    await this.db.updateTable('runs').set({ finished_at: at }).where('id', '=', id).execute();
  }

  async lastRunAt(): Promise<string | null> {
    const row = await this.db.selectFrom('runs').select((eb) => eb.fn.max('at').as('at')).where('finished_at', 'is not', null).executeTakeFirst();
    return row?.at ?? null;
  }

  // --- counters -------------------------------------------------------------------------

  async incrementCounter(name: string, key: string, windowStart: string, expiresAt: string): Promise<number> {
    const row = await this.db
      .insertInto('counters')
      .values({ name, key, window_start: windowStart, count: 1, expires_at: expiresAt })
      .onConflict((oc) => oc.columns(['name', 'key', 'window_start']).doUpdateSet({ count: sql`counters.count + 1` }))
      .returning('count')
      .executeTakeFirstOrThrow();
    return Number(row.count);
  }

  async counterValue(name: string, key: string, windowStart: string): Promise<number> {
    const row = await this.db.selectFrom('counters').select('count').where('name', '=', name).where('key', '=', key).where('window_start', '=', windowStart).executeTakeFirst();
    return row ? Number(row.count) : 0;
  }

  async markSeen(kind: string, id: string, at: string, expiresAt: string): Promise<boolean> {
    const rows = await this.db
      .insertInto('seen_ids')
      .values({ kind, id, at, expires_at: expiresAt })
      .onConflict((oc) => oc.columns(['kind', 'id']).doNothing())
      .returning('id')
      .execute();
    return rows.length === 1;
  }

  async forgetSeen(kind: string, id: string): Promise<void> {
    await this.db.deleteFrom('seen_ids').where('kind', '=', kind).where('id', '=', id).execute();
  }

  async pruneExpired(now: string): Promise<void> {
    await this.db.deleteFrom('counters').where('expires_at', '<', now).execute();
    await this.db.deleteFrom('seen_ids').where('expires_at', '<', now).execute();
  }

  // --- subscribe intake ---------------------------------------------------------------------

  async enqueueSubscribe(request: SubscribeIntakeRequest, at: string): Promise<number> {
    const values = { email: request.email, name: request.name ?? null, topics: JSON.stringify(request.topics), received_at: at, next_attempt_at: at };
    const { rows } = await this.db.executeQuery(this.intakeInsert.with(values));
    const row = rows[0];
    if (!row) throw new Error('subscribe intake: the insert returned no id');
    return Number(row.id);
  }

  /**
   * The intake insert compiled once: every subscribe answer runs it, and building and
   * compiling the query each time cost about as much as SQLite's insert (0.03 ms of 0.07).
   */
  private readonly intakeInsert = precompiled(() => this.db, (db, v: { email: string; name: string | null; topics: string; received_at: string; next_attempt_at: string }) =>
    db.insertInto('subscribe_intake').values(v).returning('id'),
  );

  async claimSubscribeIntake(owner: string, now: Date, ttlMs: number): Promise<SubscribeIntakeJob | undefined> {
    const at = now.toISOString();
    return this.write(async (trx) => {
      let due = trx
        .selectFrom('subscribe_intake')
        .select(['id', 'email', 'name', 'topics', 'received_at', 'attempts'])
        .where('failed_at', 'is', null)
        .where('next_attempt_at', '<=', at)
        .where((eb) => eb.or([eb('claim_expires_at', 'is', null), eb('claim_expires_at', '<', at)]))
        .orderBy('id')
        .limit(1);
      if (this.engine === 'postgres') due = due.forUpdate().skipLocked();
      const row = await due.executeTakeFirst();
      if (!row) return undefined;
      await trx
        .updateTable('subscribe_intake')
        .set({ claimed_by: owner, claim_expires_at: new Date(now.getTime() + ttlMs).toISOString(), attempts: sql`attempts + 1` })
        .where('id', '=', row.id)
        .execute();
      let topics: string[] = [];
      try {
        const parsed: unknown = JSON.parse(row.topics);
        if (Array.isArray(parsed)) topics = parsed.filter((t): t is string => typeof t === 'string');
      } catch {
        // An unreadable list subscribes to everything, as an empty one does; the address is what matters.
      }
      return {
        id: Number(row.id),
        request: { email: row.email, ...(row.name !== null ? { name: row.name } : {}), topics },
        receivedAt: row.received_at,
        attempts: Number(row.attempts) + 1,
      };
    });
  }

  async completeSubscribeIntake(id: number): Promise<void> {
    await this.db.deleteFrom('subscribe_intake').where('id', '=', id).execute();
  }

  async failSubscribeIntake(id: number, error: string, at: string, retryAt: string | null): Promise<void> {
    await this.db
      .updateTable('subscribe_intake')
      .set({ claimed_by: null, claim_expires_at: null, last_error: error.slice(0, 500), ...(retryAt === null ? { failed_at: at } : { next_attempt_at: retryAt }) })
      .where('id', '=', id)
      .execute();
  }

  async releaseSubscribeIntake(which: { owner: string } | { isDead: (owner: string) => boolean }): Promise<number> {
    let owners: string[];
    if ('owner' in which) owners = [which.owner];
    else {
      const held = await this.db.selectFrom('subscribe_intake').select('claimed_by').distinct().where('claimed_by', 'is not', null).execute();
      owners = held.map((r) => r.claimed_by!).filter((o) => which.isDead(o));
    }
    if (!owners.length) return 0;
    const result = await this.db.updateTable('subscribe_intake').set({ claimed_by: null, claim_expires_at: null }).where('claimed_by', 'in', owners).executeTakeFirst();
    return Number(result.numUpdatedRows);
  }

  async subscribeIntakeCounts(): Promise<{ queued: number; failed: number }> {
    const rows = await this.db
      .selectFrom('subscribe_intake')
      .select((eb) => [sql<number>`case when failed_at is null then 0 else 1 end`.as('given_up'), eb.fn.countAll<number>().as('n')])
      .groupBy(sql`case when failed_at is null then 0 else 1 end`)
      .execute();
    const count = (g: number) => Number(rows.find((r) => Number(r.given_up) === g)?.n ?? 0);
    return { queued: count(0), failed: count(1) };
  }

  async givenUpSubscribeIntake(limit: number): Promise<GivenUpIntake> {
    const [summary, latest, ids] = await Promise.all([
      this.db
        .selectFrom('subscribe_intake')
        .select((eb) => [eb.fn.countAll<number>().as('n'), eb.fn.min('received_at').as('oldest')])
        .where('failed_at', 'is not', null)
        .executeTakeFirstOrThrow(),
      this.db
        .selectFrom('subscribe_intake')
        .select(['id', 'failed_at', 'last_error'])
        .where('failed_at', 'is not', null)
        .orderBy('failed_at', 'desc')
        .orderBy('id', 'desc')
        .limit(1)
        .executeTakeFirst(),
      this.db.selectFrom('subscribe_intake').select('id').where('failed_at', 'is not', null).orderBy('id').limit(limit).execute(),
    ]);
    return {
      count: Number(summary.n),
      oldestReceivedAt: summary.oldest ?? null,
      latest: latest ? { id: Number(latest.id), failedAt: latest.failed_at!, error: latest.last_error } : null,
      ids: ids.map((r) => Number(r.id)),
    };
  }

  async retrySubscribeIntake(which: GivenUpSelection, at: string): Promise<number[]> {
    return this.givenUp(which, (ids) => {
      let update = this.db
        .updateTable('subscribe_intake')
        .set({ failed_at: null, attempts: 0, next_attempt_at: at, claimed_by: null, claim_expires_at: null })
        .where('failed_at', 'is not', null);
      if (ids) update = update.where('id', 'in', ids);
      return update.returning('id').execute();
    });
  }

  async discardSubscribeIntake(which: GivenUpSelection): Promise<number[]> {
    return this.givenUp(which, (ids) => {
      let remove = this.db.deleteFrom('subscribe_intake').where('failed_at', 'is not', null);
      if (ids) remove = remove.where('id', 'in', ids);
      return remove.returning('id').execute();
    });
  }

  /** Runs an operator change on all given-up rows or on named ones (in chunks); the ids it touched, ascending. */
  private async givenUp(which: GivenUpSelection, change: (ids: number[] | null) => Promise<{ id: number }[]>): Promise<number[]> {
    const rows = which === 'all' ? await change(null) : (await Promise.all(chunks([...new Set(which.ids)]).map((ids) => change(ids)))).flat();
    return rows.map((r) => Number(r.id)).sort((a, b) => a - b);
  }

  async purgeSubscribeIntake(givenUpBefore: string): Promise<number> {
    const result = await this.db.deleteFrom('subscribe_intake').where('failed_at', 'is not', null).where('failed_at', '<', givenUpBefore).executeTakeFirst();
    return Number(result.numDeletedRows);
  }

  // --- "more / less like this" ----------------------------------------------------------

  async recordFeedback(event: FeedbackEvent): Promise<void> {
    const more = event.want === 'more' ? 1 : 0;
    const less = 1 - more;
    const rows = [
      { section_date: event.section, scope: 'paper', item: event.paper, more_count: more, less_count: less },
      ...[...new Set(event.topics)].map((topic) => ({ section_date: event.section, scope: 'topic', item: topic, more_count: more, less_count: less })),
    ];
    await this.write(async (trx) => {
      await trx
        .insertInto('feedback_counts')
        .values(rows)
        .onConflict((oc) =>
          oc.columns(['section_date', 'scope', 'item']).doUpdateSet({
            more_count: sql`feedback_counts.more_count + excluded.more_count`,
            less_count: sql`feedback_counts.less_count + excluded.less_count`,
          }),
        )
        .execute();
    });
  }

  async feedbackCounts(query: { section?: string } = {}): Promise<FeedbackCounts> {
    let select = this.db.selectFrom('feedback_counts').select(['section_date', 'scope', 'item', 'more_count', 'less_count']);
    if (query.section !== undefined) select = select.where('section_date', '=', query.section);
    const rows = await select
      .orderBy('section_date', 'desc')
      .orderBy(sql`more_count + less_count`, 'desc')
      .orderBy('item')
      .execute();
    const counts: FeedbackCounts = { papers: [], topics: [] };
    for (const r of rows) {
      const base = { section: r.section_date, more: Number(r.more_count), less: Number(r.less_count) };
      if (r.scope === 'paper') counts.papers.push({ ...base, paper: r.item });
      else counts.topics.push({ ...base, topic: r.item });
    }
    return counts;
  }
}

function sectionRecord(r: { status: string; hash: string; at: string; opened_at: string | null; sent_at: string | null; reason: string | null }): SectionRecord {
  return {
    status: r.status as SectionStatus,
    hash: r.hash,
    at: r.at,
    ...(r.opened_at !== null ? { openedAt: r.opened_at } : {}),
    ...(r.sent_at !== null ? { sentAt: r.sent_at } : {}),
    ...(r.reason !== null ? { reason: r.reason } : {}),
  };
}
