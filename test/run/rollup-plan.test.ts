import { describe, expect, it } from 'vitest';
import { owedSections, papersTaken, planRollup, type HistoryRow } from '../../src/run/plan.js';

const list = { timeZone: 'UTC', hour: 7 };
const weekly = { cadence: 'weekly' as const, weekday: 1 as const };
const daily = { cadence: 'daily' as const };
const deferred = (date: string): HistoryRow => ({ issue: date, status: 'deferred', sections: [date], papers: null });
const sent = (date: string, papers: string[] | null): HistoryRow => ({ issue: date, status: 'sent', sections: [date], papers });

describe('planning roll-ups (pure)', () => {
  it('rolls up on the weekday, at the hour, the deferred sections of the seven days before', () => {
    const history = ['2025-11-03', '2025-11-05', '2025-11-10'].map(deferred);
    // Sunday: not the weekday.
    expect(planRollup(weekly, list, new Date('2025-11-09T12:00:00Z'), history)).toBeNull();
    // Monday before the list's hour: the latest due issue is the week before, which owes nothing.
    expect(planRollup(weekly, list, new Date('2025-11-10T06:59:00Z'), history)).toBeNull();
    const due = planRollup(weekly, list, new Date('2025-11-10T07:00:00Z'), history);
    // The section dated on the send day goes in the next one.
    expect(due).toEqual({ key: 'weekly:2025-11-10', dueAt: new Date('2025-11-10T07:00:00Z'), sections: ['2025-11-03', '2025-11-05'] });
    // Planned once: a row for the key leaves it to the send step.
    expect(planRollup(weekly, list, new Date('2025-11-10T09:00:00Z'), [...history, { issue: 'weekly:2025-11-10', status: 'queued', sections: due!.sections, papers: ['a'] }])).toBeNull();
    // A missed Monday is sent late (the latest due issue, looking back a week), not lost.
    expect(planRollup(weekly, list, new Date('2025-11-12T09:00:00Z'), history)?.key).toBe('weekly:2025-11-10');
  });

  it('a reader back on daily gets what was deferred in one catch-up at their hour; nothing before a pause', () => {
    const history = [deferred('2025-11-03'), deferred('2025-11-04'), { issue: 'weekly:2025-11-03', status: 'sent' as const, sections: ['2025-10-28'], papers: ['z'] }];
    expect(planRollup(daily, list, new Date('2025-11-05T06:00:00Z'), history)).toBeNull();
    expect(planRollup(daily, list, new Date('2025-11-05T07:30:00Z'), history)).toEqual({ key: 'catchup:2025-11-05', dueAt: new Date('2025-11-05T07:00:00Z'), sections: ['2025-11-03', '2025-11-04'] });
    expect(planRollup({ ...daily, pausedUntil: '2025-11-04' }, list, new Date('2025-11-05T07:30:00Z'), history)?.sections).toEqual(['2025-11-04']);
    expect(planRollup({ ...daily, pausedUntil: '2025-11-06' }, list, new Date('2025-11-05T07:30:00Z'), history)).toBeNull();
  });

  it('owes a section until a roll-up row covers it; counts sent and in-flight papers as taken', () => {
    const history: HistoryRow[] = [
      deferred('2025-11-03'),
      deferred('2025-11-04'),
      { issue: 'catchup:2025-11-05', status: 'skipped-no-match', sections: ['2025-11-03'], papers: null },
      sent('2025-11-05', ['p1']),
      sent('2025-11-06', null), // before migration 006: all of its section
      { issue: '2025-11-07', status: 'failed', permanent: true, sections: ['2025-11-07'], papers: null },
      { issue: 'weekly:2025-11-10', status: 'claimed', sections: ['2025-11-04'], papers: ['p9'] },
    ];
    expect(owedSections(history)).toEqual([]);
    expect(owedSections(history.slice(0, 3))).toEqual(['2025-11-04']);
    const papersOf = (date: string) => (date === '2025-11-06' ? ['p2', 'p3'] : date === '2025-11-07' ? ['p4'] : []);
    expect([...papersTaken(history, papersOf)].sort()).toEqual(['p1', 'p2', 'p3', 'p9']);
  });
});
