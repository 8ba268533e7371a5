import { readFile } from 'node:fs/promises';
import { extname } from 'node:path';
import { parse as parseCsv } from 'csv-parse/sync';
import { stringify as toCsv } from 'csv-stringify/sync';
import { describeZodIssues } from '../../config/load.js';
import { addressKey, subscriberSchema, type Subscriber } from '../../audience/schema.js';
import { topicProblem } from '../../audience/load.js';
import { openAppStore } from '../../store/bootstrap.js';
import { openStore } from '../../store/open.js';
import type { Store } from '../../store/store.js';
import { UsageError, UserError, type Problem } from '../../errors.js';
import type { StoredSubscriber } from '../../store/types.js';
import { loadTaxonomy } from '../../topics/load.js';
import { privateWriteStream } from '../../private-files.js';
import { EXIT, type GlobalOptions } from '../exit.js';
import { loadConfigFrom, printProblems } from '../shared.js';
import type { Config } from '../../config/load.js';

/** Runs `fn` with the store and the taxonomy's topic ids; closes the store after. */
async function withStore<T>(config: Config, fn: (store: Store, topicIds: ReadonlySet<string>) => Promise<T>, seed = true): Promise<T> {
  const taxonomy = await loadTaxonomy(config.paths.topics, { termsOnly: true }); // ids and labels only: no learned weights to load
  const topicIds = new Set(taxonomy.topics.map((t) => t.id));
  const store = seed ? await openAppStore(config) : await openStore(config);
  try {
    return await fn(store, topicIds);
  } finally {
    await store.close();
  }
}

const LIST_FIELDS = ['topics', 'excludeTopics', 'authors', 'keywords'] as const;
const splitList = (value: string) => value.split(/[;|]/).map((v) => v.trim()).filter(Boolean);

export async function subscribersList(globals: GlobalOptions, flags: { json: boolean }): Promise<number> {
  const config = await loadConfigFrom(globals);
  return withStore(config, async (store, topicIds) => {
    // Streamed a page at a time: the list can be long.
    const problems: Problem[] = [];
    const byStatus: Record<string, number> = {};
    let total = 0;
    if (flags.json) process.stdout.write('{"subscribers": [');
    for await (const page of store.streamSubscribers({ limit: 1000 })) {
      problems.push(...page.problems);
      for (const stored of page.subscribers) {
        const problem = topicProblem(stored, topicIds);
        if (problem) problems.push({ where: `subscriber ${stored.email}`, ...problem });
        const s = publicFields(stored);
        if (flags.json) {
          const history = await store.consentHistory(s.email);
          process.stdout.write(`${total === 0 ? '' : ','}\n  ${JSON.stringify({ ...s, ...(history.length ? { history } : {}) })}`);
        } else {
          const prefs = [
            s.topics.length ? `topics ${s.topics.join(',')}` : s.authors.length || s.keywords.length ? '' : 'all topics',
            s.excludeTopics.length ? `not ${s.excludeTopics.join(',')}` : '',
            s.authors.length ? `authors ${s.authors.join('; ')}` : '',
            s.keywords.length ? `keywords ${s.keywords.join('; ')}` : '',
          ].filter(Boolean);
          console.log(`${s.email.padEnd(34)} ${s.status.padEnd(12)} ${(s.name ?? '').padEnd(20)} ${prefs.join(' | ')}`);
        }
        byStatus[s.status] = (byStatus[s.status] ?? 0) + 1;
        total++;
      }
    }
    if (flags.json) {
      process.stdout.write(`\n], "problems": ${JSON.stringify(problems)}}\n`);
      return EXIT.ok;
    }
    printProblems(problems);
    console.log(`${total} subscribers: ${Object.entries(byStatus).map(([k, v]) => `${v} ${k}`).join(', ')}`);
    return EXIT.ok;
  });
}

/** The subscriber as the files know it (no database ids). */
function publicFields(stored: StoredSubscriber): Subscriber {
  const { id: _id, tokenGeneration: _generation, firstSeenAt: _firstSeen, ...subscriber } = stored;
  return subscriber;
}

