import { PostgresAdapter, sql, type Kysely, type Migration, type MigrationProvider } from 'kysely';

/** True on PostgreSQL: the only DDL difference is how an auto-increment key is spelt. */
function isPostgres(db: Kysely<unknown>): boolean {
  return db.getExecutor().adapter instanceof PostgresAdapter;
}

/**
 * Versioned migrations, applied in name order. A schema change later is a new entry here,
 * never an edit of an old one (Kysely refuses to run when an applied migration is missing),
 * numbered after the last one: a name that sorts before an applied migration also stops an
 * existing database from opening.
 */
export const migrations: Record<string, Migration> = {
  '001_initial': {
    async up(db: Kysely<unknown>) {
      const pg = isPostgres(db);
      const id = pg ? ('bigserial' as const) : ('integer' as const);
      const ref = pg ? ('bigint' as const) : ('integer' as const);

      await db.schema
        .createTable('subscribers')
        .addColumn('id', id, (c) => (pg ? c.primaryKey() : c.primaryKey().autoIncrement()))
        .addColumn('email', 'text', (c) => c.notNull())
        .addColumn('email_key', 'text', (c) => c.notNull().unique())
        .addColumn('name', 'text')
        .addColumn('status', 'text', (c) => c.notNull())
        .addColumn('preferences', 'text', (c) => c.notNull().defaultTo('{}'))
        .addColumn('subscribed_at', 'text')
        .addColumn('transient_bounces', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('token_generation', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('first_seen_at', 'text')
        .addColumn('created_at', 'text', (c) => c.notNull())
        .addColumn('updated_at', 'text', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('subscribers_status_id').on('subscribers').columns(['status', 'id']).execute();

      await db.schema
        .createTable('consent_events')
        .addColumn('id', id, (c) => (pg ? c.primaryKey() : c.primaryKey().autoIncrement()))
        .addColumn('subscriber_id', ref, (c) => c.notNull().references('subscribers.id').onDelete('cascade'))
        .addColumn('at', 'text', (c) => c.notNull())
        .addColumn('event', 'text', (c) => c.notNull())
        .addColumn('by', 'text', (c) => c.notNull())
        .addColumn('detail', 'text')
        .execute();
      await db.schema.createIndex('consent_events_subscriber').on('consent_events').columns(['subscriber_id', 'id']).execute();

      await db.schema
        .createTable('sections')
        .addColumn('date', 'text', (c) => c.primaryKey())
        .addColumn('status', 'text', (c) => c.notNull())
        .addColumn('hash', 'text', (c) => c.notNull())
        .addColumn('at', 'text', (c) => c.notNull())
        .addColumn('opened_at', 'text')
        .addColumn('sent_at', 'text')
        .addColumn('reason', 'text')
        .addColumn('planner_id', 'text')
        .addColumn('planner_expires_at', 'text')
        .execute();

      await db.schema
        .createTable('deliveries')
        .addColumn('id', id, (c) => (pg ? c.primaryKey() : c.primaryKey().autoIncrement()))
        .addColumn('issue', 'text', (c) => c.notNull())
        .addColumn('email_key', 'text', (c) => c.notNull())
        // No foreign key: a delivery record outlives a removed subscriber (nothing is resent on re-add).
        .addColumn('subscriber_id', ref)
        .addColumn('status', 'text', (c) => c.notNull())
        .addColumn('permanent', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('message_id', 'text')
        .addColumn('reason', 'text')
        .addColumn('claimed_by', 'text')
        .addColumn('claim_expires_at', 'text')
        .addColumn('created_at', 'text', (c) => c.notNull())
        .addColumn('updated_at', 'text', (c) => c.notNull())
        .addUniqueConstraint('deliveries_issue_email', ['issue', 'email_key'])
        .execute();
      // Claiming walks (issue, status) in id order.
      await db.schema.createIndex('deliveries_claim').on('deliveries').columns(['issue', 'status', 'id']).execute();

      await db.schema
        .createTable('delivery_sections')
        .addColumn('delivery_id', ref, (c) => c.notNull().references('deliveries.id').onDelete('cascade'))
        .addColumn('section_date', 'text', (c) => c.notNull())
        .addPrimaryKeyConstraint('delivery_sections_pk', ['delivery_id', 'section_date'])
        .execute();
      await db.schema.createIndex('delivery_sections_section').on('delivery_sections').columns(['section_date', 'delivery_id']).execute();

      await db.schema
        .createTable('runs')
        .addColumn('id', id, (c) => (pg ? c.primaryKey() : c.primaryKey().autoIncrement()))
        .addColumn('at', 'text', (c) => c.notNull())
        .addColumn('finished_at', 'text')
        .addColumn('command', 'text', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('runs_at').on('runs').column('at').execute();

      await db.schema
        .createTable('counters')
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('key', 'text', (c) => c.notNull())
        .addColumn('window_start', 'text', (c) => c.notNull())
        .addColumn('count', 'integer', (c) => c.notNull())
        .addColumn('expires_at', 'text', (c) => c.notNull())
        .addPrimaryKeyConstraint('counters_pk', ['name', 'key', 'window_start'])
        .execute();

      await db.schema
        .createTable('seen_ids')
        .addColumn('kind', 'text', (c) => c.notNull())
        .addColumn('id', 'text', (c) => c.notNull())
        .addColumn('at', 'text', (c) => c.notNull())
        .addColumn('expires_at', 'text', (c) => c.notNull())
        .addPrimaryKeyConstraint('seen_ids_pk', ['kind', 'id'])
        .execute();
    },
  },
  '002_delivery_stage': {
    async up(db: Kysely<unknown>) {
      await db.schema.alterTable('deliveries').addColumn('stage', 'text').execute();
    },
  },
  '003_send_rate': {
    async up(db: Kysely<unknown>) {
      // The configured send rate is the total across worker processes: every sender reserves
      // its send times from one row per bucket (see KyselyStore.reserveSendSlots).
      await db.schema
        .createTable('rate_buckets')
        .addColumn('name', 'text', (c) => c.primaryKey())
        // Milliseconds since the epoch (database clock) of the first free send slot.
        .addColumn('next_at', 'double precision', (c) => c.notNull())
        .execute();
    },
  },
  '005_claim_order': {
    async up(db: Kysely<unknown>) {
      // Senders claim queued rows grouped by what they render (a hash of the render key, see
      // deliver.ts renderGroup), so each paper set is rendered once and then only spliced.
      await db.schema.alterTable('deliveries').addColumn('render_group', 'text').execute();
      await db.schema.createIndex('deliveries_claim_order').on('deliveries').columns(['issue', 'status', 'render_group', 'id']).execute();
      // Its prefix serves every query the old (issue, status, id) index did.
      await db.schema.dropIndex('deliveries_claim').execute();
    },
  },
  '006_unsubscribe_floor': {
    async up(db: Kysely<unknown>) {
      // Unsubscribe links older than this token generation are refused. `subscribers
      // revoke-links` raises it with the generation (every old link dies); a reader's own link
      // request raises only the generation, so the one-click unsubscribe of older emails keeps
      // working (RFC 8058) while their preference and web-version links stop.
      await db.schema.alterTable('subscribers').addColumn('unsubscribe_floor', 'integer', (c) => c.notNull().defaultTo(0)).execute();
    },
  },
  '007_delivery_subscriber': {
    async up(db: Kysely<unknown>) {
      // Statistics find the latest email sent to a reader before an SES bounce or complaint.
      await db.schema.createIndex('deliveries_subscriber_sent').on('deliveries').columns(['subscriber_id', 'status', 'updated_at']).execute();
    },
  },
  '008_delivery_papers': {
    async up(db: Kysely<unknown>) {
      // Which papers went to whom (issue 12, cadence): a sent delivery records the paper ids it
      // carried (JSON array), so a weekly roll-up or a cadence switch never repeats one. NULL on
      // rows written before: such a sent row counts as having carried all of its sections.
      await db.schema.alterTable('deliveries').addColumn('papers', 'text').execute();
    },
  },
  '009_feedback_counts': {
    async up(db: Kysely<unknown>) {
      // "More / less like this": aggregate counts only, per section and paper, and per section
      // and topic. No row names a reader (README "More / less like this", privacy).
      await db.schema
        .createTable('feedback_counts')
        .addColumn('section_date', 'text', (c) => c.notNull())
        .addColumn('scope', 'text', (c) => c.notNull())
        .addColumn('item', 'text', (c) => c.notNull())
        .addColumn('more_count', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('less_count', 'integer', (c) => c.notNull().defaultTo(0))
        .addPrimaryKeyConstraint('feedback_counts_pk', ['section_date', 'scope', 'item'])
        .execute();
    },
  },
  '010_subscribe_intake': {
    async up(db: Kysely<unknown>) {
      const pg = isPostgres(db);
      // Subscribe is durable intake plus background work (README "Subscribe form"): the form's
      // answer writes one row here and nothing else, whatever the address; the server's drainer
      // takes rows one at a time (the subscriber upsert, the per-address limit, the confirmation
      // email) and deletes each once its email was handed over and settled. A row left by a
      // stopped or crashed server is drained by the next start; one that keeps failing is kept
      // with `failed_at` set (reported), never retried for ever.
      await db.schema
        .createTable('subscribe_intake')
        .addColumn('id', pg ? 'bigserial' : 'integer', (c) => (pg ? c.primaryKey() : c.primaryKey().autoIncrement()))
        .addColumn('email', 'text', (c) => c.notNull())
        .addColumn('name', 'text')
        // JSON array of topic ids, as the form sent them (validated before the row is written).
        .addColumn('topics', 'text', (c) => c.notNull())
        .addColumn('received_at', 'text', (c) => c.notNull())
        .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('next_attempt_at', 'text', (c) => c.notNull())
        .addColumn('claimed_by', 'text')
        .addColumn('claim_expires_at', 'text')
        .addColumn('failed_at', 'text')
        .addColumn('last_error', 'text')
        .execute();
    },
  },
  '011_sent_deliveries_index': {
    async up(db: Kysely<unknown>) {
      // Statistics look up only sent rows by reader (007). Indexing every row made each claim
      // and each recorded outcome of a send move its entry (status and updated_at change
      // twice per recipient); a partial index of sent rows takes one insert per recipient.
      await db.schema.createIndex('deliveries_subscriber_sent_only').on('deliveries').columns(['subscriber_id', 'updated_at']).where(sql<boolean>`status = 'sent'`).execute();
      await db.schema.dropIndex('deliveries_subscriber_sent').execute();
    },
  },
};

export const migrationProvider: MigrationProvider = {
  getMigrations: async () => migrations,
};
