import { readFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DateTime } from 'luxon';
import { describe, expect, it } from 'vitest';
import { schedulerFor } from '../../src/cli/commands/schedule.js';
import { loadConfig } from '../../src/config/load.js';
import { EXTRA_SECTION, configure, makeProject } from '../cli/cli-helpers.js';
import { scaled } from '../timeouts.js';

const ZONE = 'Europe/Berlin';

/** The addresses with an email in the outbox, per section date (files are named ADDRESS with @ as _at_). */
async function outbox(dir: string): Promise<Map<string, Set<string>>> {
  const out = new Map<string, Set<string>>();
  const root = join(dir, 'outbox');
  for (const date of await readdir(root).catch(() => [] as string[])) {
    out.set(date, new Set((await readdir(join(root, date))).filter((f) => f.endsWith('.eml')).map((f) => f.replace(/\.eml$/, '').replace('_at_', '@'))));
  }
  return out;
}

/**
 * Drives the real scheduler's ticks (each a whole pass on the project, in this process) on a
 * controllable clock: every 15 minutes from 00:30 to 03:30 Berlin time and at 07:00 (the list's
 * hour) on each day, and records which emails the tick at each instant put in the outbox.
 */
async function tickThrough(dir: string, days: string[]): Promise<Map<string, Date>> {
  const config = await loadConfig(join(dir, 'config.json'));
  let now = new Date(0);
  const scheduler = schedulerFor(config, () => undefined, () => now);
  const sentAt = new Map<string, Date>();
  const instants: Date[] = [];
  for (const day of days) {
    const midnight = DateTime.fromISO(day, { zone: ZONE });
    for (let t = midnight.plus({ minutes: 30 }); t <= midnight.plus({ hours: 3, minutes: 30 }); t = t.plus({ minutes: 15 })) instants.push(t.toJSDate());
    instants.push(midnight.set({ hour: 7 }).toJSDate());
  }
  // Absolute 15-minute steps: on the autumn day 02:00-03:00 comes twice, and both are ticked.
  for (const at of [...new Set(instants.map((d) => d.getTime()))].sort((a, b) => a - b)) {
    now = new Date(at);
    expect(await scheduler.tick('interval')).toBe('ran');
    for (const [date, readers] of await outbox(dir)) for (const r of readers) if (!sentAt.has(`${date} ${r}`)) sentAt.set(`${date} ${r}`, now);
  }
  await scheduler.stop();
  return sentAt;
}

async function project(dates: string[], subscribers: Record<string, unknown>[]): Promise<string> {
  const dir = await makeProject();
  // One section per day, written before the first tick; a day's section is sent on its day.
  await writeFile(join(dir, 'digests/2025-11.md'), dates.map((d, i) => EXTRA_SECTION(d, i === 0 ? d : dates[i - 1]!)).join('\n'));
  await writeFile(join(dir, 'subscribers.json'), JSON.stringify({ subscribers: subscribers.map((s) => ({ status: 'active', ...s })) }));
  await configure(dir, { timezone: ZONE, schedule: { cron: '0 7 * * *', timezone: ZONE, tickMinutes: 15 }, transport: { type: 'outbox' } });
  return dir;
}