export async function subscribersAdd(globals: GlobalOptions, email: string, flags: { name?: string; topics?: string }): Promise<number> {
  const config = await loadConfigFrom(globals);
  return withStore(config, async (store, topicIds) => {
  const parsed = subscriberSchema.safeParse({ email, name: flags.name, status: 'active', topics: flags.topics ? splitList(flags.topics.replace(/,/g, ';')) : [], subscribedAt: new Date().toISOString() });
  if (!parsed.success) throw new UserError(`cannot add ${email}: ${describeZodIssues(parsed.error.issues).join('; ')}`);
  const unknown = parsed.data.topics.filter((t) => !topicIds.has(t));
  if (unknown.length) throw new UserError(`unknown topic ${unknown.join(', ')}`, `Known topics: ${[...topicIds].join(', ')}.`);
  const existing = await store.mutateSubscriber(email, (found) =>
    found ? { result: found } : { result: undefined, put: { subscriber: parsed.data, change: { event: 'added', by: 'cli' } } },
  );
  if (existing) throw new UserError(`${email} is already on the list (status ${existing.status})`);
  console.log(`Added ${parsed.data.email} (active${parsed.data.topics.length ? `, topics ${parsed.data.topics.join(',')}` : ', all topics'}).`);
  return EXIT.ok;
  });
}

export async function subscribersRemove(globals: GlobalOptions, email: string): Promise<number> {
  const config = await loadConfigFrom(globals);
  return withStore(config, async (store) => {
    const removed = await store.mutateSubscriber(email, (found) => ({ result: found !== undefined, remove: true }));
    if (!removed) throw new UserError(`${email} is not on the list`);
    console.log(`Removed ${email} and its history from ${store.location}.`);
    return EXIT.ok;
  });
}

/**
 * Revokes every manage and unsubscribe link issued to a subscriber so far (a forwarded or
 * leaked email): raises their token generation; the next email carries working links again.
 */
export async function subscribersRevokeLinks(globals: GlobalOptions, email: string): Promise<number> {
  const config = await loadConfigFrom(globals);
  return withStore(config, async (store) => {
    const found = await store.mutateSubscriber(email, (s) => (s ? { result: true, revokeLinks: true, event: { event: 'links-revoked' as const, by: 'cli' } } : { result: false }));
    if (!found) throw new UserError(`${email} is not on the list`);
    console.log(`Revoked every manage and unsubscribe link sent to ${email} so far; the next email carries new ones.`);
    return EXIT.ok;
  });
}

