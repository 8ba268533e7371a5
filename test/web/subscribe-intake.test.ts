import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig, parseConfig } from '../../src/config/load.js';
import { openAppStore } from '../../src/store/bootstrap.js';
import { IntakeDrainer, RequestGauge } from '../../src/web/intake.js';
import type { SubscribeIntakeRequest } from '../../src/store/types.js';
import { FAST_DELIVERY, configure, makeProject, smtpTransport } from '../cli/cli-helpers.js';
import { startSmtpSink, type SmtpSink } from '../integration/servers.js';
import { ENGINES } from '../store/engines.js';
import { ROOT } from '../helpers.js';
import { scaled } from '../timeouts.js';
import { entry, startApp, type RunningApp } from './web-helpers.js';

let sink: SmtpSink | null = null;
let web: RunningApp | null = null;
afterEach(async () => {
  await web?.close();
  web = null;
  await sink?.close();
  sink = null;
});

async function project(drainIntake = true) {
  sink = await startSmtpSink();
  const dir = await makeProject();
  await configure(dir, { transport: smtpTransport(sink.port), delivery: FAST_DELIVERY, web: { subscribePerIpPerMinute: 1000, confirmationsPerAddressPerHour: 100 } });
  web = await startApp(dir, { drainIntake });
  return dir;
}

