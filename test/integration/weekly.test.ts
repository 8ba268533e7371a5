import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { simpleParser } from 'mailparser';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.js';
import { linkSettings } from '../../src/cli/shared.js';
import { executeRun } from '../../src/run/execute.js';
import type { Subscriber } from '../../src/audience/schema.js';
import { EXTRA_SECTION, FAST_DELIVERY, TEST_SECRET, cli, configureKeepingStore, makeProject, smtpTransport, spawnCli, waitFor } from '../cli/cli-helpers.js';
import { weekdayNames } from '../../src/cadence/time.js';
import { seedSections } from '../helpers.js';
import { addDays } from '../../src/cadence/time.js';
import { PROJECT_ENGINES } from '../store/engines.js';
import { withProjectStore } from '../store/project-store.js';
import { scaled } from '../timeouts.js';
import { startSmtpSink, type SmtpSink } from './servers.js';

const engines = await Promise.all(PROJECT_ENGINES.map(async (e) => ({ ...e, ok: await e.available() })));
let sink: SmtpSink | null = null;
let disposeEngine: (() => Promise<void>) | null = null;
afterEach(async () => {
  await sink?.close();
  sink = null;
  await disposeEngine?.();
  disposeEngine = null;
});

/** The seed's papers by arXiv id, per section date (every seed paper links to arXiv). */
const seed = seedSections();
const arxivId = (link: string | null) => /arxiv\.org\/(?:abs|pdf)\/(\d{4}\.\d{4,5})/.exec(link ?? '')?.[1] ?? null;
const papersOn = (date: string) => seed.find((s) => s.date === date)!.papers.map((p) => arxivId(p.link)!);
const SEED_DATES = seed.map((s) => s.date);
const ALL_PAPERS = SEED_DATES.flatMap(papersOn);

interface Received {
  to: string;
  subject: string;
  messageId: string;
  papers: string[];
  text: string;
  html: string;
}

/** What the sink received, each message's papers read from its text part (the arXiv links it lists, once each). */
async function received(s: SmtpSink): Promise<Received[]> {
  return Promise.all(
    s.messages.map(async (m) => {
      const mail = await simpleParser(m.raw);
      const text = mail.text ?? '';
      const ids = [...text.matchAll(/arxiv\.org\/(?:abs|pdf)\/(\d{4}\.\d{4,5})/g)].map((x) => x[1]!);
      return { to: m.to[0]!, subject: mail.subject ?? '', messageId: mail.messageId ?? '', papers: [...new Set(ids)], text, html: typeof mail.html === 'string' ? mail.html : '' };
    }),
  );
}

/** Every paper a reader was sent, with repeats (one entry per message that carried it). */
function papersOf(mail: readonly Received[], email: string): string[] {
  return mail.filter((m) => m.to === email).flatMap((m) => m.papers).sort();
}

async function setPreferences(dir: string, email: string, change: Partial<Subscriber>): Promise<void> {
  await withProjectStore(dir, (store) =>
    store.mutateSubscriber(email, (current) => {
      if (!current) throw new Error(`no subscriber ${email}`);
      const { id: _id, tokenGeneration: _g, firstSeenAt: _f, ...subscriber } = current;
      return { result: undefined, put: { subscriber: { ...subscriber, ...change }, change: { event: 'preferences-changed', by: 'test' } } };
    }),
  );
}