/** Rows of a CSV (header: email,name,status,topics,excludeTopics,authors,keywords; lists split on ";") or JSON file. */
async function readImport(file: string): Promise<{ row: number; raw: Record<string, unknown> }[]> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new UserError(`cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
  if (extname(file).toLowerCase() === '.csv') {
    let records: Record<string, string>[];
    try {
      records = parseCsv(text, { columns: (h: string[]) => h.map((c) => c.trim()), skip_empty_lines: true, trim: true, bom: true });
    } catch (err) {
      throw new UserError(`${file}: not valid CSV (${(err as Error).message})`);
    }
    return records.map((r, i) => {
      const raw: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(r)) {
        if (v === '') continue;
        raw[k] = (LIST_FIELDS as readonly string[]).includes(k) ? splitList(v) : v;
      }
      return { row: i + 2, raw };
    });
  }
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (err) {
    throw new UserError(`${file}: not valid JSON (${(err as Error).message})`);
  }
  const rows = Array.isArray(data) ? data : (data as { subscribers?: unknown }).subscribers;
  if (!Array.isArray(rows)) throw new UserError(`${file}: expected an array or {"subscribers": [...]}`);
  return rows.map((raw, i) => ({ row: i, raw: raw as Record<string, unknown> }));
}

export async function subscribersImport(globals: GlobalOptions, file: string): Promise<number> {
  const config = await loadConfigFrom(globals);
  return withStore(config, async (store, topicIds) => {
  const rows = await readImport(file);
  const rowName = extname(file).toLowerCase() === '.csv' ? 'line' : 'entry #';
  const rejected: string[] = [];
  const valid: { row: number; subscriber: Subscriber }[] = [];
  const seen = new Set<string>();
  for (const { row, raw } of rows) {
    const where = `${file} ${rowName}${rowName === 'line' ? ' ' : ''}${row} (${typeof raw?.email === 'string' ? raw.email : '?'})`;
    const parsed = subscriberSchema.safeParse({ status: 'active', ...raw, history: undefined });
    if (!parsed.success) {
      rejected.push(`${where}: ${describeZodIssues(parsed.error.issues).join('; ')}`);
      continue;
    }
    const unknown = [...parsed.data.topics, ...parsed.data.excludeTopics].filter((t) => !topicIds.has(t));
    if (unknown.length) {
      rejected.push(`${where}: unknown topic ${unknown.join(', ')}`);
      continue;
    }
    if (seen.has(addressKey(parsed.data.email))) {
      rejected.push(`${where}: appears twice in the file`);
      continue;
    }
    seen.add(addressKey(parsed.data.email));
    valid.push({ row, subscriber: parsed.data });
  }
  const skipped: string[] = [];
  for (const { subscriber } of valid) {
    const added = await store.mutateSubscriber(subscriber.email, (found) =>
      found ? { result: false } : { result: true, put: { subscriber, change: { event: 'imported', by: 'import', detail: file } } },
    );
    if (!added) skipped.push(subscriber.email);
  }
  for (const line of rejected) console.error(`rejected: ${line}`);
  for (const email of skipped) console.error(`skipped: ${email} is already on the list`);
  console.log(`Imported ${valid.length - skipped.length} of ${rows.length} rows; ${rejected.length} rejected, ${skipped.length} already on the list.`);
  return rejected.length > 0 ? EXIT.partial : EXIT.ok;
  }, false);
}

export async function subscribersExport(globals: GlobalOptions, flags: { format: string; out?: string }): Promise<number> {
  if (flags.format !== 'json' && flags.format !== 'csv') throw new UsageError(`--format must be csv or json, not "${flags.format}"`);
  const config = await loadConfigFrom(globals);
  return withStore(config, async (store) => {
    // --out creates the file 0600 (a shell redirection would use the umask, usually 0644).
    const file = flags.out ? await privateWriteStream(flags.out) : null;
    const write = async (chunk: string) => {
      const stream: NodeJS.WritableStream = file ?? process.stdout;
      if (!stream.write(chunk)) await new Promise<void>((resolve) => stream.once('drain', () => resolve()));
    };
    try {
      // Streamed a page at a time, with each subscriber's consent history (JSON) for a faithful round trip.
      const columns = ['email', 'name', 'status', ...LIST_FIELDS, 'subscribedAt'];
      let first = true;
      if (flags.format === 'json') await write('{\n  "subscribers": [');
      else await write(toCsv([], { header: true, columns }));
      let count = 0;
      for await (const page of store.streamSubscribers({ limit: 1000 })) {
        for (const stored of page.subscribers) {
          const s = publicFields(stored);
          if (flags.format === 'json') {
            const history = await store.consentHistory(s.email);
            await write(`${first ? '' : ','}\n    ${JSON.stringify({ ...s, ...(history.length ? { history } : {}) })}`);
          } else {
            const row = { email: s.email, name: s.name ?? '', status: s.status, ...Object.fromEntries(LIST_FIELDS.map((f) => [f, s[f].join(';')])), subscribedAt: s.subscribedAt ?? '' };
            await write(toCsv([row], { columns }));
          }
          first = false;
          count++;
        }
      }
      if (flags.format === 'json') await write('\n  ]\n}\n');
      if (file) console.error(`Exported ${count} subscribers to ${flags.out} (mode 0600).`);
    } finally {
      if (file) await new Promise<void>((resolve, reject) => file.end((err?: Error | null) => (err ? reject(err) : resolve())));
    }
    return EXIT.ok;
  });
}
