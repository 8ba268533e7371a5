import { describe, expect, it } from 'vitest';
import { dueIssue, isDue, issueOn, sendDayFor, type ListTiming, type ReaderIssue, type ReaderTiming } from '../../src/cadence/due.js';
import { addDays, localDay, weekdayOf } from '../../src/cadence/time.js';

const list: ListTiming = { timeZone: 'UTC', hour: 7 };

/** A controllable clock: every tick from `from` to `to`; records the first tick each issue is due on. */
function simulate(reader: ReaderTiming, from: string, to: string, tickMinutes: number): { issue: ReaderIssue; tick: Date }[] {
  const sent: { issue: ReaderIssue; tick: Date }[] = [];
  const keys = new Set<string>();
  // What was due before the clock starts has gone out already.
  const before = dueIssue(new Date(from), reader, list);
  if (before) keys.add(before.key);
  for (let t = Date.parse(from); t <= Date.parse(to); t += tickMinutes * 60_000) {
    const now = new Date(t);
    const coveredThrough = sent.at(-1)?.issue.covers.to ?? null;
    const issue = dueIssue(now, reader, list, coveredThrough);
    if (issue === null || keys.has(issue.key)) continue;
    keys.add(issue.key);
    sent.push({ issue, tick: now });
  }
  return sent;
}

function daysBetween(first: string, last: string): string[] {
  const days: string[] = [];
  for (let day = first; day <= last; day = addDays(day, 1)) days.push(day);
  return days;
}

const transitions = [
  { zone: 'Europe/Berlin', label: 'Berlin spring', from: '2026-03-26T00:00:00Z', to: '2026-04-02T00:00:00Z', first: '2026-03-26', last: '2026-04-01', change: '2026-03-29' },
  { zone: 'Europe/Berlin', label: 'Berlin autumn', from: '2026-10-22T00:00:00Z', to: '2026-10-29T00:00:00Z', first: '2026-10-22', last: '2026-10-28', change: '2026-10-25' },
  { zone: 'America/New_York', label: 'New York spring', from: '2026-03-05T06:00:00Z', to: '2026-03-12T06:00:00Z', first: '2026-03-05', last: '2026-03-11', change: '2026-03-08' },
  { zone: 'America/New_York', label: 'New York autumn', from: '2026-10-29T06:00:00Z', to: '2026-11-05T06:00:00Z', first: '2026-10-29', last: '2026-11-04', change: '2026-11-01' },
];

describe('per-reader hour across DST changes (controllable clock)', () => {
  for (const { zone, label, from, to, first, last, change } of transitions) {
    for (const hour of [0, 1, 2, 3, 23]) {
      for (const tickMinutes of [15, 60]) {
        it(`${label}, hour ${hour}, a tick every ${tickMinutes} min: every day once, on the first tick at or after the hour`, () => {
          const sent = simulate({ cadence: 'daily', timeZone: zone, hour }, from, to, tickMinutes);
          const days = sent.map(({ issue }) => issue.sendDay);
          // Consecutive local days, none twice, none left out, the day of the change among them.
          expect(days).toEqual(daysBetween(days[0]!, days.at(-1)!));
          expect(days[0]! <= addDays(first, 1) && days.at(-1)! >= last).toBe(true);
          expect(days).toContain(change);
          for (const { issue, tick } of sent) {
            expect(tick.getTime()).toBeGreaterThanOrEqual(issue.dueAt.getTime());
            expect(tick.getTime() - issue.dueAt.getTime()).toBeLessThan(tickMinutes * 60_000);
            expect(localDay(issue.dueAt, zone)).toBe(issue.sendDay);
            const localHour = Number(new Intl.DateTimeFormat('en-GB', { timeZone: zone, hour: '2-digit', hourCycle: 'h23' }).format(issue.dueAt));
            // The hour itself, or the one after it when the spring change skips it.
            expect([hour, hour + 1]).toContain(localHour);
          }
        });
      }
    }
  }

  it('uses the list hour and zone for a reader who chose neither', () => {
    const issue = dueIssue(new Date('2026-06-02T07:00:00Z'), { cadence: 'daily' }, list);
    expect(issue?.key).toBe('daily:2026-06-02');
    expect(dueIssue(new Date('2026-06-02T06:59:59Z'), { cadence: 'daily' }, list)?.key).toBe('daily:2026-06-01');
    expect(isDue(new Date('2026-06-02T07:00:00Z'), { cadence: 'daily' }, list, new Set(['daily:2026-06-01']))).toBe(true);
    expect(isDue(new Date('2026-06-02T07:00:00Z'), { cadence: 'daily' }, list, new Set(['daily:2026-06-02']))).toBe(false);
  });

  it('puts a reader east of the list on their own day', () => {
    const reader: ReaderTiming = { cadence: 'daily', timeZone: 'Pacific/Auckland', hour: 6 };
    // 18:00Z on 1 June is 06:00 on 2 June in Auckland.
    expect(dueIssue(new Date('2026-06-01T18:00:00Z'), reader, list)?.key).toBe('daily:2026-06-02');
  });
});