describe('readers\' own hour and pause, scheduler and run together on a controllable clock', () => {
  it('sends each day once at the first tick at or after the reader\'s local hour across the spring change (02:00 does not exist)', async () => {
    const days = ['2026-03-28', '2026-03-29', '2026-03-30'];
    const dir = await project(days, [
      { email: 'night@example.org', hour: 2, timeZone: ZONE },
      { email: 'list@example.org' },
    ]);
    const sentAt = await tickThrough(dir, days);
    // 02:00 CET is 01:00 UTC; on the 29th 02:00 falls in the gap: due at 03:00 CEST (01:00 UTC); then 02:00 CEST.
    expect(sentAt.get('2026-03-28 night@example.org')!.toISOString()).toBe('2026-03-28T01:00:00.000Z');
    expect(sentAt.get('2026-03-29 night@example.org')!.toISOString()).toBe('2026-03-29T01:00:00.000Z');
    expect(sentAt.get('2026-03-30 night@example.org')!.toISOString()).toBe('2026-03-30T00:00:00.000Z');
    // The list's readers get theirs at the list's hour, 07:00 local.
    expect(sentAt.get('2026-03-28 list@example.org')!.toISOString()).toBe('2026-03-28T06:00:00.000Z');
    expect(sentAt.get('2026-03-29 list@example.org')!.toISOString()).toBe('2026-03-29T05:00:00.000Z');
    // Every day exactly once (one outbox file each, no day skipped).
    const files = await outbox(dir);
    for (const day of days) expect([...files.get(day)!].sort()).toEqual(['list@example.org', 'night@example.org']);
  }, scaled(300_000));

  it('sends the day once across the autumn change, at the first of the two 02:00s', async () => {
    const days = ['2026-10-24', '2026-10-25', '2026-10-26'];
    const dir = await project(days, [{ email: 'night@example.org', hour: 2, timeZone: ZONE }]);
    const sentAt = await tickThrough(dir, days);
    expect(sentAt.get('2026-10-24 night@example.org')!.toISOString()).toBe('2026-10-24T00:00:00.000Z');
    // 02:00 CEST (00:00 UTC), not 02:00 CET an hour later.
    expect(sentAt.get('2026-10-25 night@example.org')!.toISOString()).toBe('2026-10-25T00:00:00.000Z');
    expect(sentAt.get('2026-10-26 night@example.org')!.toISOString()).toBe('2026-10-26T01:00:00.000Z');
    const files = await outbox(dir);
    expect(days.map((d) => files.get(d)?.size ?? 0)).toEqual([1, 1, 1]);
  }, scaled(300_000));

  it('sends nothing while a reader is paused and, after, only what is dated from their return', async () => {
    const days = ['2026-03-28', '2026-03-29', '2026-03-30'];
    const dir = await project(days, [
      { email: 'away@example.org', pausedUntil: '2026-03-30' },
      { email: 'here@example.org' },
    ]);
    await tickThrough(dir, days);
    const files = await outbox(dir);
    expect(days.map((d) => files.get(d)?.has('away@example.org') ?? false)).toEqual([false, false, true]);
    expect(days.map((d) => files.get(d)?.has('here@example.org') ?? false)).toEqual([true, true, true]);
  }, scaled(300_000));

  it('sends a weekly reader one roll-up on their weekday at their own hour, another at the list\'s, across the spring change', async () => {
    // Mon 23 .. Mon 30 March 2026 (Berlin springs forward on Sunday 29th); a section every day.
    const days = Array.from({ length: 8 }, (_, i) => `2026-03-${String(23 + i).padStart(2, '0')}`);
    const dir = await project(days, [
      { email: 'night@example.org', cadence: 'weekly', weekday: 'monday', hour: 2, timeZone: ZONE },
      { email: 'list@example.org', cadence: 'weekly', weekday: 'monday' },
      { email: 'daily@example.org' },
    ]);
    const sentAt = await tickThrough(dir, days);
    const files = await outbox(dir);
    // No email per section for the weekly readers; the daily reader gets each day.
    for (const day of days) expect([...(files.get(day) ?? [])]).toEqual(['daily@example.org']);
    // One roll-up each, on Monday 30th: 02:00 CEST (00:00 UTC) and the list's 07:00 CEST (05:00 UTC).
    expect([...files.keys()].filter((f) => !days.includes(f))).toEqual(['weekly-2026-03-30']);
    expect(sentAt.get('weekly-2026-03-30 night@example.org')!.toISOString()).toBe('2026-03-30T00:00:00.000Z');
    expect(sentAt.get('weekly-2026-03-30 list@example.org')!.toISOString()).toBe('2026-03-30T05:00:00.000Z');
    // It holds the seven sections of the week before (23rd to 29th), one paper each, once.
    const eml = await readFile(join(dir, 'outbox', 'weekly-2026-03-30', 'night_at_example.org.eml'), 'utf8');
    const ids = [...new Set([...eml.matchAll(/arxiv\.org\/abs\/(\d{4}\.\d{5})/g)].map((m) => m[1]))].sort();
    expect(ids).toEqual(days.slice(0, 7).map((d) => `2603.9${d.slice(8, 10)}01`));
  }, scaled(300_000));
});
