import { describe, expect, it } from 'vitest';
import { issueOn, type ListTiming, type ReaderTiming } from '../../src/cadence/due.js';
import { paperIdsOf, rollUp, type DatedSection } from '../../src/cadence/rollup.js';
import { addDays } from '../../src/cadence/time.js';

interface P { id: string; topic: string }

/** A seed-like week, Monday 30 March to Sunday 5 April 2026, three papers a day; one paper repeats. */
const week: DatedSection<P>[] = Array.from({ length: 7 }, (_, i) => {
  const date = addDays('2026-03-30', i);
  return { date, papers: [0, 1, 2].map((n) => ({ id: `${date}-${n}`, topic: n === 2 ? 'nlp' : 'vision' })) };
});
week[3]!.papers = [...week[3]!.papers, { id: '2026-03-30-0', topic: 'vision' }];
const allIds = new Set(week.flatMap((s) => s.papers.map((p) => p.id)));
const list: ListTiming = { timeZone: 'UTC', hour: 7 };

describe('rollUp', () => {
  it('groups the week by day in date order, each paper once, on the first day it appears', () => {
    const shuffled = [week[4]!, week[0]!, week[6]!, week[2]!, week[1]!, week[5]!, week[3]!];
    const days = rollUp(shuffled, { from: '2026-03-30', to: '2026-04-05' }, new Set());
    expect(days.map((d) => d.date)).toEqual(week.map((s) => s.date));
    const ids = paperIdsOf(days);
    expect(new Set(ids).size).toBe(ids.length);
    expect(new Set(ids)).toEqual(allIds);
    expect(days[3]!.papers.map((p) => p.id)).toEqual(['2026-04-02-0', '2026-04-02-1', '2026-04-02-2']);
  });

  it('leaves out papers already sent, papers not matched and sections outside the window (a repeat counts on its day in the window)', () => {
    const days = rollUp(week, { from: '2026-03-31', to: '2026-04-02' }, new Set(['2026-03-31-0']), (p) => p.topic === 'vision');
    expect(paperIdsOf(days)).toEqual(['2026-03-31-1', '2026-04-01-0', '2026-04-01-1', '2026-04-02-0', '2026-04-02-1', '2026-03-30-0']);
  });

  it('drops a day with nothing left and merges two sections of one day', () => {
    const twice: DatedSection<P>[] = [week[0]!, { date: '2026-03-30', papers: [{ id: 'extra', topic: 'nlp' }] }];
    const days = rollUp(twice, { from: '2026-03-30', to: '2026-03-30' }, new Set(['2026-03-30-0', '2026-03-30-1', '2026-03-30-2']));
    expect(days).toEqual([{ date: '2026-03-30', papers: [{ id: 'extra', topic: 'nlp' }] }]);
    expect(rollUp(week, { from: '2026-03-30', to: '2026-03-30' }, allIds)).toEqual([]);
  });
});

/** Sends a reader's issues day by day over the seed week and the next Monday, switching cadence on the given days. */
function deliver(cadenceOn: (day: string) => ReaderTiming, startCoveredThrough: string): string[][] {
  const sent = new Set<string>();
  const emails: string[][] = [];
  let coveredThrough = startCoveredThrough;
  for (let day = '2026-03-30'; day <= '2026-04-13'; day = addDays(day, 1)) {
    const issue = issueOn(day, cadenceOn(day), list, coveredThrough);
    if (!issue) continue;
    const ids = paperIdsOf(rollUp(week, issue.covers, sent));
    for (const id of ids) sent.add(id);
    coveredThrough = issue.covers.to > coveredThrough ? issue.covers.to : coveredThrough;
    if (ids.length > 0) emails.push(ids);
  }
  return emails;
}

describe('switching cadence mid-week', () => {
  it('daily to weekly on Wednesday: the rest of the week comes in the next roll-up, nothing twice', () => {
    const emails = deliver((day) => (day < '2026-04-01' ? { cadence: 'daily' } : { cadence: 'weekly', weekday: 1 }), '2026-03-29');
    expect(emails.length).toBe(3);
    expect(emails[0]).toEqual(['2026-03-30-0', '2026-03-30-1', '2026-03-30-2']);
    expect(emails[2]![0]).toBe('2026-04-01-0');
    const all = emails.flat();
    expect(all.length).toBe(new Set(all).size);
    expect(new Set(all)).toEqual(allIds);
  });

  it('weekly to daily on Wednesday: the first daily email brings Monday and Tuesday, nothing is lost', () => {
    const emails = deliver((day) => (day < '2026-04-01' ? { cadence: 'weekly', weekday: 1 } : { cadence: 'daily' }), '2026-03-29');
    expect(emails[0]).toEqual(['2026-03-30-0', '2026-03-30-1', '2026-03-30-2', '2026-03-31-0', '2026-03-31-1', '2026-03-31-2', '2026-04-01-0', '2026-04-01-1', '2026-04-01-2']);
    const all = emails.flat();
    expect(all.length).toBe(new Set(all).size);
    expect(new Set(all)).toEqual(allIds);
  });

  it('daily, weekly and back to daily within the week loses and repeats nothing', () => {
    const emails = deliver((day) => (day >= '2026-03-31' && day < '2026-04-03' ? { cadence: 'weekly', weekday: 4 } : { cadence: 'daily' }), '2026-03-29');
    const all = emails.flat();
    expect(all.length).toBe(new Set(all).size);
    expect(new Set(all)).toEqual(allIds);
  });

  it('a weekly reader paused from Tuesday to Friday gets only what is dated from Friday on', () => {
    const emails = deliver(() => ({ cadence: 'weekly', weekday: 1, pausedUntil: '2026-04-03' }), '2026-03-29');
    expect(emails).toEqual([['2026-04-03-0', '2026-04-03-1', '2026-04-03-2', '2026-04-04-0', '2026-04-04-1', '2026-04-04-2', '2026-04-05-0', '2026-04-05-1', '2026-04-05-2']]);
  });
});
