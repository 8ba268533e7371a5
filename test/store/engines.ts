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
