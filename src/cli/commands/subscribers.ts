import { readFile } from 'node:fs/promises';
import { extname } from 'node:path';
import { parse as parseCsv } from 'csv-parse/sync';
import { stringify as toCsv } from 'csv-stringify/sync';
import { describeZodIssues } from '../../config/load.js';
import { addressKey, subscriberSchema, type Subscriber } from '../../audience/schema.js';
import { SubscriberStore } from '../../audience/store.js';
import { UserError } from '../../errors.js';
import { loadTaxonomy } from '../../topics/load.js';
import { EXIT, type GlobalOptions } from '../exit.js';
import { loadConfigFrom, printProblems } from '../shared.js';
import type { Config } from '../../config/load.js';

async function openStore(config: Config) {
  const taxonomy = await loadTaxonomy(config.paths.topics, { termsOnly: true }); // ids and labels only: no learned weights to load
  const topicIds = new Set(taxonomy.topics.map((t) => t.id));
  return { store: new SubscriberStore(config.paths.subscribers, topicIds), topicIds };
}

const LIST_FIELDS = ['topics', 'excludeTopics', 'authors', 'keywords'] as const;
const splitList = (value: string) => value.split(/[;|]/).map((v) => v.trim()).filter(Boolean);

export async function subscribersList(globals: GlobalOptions, flags: { json: boolean }): Promise<number> {
  const config = await loadConfigFrom(globals);
  const { store } = await openStore(config);
  const { subscribers, problems } = await store.read();
  if (flags.json) {
    console.log(JSON.stringify({ subscribers, problems }, null, 2));
    return EXIT.ok;
  }
  printProblems(problems);
  for (const s of subscribers) {
    const prefs = [
      s.topics.length ? `topics ${s.topics.join(',')}` : s.authors.length || s.keywords.length ? '' : 'all topics',
      s.excludeTopics.length ? `not ${s.excludeTopics.join(',')}` : '',
      s.authors.length ? `authors ${s.authors.join('; ')}` : '',
      s.keywords.length ? `keywords ${s.keywords.join('; ')}` : '',
    ].filter(Boolean);
    console.log(`${s.email.padEnd(34)} ${s.status.padEnd(12)} ${(s.name ?? '').padEnd(20)} ${prefs.join(' | ')}`);
  }
  const byStatus = subscribers.reduce<Record<string, number>>((acc, s) => ({ ...acc, [s.status]: (acc[s.status] ?? 0) + 1 }), {});
  console.log(`${subscribers.length} subscribers: ${Object.entries(byStatus).map(([k, v]) => `${v} ${k}`).join(', ')}`);
  return EXIT.ok;
}

export async function subscribersAdd(globals: GlobalOptions, email: string, flags: { name?: string; topics?: string }): Promise<number> {
  const config = await loadConfigFrom(globals);
  const { store, topicIds } = await openStore(config);
  const parsed = subscriberSchema.safeParse({ email, name: flags.name, status: 'active', topics: flags.topics ? splitList(flags.topics.replace(/,/g, ';')) : [], subscribedAt: new Date().toISOString() });
  if (!parsed.success) throw new UserError(`cannot add ${email}: ${describeZodIssues(parsed.error.issues).join('; ')}`);
  const unknown = parsed.data.topics.filter((t) => !topicIds.has(t));
  if (unknown.length) throw new UserError(`unknown topic ${unknown.join(', ')}`, `Known topics: ${[...topicIds].join(', ')}.`);
  const existing = await store.update((edit) => {
    const found = edit.find(email);
    if (!found) edit.put(parsed.data, { event: 'added', by: 'cli' });
    return found;
  });
  if (existing) throw new UserError(`${email} is already on the list (status ${existing.status})`);
  console.log(`Added ${parsed.data.email} (active${parsed.data.topics.length ? `, topics ${parsed.data.topics.join(',')}` : ', all topics'}).`);
  return EXIT.ok;
}

export async function subscribersRemove(globals: GlobalOptions, email: string): Promise<number> {
  const config = await loadConfigFrom(globals);
  const { store } = await openStore(config);
  if (!(await store.update((edit) => edit.remove(email)))) throw new UserError(`${email} is not on the list`);
  console.log(`Removed ${email} and its history from ${config.paths.subscribers}.`);
  return EXIT.ok;
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
  const { store, topicIds } = await openStore(config);
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
  const skipped = await store.update((edit) => {
    const already: string[] = [];
    for (const { subscriber } of valid) {
      if (edit.find(subscriber.email)) already.push(subscriber.email);
      else edit.put(subscriber, { event: 'imported', by: 'import', detail: file });
    }
    return already;
  });
  for (const line of rejected) console.error(`rejected: ${line}`);
  for (const email of skipped) console.error(`skipped: ${email} is already on the list`);
  console.log(`Imported ${valid.length - skipped.length} of ${rows.length} rows; ${rejected.length} rejected, ${skipped.length} already on the list.`);
  return rejected.length > 0 ? EXIT.partial : EXIT.ok;
}

export async function subscribersExport(globals: GlobalOptions, flags: { format: string }): Promise<number> {
  const config = await loadConfigFrom(globals);
  const { store } = await openStore(config);
  const { subscribers } = await store.read();
  if (flags.format === 'json') {
    console.log(JSON.stringify({ subscribers }, null, 2));
  } else if (flags.format === 'csv') {
    const rows = subscribers.map((s) => ({
      email: s.email,
      name: s.name ?? '',
      status: s.status,
      ...Object.fromEntries(LIST_FIELDS.map((f) => [f, s[f].join(';')])),
      subscribedAt: s.subscribedAt ?? '',
    }));
    process.stdout.write(toCsv(rows, { header: true, columns: ['email', 'name', 'status', ...LIST_FIELDS, 'subscribedAt'] }));
  } else {
    throw new UserError(`--format must be csv or json, not "${flags.format}"`);
  }
  return EXIT.ok;
}
