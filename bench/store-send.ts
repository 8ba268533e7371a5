/**
 * The store's share of a send, alone (issue 10): N seeded subscribers (argv, default 20,000)
 * queued in a fresh SQLite store, then claimed in batches of 128 and their outcomes recorded in
 * group commits of STORE_GATHER (default 8), as a pass at concurrency 32 does, with nothing
 * else in the process. Prints CPU and wall ms per message of the store calls (claims alone
 * too). `node bin/run-ts.js bench/store-send.ts 30000`, under flock /tmp/bench.lock.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { renderGroup } from '../src/run/deliver.js';
import Database from 'better-sqlite3';
import { sql } from 'kysely';
import { openSqlite } from '../src/store/open.js';
import { generateSubscribers } from './population.js';

const N = Number(process.argv[2] ?? 20_000);
const GATHER = Number(process.env.STORE_GATHER ?? 8);
const dir = await mkdtemp(join(tmpdir(), 'dm-store-send-'));
const store = await openSqlite(join(dir, 'db.sqlite'));
const topicIds = ['ml', 'cv', 'nlp', 'theory', 'systems', 'robotics', 'bio', 'hci'];
const subscribers = generateSubscribers(N, { topicIds, sections: [] }, 2025);
for (let i = 0; i < subscribers.length; i += 5000) await store.importSubscribers(subscribers.slice(i, i + 5000).map((subscriber) => ({ subscriber, history: [] })), 'bench');
const issue = '2025-11-12';
const at = new Date().toISOString();
const ids = new Map<string, number>();
for await (const page of store.streamSubscribers({ status: 'active', limit: 1000 })) for (const s of page.subscribers) ids.set(s.email, s.id);
const rows = subscribers.map((s, i) => ({ issue, sections: [issue], emailKey: s.email.toLowerCase(), subscriberId: ids.get(s.email) ?? null, status: 'queued' as const, renderGroup: renderGroup(String((i * 7919) % 2550)), at }));
for (let i = 0; i < rows.length; i += 5000) await store.insertDeliveries(rows.slice(i, i + 5000));

// STORE_SQL="pragma cache_size=-65536;drop index x": settings or schema changes to try.
for (const pragma of (process.env.STORE_SQL ?? '').split(';').filter(Boolean)) await sql.raw(pragma).execute(store.db);
// STORE_TRACE=1: time spent in each statement (by its first 70 characters).
const trace = new Map<string, { n: number; ms: number }>();
if (process.env.STORE_TRACE) {
  const probe = new Database(':memory:').prepare('select 1');
  const proto = Object.getPrototypeOf(probe) as Record<string, (...args: unknown[]) => unknown>;
  for (const method of ['run', 'all', 'get']) {
    const original = proto[method]!;
    proto[method] = function (this: { source: string }, ...args: unknown[]) {
      const t = performance.now();
      try {
        return original.apply(this, args);
      } finally {
        const key = this.source.replace(/\s+/g, ' ').slice(0, 70);
        const entry = trace.get(key) ?? { n: 0, ms: 0 };
        entry.n++;
        entry.ms += performance.now() - t;
        trace.set(key, entry);
      }
    };
  }
}
const cpu0 = process.cpuUsage();
const t0 = performance.now();
let sent = 0;
let claimCpu = 0;
for (;;) {
  const c0 = process.cpuUsage();
  const batch = await store.claimDeliveries({ issue, owner: 'bench:1:x', limit: 128, now: new Date(), ttlMs: 600_000 });
  const c1 = process.cpuUsage(c0);
  claimCpu += c1.user + c1.system;
  if (batch.length === 0) break;
  for (let i = 0; i < batch.length; i += GATHER) {
    const now = new Date().toISOString();
    await store.completeDeliveries(batch.slice(i, i + GATHER).map((d) => ({ id: d.id, status: 'sent' as const, messageId: `<${d.id}.bench@example.org>`, papers: ['2511.00001', '2511.00002'], at: now })));
  }
  sent += batch.length;
}
const cpu = process.cpuUsage(cpu0);
const wall = performance.now() - t0;
console.log(`store-send N=${N} gather=${GATHER}: ${sent} messages, CPU ${((cpu.user + cpu.system) / 1000 / sent).toFixed(4)} ms/msg (user ${(cpu.user / 1000 / sent).toFixed(4)}, sys ${(cpu.system / 1000 / sent).toFixed(4)}), wall ${(wall / sent).toFixed(4)} ms/msg; claims ${(claimCpu / 1000 / sent).toFixed(4)} CPU ms/msg`);
for (const [key, { n, ms }] of [...trace].sort((a, b) => b[1].ms - a[1].ms)) console.log(`  ${(ms / sent).toFixed(4)} ms/msg  ${n} calls  ${key}`);
await store.close();
await rm(dir, { recursive: true, force: true });
