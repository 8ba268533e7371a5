import { simpleParser } from 'mailparser';
import { afterEach, describe, expect, it } from 'vitest';
import { FAST_DELIVERY, TEST_SECRET, cli, configureKeepingStore, makeProject, smtpTransport, spawnCli, useSmallDigest, waitFor, writeReaders } from '../cli/cli-helpers.js';
import { PROJECT_ENGINES } from '../store/engines.js';
import { storedDeliveries, withProjectStore } from '../store/project-store.js';
import { startSmtpSink, type SmtpSink } from './servers.js';
import { scaled } from '../timeouts.js';

const postgres = PROJECT_ENGINES.find((e) => e.name === 'postgres')!;
const sqlite = PROJECT_ENGINES.find((e) => e.name === 'sqlite')!;
const pgAvailable = await postgres.available();
const SECTION = '2025-11-14';

let sink: SmtpSink | null = null;
let dispose: (() => Promise<void>) | null = null;
afterEach(async () => {
  await sink?.close();
  sink = null;
  await dispose?.();
  dispose = null;
});

async function projectOn(engine: typeof postgres): Promise<{ dir: string; env: NodeJS.ProcessEnv }> {
  const dir = await makeProject();
  const setup = await engine.setup(dir);
  dispose = setup.dispose;
  return { dir, env: { DIGEST_MAILER_SECRET: TEST_SECRET, ...setup.env } };
}


/** The most messages the sink accepted within any `windowMs` (arrival times sorted). */
function busiestWindow(times: readonly number[], windowMs: number): number {
  const sorted = [...times].sort((a, b) => a - b);
  let best = 0;
  for (let lo = 0, hi = 0; hi < sorted.length; hi++) {
    while (sorted[hi]! - sorted[lo]! > windowMs) lo++;
    best = Math.max(best, hi - lo + 1);
  }
  return best;
}

