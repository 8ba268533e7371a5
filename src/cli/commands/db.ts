import { resolve } from 'node:path';
import { UsageError } from '../../errors.js';
import { reasonGroup } from '../../run/reasons.js';
import type { GivenUpSelection, Store } from '../../store/store.js';
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
    if (state.applied.includes(INTAKE_MIGRATION)) for (const line of await intakeStatus(store, new Date(), config.web.intakeRetentionDays)) console.log(line);
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

/** The migration that created the subscribe intake: an older schema has no intake to report. */
const INTAKE_MIGRATION = '010_subscribe_intake';
/** Ids of given-up requests `db status` lists (the rest are counted). */
const IDS_SHOWN = 20;

/** "3 min", "5 h", "12 days": how long ago, as `db status` says it. */
export function ageOf(ms: number): string {
  const minutes = Math.max(0, Math.floor(ms / 60_000));
  if (minutes < 60) return minutes < 1 ? 'under a minute' : `${minutes} min`;
  const hours = Math.floor(minutes / 60);
  if (hours < 48) return `${hours} h`;
  return `${Math.floor(hours / 24)} days`;
}

/**
 * The subscribe intake's lines of `db status`: requests waiting, and those the server's drainer
 * gave up on (count, the oldest's age, the last one's error with addresses masked, their ids).
 * No address or name is printed: the log names rows by id, and so does this.
 */
export async function intakeStatus(store: Store, now: Date, retentionDays: number): Promise<string[]> {
  const { queued } = await store.subscribeIntakeCounts();
  const given = await store.givenUpSubscribeIntake(IDS_SHOWN);
  const lines = [`intake:   ${queued} waiting, ${given.count} given up`];
  if (!given.count) return lines;
  const ago = (iso: string) => `${ageOf(now.getTime() - Date.parse(iso))} ago`;
  lines.push(`  given up: oldest received ${ago(given.oldestReceivedAt!)}; each is deleted ${retentionDays} days after it was given up (web.intakeRetentionDays)`);
  if (given.latest) {
    const error = given.latest.error === null ? '(no error recorded)' : reasonGroup(given.latest.error.replace(/\s+/g, ' ')).slice(0, 200);
    lines.push(`  last:     #${given.latest.id}, given up ${ago(given.latest.failedAt)}: ${error}`);
  }
  const more = given.count > given.ids.length ? ` and ${given.count - given.ids.length} more` : '';
  lines.push(`  ids:      ${given.ids.map((id) => `#${id}`).join(' ')}${more}`);
  lines.push('  -> digest-mailer db intake retry (IDS | --all) queues them again; db intake discard (IDS | --all) deletes them');
  return lines;
}

/** Which given-up rows a `db intake` command names: ids, or --all (exactly one of them). */
export function givenUpSelection(ids: readonly string[], all: boolean): GivenUpSelection {
  if (all && ids.length) throw new UsageError('give either request ids or --all, not both');
  if (all) return 'all';
  if (!ids.length) throw new UsageError('name the given-up requests by id (db status lists them), or pass --all');
  return {
    ids: ids.map((raw) => {
      const id = /^#?(\d{1,15})$/.exec(raw.trim())?.[1];
      if (!id || Number(id) < 1) throw new UsageError(`"${raw}" is not a request id (a positive whole number, as db status lists them)`);
      return Number(id);
    }),
  };
}

/**
 * `db intake retry` / `db intake discard`: queues given-up subscribe requests again (the
 * drainer of a running `serve` takes them on its next poll, else the next start does) or
 * deletes them with their address and name. Exit 0 when every named row was a given-up one
 * (or --all), 3 when only some were, 1 when none was.
 */
export async function dbIntake(globals: GlobalOptions, action: 'retry' | 'discard', ids: readonly string[], flags: { all?: boolean }): Promise<number> {
  const which = givenUpSelection(ids, flags.all === true);
  const config = await loadConfigFrom(globals);
  const store = await openStore(config);
  try {
    const done = action === 'retry' ? await store.retrySubscribeIntake(which, new Date().toISOString()) : await store.discardSubscribeIntake(which);
    const list = done.length ? `: ${done.map((id) => `#${id}`).join(' ')}` : '';
    const plural = done.length === 1 ? 'request' : 'requests';
    console.log(
      action === 'retry'
        ? `${done.length} given-up subscribe ${plural} queued again${list}. A running serve takes ${done.length === 1 ? 'it' : 'them'} within its poll (30 s), else the next start does.`
        : `${done.length} given-up subscribe ${plural} deleted${list} (address and name with ${done.length === 1 ? 'it' : 'them'}).`,
    );
    if (which === 'all') return EXIT.ok;
    const missed = [...new Set(which.ids)].filter((id) => !done.includes(id));
    if (!missed.length) return EXIT.ok;
    console.error(`Not given-up requests (unknown, already handled, or still being tried): ${missed.map((id) => `#${id}`).join(' ')}`);
    return done.length ? EXIT.partial : EXIT.error;
  } finally {
    await store.close();
  }
}