describe('weekly readers', () => {
  const weekly: ReaderTiming = { cadence: 'weekly', weekday: 1, timeZone: 'Europe/Berlin', hour: 8 };

  it('get one issue a week on their weekday, covering the seven days before it', () => {
    const sent = simulate(weekly, '2026-03-23T00:00:00Z', '2026-04-14T00:00:00Z', 60);
    expect(sent.map(({ issue }) => issue.key)).toEqual(['weekly:2026-03-23', 'weekly:2026-03-30', 'weekly:2026-04-06', 'weekly:2026-04-13']);
    for (const { issue } of sent) expect(weekdayOf(issue.sendDay)).toBe(1);
    expect(sent[1]!.issue.covers).toEqual({ from: '2026-03-23', to: '2026-03-29' });
    // The week with the spring change is still sent at 08:00 local, now +02:00.
    expect(sent[1]!.issue.dueAt.toISOString()).toBe('2026-03-30T06:00:00.000Z');
    expect(sent[0]!.issue.dueAt.toISOString()).toBe('2026-03-23T07:00:00.000Z');
  });

  it('say which issue a section belongs to', () => {
    expect(sendDayFor(weekly, '2026-03-29')).toBe('2026-03-30');
    expect(sendDayFor(weekly, '2026-03-30')).toBe('2026-04-06');
    expect(sendDayFor({ cadence: 'weekly', weekday: 5 }, '2026-03-30')).toBe('2026-04-03');
    expect(sendDayFor({ cadence: 'daily' }, '2026-03-30')).toBe('2026-03-30');
  });

  it('have nothing due on other days before the hour', () => {
    expect(issueOn('2026-03-31', weekly, list)).toBeNull();
    // Monday 07:59 Berlin: last week's issue is the latest due one.
    expect(dueIssue(new Date('2026-03-30T05:59:00Z'), weekly, list)?.key).toBe('weekly:2026-03-23');
  });
});

describe('cadence switches and outages', () => {
  it('reach back to the day after the last covered one, at most a week', () => {
    const daily: ReaderTiming = { cadence: 'daily' };
    // Switched from weekly (last roll-up covered up to Sunday 29 March) to daily on Wednesday.
    expect(issueOn('2026-04-01', daily, list, '2026-03-29')?.covers).toEqual({ from: '2026-03-30', to: '2026-04-01' });
    // Three weeks without an issue: only the last week comes along, not a backlog.
    expect(issueOn('2026-04-01', daily, list, '2026-03-01')?.covers).toEqual({ from: '2026-03-25', to: '2026-04-01' });
    // Covered already (daily to weekly): the nominal week, the roll-up drops what was sent.
    expect(issueOn('2026-04-06', { cadence: 'weekly', weekday: 1 }, list, '2026-04-01')?.covers).toEqual({ from: '2026-03-30', to: '2026-04-05' });
  });
});

describe('pause', () => {
  const paused: ReaderTiming = { cadence: 'daily', pausedUntil: '2026-04-02' };

  it('makes nothing due while paused, not even an issue from before the pause', () => {
    for (const at of ['2026-03-31T12:00:00Z', '2026-04-01T23:59:00Z', '2026-04-02T06:59:00Z']) {
      expect(dueIssue(new Date(at), paused, list, '2026-03-20')).toBeNull();
    }
  });

  it('on return covers only sections dated from the day the pause ends', () => {
    const issue = dueIssue(new Date('2026-04-02T07:00:00Z'), paused, list, '2026-03-20');
    expect(issue?.key).toBe('daily:2026-04-02');
    expect(issue?.covers).toEqual({ from: '2026-04-02', to: '2026-04-02' });
  });

  it('skips a weekly issue whose send day falls in the pause and clips the next one', () => {
    const weekly: ReaderTiming = { cadence: 'weekly', weekday: 1, pausedUntil: '2026-04-01' };
    expect(dueIssue(new Date('2026-04-03T12:00:00Z'), weekly, list, '2026-03-22')).toBeNull();
    const next = dueIssue(new Date('2026-04-06T07:00:00Z'), weekly, list, '2026-03-22');
    expect(next?.covers).toEqual({ from: '2026-04-01', to: '2026-04-05' });
  });

  it('over a simulated fortnight sends nothing inside the pause and each day after once', () => {
    const sent = simulate({ cadence: 'daily', timeZone: 'America/New_York', hour: 9, pausedUntil: '2026-03-10' }, '2026-03-03T00:00:00Z', '2026-03-14T00:00:00Z', 30);
    expect(sent.map(({ issue }) => issue.sendDay)).toEqual(['2026-03-10', '2026-03-11', '2026-03-12', '2026-03-13']);
    expect(sent[0]!.issue.covers.from).toBe('2026-03-10');
  });
});