describe.skipIf(!pgAvailable)('several workers on PostgreSQL', () => {
  it('3 workers send 5,000 recipients with one SIGKILLed part way: everyone gets it, duplicates only from its in-flight batch, the rate is the total', async () => {
    sink = await startSmtpSink();
    const { dir, env } = await projectOn(postgres);
    await useSmallDigest(dir);
    const readers = await writeReaders(dir, 5000);
    const concurrency = 6;
    const ratePerSecond = 200;
    await configureKeepingStore(dir, { transport: smtpTransport(sink.port, { maxConnections: 3 }), delivery: { ...FAST_DELIVERY, ratePerSecond, concurrency } });

    const run = spawnCli(dir, ['run', '--workers', '3'], env);
    // The worker holding the planner lease is the one to kill: a sender must take its place.
    await waitFor(() => sink!.messages.length >= 1500, 180_000, '1,500 messages at the sink');
    const planner = await withProjectStore(dir, (store) => store.plannerOf(SECTION));
    expect(planner, 'a worker holds the planner lease while the section is sending').not.toBeNull();
    const pid = Number(planner!.owner.split(':').at(-2));
    const started = [...run.output().stderr.matchAll(/\{[^\n]*"msg":"worker started"[^\n]*\}/g)].map((m) => JSON.parse(m[0]) as { worker: number; pid: number });
    expect(started.map((w) => w.pid)).toContain(pid);
    process.kill(pid, 'SIGKILL');
    const killedAt = sink.messages.length;

    const exit = await run.exited;
    const { stdout, stderr } = run.output();
    // A killed worker makes the whole run "stopped early" (4), however the others did.
    expect(exit.code, stderr).toBe(4);
    expect(stdout).toMatch(new RegExp(`worker \\d \\(pid ${pid}\\): killed by SIGKILL`));
    expect(stdout.match(/: exit 0, sent \d+/g)).toHaveLength(2);
    expect(killedAt).toBeLessThan(readers.length);

    // Everyone received the section.
    const copies = new Map<string, typeof sink.messages>();
    for (const m of sink.messages) copies.set(m.to[0]!, [...(copies.get(m.to[0]!) ?? []), m]);
    for (const email of readers) expect(copies.get(email)?.length ?? 0, email).toBeGreaterThanOrEqual(1);
    // Twice at most for what the killed worker had in flight, with the same Message-ID.
    const twice = [...copies].filter(([, list]) => list.length > 1);
    expect(sink.messages.length - readers.length).toBeLessThanOrEqual(concurrency);
    const stored = new Map((await storedDeliveries(dir, SECTION)).map((d) => [d.email, d]));
    for (const [email, list] of twice) {
      const ids = await Promise.all(list.map(async (m) => (await simpleParser(m.raw)).messageId));
      expect(new Set(ids).size, `${email} got ${list.length} copies`).toBe(1);
      // Claimed by the killed worker, then taken over: claimed twice.
      expect(stored.get(email)?.attempts, email).toBe(2);
    }
    // The section is closed by the worker that took the planner's place.
    expect(stored.size).toBe(readers.length);
    expect([...stored.values()].every((d) => d.status === 'sent')).toBe(true);
    expect(await withProjectStore(dir, (store) => store.section(SECTION))).toMatchObject({ status: 'sent' });

    // The configured rate is the total across the three: over the whole send, and in any
    // two seconds (with headroom for a slot used up to 250 ms late and the sink's own timing).
    const times = sink.messages.map((m) => m.receivedAt);
    const seconds = (Math.max(...times) - Math.min(...times)) / 1000;
    expect(sink.messages.length / seconds).toBeLessThanOrEqual(ratePerSecond * 1.1);
    expect(busiestWindow(times, 2000)).toBeLessThanOrEqual(ratePerSecond * 2 * 1.25);
    console.info(`3 workers: ${sink.messages.length} messages in ${seconds.toFixed(1)} s (${(sink.messages.length / seconds).toFixed(1)}/s, limit ${ratePerSecond}/s), busiest 2 s: ${busiestWindow(times, 2000)}`);

    // A run after it finds nothing left.
    const again = await cli(dir, ['run'], env);
    expect(again.code, again.stderr).toBe(0);
    expect(sink.messages.length).toBe(readers.length + twice.reduce((n, [, list]) => n + list.length - 1, 0));
  }, scaled(600_000)); // 5,000 messages over three processes on a loaded 2-core machine

  it('passes SIGTERM on to every worker: in-flight messages finish, the rest stays pending, exit 4', async () => {
    sink = await startSmtpSink({ dataDelayMs: 40 });
    const { dir, env } = await projectOn(postgres);
    await useSmallDigest(dir);
    const readers = await writeReaders(dir, 300);
    await configureKeepingStore(dir, { transport: smtpTransport(sink.port), delivery: { ...FAST_DELIVERY, concurrency: 2 } });
    const run = spawnCli(dir, ['run', '--workers', '2'], env);
    await waitFor(() => sink!.messages.length >= 10, 90_000, 'ten messages');
    run.child.kill('SIGTERM');
    const exit = await run.exited;
    expect(exit.code).toBe(4);
    expect(run.output().stdout.match(/: exit 4, sent \d+/g)).toHaveLength(2);
    expect(run.output().stdout).toMatch(/Stopped early: the run was interrupted/);
    const outcomes = await storedDeliveries(dir, SECTION);
    expect(outcomes.filter((d) => d.status === 'sent')).toHaveLength(sink.messages.length);
    expect(outcomes.filter((d) => d.status === 'claimed')).toHaveLength(0);
    expect(sink.messages.length).toBeLessThan(readers.length);

    const again = await cli(dir, ['run', '--workers', '2'], env);
    expect(again.code, again.stderr).toBe(0);
    expect(new Set(sink.messages.map((m) => m.to[0])).size).toBe(readers.length);
    expect(sink.messages).toHaveLength(readers.length);
  });
});

describe('run --workers on SQLite', () => {
  it('is refused with a message that says why and what to do', async () => {
    const { dir, env } = await projectOn(sqlite);
    const result = await cli(dir, ['run', '--workers', '2'], env);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/run --workers 2 needs PostgreSQL/);
    expect(result.stderr).toMatch(/SQLite has one writer/);
  });
});
