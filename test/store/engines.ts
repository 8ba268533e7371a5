import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach } from 'vitest';
import { openPostgres, openSqlite } from '../../src/store/open.js';
import type { KyselyStore } from '../../src/store/kysely-store.js';
import { createPgDatabase, postgresAvailable } from './pg-database.js';

export { PG_ADMIN_URL, createPgDatabase, postgresAvailable } from './pg-database.js';

export interface EngineUnderTest {
  name: 'sqlite' | 'postgres';
  /** False when this engine's suite should be skipped (PostgreSQL outside CI with no server). */
  available: () => Promise<boolean>;
  /** A migrated, empty store and its disposal. */
  open: () => Promise<{ store: KyselyStore; dispose: () => Promise<void> }>;
}

export const ENGINES: EngineUnderTest[] = [
  {
    name: 'sqlite',
    available: async () => true,
    async open() {
      const dir = await mkdtemp(join(tmpdir(), 'dm-store-'));
      const store = await openSqlite(join(dir, 'state', 'digest-mailer.db'));
      return {
        store,
        async dispose() {
          await store.close();
          await rm(dir, { recursive: true, force: true });
        },
      };
    },
  },
  {
    name: 'postgres',
    available: postgresAvailable,
    async open() {
      const database = await createPgDatabase();
      const store = await openPostgres(database.url, { migrate: true, poolSize: 4 });
      return {
        store,
        async dispose() {
          await store.close();
          await database.drop();
        },
      };
    },
  },
];

/** Registers beforeEach/afterEach that open a fresh store of `engine` and dispose of it; read `.store` in tests. */
export function freshStoreEach(engine: EngineUnderTest): { readonly store: KyselyStore } {
  let opened: Awaited<ReturnType<EngineUnderTest['open']>> | undefined;
  beforeEach(async () => {
    opened = await engine.open();
  });
  afterEach(async () => {
    await opened?.dispose();
    opened = undefined;
  });
  return {
    get store() {
      if (!opened) throw new Error('no store open outside a test');
      return opened.store;
    },
  };
}

/** A test project's store engine: SQLite (nothing to do) or a fresh PostgreSQL database. */
export interface ProjectEngine {
  name: 'sqlite' | 'postgres';
  available: () => Promise<boolean>;
  /** Points the project at the engine; returns the environment the CLI needs and a cleanup. */
  setup: (dir: string) => Promise<{ env: NodeJS.ProcessEnv; dispose: () => Promise<void> }>;
}

export const PROJECT_URL_ENV = 'DM_TEST_DATABASE_URL';

export const PROJECT_ENGINES: ProjectEngine[] = [
  { name: 'sqlite', available: async () => true, setup: async () => ({ env: {}, dispose: async () => {} }) },
  {
    name: 'postgres',
    available: postgresAvailable,
    async setup(dir) {
      const { configure, cli } = await import('../cli/cli-helpers.js');
      const database = await createPgDatabase();
      await configure(dir, { store: { engine: 'postgres', urlEnv: PROJECT_URL_ENV, poolSize: 4 } });
      // The test process reads the same database (withProjectStore).
      process.env[PROJECT_URL_ENV] = database.url;
      const env = { [PROJECT_URL_ENV]: database.url };
      const migrated = await cli(dir, ['db', 'migrate'], env);
      if (migrated.code !== 0) throw new Error(`db migrate failed: ${migrated.stderr}`);
      return { env, dispose: database.drop };
    },
  },
];
