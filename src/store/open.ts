import { chmod, mkdir, open as openFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import Database from 'better-sqlite3';
import { Kysely, PostgresDialect, SqliteDialect, type SqliteDatabase } from 'kysely';
import { LRUCache } from 'lru-cache';
import lockfile from 'proper-lockfile';
import type { Config } from '../config/load.js';
import { ConfigError, UserError } from '../errors.js';
import { KyselyStore } from './kysely-store.js';
import type { Database as Schema } from './schema.js';

export const DEFAULT_DB_FILE = 'digest-mailer.db';

export interface OpenOptions {
  /** Apply pending migrations now (SQLite does on every start; PostgreSQL by `db migrate`). */
  migrate?: boolean;
  /** PostgreSQL: refuse a database with pending migrations (default true). */
  requireLatest?: boolean;
}

/** The SQLite file this config uses. */
export function sqliteFile(config: Pick<Config, 'file' | 'paths' | 'store'>): string {
  return config.store.file ? resolve(dirname(config.file), config.store.file) : join(config.paths.state, DEFAULT_DB_FILE);
}

/** Creates the file 0600 before SQLite does, and tightens an existing one: it holds personal data. */
async function privateFile(file: string): Promise<void> {
  await mkdir(dirname(file), { recursive: true, mode: 0o700 });
  const handle = await openFile(file, 'a', 0o600);
  await handle.close();
  await chmod(file, 0o600);
  // An earlier version may have left its WAL files 0644; SQLite only sets the mode of new ones.
  for (const suffix of ['-wal', '-shm']) await chmod(`${file}${suffix}`, 0o600).catch(() => undefined);
}

/**
 * Kysely's SQLite driver prepares every statement it runs; a send runs the same few thousand
 * times, and parsing them again was most of their cost. Statements are kept by their SQL text
 * (one that is being iterated is busy and not shared).
 */
function withStatementCache(db: Database.Database): SqliteDatabase {
  const statements = new LRUCache<string, Database.Statement>({ max: 512 });
  return {
    close: () => db.close(),
    prepare(text: string) {
      const cached = statements.get(text);
      if (cached && !cached.busy) return cached;
      const statement = db.prepare(text);
      if (!cached) statements.set(text, statement);
      return statement;
    },
  };
}

/**
 * Opens a SQLite database in WAL mode, so `serve`, a `run` and CLI commands in other processes
 * use it at once: readers never block the writer, writers wait (busy timeout) for each other.
 * SQLite creates the -wal and -shm files with the database file's mode (0600).
 */
export async function openSqlite(file: string, options: OpenOptions = {}): Promise<KyselyStore> {
  await privateFile(file);
  const sqlite = new Database(file, { timeout: 30_000 });
  sqlite.pragma('journal_mode = WAL');
  // NORMAL in WAL mode: a killed process loses nothing committed; a power cut may lose the last
  // transactions (resent mail at worst), never corrupts the file.
  sqlite.pragma('synchronous = NORMAL');
  // Checkpoints run inside the commit that crosses this many WAL pages, with two fsyncs, on the
  // path of a send; SQLite's 1,000 (4 MB) made them about half of a commit's time, 4,000 (a WAL
  // of about 16 MB) a quarter, larger no better (bench/store-send.ts).
  sqlite.pragma('wal_autocheckpoint = 4000');
  sqlite.pragma('foreign_keys = ON');
  const store = new KyselyStore(new Kysely<Schema>({ dialect: new SqliteDialect({ database: withStatementCache(sqlite) }) }), 'sqlite', file);
  if (options.migrate ?? true) {
    // Two processes starting at once (serve and a run) must not both create the tables.
    const release = await lockfile.lock(file, { lockfilePath: `${file}.migrate.lock`, realpath: false, stale: 30_000, retries: { retries: 100, minTimeout: 20, maxTimeout: 250 } });
    try {
      await store.migrate();
    } finally {
      await release();
    }
  }
  return store;
}

/** Opens a pooled PostgreSQL connection; bigint ids come back as numbers. */
export async function openPostgres(url: string, options: OpenOptions & { poolSize?: number } = {}): Promise<KyselyStore> {
  // Loaded here: an installation on SQLite never needs the driver in memory.
  const { default: pg } = await import('pg');
  const pool = new pg.Pool({
    connectionString: url,
    max: options.poolSize ?? 10,
    types: {
      getTypeParser: ((oid: number, format?: string) =>
        oid === pg.types.builtins.INT8 ? (v: string) => Number(v) : pg.types.getTypeParser(oid, format as 'text')) as typeof pg.types.getTypeParser,
    },
  });
  const name = new URL(url).pathname.replace(/^\//, '') || '(default database)';
  const store = new KyselyStore(new Kysely<Schema>({ dialect: new PostgresDialect({ pool }) }), 'postgres', `PostgreSQL database ${name}`);
  try {
    if (options.migrate) await store.migrate();
  } catch (err) {
    await store.close();
    throw err;
  }
  return store;
}

/** The configured store. SQLite migrates on open; PostgreSQL must be at the latest version (`db migrate`). */
export async function openStore(config: Pick<Config, 'file' | 'paths' | 'store'>, options: OpenOptions = {}): Promise<KyselyStore> {
  if (config.store.engine === 'sqlite') return openSqlite(sqliteFile(config), options);
  const url = process.env[config.store.urlEnv];
  if (!url) {
    throw new ConfigError(
      `store.engine is "postgres" but the environment variable ${config.store.urlEnv} (store.urlEnv) is not set`,
      `Set ${config.store.urlEnv}=postgres://user:password@host:5432/database in the environment.`,
    );
  }
  const store = await openPostgres(url, { ...options, poolSize: config.store.poolSize });
  if (!options.migrate && options.requireLatest !== false) {
    const state = await store.migrationState().catch(async (err: Error) => {
      await store.close();
      throw new UserError(`cannot reach ${store.location}: ${err.message}`, `Check ${config.store.urlEnv} and that the server is running.`);
    });
    if (state.pending.length > 0) {
      await store.close();
      throw new UserError(`${store.location} is not at the latest schema (pending: ${state.pending.join(', ')})`, 'Run "digest-mailer db migrate" first.');
    }
  }
  return store;
}
