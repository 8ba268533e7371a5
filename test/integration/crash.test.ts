import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { simpleParser } from 'mailparser';
import { afterEach, describe, expect, it } from 'vitest';
import {
  FAST_DELIVERY,
  TEST_SECRET,
  cli,
  configure,
  configureKeepingStore,
  makeProject,
  smtpTransport,
  spawnCli,
  useSmallDigest,
  waitFor,
  writeReaders,
} from '../cli/cli-helpers.js';
import { startSmtpSink, type SmtpSink } from './servers.js';
import { PROJECT_ENGINES } from '../store/engines.js';
import { scaled } from '../timeouts.js';
import { storedDeliveries } from '../store/project-store.js';

const engines = await Promise.all(PROJECT_ENGINES.map(async (e) => ({ ...e, ok: await e.available() })));
let sink: SmtpSink | null = null;
let disposeEngine: (() => Promise<void>) | null = null;
afterEach(async () => {
  await sink?.close();
  sink = null;
  await disposeEngine?.();
  disposeEngine = null;
});

function countByRecipient(s: SmtpSink): Map<string, number> {
  const counts = new Map<string, number>();
  for (const m of s.messages) counts.set(m.to[0]!, (counts.get(m.to[0]!) ?? 0) + 1);
  return counts;
}

