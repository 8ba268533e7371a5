import { openStore } from '../../store/open.js';
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
