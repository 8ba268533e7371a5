import { randomBytes } from 'node:crypto';
import pg from 'pg';

/* No vitest import here: benchmarks create their databases with this too. */

/**
 * The PostgreSQL server the tests use: PG_TEST_URL, or the machine's server on 127.0.0.1:5432
 * (trust auth). Each test database is created here and dropped after.
 */
export const PG_ADMIN_URL = process.env.PG_TEST_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

let reachable: Promise<boolean> | null = null;

/** Whether a server answers at PG_ADMIN_URL (benchmarks skip PostgreSQL when none does). */
export async function postgresReachable(): Promise<boolean> {
  const client = new pg.Client({ connectionString: PG_ADMIN_URL, connectionTimeoutMillis: 3000 });
  try {
    await client.connect();
    await client.end();
    return true;
  } catch {
    return false;
  }
}

/** Under CI=true PostgreSQL suites always run (and fail without a server); elsewhere they skip when none answers. */
export function postgresAvailable(): Promise<boolean> {
  if (process.env.CI === 'true') return Promise.resolve(true);
  reachable ??= postgresReachable().then((ok) => {
    if (!ok) console.warn(`PostgreSQL tests skipped: no server at ${PG_ADMIN_URL} (start one, or set PG_TEST_URL; under CI=true they run and fail instead)`);
    return ok;
  });
  return reachable;
}

/** A fresh database on the test server; `drop` removes it. */
export async function createPgDatabase(): Promise<{ url: string; drop: () => Promise<void> }> {
  const name = `dm_test_${process.pid}_${randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: PG_ADMIN_URL });
  await admin.connect();
  try {
    await admin.query(`create database ${name}`);
  } finally {
    await admin.end();
  }
  const url = new URL(PG_ADMIN_URL);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    async drop() {
      const client = new pg.Client({ connectionString: PG_ADMIN_URL });
      await client.connect();
      try {
        // pg's pool.end() resolves before its sockets are closed: forcing the drop at once
        // would kill those sessions and surface as an unhandled error in the closing client.
        // Wait for them to go (a few ms), and force only as a last resort.
        for (let i = 0; ; i++) {
          try {
            await client.query(`drop database if exists ${name}${i >= 100 ? ' with (force)' : ''}`);
            break;
          } catch (err) {
            if ((err as { code?: string }).code !== '55006' || i >= 100) throw err;
            await new Promise((r) => setTimeout(r, 50));
          }
        }
      } finally {
        await client.end();
      }
    },
  };
}
