import { access } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { loadSubscribers } from '../audience/load.js';
import type { Config } from '../config/load.js';
import { UserError, type Problem } from '../errors.js';
import { LEDGER_FILE } from '../ledger/ledger.js';
import { loadTaxonomy } from '../topics/load.js';
import { openStore, type OpenOptions } from './open.js';
import type { Store } from './store.js';

type Mark = readonly [name: string, key: string, window: string, expires: string];
const MARK: Mark = ['bootstrap', 'subscribers-file', 'once', '9999-12-31T00:00:00.000Z'];
const LEGACY_MARK: Mark = ['bootstrap', 'legacy-state', 'once', '9999-12-31T00:00:00.000Z'];

/** Whether a one-time step (a {@link Mark}) is recorded as done in the store. */
async function isMarked(store: Store, [name, key, window]: Mark): Promise<boolean> {
  return (await store.counterValue(name, key, window)) > 0;
}

/** Records a one-time step as done; doing it twice keeps one record. */
async function mark(store: Store, step: Mark): Promise<void> {
  const [name, key, window, expires] = step;
  if (!(await isMarked(store, step))) await store.incrementCounter(name, key, window, expires);
}

/**
 * A new database beside an earlier version's journals (`state/ledger.jsonl`): an upgrade in place
 * where `db import` was not run. Starting anyway would import the subscribers file alone and treat
 * the newest section as never sent, so everyone would get it again; refused instead.
 */
export class LegacyStateNotImportedError extends UserError {}

/** Records that the state folder's journals were brought in (by `db import`), so a start no longer refuses. */
export async function markLegacyStateImported(store: Store): Promise<void> {
  await mark(store, LEGACY_MARK);
}

/** Throws {@link LegacyStateNotImportedError} when `paths.state` holds an earlier version's ledger the store has not taken in. */
export async function refuseUnimportedLegacyState(store: Store, config: Pick<Config, 'paths'>): Promise<void> {
  const ledger = join(config.paths.state, LEDGER_FILE);
  if (!(await access(ledger).then(() => true, () => false))) return;
  if (await isMarked(store, LEGACY_MARK)) return;
  // A database that already records sections was in use with this version: the file is a leftover.
  if ((await store.sections()).size > 0) return;
  throw new LegacyStateNotImportedError(
    `${ledger} is the ledger of an earlier version (JSON files), and the database ${store.location} does not hold it yet: starting now would send the newest section again to everyone`,
    'Run "digest-mailer db import" once (it brings the subscribers file and the state folder\'s journals over, so nothing is resent), then start again. To start over instead, delete the state folder.',
  );
}

/**
 * On the first start with an empty database, the subscribers file named in config
 * (`paths.subscribers`) is imported, so a fresh install works with the example list. After
 * that the database is the source of truth and the file is not read again.
 */
export async function importSubscribersFileOnce(store: Store, config: Pick<Config, 'paths'>): Promise<{ imported: number; problems: Problem[] } | null> {
  const [name, key] = MARK;
  if (await isMarked(store, MARK)) return null;
  const exists = await access(config.paths.subscribers).then(() => true, () => false);
  if (!exists) return null;
  // Several processes may start on the new database at once (run --workers, serve beside a
  // run): one imports, the others wait for it, so none works on half a list. The claim expires,
  // so a process killed while importing is replaced (rows it brought in are written again).
  for (;;) {
    if (await isMarked(store, MARK)) return null;
    const now = new Date();
    await store.pruneExpired(now.toISOString());
    if (await store.markSeen(name, key, now.toISOString(), new Date(now.getTime() + IMPORT_CLAIM_MS).toISOString())) break;
    await sleep(100);
  }
  try {
    if ((await store.countSubscribers()) > 0) {
      // Not a new database (subscribers added by hand first): the file is not read.
      await markSubscribersFileImported(store);
      return null;
    }
    const taxonomy = await loadTaxonomy(config.paths.topics);
    const list = await loadSubscribers(config.paths.subscribers, new Set(taxonomy.topics.map((t) => t.id)));
    const imported = await store.importSubscribers(
      list.subscribers.map(({ history, ...subscriber }) => ({ subscriber, history: history ?? [] })),
      `first start (${config.paths.subscribers})`,
    );
    await mark(store, MARK);
    return { imported, problems: list.problems };
  } finally {
    await store.forgetSeen(name, key).catch(() => undefined);
  }
}

/** A first-start import not finished within this time is taken over by another process. */
const IMPORT_CLAIM_MS = 5 * 60_000;

/** Records that the subscribers file was brought in (by `db import`), so first start does not import it again. */
export async function markSubscribersFileImported(store: Store): Promise<void> {
  await mark(store, MARK);
}

/** The store every command uses: opened (SQLite migrated), and seeded from the subscribers file on first start. */
export async function openAppStore(config: Config, options: OpenOptions = {}): Promise<Store> {
  const store = await openStore(config, options);
  try {
    await refuseUnimportedLegacyState(store, config);
    const seeded = await importSubscribersFileOnce(store, config);
    if (seeded && seeded.problems.length > 0) {
      console.error(`${seeded.problems.length} entr${seeded.problems.length === 1 ? 'y' : 'ies'} of ${config.paths.subscribers} not imported:`);
      for (const p of seeded.problems) console.error(`  ${p.where}: ${p.message}`);
    }
  } catch (err) {
    await store.close();
    throw err;
  }
  return store;
}
