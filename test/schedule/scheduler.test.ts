import { describe, expect, it } from 'vitest';
import { Scheduler, previousTick, type SchedulerDeps } from '../../src/schedule/scheduler.js';

function deferred() {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

function scheduler(overrides: Partial<SchedulerDeps> & { now: () => Date }) {
  const runs: string[] = [];
  const logs: string[] = [];
  const s = new Scheduler({
    cron: '0 7 * * *',
    timezone: 'Europe/Berlin',
    lastRunAt: async () => null,
    pass: async (trigger) => {
      runs.push(trigger);
      return 'run finished';
    },
    log: (level, message) => logs.push(`${level}: ${message}`),
    ...overrides,
  });
  return { s, runs, logs };
}

describe('scheduler', () => {
  it('finds the latest tick in the configured zone', () => {
    // 07:00 in Berlin is 06:00 UTC in winter.
    expect(previousTick('0 7 * * *', 'Europe/Berlin', new Date('2025-11-13T09:00:00Z')).toISOString()).toBe('2025-11-13T06:00:00.000Z');
    expect(previousTick('0 7 * * *', 'Europe/Berlin', new Date('2025-11-13T05:59:00Z')).toISOString()).toBe('2025-11-12T06:00:00.000Z');
    expect(previousTick('0 7 * * *', 'UTC', new Date('2025-11-13T07:00:00Z')).toISOString()).toBe('2025-11-13T07:00:00.000Z');
  });

  it('runs a pass on a tick and logs one summary line', async () => {
    const { s, runs, logs } = scheduler({ now: () => new Date('2025-11-13T06:00:00Z') });
    expect(await s.tick()).toBe('ran');
    expect(runs).toEqual(['scheduled']);
    expect(logs).toEqual(['info: run finished']);
  });

  it('never overlaps: a tick during a pass is skipped', async () => {
    const gate = deferred();
    const { s, runs } = scheduler({
      now: () => new Date('2025-11-13T06:00:00Z'),
      pass: async (trigger) => {
        runs.push(trigger);
        await gate.promise;
        return 'done';
      },
    });
    const first = s.tick();
    expect(await s.tick()).toBe('skipped-overlap');
    gate.resolve();
    expect(await first).toBe('ran');
    expect(runs).toEqual(['scheduled']);
    expect(await s.tick()).toBe('ran');
  });

  it('keeps going when a pass fails', async () => {
    let fail = true;
    const { s, logs } = scheduler({
      now: () => new Date(),
      pass: async () => {
        if (fail) throw new Error('SMTP server unreachable');
        return 'ok';
      },
    });
    expect(await s.tick()).toBe('failed');
    fail = false;
    expect(await s.tick()).toBe('ran');
    expect(logs[0]).toBe('error: pass failed: SMTP server unreachable');
  });

  it('catches up a tick missed while it was down, and only then', async () => {
    const now = () => new Date('2025-11-13T09:00:00Z'); // 10:00 in Berlin, after the 07:00 tick
    const missed = scheduler({ now, lastRunAt: async () => new Date('2025-11-12T06:00:05Z') });
    expect((await missed.s.missedTick())?.toISOString()).toBe('2025-11-13T06:00:00.000Z');
    await missed.s.start();
    await missed.s.stop();
    expect(missed.runs).toEqual(['catch-up']);

    const upToDate = scheduler({ now, lastRunAt: async () => new Date('2025-11-13T06:00:02Z') });
    expect(await upToDate.s.missedTick()).toBeNull();
    await upToDate.s.start();
    await upToDate.s.stop();
    expect(upToDate.runs).toEqual([]);
  });

  it('ticks on node-cron in real time (a six-field, every-second expression)', async () => {
    const { s, runs } = scheduler({ cron: '* * * * * *', timezone: 'UTC', now: () => new Date(), lastRunAt: async () => new Date() });
    await s.start();
    const deadline = Date.now() + 5_000;
    while (runs.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    await s.stop();
    expect(runs[0]).toBe('scheduled');
  });

  it('rejects an invalid cron expression naming the key', () => {
    expect(() => scheduler({ cron: 'every day', now: () => new Date() })).toThrow(/schedule\.cron: "every day" is not a valid cron expression/);
  });
});

describe('scheduler retries an unfinished section within the day', () => {
  function withRetry(results: { summary: string; unfinished: boolean }[], start: string) {
    let now = new Date(start);
    const timers: { fn: () => void; ms: number; cancelled: boolean }[] = [];
    const logs: string[] = [];
    const triggers: string[] = [];
    const s = new Scheduler({
      cron: '0 7 * * *',
      timezone: 'UTC',
      lastRunAt: async () => null,
      now: () => now,
      log: (level, message) => logs.push(`${level}: ${message}`),
      pass: async (trigger) => {
        triggers.push(trigger);
        return results.shift() ?? { summary: 'done', unfinished: false };
      },
      retry: { intervalMs: 15 * 60_000, forMs: 60 * 60_000 },
      setTimer: (fn, ms) => {
        const t = { fn, ms, cancelled: false };
        timers.push(t);
        return () => (t.cancelled = true);
      },
    });
    const advance = async (ms: number) => {
      now = new Date(now.getTime() + ms);
      const due = timers.filter((t) => !t.cancelled);
      timers.length = 0;
      for (const t of due) t.fn();
      await new Promise((r) => setImmediate(r));
    };
    return { s, timers, logs, triggers, advance };
  }

  it('runs again at the retry interval until the section is done, then stops retrying', async () => {
    const unfinished = { summary: 'run finished: 3 pending', unfinished: true };
    const { s, timers, triggers, advance } = withRetry([unfinished, unfinished], '2025-11-13T07:00:00Z');
    await s.tick();
    expect(timers.map((t) => t.ms)).toEqual([15 * 60_000]);
    await advance(15 * 60_000);
    expect(triggers).toEqual(['scheduled', 'retry']);
    await advance(15 * 60_000);
    expect(triggers).toEqual(['scheduled', 'retry', 'retry']);
    expect(timers).toHaveLength(0); // the third pass finished the section
  });

  it("stops retrying when the day's window closes, and logs why", async () => {
    const unfinished = { summary: 'pending', unfinished: true };
    const { s, timers, logs } = withRetry([unfinished], '2025-11-13T07:50:00Z');
    await s.tick();
    expect(timers).toHaveLength(0); // 07:50 + 15 min is past 07:00 + 1 h
    expect(logs.some((l) => /retry window has closed/.test(l))).toBe(true);
  });

  it('a failed pass is retried too; stop() cancels a pending retry', async () => {
    const { s, timers } = withRetry([], '2025-11-13T07:00:00Z');
    const failing = new Scheduler({
      cron: '0 7 * * *',
      timezone: 'UTC',
      lastRunAt: async () => null,
      now: () => new Date('2025-11-13T07:00:00Z'),
      log: () => undefined,
      pass: async () => {
        throw new Error('relay down');
      },
      retry: { intervalMs: 60_000, forMs: 3_600_000 },
      setTimer: (fn, ms) => {
        const t = { fn, ms, cancelled: false };
        timers.push(t);
        return () => (t.cancelled = true);
      },
    });
    expect(await failing.tick()).toBe('failed');
    expect(timers).toHaveLength(1);
    await failing.stop();
    expect(timers[0]!.cancelled).toBe(true);
    await s.stop();
  });
});
