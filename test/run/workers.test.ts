import { describe, expect, it } from 'vitest';
import { worstExitCode } from '../../src/cli/exit.js';
import type { DeliveryCounts } from '../../src/run/deliver.js';
import type { RunSummary, SectionOutcome } from '../../src/run/run.js';
import { mergeSummaries } from '../../src/run/workers.js';

function counts(extra: Partial<DeliveryCounts>): DeliveryCounts {
  return { sent: 0, skippedNoMatch: 0, failed: 0, alreadyDone: 0, notEligible: 0, pending: 0, wouldSend: 0, notDueYet: 0, paused: 0, deferred: 0, reasons: [], ...extra };
}

function section(extra: Partial<SectionOutcome>): SectionOutcome {
  return { date: '2025-11-14', source: 'd.md:1', papers: 3, before: 'pending', action: 'send', after: 'sending', counts: null, variants: 0, renders: 0, largestHtmlBytes: 0, changedAfterSend: false, ...extra };
}

function summary(sections: SectionOutcome[], extra: Partial<RunSummary> = {}): RunSummary {
  return { dryRun: false, today: '2025-11-14', sections, problems: [], stoppedEarly: null, sessionFailure: null, ...extra };
}

describe('run --workers N: one summary and one exit code from N workers', () => {
  it('adds up the counts per section, keeps the planner\'s view of before and after, and each problem once', () => {
    const problem = { where: 'subscriber x@example.org', message: 'unknown topic "foo"' };
    const planner = summary(
      [
        section({ date: '2025-11-13', before: 'before-start', action: 'none', after: 'before-start' }),
        section({ role: 'planner', after: 'sent', variants: 2, renders: 2, largestHtmlBytes: 900, counts: counts({ sent: 40, alreadyDone: 5, notEligible: 3, failed: 1, reasons: [{ reason: '550 unknown', count: 1 }] }) }),
      ],
      { problems: [problem] },
    );
    const sender = summary(
      [
        section({ date: '2025-11-13', before: 'before-start', action: 'none', after: 'before-start' }),
        section({ role: 'sender', before: 'sending', after: 'sending', variants: 1, renders: 1, largestHtmlBytes: 1200, counts: counts({ sent: 35, failed: 2, pending: 0, reasons: [{ reason: '550 unknown', count: 2 }] }) }),
      ],
      { problems: [problem], stoppedEarly: 'signal' },
    );
    const merged = mergeSummaries([sender, planner])!;
    expect(merged.sections.map((s) => s.date)).toEqual(['2025-11-13', '2025-11-14']);
    const s = merged.sections[1]!;
    expect(s.before).toBe('pending');
    expect(s.after).toBe('sent');
    expect(s.counts).toMatchObject({ sent: 75, failed: 3, alreadyDone: 5, notEligible: 3, pending: 0, reasons: [{ reason: '550 unknown', count: 3 }] });
    expect([s.variants, s.renders, s.largestHtmlBytes]).toEqual([2, 3, 1200]);
    expect(s.role).toBeUndefined();
    expect(merged.problems).toEqual([problem]);
    expect(merged.stoppedEarly).toBe('signal');
    expect(mergeSummaries([])).toBeNull();
  });

  it('takes the gravest stop of the workers', () => {
    const merged = mergeSummaries([summary([], { stoppedEarly: 'signal' }), summary([], { stoppedEarly: 'session' }), summary([])]);
    expect(merged!.stoppedEarly).toBe('session');
  });

  it('exits with the worst of the workers\' exit codes', () => {
    expect(worstExitCode([0, 0, 0])).toBe(0);
    expect(worstExitCode([0, 3, 0])).toBe(3);
    expect(worstExitCode([3, 4, 0])).toBe(4);
    expect(worstExitCode([4, 5, 3])).toBe(5);
    expect(worstExitCode([5, 1, 0])).toBe(1);
    expect(worstExitCode([0, 42])).toBe(1);
    expect(worstExitCode([])).toBe(0);
  });
});