/** Polls until `check` holds (generous, load-scaled timeout; no wall-clock assert). */
async function eventually(check: () => Promise<boolean> | boolean, what: string, timeoutMs = 20_000) {
  const deadline = Date.now() + scaled(timeoutMs);
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

describe('subscribe intake', () => {
  it('keeps a request answered by a server stopped before draining it, and the next start drains it', async () => {
    const dir = await project(false);
    const res = await web!.post('/subscribe', { email: 'kept.reader@example.org', topics: ['video'] });
    expect(res.status).toBe(200);
    expect(await web!.store.subscribeIntakeCounts()).toEqual({ queued: 1, failed: 0 });
    await web!.close();
    web = null;
    expect(await entry(dir, 'kept.reader@example.org')).toBeUndefined();
    expect(sink!.messages).toHaveLength(0);

    web = await startApp(dir);
    await eventually(() => sink!.messages.some((m) => m.to[0] === 'kept.reader@example.org'), 'the confirmation email');
    await web.mailer.drain();
    expect(await entry(dir, 'kept.reader@example.org')).toMatchObject({ status: 'pending', topics: ['video'] });
    expect(await web.store.subscribeIntakeCounts()).toEqual({ queued: 0, failed: 0 });
  });

  it('closes with every email sent or left queued (none goes out after close), and each address gets exactly one across a restart', async () => {
    sink = await startSmtpSink();
    const dir = await makeProject();
    await configure(dir, { transport: smtpTransport(sink.port), delivery: { ...FAST_DELIVERY, ratePerSecond: 20 }, web: { subscribePerIpPerMinute: 1000, confirmationsPerAddressPerHour: 100 } });
    web = await startApp(dir);
    const emails = Array.from({ length: 60 }, (_, i) => `closing${i}@example.org`);
    for (const email of emails) expect((await web.post('/subscribe', { email })).status).toBe(200);
    await eventually(() => sink!.messages.length >= 3, 'the first confirmations');
    const config = await loadConfig(join(dir, 'config.json'));
    const closing = web;
    web = null;
    await closing.close();
    const atClose = sink.messages.length;
    await new Promise((r) => setTimeout(r, 300));
    expect(sink.messages.length).toBe(atClose);
    // What was not sent is still queued: the next start sends it, and every address gets exactly one.
    const reopened = await openAppStore(config);
    const { queued } = await reopened.subscribeIntakeCounts();
    await reopened.close();
    expect(queued).toBe(60 - atClose);
    web = await startApp(dir);
    await eventually(() => sink!.messages.length >= 60, 'the rest of the confirmations', 60_000);
    await web.mailer.drain();
    expect(sink.messages.map((m) => m.to[0]).sort()).toEqual([...emails].sort());
  });

  it('answers an active, a suppressed and an unknown address with byte-identical pages and headers', async () => {
    await project();
    const answer = async (email: string) => {
      const res = await web!.post('/subscribe', { email, name: 'Same Name', topics: ['video'] });
      // Date and the per-IP counters change with the clock and the client's count, not the address.
      const headers: string[] = [];
      res.headers.forEach((v, k) => {
        if (k !== 'date' && k !== 'x-ratelimit-remaining' && k !== 'x-ratelimit-reset') headers.push(`${k}: ${v}`);
      });
      const body = Buffer.from(await res.arrayBuffer());
      await web!.mailer.drain();
      return { status: res.status, headers, body };
    };
    const active = await answer('ana.lopez@example.org');
    const suppressed = await answer('olivia.chen@example.com');
    const unknown = await answer('stranger@example.org');
    expect(active.status).toBe(200);
    expect(suppressed).toEqual(active);
    expect(unknown).toEqual(active);
    expect(unknown.body.equals(active.body)).toBe(true);
    // The background work differs: a notice to the active reader, a confirmation to the stranger, nothing to the suppressed one.
    expect(sink!.messages.map((m) => m.to[0]).sort()).toEqual(['ana.lopez@example.org', 'stranger@example.org']);
  });
});

describe.each(ENGINES.filter((e) => e.name === 'sqlite'))('the intake drainer on $name', (engine) => {
  it('retries a failing request with backoff, gives it up after its attempts, and never lets it block the next', async () => {
    const { store, dispose } = await engine.open();
    const handled: string[] = [];
    const logged: { level: string; message: string; fields?: Record<string, unknown> | undefined }[] = [];
    const tracked = new Set<Promise<void>>();
    const drainer = new IntakeDrainer({
      store,
      handle: async (request: SubscribeIntakeRequest) => {
        // The error names the address, as an SMTP reply would: the log must not.
        if (request.email === 'broken@example.org') throw new Error('cannot handle <broken@example.org>');
        handled.push(request.email);
        return { sent: Promise.resolve(true) };
      },
      track: (job) => void tracked.add(job),
      log: (level, message, fields) => void logged.push({ level, message, fields }),
      maxAttempts: 3,
      retryBaseDelayMs: 5,
      maxRetryDelayMs: 20,
      pollMs: 50,
    });
    try {
      await store.enqueueSubscribe({ email: 'broken@example.org', topics: [] }, new Date().toISOString());
      await store.enqueueSubscribe({ email: 'fine@example.org', topics: [] }, new Date().toISOString());
      await drainer.start();
      await eventually(() => handled.includes('fine@example.org'), 'the request behind the failing one');
      await eventually(async () => (await store.subscribeIntakeCounts()).failed === 1, 'the failing request to be given up');
      await drainer.idle();
      expect(await store.subscribeIntakeCounts()).toEqual({ queued: 0, failed: 1 });
      expect(logged.filter((l) => l.level === 'warn' && /will retry/.test(l.message))).toHaveLength(2);
      expect(logged.filter((l) => l.level === 'error' && /given up/.test(l.message))).toHaveLength(1);
      expect(logged.find((l) => /given up/.test(l.message))?.fields).toMatchObject({ error: 'cannot handle <address>' });
      expect(JSON.stringify(logged)).not.toContain('broken@example.org');

      // A later request is handled as usual; the given-up one stays put.
      await store.enqueueSubscribe({ email: 'later@example.org', topics: [] }, new Date().toISOString());
      drainer.kick();
      await eventually(() => handled.includes('later@example.org'), 'a later request');
      expect(handled).toEqual(['fine@example.org', 'later@example.org']);
    } finally {
      drainer.stop();
      await drainer.idle();
      await Promise.all(tracked);
      await dispose();
    }
  });

  it('takes a row only once no request is in flight, and at most maxDeferMs later when requests never stop', async () => {
    const { store, dispose } = await engine.open();
    const handled: string[] = [];
    const tracked = new Set<Promise<void>>();
    const drainerWith = (requests: RequestGauge, maxDeferMs: number) =>
      new IntakeDrainer({
        store,
        handle: async (request: SubscribeIntakeRequest) => {
          handled.push(request.email);
          return { sent: Promise.resolve(true) };
        },
        track: (job) => void tracked.add(job),
        log: () => undefined,
        requests,
        maxDeferMs,
        pollMs: 60_000,
      });
    const busy = new RequestGauge();
    const patient = drainerWith(busy, 600_000);
    try {
      busy.enter();
      await store.enqueueSubscribe({ email: 'waits@example.org', topics: [] }, new Date().toISOString());
      await patient.start();
      // No wall-clock bound is asserted: only that nothing is taken while the request is in flight.
      await new Promise((r) => setTimeout(r, 300));
      expect(handled).toEqual([]);
      busy.leave();
      await eventually(() => handled.includes('waits@example.org'), 'the row once the request left');
    } finally {
      patient.stop();
      await patient.idle();
    }

    // A request that never leaves (a stuck client) does not starve the rows: each waits its bound.
    const stuck = new RequestGauge();
    stuck.enter();
    const bounded = drainerWith(stuck, 20);
    try {
      for (const email of ['first@example.org', 'second@example.org']) await store.enqueueSubscribe({ email, topics: [] }, new Date().toISOString());
      await bounded.start();
      await eventually(() => handled.includes('second@example.org'), 'the rows despite a request always in flight');
      expect(handled).toEqual(['waits@example.org', 'first@example.org', 'second@example.org']);
      await bounded.idle();
      expect(await store.subscribeIntakeCounts()).toEqual({ queued: 0, failed: 0 });
    } finally {
      bounded.stop();
      await bounded.idle();
      await Promise.all(tracked);
      await dispose();
    }
  });
});

const DAY = 86_400_000;

describe('subscribe intake retention', () => {
  it("deletes a handled request's row at once and a given-up one only after web.intakeRetentionDays, at the drainer's housekeeping (controlled clock)", async () => {
    const t0 = new Date('2026-03-01T09:00:00.000Z');
    let clock = t0;
    sink = await startSmtpSink();
    const dir = await makeProject();
    await configure(dir, { transport: smtpTransport(sink.port), delivery: FAST_DELIVERY, web: { subscribePerIpPerMinute: 1000, confirmationsPerAddressPerHour: 100, intakeRetentionDays: 10 } });
    web = await startApp(dir, { now: () => clock });
    const store = web.store;
    /** A subscribe handled to its email; the drainer's housekeeping it asked for has finished too (the mailer tracks it). */
    const subscribe = async (email: string) => {
      expect((await web!.post('/subscribe', { email, name: 'Retention Reader', topics: ['video'] })).status).toBe(200);
      await eventually(() => sink!.messages.some((m) => m.to[0] === email), `the email to ${email}`);
      await web!.mailer.drain();
    };

    // Handled: the row (address, name) is gone with the email sent, not kept until a purge.
    await subscribe('handled.reader@example.org');
    expect(await store.subscribeIntakeCounts()).toEqual({ queued: 0, failed: 0 });

    // A request the drainer gave up on at t0 (its attempts used up), kept for the operator.
    const id = await store.enqueueSubscribe({ email: 'given.up@example.org', name: 'Given Up', topics: [] }, t0.toISOString());
    await store.failSubscribeIntake(id, 'compose failed', t0.toISOString(), null);

    // Within the retention it stays. Housekeeping did run (more than its minute after the start's
    // sweep): the first reader, pending past web.pendingExpiryDays (7), is gone.
    clock = new Date(t0.getTime() + 10 * DAY - 60_000);
    await subscribe('second.reader@example.org');
    expect(await entry(dir, 'handled.reader@example.org')).toBeUndefined();
    expect(await store.givenUpSubscribeIntake(10)).toMatchObject({ count: 1, ids: [id] });

    // Past it, the next housekeeping deletes it; nothing of either request is left in the intake.
    clock = new Date(t0.getTime() + 10 * DAY + 60_000);
    await subscribe('third.reader@example.org');
    expect(await store.givenUpSubscribeIntake(10)).toMatchObject({ count: 0, ids: [] });
    expect(await store.subscribeIntakeCounts()).toEqual({ queued: 0, failed: 0 });
  });

  it('validates web.intakeRetentionDays (default 30 days, whole days from 1 to 365)', () => {
    const file = join(ROOT, 'digest-mailer.config.json');
    const base = JSON.parse(readFileSync(file, 'utf8')) as Record<string, any>;
    expect(parseConfig(base, file).web.intakeRetentionDays).toBe(30);
    expect(parseConfig({ ...base, web: { ...base.web, intakeRetentionDays: 90 } }, file).web.intakeRetentionDays).toBe(90);
    for (const bad of [0, 366, 1.5, '30']) expect(() => parseConfig({ ...base, web: { ...base.web, intakeRetentionDays: bad } }, file), String(bad)).toThrow(/web\.intakeRetentionDays/);
  });
});
