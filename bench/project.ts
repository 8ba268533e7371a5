/** A throw-away project for the store and worker benchmarks: seed digest, realistic list in the store. */
import { randomBytes } from 'node:crypto';
import { cp, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../src/config/load.js';
import { parseDigest } from '../src/digest/parse.js';
import { markSubscribersFileImported } from '../src/store/bootstrap.js';
import { openStore } from '../src/store/open.js';
import { loadTaxonomy } from '../src/topics/load.js';
import { createPgDatabase } from '../test/store/pg-database.js';
import { generateSubscribers } from './population.js';

export const ROOT = join(import.meta.dirname, '..');
const URL_ENV = 'BENCH_DATABASE_URL';

export interface BenchProject {
  dir: string;
  /** What the CLI needs: the token secret and, on PostgreSQL, the database URL. */
  env: NodeJS.ProcessEnv;
  dispose: () => Promise<void>;
}

/**
 * `subscribers` seeded realistic subscribers (bench/population.ts) imported into a fresh store
 * of `engine`, mail through SMTP to a sink on `sinkPort`; `patch` replaces top-level config keys.
 */
export async function benchProject(engine: 'sqlite' | 'postgres', subscribers: number, sinkPort: number, patch: Record<string, unknown> = {}): Promise<BenchProject> {
  const dir = await mkdtemp(join(tmpdir(), 'dm-bench-'));
  await mkdir(join(dir, 'digests'));
  await cp(join(ROOT, 'digests/2025-11.md'), join(dir, 'digests/2025-11.md'));
  await writeFile(join(dir, 'subscribers.json'), JSON.stringify({ subscribers: [] }));
  const config = JSON.parse(await readFile(join(ROOT, 'digest-mailer.config.json'), 'utf8'));
  config.paths = { digests: 'digests', subscribers: 'subscribers.json', topics: join(ROOT, 'topics.json'), templates: join(ROOT, 'templates'), state: 'state', outbox: 'outbox' };
  // A real-transport send must show the sender's postal address (CAN-SPAM guard in the run).
  config.list.postalAddress = 'Digest Lab, 1 Example Street, 10115 Berlin, Germany';
  config.transport = { type: 'smtp', host: '127.0.0.1', port: sinkPort, secure: false, requireTLS: false, maxConnections: 4, timeoutMs: 30_000 };
  const env: NodeJS.ProcessEnv = { DIGEST_MAILER_SECRET: randomBytes(32).toString('base64url') };
  const database = engine === 'postgres' ? await createPgDatabase() : null;
  if (database) {
    config.store = { engine: 'postgres', urlEnv: URL_ENV, poolSize: 10 };
    env[URL_ENV] = database.url;
    process.env[URL_ENV] = database.url;
  }
  Object.assign(config, patch);
  await writeFile(join(dir, 'config.json'), JSON.stringify(config, null, 2));
  const loaded = await loadConfig(join(dir, 'config.json'));
  const store = await openStore(loaded, { migrate: true });
  try {
    const taxonomy = await loadTaxonomy(loaded.paths.topics);
    const sections = parseDigest(await readFile(join(dir, 'digests/2025-11.md'), 'utf8'), 'digests/2025-11.md').sections;
    const list = generateSubscribers(subscribers, { topicIds: taxonomy.topics.map((t) => t.id), sections });
    for (let i = 0; i < list.length; i += 10_000) {
      await store.importSubscribers(list.slice(i, i + 10_000).map(({ history: _h, ...subscriber }) => ({ subscriber, history: [] })), 'bench');
    }
    await markSubscribersFileImported(store);
  } finally {
    await store.close();
  }
  return {
    dir,
    env,
    async dispose() {
      await database?.drop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
