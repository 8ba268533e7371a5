import { afterEach, describe, expect, it } from 'vitest';
import { FAST_DELIVERY, TEST_SECRET, configure, makeProject, smtpTransport, spawnCli, useSmallDigest, waitFor, writeReaders } from '../cli/cli-helpers.js';
import { startSmtpSink, type SmtpSink } from '../integration/servers.js';
import { startApp, type RunningApp } from '../web/web-helpers.js';
import { storedSubscribers } from './project-store.js';
import { scaled } from '../timeouts.js';

let sink: SmtpSink | null = null;
let web: RunningApp | null = null;
afterEach(async () => {
  await web?.close();
  web = null;
  await sink?.close();
  sink = null;
});

describe('the store under a subscribe burst during a send', () => {
  it('stores all 500 concurrent subscribes while a run sends, and the run mails exactly its recipients once', async () => {
    sink = await startSmtpSink({ dataDelayMs: 20 });
    const dir = await makeProject();
    await useSmallDigest(dir);
    const readers = await writeReaders(dir, 300);
    await configure(dir, {
      transport: smtpTransport(sink.port),
      delivery: { ...FAST_DELIVERY, concurrency: 4 },
      web: { subscribePerIpPerMinute: 100_000 },
    });
    // The web app opens the store first (importing the 300 readers), then a run starts in another process.
    web = await startApp(dir);
    const run = spawnCli(dir, ['run'], { DIGEST_MAILER_SECRET: TEST_SECRET });
    await waitFor(() => sink!.messages.length >= 20, 60_000, 'the run to be sending');
    const burst = Array.from({ length: 500 }, (_, i) => `burst${i}@example.org`);
    const statuses = await Promise.all(burst.map((email) => web!.post('/subscribe', { email, topics: 'video' }).then((r) => r.status)));
    expect(statuses.filter((s) => s !== 200)).toEqual([]);
    const exited = await run.exited;
    expect(exited.code, run.output().stderr).toBe(0);
    await web!.mailer.drain(); // the answers stored intake rows; the drainer adds the subscribers

    const stored = new Map((await storedSubscribers(dir)).subscribers.map((s) => [s.email, s.status]));
    for (const email of burst) expect(stored.get(email), email).toBe('pending');
    expect(stored.size).toBe(300 + 500);
    // The send's recipients: every reader once, nobody from the burst.
    // The sink also receives the web app's confirmation emails: count the digest only (RFC 8058 header).
    const received = sink.messages.filter((m) => m.raw.toString('latin1').includes('List-Unsubscribe-Post:')).map((m) => m.to[0]!);
    expect(new Set(received).size).toBe(received.length);
    expect(received.sort()).toEqual([...readers].sort());
  }, scaled(300_000));
});