describe.each(engines)('on $name', (engine) => {
  let env: NodeJS.ProcessEnv = {};
  /** A project on this engine. */
  const project = async (): Promise<string> => {
    const dir = await makeProject();
    const setup = await engine.setup(dir);
    disposeEngine = setup.dispose;
    env = { DIGEST_MAILER_SECRET: TEST_SECRET, ...setup.env };
    return dir;
  };

describe.skipIf(!engine.ok)('crash safety', () => {
  it('a run killed with SIGKILL part way is finished by the next run; duplicates stay within the in-flight window', async () => {
    sink = await startSmtpSink();
    const dir = await project();
    await useSmallDigest(dir);
    const readers = await writeReaders(dir, 2000);
    const concurrency = 8;
    await configureKeepingStore(dir, { transport: smtpTransport(sink.port, { maxConnections: 4 }), delivery: { ...FAST_DELIVERY, ratePerSecond: 1000, concurrency } });

    const first = spawnCli(dir, ['run'], env);
    await waitFor(() => sink!.messages.length >= 400, 90_000, '400 messages at the sink');
    first.child.kill('SIGKILL');
    expect((await first.exited).signal).toBe('SIGKILL');
    const beforeRestart = sink.messages.length;
    expect(beforeRestart).toBeLessThan(readers.length);

    const second = await cli(dir, ['run'], env);
    expect(second.stderr).not.toMatch(/another digest-mailer run is in progress/);
    expect(second.code).toBe(0);

    const counts = countByRecipient(sink);
    for (const email of readers) expect(counts.get(email), email).toBeGreaterThanOrEqual(1);
    const duplicates = sink.messages.length - readers.length;
    expect(duplicates).toBeLessThanOrEqual(concurrency);
    for (const [email, n] of counts) {
      if (n < 2) continue;
      const ids = await Promise.all(sink.messages.filter((m) => m.to[0] === email).map(async (m) => (await simpleParser(m.raw)).messageId));
      expect(new Set(ids).size, `${email} got ${n} copies`).toBe(1);
    }
    // The store records everyone as sent, once, with the Message-ID that went out.
    const stored = await storedDeliveries(dir, '2025-11-14');
    expect(stored).toHaveLength(readers.length);
    expect(stored.every((d) => d.status === 'sent' && typeof d.messageId === 'string')).toBe(true);
  });

  it('SIGTERM finishes the messages in flight, records them, exits 4, and the next run completes', async () => {
    sink = await startSmtpSink({ dataDelayMs: 60 });
    const dir = await project();
    await useSmallDigest(dir);
    const readers = await writeReaders(dir, 40);
    await configureKeepingStore(dir, { transport: smtpTransport(sink.port), delivery: { ...FAST_DELIVERY, concurrency: 2 } });
    const run = spawnCli(dir, ['run'], env);
    await waitFor(() => sink!.messages.length >= 3, 30_000, 'three messages');
    run.child.kill('SIGTERM');
    const { code } = await run.exited;
    expect(code).toBe(4);
    expect(run.output().stdout).toMatch(/Stopped early: the run was interrupted/);
    const delivered = sink.messages.length;
    expect(delivered).toBeLessThan(readers.length);
    const outcomes = await storedDeliveries(dir, '2025-11-14');
    expect(outcomes.filter((e) => e.status === 'sent')).toHaveLength(delivered);
    expect(outcomes.filter((e) => e.status === 'claimed')).toHaveLength(0); // unfinished claims were released

    const again = await cli(dir, ['run'], env);
    expect(again.code).toBe(0);
    expect(sink.messages).toHaveLength(readers.length);
    expect(new Set(sink.messages.map((m) => m.to[0])).size).toBe(readers.length);
  });
});

describe.skipIf(!engine.ok)(engine.name === 'sqlite' ? 'one run at a time' : 'one planner per section, any number of senders', () => {
  /**
   * A run that holds the section for about 9 s on an idle machine (60 readers, one at a time,
   * 150 ms each), longer on a loaded one, where the second CLI also takes longer to start.
   */
  const slowRun = async () => {
    sink = await startSmtpSink({ dataDelayMs: scaled(150) });
    const dir = await project();
    await useSmallDigest(dir);
    const readers = await writeReaders(dir, 60);
    await configureKeepingStore(dir, { transport: smtpTransport(sink.port), delivery: { ...FAST_DELIVERY, concurrency: 1 } });
    const first = spawnCli(dir, ['run'], env);
    await waitFor(() => sink!.messages.length >= 1, 30_000, 'the first run to start sending');
    return { dir, readers, first };
  };

  it.runIf(engine.name === 'sqlite')('a second concurrent run exits with the lock message and sends nothing', async () => {
    const { dir, readers, first } = await slowRun();
    const second = await cli(dir, ['run'], env);
    expect(sink!.messages.length).toBeLessThan(readers.length); // the first run was still going
    expect(second.code).toBe(75);
    expect(second.stderr).toMatch(/another digest-mailer run is in progress \(pid \d+ on .*"run"/);
    expect((await first.exited).code).toBe(0);
    expect(sink!.messages).toHaveLength(readers.length);
    expect(new Set(sink!.messages.map((m) => m.to[0])).size).toBe(readers.length);
    expect(await readdir(join(dir, 'state'))).not.toContain('run.lock');
  });

  it.runIf(engine.name === 'postgres')('a second concurrent run finds the planner busy, sends beside it, and nobody gets the section twice', async () => {
    const { dir, readers, first } = await slowRun();
    const second = await cli(dir, ['run'], env);
    expect(second.code, second.stderr).toBe(0);
    expect(second.stdout).toMatch(/2025-11-14 .*sent (\d+).*\[sender beside another worker\]/);
    const sentBySecond = Number(/2025-11-14 .*sent (\d+)/.exec(second.stdout)![1]);
    expect(sentBySecond).toBeGreaterThan(0);
    const firstExit = await first.exited;
    expect(firstExit.code).toBe(0);
    const sentByFirst = Number(/2025-11-14 .*sent (\d+)/.exec(first.output().stdout)![1]);
    // The planner closes the section once both are done.
    expect(first.output().stdout).toMatch(/2025-11-14 +pending -> sent/);
    expect(sentByFirst + sentBySecond).toBe(readers.length);
    expect(sink!.messages).toHaveLength(readers.length);
    expect(new Set(sink!.messages.map((m) => m.to[0])).size).toBe(readers.length);
    expect(await readdir(join(dir, 'state'))).not.toContain('run.lock');
  });
});

});

describe('digest-mailer schedule', () => {
  it('catches up on start, runs on its cron ticks, and exits cleanly on SIGTERM', async () => {
    const dir = await makeProject();
    await configure(dir, { schedule: { cron: '* * * * * *' } });
    const scheduler = spawnCli(dir, ['schedule']);
    await waitFor(() => /"trigger":"catch-up".*"msg":"run finished/.test(scheduler.output().stderr), 30_000, 'the catch-up run');
    // The next pass comes from node-cron: on time ("scheduled"), or run late as a catch-up
    // when a loaded machine fired the tick late.
    await waitFor(() => (scheduler.output().stderr.match(/"msg":"run finished/g) ?? []).length >= 2, 60_000, 'a pass from a cron tick');
    scheduler.child.kill('SIGTERM');
    expect((await scheduler.exited).code).toBe(0);
    expect(await readdir(join(dir, 'outbox'))).toEqual(['2025-11-13']);
    expect((await readdir(join(dir, 'outbox/2025-11-13'))).filter((f) => f.endsWith('.eml'))).toHaveLength(6);
  });
});
