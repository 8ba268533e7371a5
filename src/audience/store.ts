import { open, readFile, rename, rm } from 'node:fs/promises';
import { dirname, basename, join } from 'node:path';
import lockfile from 'proper-lockfile';
import { InputError } from '../errors.js';
import { readJsonFile } from '../json-file.js';
import { parseSubscribers, type SubscriberList } from './load.js';
import { addressKey, subscriberSchema, type HistoryEntry, type Subscriber } from './schema.js';

/** Writes a file so a crash leaves either the old or the new content, never half of one. */
export async function writeFileAtomic(file: string, data: string): Promise<void> {
  const tmp = join(dirname(file), `.${basename(file)}.${process.pid}.${Date.now()}.tmp`);
  const handle = await open(tmp, 'w');
  try {
    await handle.writeFile(data);
    await handle.sync();
  } finally {
    await handle.close();
  }
  try {
    await rename(tmp, file);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
  // Make the rename itself durable.
  const dir = await open(dirname(file), 'r');
  try {
    await dir.sync();
  } finally {
    await dir.close();
  }
}

export interface Change {
  event: HistoryEntry['event'];
  by: string;
  detail?: string | undefined;
}

/** What an update callback may do with the list: find and change entries, add new ones. */
export interface Editor {
  find(email: string): Subscriber | undefined;
  /** Replaces (or adds) an entry and appends a history line. */
  put(subscriber: Subscriber, change: Change): void;
  remove(email: string): boolean;
  all(): Subscriber[];
  /** Rewrites the file even if nothing changed (so every request costs the same). */
  touch(): void;
}

/**
 * The subscriber list on disk, safe under concurrency: an in-process queue plus a file lock
 * shared with other processes (CLI, a second server), a fresh read before each change, and an
 * atomic replace, so every acknowledged write survives and a reader (a run) always sees a
 * whole, valid list. Entries that fail validation are kept as they are, never dropped.
 */
export class SubscriberStore {
  private queue: Promise<unknown> = Promise.resolve();

  constructor(
    readonly file: string,
    private readonly topicIds: ReadonlySet<string>,
    private readonly now: () => Date = () => new Date(),
  ) {}

  read(): Promise<SubscriberList> {
    return readJsonFile(this.file, 'the subscribers file').then((raw) => parseSubscribers(raw, this.file, this.topicIds));
  }

  update<T>(fn: (editor: Editor) => T): Promise<T> {
    const run = this.queue.then(() => this.locked(fn));
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async locked<T>(fn: (editor: Editor) => T): Promise<T> {
    const release = await lockfile.lock(this.file, {
      lockfilePath: `${this.file}.lock`,
      realpath: false,
      stale: 10_000,
      retries: { retries: 200, minTimeout: 5, maxTimeout: 100, factor: 1.5 },
    });
    try {
      const text = await readFile(this.file, 'utf8');
      let doc: { subscribers: unknown[] } & Record<string, unknown>;
      try {
        doc = JSON.parse(text);
      } catch (err) {
        throw new InputError(`${this.file} is not valid JSON (${(err as Error).message}); refusing to overwrite it`);
      }
      if (!Array.isArray(doc.subscribers)) throw new InputError(`${this.file} has no "subscribers" array; refusing to overwrite it`);
      const entries: unknown[] = doc.subscribers;
      const indexOf = (email: string) =>
        entries.findIndex(
          (e) => e !== null && typeof e === 'object' && typeof (e as { email?: unknown }).email === 'string' && addressKey((e as { email: string }).email) === addressKey(email),
        );
      let dirty = false;
      const editor: Editor = {
        find: (email) => {
          const i = indexOf(email);
          if (i < 0) return undefined;
          const parsed = subscriberSchema.safeParse(entries[i]);
          return parsed.success ? parsed.data : undefined;
        },
        put: (subscriber, change) => {
          const entry: Subscriber = {
            ...subscriber,
            history: [...(subscriber.history ?? []), { at: this.now().toISOString(), event: change.event, by: change.by, ...(change.detail ? { detail: change.detail.slice(0, 500) } : {}) }],
          };
          const i = indexOf(subscriber.email);
          if (i < 0) entries.push(entry);
          else entries[i] = entry;
          dirty = true;
        },
        remove: (email) => {
          const i = indexOf(email);
          if (i < 0) return false;
          entries.splice(i, 1);
          dirty = true;
          return true;
        },
        touch: () => {
          dirty = true;
        },
        all: () => entries.flatMap((e) => {
          const parsed = subscriberSchema.safeParse(e);
          return parsed.success ? [parsed.data] : [];
        }),
      };
      const result = fn(editor);
      if (dirty) await writeFileAtomic(this.file, `${JSON.stringify({ ...doc, subscribers: entries }, null, 2)}\n`);
      return result;
    } finally {
      await release();
    }
  }
}