describe.each(engines)('weekly cadence on $name', (engine) => {
  const project = async (subscribers: Record<string, unknown>[]): Promise<{ dir: string; env: NodeJS.ProcessEnv }> => {
    const dir = await makeProject();
    const setup = await engine.setup(dir);
    disposeEngine = setup.dispose;
    await writeFile(join(dir, 'subscribers.json'), JSON.stringify({ subscribers: subscribers.map((s) => ({ status: 'active', ...s })) }));
    await configureKeepingStore(dir, { timezone: 'UTC', transport: smtpTransport(sink!.port), delivery: FAST_DELIVERY });
    process.env.DIGEST_MAILER_SECRET = TEST_SECRET;
    return { dir, env: { DIGEST_MAILER_SECRET: TEST_SECRET, ...setup.env } };
  };

  /** One manual `run` pass in this process at 08:00 UTC on `day` (the clock passed in). */
  const runOn = async (dir: string, day: string) => {
    const config = await loadConfig(join(dir, 'config.json'));
    const at = new Date(`${day}T08:00:00Z`);
    return executeRun(config, { dryRun: false, backfill: false }, { links: linkSettings, command: 'run', now: () => at });
  };

  /** Mon 3 Nov .. Mon 17 Nov 2025: the seed's sections (3-7, 10, 12, 13 Nov) each on its day, two Mondays of roll-ups. */
  const DAYS = Array.from({ length: 15 }, (_, i) => new Date(Date.UTC(2025, 10, 3 + i)).toISOString().slice(0, 10));

  describe.skipIf(!engine.ok)('roll-ups and switches', () => {
    it('a weekly reader gets one roll-up per week with every matched paper once; switching daily->weekly->daily and back loses and repeats nothing', async () => {
      sink = await startSmtpSink();
      const { dir, env } = await project([
        { email: 'daily@example.org' },
        { email: 'weekly@example.org', cadence: 'weekly', weekday: 'monday' },
        { email: 'video-daily@example.org', topics: ['video'] },
        { email: 'video-weekly@example.org', topics: ['video'], cadence: 'weekly', weekday: 'monday' },
        // daily -> weekly on Wed 5 Nov -> daily again on Fri 7 Nov
        { email: 'd2w@example.org' },
        // weekly -> daily on Wed 5 Nov -> weekly again on Wed 12 Nov
        { email: 'w2d@example.org', cadence: 'weekly', weekday: 'monday' },
      ]);
      const switches: Record<string, [string, Partial<Subscriber>][]> = {
        '2025-11-05': [['d2w@example.org', { cadence: 'weekly', weekday: 'monday' }], ['w2d@example.org', { cadence: 'daily' }]],
        '2025-11-07': [['d2w@example.org', { cadence: 'daily' }]],
        '2025-11-12': [['w2d@example.org', { cadence: 'weekly', weekday: 'monday' }]],
      };
      for (const day of DAYS) {
        for (const [email, change] of switches[day] ?? []) await setPreferences(dir, email, change);
        const summary = await runOn(dir, day);
        expect(summary.sections.filter((s) => s.error)).toEqual([]);
        expect(summary.sections.every((s) => (s.counts?.failed ?? 0) === 0)).toBe(true);
      }
      const mail = await received(sink);
      const to = (email: string) => mail.filter((m) => m.to === email);

      // Daily: one email per section, every paper once.
      expect(to('daily@example.org')).toHaveLength(SEED_DATES.length);
      expect(papersOf(mail, 'daily@example.org')).toEqual([...ALL_PAPERS].sort());

      // Weekly: exactly two emails, the Monday roll-ups of the week before each.
      const weekly = to('weekly@example.org');
      expect(weekly).toHaveLength(2);
      const [first, second] = [...weekly].sort((a, b) => (a.messageId < b.messageId ? -1 : 1));
      expect(first!.messageId).toMatch(/^<digest-weekly-2025-11-10\./);
      expect(second!.messageId).toMatch(/^<digest-weekly-2025-11-17\./);
      expect([...first!.papers].sort()).toEqual(['2025-11-03', '2025-11-04', '2025-11-05', '2025-11-06', '2025-11-07'].flatMap(papersOn).sort());
      expect([...second!.papers].sort()).toEqual(['2025-11-10', '2025-11-12', '2025-11-13'].flatMap(papersOn).sort());
      // Headlines grouped by day, in date order, under the daily email's subject rule (at most 70 characters).
      expect(first!.text).toMatch(/Monday, 3 November 2025\n1\. [\s\S]*Tuesday, 4 November 2025\n\d+\. [\s\S]*Friday, 7 November 2025\n\d+\. /);
      for (const m of weekly) expect(m.subject.length).toBeLessThanOrEqual(70);
      // The HTML part: a day heading above the first headline of each day, the week in the title.
      expect(first!.html).toMatch(/Your week: 3 Nov to 7 Nov 2025/);
      expect(first!.html.match(/class="dm-kicker"[^>]*>(Monday|Tuesday|Wednesday|Thursday|Friday), \d+ November 2025</g)).toHaveLength(5);

      // A topic reader: the same papers weekly as daily, each once, in fewer emails.
      const videoDaily = papersOf(mail, 'video-daily@example.org');
      expect(videoDaily.length).toBeGreaterThan(0);
      expect(papersOf(mail, 'video-weekly@example.org')).toEqual(videoDaily);
      expect(new Set(videoDaily).size).toBe(videoDaily.length);
      expect(to('video-weekly@example.org').length).toBeLessThanOrEqual(2);

      // The switchers: every paper exactly once, nothing lost, nothing twice.
      expect(papersOf(mail, 'd2w@example.org')).toEqual([...ALL_PAPERS].sort());
      expect(papersOf(mail, 'w2d@example.org')).toEqual([...ALL_PAPERS].sort());
      // d2w: daily 3, 4 Nov; 5, 6 Nov deferred and caught up on 7 Nov beside that day's email; then daily.
      expect(to('d2w@example.org').map((m) => /^<digest-([a-z-]*\d{4}-\d{2}-\d{2})\./.exec(m.messageId)![1]).sort()).toEqual(
        ['2025-11-03', '2025-11-04', '2025-11-07', '2025-11-10', '2025-11-12', '2025-11-13', 'catchup-2025-11-07'].sort(),
      );
      // w2d: 3, 4 Nov caught up on 5 Nov; daily 5-10 Nov; weekly again from 12 Nov: 12, 13 Nov in the 17 Nov roll-up.
      expect(to('w2d@example.org').map((m) => /^<digest-([a-z-]*\d{4}-\d{2}-\d{2})\./.exec(m.messageId)![1]).sort()).toEqual(
        ['2025-11-05', '2025-11-06', '2025-11-07', '2025-11-10', 'catchup-2025-11-05', 'weekly-2025-11-17'].sort(),
      );

      // The store: one row per reader per roll-up key, with the papers it carried.
      await withProjectStore(dir, async (store) => {
        const rows = await store.listDeliveries({ issue: 'weekly:2025-11-10' });
        expect(rows.map((r) => r.emailKey).sort()).toEqual(['video-weekly@example.org', 'weekly@example.org']);
        const row = rows.find((r) => r.emailKey === 'weekly@example.org')!;
        expect(row.status).toBe('sent');
        expect(row.sections).toEqual(['2025-11-03', '2025-11-04', '2025-11-05', '2025-11-06', '2025-11-07']);
        expect([...row.papers!].sort()).toEqual([...first!.papers].sort());
      });
      // The CLI lists a roll-up's rows by its key, with the sections it covers.
      const listed = await cli(dir, ['deliveries', '--issue', 'weekly:2025-11-10'], env);
      expect(listed.code, listed.stderr).toBe(0);
      expect(listed.stdout).toMatch(/^weekly:2025-11-10 \(2025-11-03,2025-11-04,2025-11-05,2025-11-06,2025-11-07\)\s+sent\s+weekly@example\.org$/m);
      expect((await cli(dir, ['deliveries', '--issue', 'weekly:soon'], env)).code).toBe(2);
    }, scaled(300_000));
  });

  describe.skipIf(!engine.ok)('crash safety of a roll-up', () => {
    it('a run killed with SIGKILL during a weekly send is finished by the next run: everyone once, duplicates within the in-flight window, same Message-ID', async () => {
      sink = await startSmtpSink();
      // The real clock: a section dated yesterday, weekly readers whose weekday is today, so the
      // first run defers the section for them and then sends today's roll-up of it.
      const today = new Date().toISOString().slice(0, 10);
      const yesterday = new Date(Date.now() - 86_400_000).toISOString().slice(0, 10);
      const weekday = weekdayNames[(new Date(`${today}T12:00:00Z`).getUTCDay() + 6) % 7]!;
      const readers = Array.from({ length: 1000 }, (_, i) => `weekly${i}@example.org`);
      const { dir, env } = await project(readers.map((email) => ({ email, cadence: 'weekly', weekday })));
      await writeFile(join(dir, 'digests/2025-11.md'), EXTRA_SECTION(yesterday, addDays(yesterday, -1)));
      const concurrency = 8;
      await configureKeepingStore(dir, { timezone: 'UTC', transport: smtpTransport(sink.port, { maxConnections: 4 }), delivery: { ...FAST_DELIVERY, ratePerSecond: 1000, concurrency } });

      const first = spawnCli(dir, ['run'], env);
      await waitFor(() => sink!.messages.length >= 200, 90_000, '200 roll-ups at the sink');
      first.child.kill('SIGKILL');
      expect((await first.exited).signal).toBe('SIGKILL');
      expect(sink.messages.length).toBeLessThan(readers.length);

      const second = await cli(dir, ['run'], env);
      expect(second.code, second.stderr).toBe(0);
      expect(second.stdout).toMatch(new RegExp(`weekly:${today} +pending -> sent +roll-up`));

      const mail = await received(sink);
      const counts = new Map<string, number>();
      for (const m of mail) counts.set(m.to, (counts.get(m.to) ?? 0) + 1);
      for (const email of readers) expect(counts.get(email), email).toBeGreaterThanOrEqual(1);
      expect(mail.length - readers.length).toBeLessThanOrEqual(concurrency);
      // Every message is the roll-up (no per-section email), its Message-ID derived from the issue key.
      for (const m of mail) expect(m.messageId).toMatch(new RegExp(`^<digest-weekly-${today}\\.[0-9a-f]{24}@`));
      for (const [email, n] of counts) {
        if (n < 2) continue;
        expect(new Set(mail.filter((m) => m.to === email).map((m) => m.messageId)).size, `${email} got ${n} copies`).toBe(1);
      }
      await withProjectStore(dir, async (store) => {
        expect(await store.countDeliveries(`weekly:${today}`)).toMatchObject({ sent: readers.length, queued: 0, claimed: 0 });
        expect(await store.countDeliveries(yesterday)).toMatchObject({ deferred: readers.length, sent: 0 });
      });
    }, scaled(300_000));
  });
});
