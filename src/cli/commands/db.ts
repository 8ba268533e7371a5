import { resolve } from 'node:path';
import { importLegacyState } from '../../store/legacy-import.js';
import { openStore } from '../../store/open.js';
import { loadTaxonomy } from '../../topics/load.js';
import { printProblems } from '../shared.js';
import { EXIT, type GlobalOptions } from '../exit.js';
import { loadConfigFrom } from '../shared.js';

/** `db migrate`: applies pending migrations (PostgreSQL needs this; SQLite also does it on start). */
export async function dbMigrate(globals: GlobalOptions): Promise<number> {
  const config = await loadConfigFrom(globals);
  const store = await openStore(config, { migrate: true });
  try {
    const state = await store.migrationState();
    console.log(`${store.location}: schema at ${state.applied.at(-1) ?? '(none)'}`);
    return EXIT.ok;
  } finally {
    await store.close();
  }
}

/** `db status`: engine, location, applied and pending migrations. Exits 1 when some are pending. */
export async function dbStatus(globals: GlobalOptions): Promise<number> {
  const config = await loadConfigFrom(globals);
  const store = await openStore(config, { migrate: false, requireLatest: false });
  try {
    const state = await store.migrationState();
    console.log(`engine:   ${store.engine}`);
    console.log(`location: ${store.location}`);
    console.log(`version:  ${state.applied.at(-1) ?? '(empty database)'}`);
    console.log(`pending:  ${state.pending.length ? state.pending.join(', ') : 'none'}`);
    if (state.applied.length) console.log(`subscribers: ${await store.countSubscribers()}`);
    return state.pending.length ? EXIT.error : EXIT.ok;
  } finally {
    await store.close();
  }
}

/**
 * `db import`: brings an earlier version's subscribers file and state/ journals into the store,
 * keeping what the store already has; nothing that was sent is sent again.
 */
export async function dbImport(globals: GlobalOptions, flags: { subscribers?: string; state?: string }): Promise<number> {
  const config = await loadConfigFrom(globals);
  const taxonomy = await loadTaxonomy(config.paths.topics);
  const subscribersFile = flags.subscribers ? resolve(flags.subscribers) : config.paths.subscribers;
  const stateDir = flags.state ? resolve(flags.state) : config.paths.state;
  const store = await openStore(config);
  try {
    const report = await importLegacyState(store, { subscribersFile, stateDir, topicIds: new Set(taxonomy.topics.map((t) => t.id)) });
    printProblems(report.problems);
    for (const note of report.notes) console.log(`Note: ${note}`);
    console.log(`Imported into ${store.location}:`);
    console.log(`  subscribers: ${report.subscribersAdded} added, ${report.subscribersKept} already there (kept as they are) from ${subscribersFile}`);
    console.log(`  sections:    ${report.sectionsAdded} added, ${report.sectionsKept} already there (kept) from ${stateDir}`);
    console.log(`  deliveries:  ${report.deliveries} recorded (sent, skipped and failed stay so: nothing is resent)`);
    console.log('From now on the database is the source of truth; the files are not read again.');
    return report.problems.length > 0 ? EXIT.partial : EXIT.ok;
  } finally {
    await store.close();
  }
}
