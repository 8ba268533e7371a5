import { describe, expect, it } from 'vitest';
import { bounceRate, complaintRate, formatGrowth, formatSectionStats, growthBy, weekStart } from '../../src/stats/report.js';

const day = (d: string, n: Partial<{ new: number; imported: number; confirmed: number; unsubscribed: number }>) => ({ day: d, new: 0, imported: 0, confirmed: 0, unsubscribed: 0, ...n });
const section = { date: '2025-11-04', sent: 2000, failed: 5, rejected: 3, skipped: 10, cancelled: 0, deferred: 7, pending: 0, bounces: { permanent: 1, transient: 2 }, complaints: 1 };

describe('stats report (pure)', () => {
  it('groups days into ISO weeks starting on Monday (UTC), across a month and a year end', () => {
    expect(weekStart('2025-11-03')).toBe('2025-11-03');
    expect(weekStart('2025-11-09')).toBe('2025-11-03');
    expect(weekStart('2026-01-01')).toBe('2025-12-29');
    const days = [day('2025-11-02', { new: 1 }), day('2025-11-03', { new: 2, confirmed: 1 }), day('2025-11-09', { unsubscribed: 1 }), day('2025-11-10', { imported: 5 })];
    expect(growthBy(days, 'week')).toEqual([
      { start: '2025-10-27', new: 1, imported: 0, confirmed: 0, unsubscribed: 0 },
      { start: '2025-11-03', new: 2, imported: 0, confirmed: 1, unsubscribed: 1 },
      { start: '2025-11-10', new: 0, imported: 5, confirmed: 0, unsubscribed: 0 },
    ]);
    expect(growthBy(days, 'day').map((p) => p.start)).toEqual(['2025-11-02', '2025-11-03', '2025-11-09', '2025-11-10']);
  });

  it('rates hard bounces per attempt and complaints per email sent; aligns the columns', () => {
    expect(bounceRate(section)).toBeCloseTo(4 / 2005);
    expect(complaintRate(section)).toBe(1 / 2000);
    expect(bounceRate({ ...section, sent: 0, failed: 0 })).toBeNull();
    const lines = formatSectionStats([section]);
    expect(lines[0]).toBe('section     sent  failed  rejected  skipped  deferred  pending  bounced  soft  complaints  bounce%  complaint%');
    expect(lines[1]).toBe('2025-11-04  2000       5         3       10         7        0        4     2           1    0.20%      0.050%');
    expect(formatSectionStats([])).toEqual(['No deliveries recorded yet.']);
    expect(formatGrowth({ by: 'week', periods: [] })).toEqual(['No subscriber changes recorded in that time.']);
  });
});
